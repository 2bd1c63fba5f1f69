"""Announcing handoffs outside the console: Slack incoming webhooks and signed webhooks.

Deliveries are rows written with the handoff and sent by Celery after commit, with
retries and back-off: the customer is answered without waiting for an endpoint, and a
failing one never fails the chat. One attempt holds a worker thread a few seconds at most.
"""

import hashlib
import hmac
import json
import logging
import random
import time
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from escalation.models import Delivery, Handoff, NotificationChannel, Team

logger = logging.getLogger(__name__)

# Just over TCP's 3-second retransmission window, as requests advises: a lost packet is
# sent again before we give up, and a host that is down holds a worker thread no longer.
# BATON_WEBHOOK_TIMEOUT is the time a connected endpoint gets to answer.
CONNECT_TIMEOUT_SECONDS = 3.05
# Retry n (from 0) waits between half and all of 5·2ⁿ seconds, capped at ten minutes.
RETRY_FIRST_SECONDS = 5
RETRY_LONGEST_SECONDS = 600


class DeliveryFailed(Exception):
    """The endpoint did not take the notification; the task tries again later."""


def retry_delay_seconds(*, retries: int) -> float:
    """How long to wait before retry number ``retries + 1``.

    Half of it is random so that deliveries that failed together (one endpoint's outage)
    come back spread out; the other half keeps each wait longer than the one before, so a
    failing endpoint is never tried again at once.
    """
    longest = min(RETRY_LONGEST_SECONDS, RETRY_FIRST_SECONDS * 2**retries)
    return longest / 2 + random.uniform(0, longest / 2)


def slack_escaped(text: Any) -> str:
    """Text Slack shows as written: it reads ``&``, ``<`` and ``>`` as markup
    (``<!channel>``, ``<url|label>``), so a visitor's words could otherwise ping a whole
    channel or add a link of their own."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_line(text: Any) -> str:
    # One line: a newline in a name could start a line that looks like Baton's own.
    return slack_escaped(" ".join(str(text or "").split()))


def slack_text(*, handoff: Handoff, event: str, url: str) -> str:
    """The Slack message for a handoff event. Every value the template inserts is escaped
    here, the customer's and ours alike; the template adds the only markup."""
    who = handoff.brief.get("who", {})
    last_message = handoff.brief.get("wants", {}).get("last_message", "")
    context = {
        "event": event,
        "team": _slack_line(handoff.team.name),
        "priority": handoff.priority,
        "name": _slack_line(who.get("name", "")),
        "tier": _slack_line(who.get("tier", "")),
        "verified": bool(who.get("verified")),
        "explanation": _slack_line(handoff.explanation),
        # Every line quoted, so none of the customer's can pass for one of Baton's.
        "quote": "\n".join(f"> {slack_escaped(line)}" for line in last_message.splitlines()),
        "url": slack_escaped(url),
    }
    return render_to_string("escalation/slack.txt", context).strip()


def _payload(handoff: Handoff, event: str) -> dict[str, Any]:
    conversation = handoff.conversation
    return {
        "event": event,
        "handoff": {
            "id": handoff.pk,
            "team": handoff.team.slug,
            "priority": handoff.priority,
            "reason": handoff.reason,
            "trigger": handoff.trigger.name if handoff.trigger else "",
            "explanation": handoff.explanation,
            "queued_at": handoff.queued_at.isoformat(),
            "offline": handoff.offline,
        },
        "conversation": {
            "id": str(conversation.public_id),
            "url": settings.PUBLIC_URL + handoff.brief.get("transcript_url", ""),
        },
        "brief": handoff.brief,
    }


def queue(*, handoff: Handoff, event: str) -> list[Delivery]:
    """Announce a handoff on every channel that covers its team, once per event."""
    payload = _payload(handoff, event)
    return queue_event(
        event=event,
        key=f"{event}:{handoff.pk}:{handoff.sla_misses}",
        payload=payload,
        slack_text=slack_text(handoff=handoff, event=event, url=payload["conversation"]["url"]),
        team=handoff.team,
    )


def queue_event(
    *, event: str, key: str, payload: dict[str, Any], slack_text: str, team: Team | None = None
) -> list[Delivery]:
    """Write one delivery per matching channel; each is sent once the transaction commits.

    Channels limited to teams hear only of their teams' events; events without a team
    (alerts) go to every channel. ``slack_text`` is Slack markup: anything in it that a
    customer wrote must have gone through ``slack_escaped``.
    """
    from escalation import tasks

    channels = NotificationChannel.objects.filter(enabled=True)
    if team is not None:
        channels = channels.filter(Q(teams=team) | Q(teams__isnull=True)).distinct()
    deliveries = []
    for channel in channels:
        body = {"text": slack_text} if channel.kind == NotificationChannel.Kind.SLACK else payload
        delivery, created = Delivery.objects.get_or_create(
            channel=channel, key=key, defaults={"event": event, "payload": body}
        )
        if created:
            deliveries.append(delivery)
            transaction.on_commit(lambda pk=delivery.pk: tasks.delivery_send.delay(pk))
    return deliveries


def signature(secret: str, body: bytes) -> str:
    """The first scheme, over the body alone, sent for receivers written for it. A captured
    request verifies forever; ``timestamped_signature`` lets a receiver refuse a replay."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def timestamped_signature(secret: str, timestamp: str, body: bytes) -> str:
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def deliver(*, delivery_id: int) -> bool:
    """POST the delivery once. True when sent (now or before); DeliveryFailed to retry."""
    delivery = Delivery.objects.select_related("channel").filter(pk=delivery_id).first()
    if delivery is None or delivery.delivered_at is not None:
        return True
    channel = delivery.channel
    body = json.dumps(delivery.payload, separators=(",", ":"), default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Baton"}
    if channel.kind == NotificationChannel.Kind.WEBHOOK:
        headers["X-Baton-Event"] = delivery.event
        headers["X-Baton-Delivery"] = str(delivery.pk)
        if channel.secret:
            # Signed at each attempt: a retry carries a fresh timestamp.
            timestamp = str(int(time.time()))
            headers["X-Baton-Timestamp"] = timestamp
            headers["X-Baton-Signature-V2"] = timestamped_signature(channel.secret, timestamp, body)
            headers["X-Baton-Signature"] = signature(channel.secret, body)
        else:
            logger.warning(
                "Webhook channel %r (id %s) has no signing secret: its requests are unsigned, "
                "and its receiver cannot tell them from anyone else's.",
                channel.name,
                channel.pk,
            )
    Delivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1)
    attempted_at = timezone.now()

    def record(outcome: str, **fields: Any) -> None:
        entry = {"at": attempted_at.isoformat(), "outcome": outcome}
        with transaction.atomic():
            # Read again under the lock: a copy of the task may have logged an attempt too.
            row = Delivery.objects.select_for_update().only("attempt_log").get(pk=delivery.pk)
            log = [*row.attempt_log, entry][-Delivery.ATTEMPTS_KEPT :]
            Delivery.objects.filter(pk=delivery.pk).update(attempt_log=log, **fields)

    answer_seconds = settings.BATON_WEBHOOK_TIMEOUT
    try:
        response = requests.post(
            channel.url,
            data=body,
            headers=headers,
            timeout=(min(CONNECT_TIMEOUT_SECONDS, answer_seconds), answer_seconds),
            # A redirect is a failure the admin sees: followed, it would turn the POST into
            # a GET without the body, or take the signed body to another address, and each
            # hop would get its own time limits.
            allow_redirects=False,
        )
    except requests.RequestException as error:
        record(str(error)[:300], last_error=str(error)[:300])
        raise DeliveryFailed(str(error)) from error
    if response.status_code >= 300:
        message = f"HTTP {response.status_code}: {response.text[:200]}"
        record(message, last_error=message)
        raise DeliveryFailed(message)
    record(f"HTTP {response.status_code}", delivered_at=timezone.now(), last_error="")
    return True

"""Announcing handoffs outside the console: Slack incoming webhooks and signed webhooks.

Deliveries are rows written with the handoff and sent by Celery after commit, with
retries and back-off; a slow or failing endpoint never delays the chat.
"""

import hashlib
import hmac
import json
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from escalation.models import Delivery, Handoff, NotificationChannel, Team


class DeliveryFailed(Exception):
    """The endpoint did not take the notification; the task tries again later."""


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
    slack_text = render_to_string(
        "escalation/slack.txt",
        {
            "handoff": handoff,
            "event": event,
            "brief": payload["brief"],
            "conversation": payload["conversation"],
        },
    ).strip()
    return queue_event(
        event=event,
        key=f"{event}:{handoff.pk}:{handoff.sla_misses}",
        payload=payload,
        slack_text=slack_text,
        team=handoff.team,
    )


def queue_event(
    *, event: str, key: str, payload: dict[str, Any], slack_text: str, team: Team | None = None
) -> list[Delivery]:
    """Write one delivery per matching channel; each is sent once the transaction commits.

    Channels limited to teams hear only of their teams' events; events without a team
    (alerts) go to every channel.
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
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


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
            headers["X-Baton-Signature"] = signature(channel.secret, body)
    Delivery.objects.filter(pk=delivery.pk).update(attempts=delivery.attempts + 1)
    try:
        response = requests.post(
            channel.url, data=body, headers=headers, timeout=settings.BATON_WEBHOOK_TIMEOUT
        )
    except requests.RequestException as error:
        Delivery.objects.filter(pk=delivery.pk).update(last_error=str(error)[:300])
        raise DeliveryFailed(str(error)) from error
    if response.status_code >= 300:
        message = f"HTTP {response.status_code}: {response.text[:200]}"
        Delivery.objects.filter(pk=delivery.pk).update(last_error=message)
        raise DeliveryFailed(message)
    Delivery.objects.filter(pk=delivery.pk).update(delivered_at=timezone.now(), last_error="")
    return True

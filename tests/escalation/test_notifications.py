"""Slack and webhook notifications, delivered to a real HTTP server on loopback."""

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from celery.signals import task_retry
from django.conf import settings

from chat import services as chat_services
from chat.models import Message
from chat.services import IdentityRejected
from escalation import notifications, tasks
from escalation.models import Delivery, Handoff, NotificationChannel, Team
from tests import factories
from tests.factories import say

pytestmark = pytest.mark.django_db(transaction=True)


class Endpoint:
    """A webhook receiver that answers with the statuses it is told, in order."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.redirect_to = ""
        self.received: list[tuple[dict, bytes]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.received.append((dict(self.headers), body))
                status = endpoint.statuses.pop(0) if endpoint.statuses else 200
                self.send_response(status)
                if endpoint.redirect_to:
                    self.send_header("Location", endpoint.redirect_to)
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    receiver = Endpoint([])
    yield receiver
    receiver.close()


@pytest.fixture
def unreachable_host():
    """The URL of a host that never answers a connection (a firewall that drops, a dead
    address): a socket whose accept queue is full, so the kernel ignores new SYNs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    waiting = []
    for _ in range(3):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
        waiting.append(client)
    yield f"http://127.0.0.1:{port}/hook"
    for client in waiting:
        client.close()
    listener.close()


@pytest.fixture
def retries():
    """Every retry Celery schedules for a delivery: how long a worker is told to wait
    before it, the delivery row and whether the customer had been answered at that moment.
    Tests run tasks eagerly, so here the retry itself follows at once."""
    scheduled: list[dict] = []

    def record(sender=None, request=None, reason=None, **kwargs) -> None:
        if sender.name != tasks.delivery_send.name:
            return
        delivery = Delivery.objects.get(pk=request.args[0])
        scheduled.append(
            {
                "wait": reason.when,
                "delivery": delivery,
                "customer_told": Message.objects.filter(author=Message.Author.SYSTEM).exists(),
            }
        )

    task_retry.connect(record, weak=False)
    yield scheduled
    task_retry.disconnect(record)


def handoff_for(site) -> Handoff:
    conversation = factories.conversation(on=site, path="/settings/billing")
    say(conversation, "where are my invoices?", path="/settings/billing")
    say(conversation, "can I talk to a person")
    return Handoff.objects.get(conversation=conversation)


def receiver_accepts(headers: dict, body: bytes, *, secret: bytes, now: float) -> bool:
    """What the admin guide tells a receiver to do with a signed request."""
    timestamp = headers.get("X-Baton-Timestamp", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > 300:
        return False
    signed = timestamp.encode() + b"." + body
    expected = "sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("X-Baton-Signature-V2", ""), expected)


def test_a_handoff_is_posted_to_a_webhook_signed_with_hmac(demo_kb, endpoint):
    NotificationChannel.objects.create(
        name="Helpdesk", kind="webhook", url=endpoint.url, secret="s3cret"
    )
    handoff = handoff_for(demo_kb)
    headers, body = endpoint.received[0]
    # The first scheme, over the body alone: receivers written for it keep working.
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Baton-Signature"] == expected
    assert headers["X-Baton-Event"] == "handoff.created"
    payload = json.loads(body)
    assert payload["handoff"]["team"] == "billing"
    assert payload["handoff"]["reason"] == "explicit_request"
    assert payload["conversation"]["id"] == str(handoff.conversation.public_id)
    assert payload["brief"]["wants"]["last_message"] == "can I talk to a person"
    assert Delivery.objects.get().delivered_at is not None


def test_a_receiver_can_refuse_a_replayed_webhook(demo_kb, endpoint):
    NotificationChannel.objects.create(
        name="Helpdesk", kind="webhook", url=endpoint.url, secret="s3cret"
    )
    handoff_for(demo_kb)
    headers, body = endpoint.received[0]
    assert receiver_accepts(headers, body, secret=b"s3cret", now=time.time())
    # Someone who captured the request and sends it again ten minutes later is refused...
    assert not receiver_accepts(headers, body, secret=b"s3cret", now=time.time() + 600)
    # ...and cannot make it look fresh: the timestamp is part of what is signed.
    fresh = {**headers, "X-Baton-Timestamp": str(int(time.time()) + 600)}
    assert not receiver_accepts(fresh, body, secret=b"s3cret", now=time.time() + 600)
    assert not receiver_accepts(headers, body, secret=b"guessed", now=time.time())


def test_a_webhook_without_a_secret_is_sent_unsigned_with_a_warning(demo_kb, endpoint, caplog):
    NotificationChannel.objects.create(name="Open door", kind="webhook", url=endpoint.url)
    with caplog.at_level(logging.WARNING, logger="escalation.notifications"):
        handoff_for(demo_kb)
    headers, _body = endpoint.received[0]
    assert "X-Baton-Signature" not in headers
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("Open door" in text and "no signing secret" in text for text in warnings)


def test_slack_gets_a_readable_message(demo_kb, endpoint):
    NotificationChannel.objects.create(name="Slack", kind="slack", url=endpoint.url)
    handoff_for(demo_kb)
    text = json.loads(endpoint.received[0][1])["text"]
    assert "New handoff to Billing" in text
    assert "The customer asked for a person." in text
    assert "/console/conversations/" in text


def test_a_visitor_cannot_ping_the_channel_or_plant_a_link_in_slack(demo_kb, endpoint):
    NotificationChannel.objects.create(name="Slack", kind="slack", url=endpoint.url)
    visitor, _token = factories.visitor(on=demo_kb)
    # An anonymous visitor can claim any name: it is kept, marked unverified.
    with pytest.raises(IdentityRejected):
        chat_services.contact_identify_user_hash(
            visitor=visitor,
            user_id="u-1",
            user_hash="0" * 64,
            name="<http://evil.example|Open the conversation>",
        )
    conversation = factories.conversation(on=demo_kb, visitor_=visitor)
    say(
        conversation,
        "<!channel> can I talk to a person\n<http://evil.example|Open the conversation>",
    )
    text = json.loads(endpoint.received[0][1])["text"]
    assert "*&lt;http://evil.example|Open the conversation&gt;*" in text
    # Every line of the message stays inside the quote.
    assert (
        "> &lt;!channel&gt; can I talk to a person\n"
        "> &lt;http://evil.example|Open the conversation&gt;\n"
    ) in text
    assert "<!channel>" not in text and "<http://evil.example" not in text
    # Baton's own link is the only markup Slack reads.
    link = f"<{settings.PUBLIC_URL}/console/conversations/{conversation.pk}/|Open the conversation>"
    assert text.endswith(link)
    assert text.count("<") == 1


def test_channels_can_be_limited_to_teams(demo_kb, endpoint):
    channel = NotificationChannel.objects.create(name="Trust", kind="webhook", url=endpoint.url)
    channel.teams.add(Team.objects.get(slug="trust"))
    handoff_for(demo_kb)
    assert endpoint.received == []


def test_a_failing_endpoint_is_retried_later_each_time_and_delivers_once(
    demo_kb, endpoint, retries, admin_client
):
    endpoint.statuses = [500, 503]
    channel = NotificationChannel.objects.create(
        name="Flaky", kind="webhook", url=endpoint.url, secret="s3cret"
    )
    handoff = handoff_for(demo_kb)
    # Never again at once, and each wait longer than the one before.
    waits = [retry["wait"] for retry in retries]
    assert len(waits) == 2
    assert waits[0] >= 2
    assert waits[1] > waits[0]
    # Each failed attempt is on the delivery row by the time the next one is scheduled.
    rows = [retry["delivery"] for retry in retries]
    assert [(row.attempts, row.last_error, row.delivered_at) for row in rows] == [
        (1, "HTTP 500: ok", None),
        (2, "HTTP 503: ok", None),
    ]
    delivery = Delivery.objects.get(channel=channel)
    assert delivery.delivered_at is not None
    assert (delivery.attempts, delivery.last_error) == (3, "")
    # Once delivered, the admin still sees what each attempt met, in order.
    outcomes = [attempt["outcome"] for attempt in delivery.attempt_log]
    assert outcomes == ["HTTP 500: ok", "HTTP 503: ok", "HTTP 200"]
    page = admin_client.get(f"/admin/escalation/delivery/{delivery.pk}/change/").content.decode()
    history = page[page.index("HTTP 500: ok") :]
    assert history.index("HTTP 503: ok") < history.index("HTTP 200")
    # Three tries of one delivery, which the receiver can tell apart from three handoffs.
    assert [headers["X-Baton-Delivery"] for headers, _body in endpoint.received] == [
        str(delivery.pk)
    ] * 3
    # A copy of the task that runs after success (a worker restarted before acknowledging
    # it) sends nothing.
    tasks.delivery_send.delay(delivery.pk)
    assert len(endpoint.received) == 3
    # The customer had been told a person is coming before the first retry was scheduled.
    assert all(retry["customer_told"] for retry in retries)
    assert (
        "won't need to repeat yourself"
        in handoff.conversation.messages.filter(author="system").last().body
    )


def test_an_endpoint_that_never_accepts_the_connection_holds_an_attempt_seconds_only(
    demo_kb, unreachable_host, settings
):
    # An operator gives slow endpoints time to answer; a dead one still lets go at once.
    settings.BATON_WEBHOOK_TIMEOUT = 30
    channel = NotificationChannel.objects.create(
        name="Dropped", kind="webhook", url=unreachable_host, secret="s3cret"
    )
    delivery = Delivery.objects.create(
        channel=channel, event="handoff.created", key="handoff.created:1:0", payload={}
    )
    started = time.monotonic()
    with pytest.raises(notifications.DeliveryFailed):
        notifications.deliver(delivery_id=delivery.pk)
    assert time.monotonic() - started < 6
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert "timed out" in delivery.last_error


def test_a_redirect_is_a_failed_attempt_and_the_body_goes_nowhere_else(demo_kb, endpoint):
    elsewhere = Endpoint([])
    try:
        endpoint.statuses, endpoint.redirect_to = [307], elsewhere.url
        channel = NotificationChannel.objects.create(
            name="Moved", kind="webhook", url=endpoint.url, secret="s3cret"
        )
        handoff_for(demo_kb)
    finally:
        elsewhere.close()
    assert elsewhere.received == []
    # The retry was answered with a 200 at the address the admin gave.
    assert len(endpoint.received) == 2
    assert Delivery.objects.get(channel=channel).delivered_at is not None


@pytest.mark.task_failures_expected("escalation.tasks.delivery_send")
def test_an_unreachable_endpoint_never_breaks_the_chat(demo_kb):
    NotificationChannel.objects.create(
        name="Gone", kind="webhook", url="http://127.0.0.1:9/nothing-listens-here"
    )
    handoff = handoff_for(demo_kb)
    delivery = Delivery.objects.get()
    assert delivery.delivered_at is None and delivery.last_error
    # The customer was told what happens all the same.
    assert (
        "won't need to repeat yourself"
        in handoff.conversation.messages.filter(author="system").last().body
    )

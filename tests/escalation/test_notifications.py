"""Slack and webhook notifications, delivered to a real HTTP server on loopback."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from escalation import notifications
from escalation.models import Delivery, Handoff, NotificationChannel, Team
from tests import factories
from tests.factories import say

pytestmark = pytest.mark.django_db(transaction=True)


class Endpoint:
    """A webhook receiver that answers with the statuses it is told, in order."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
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


def handoff_for(site) -> Handoff:
    conversation = factories.conversation(on=site, path="/settings/billing")
    say(conversation, "where are my invoices?", path="/settings/billing")
    say(conversation, "can I talk to a person")
    return Handoff.objects.get(conversation=conversation)


def test_a_handoff_is_posted_to_a_webhook_signed_with_hmac(demo_kb, endpoint):
    NotificationChannel.objects.create(
        name="Helpdesk", kind="webhook", url=endpoint.url, secret="s3cret"
    )
    handoff = handoff_for(demo_kb)
    headers, body = endpoint.received[0]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Baton-Signature"] == expected
    assert headers["X-Baton-Event"] == "handoff.created"
    payload = json.loads(body)
    assert payload["handoff"]["team"] == "billing"
    assert payload["handoff"]["reason"] == "explicit_request"
    assert payload["conversation"]["id"] == str(handoff.conversation.public_id)
    assert payload["brief"]["wants"]["last_message"] == "can I talk to a person"
    assert Delivery.objects.get().delivered_at is not None


def test_slack_gets_a_readable_message(demo_kb, endpoint):
    NotificationChannel.objects.create(name="Slack", kind="slack", url=endpoint.url)
    handoff_for(demo_kb)
    text = json.loads(endpoint.received[0][1])["text"]
    assert "New handoff to Billing" in text
    assert "The customer asked for a person." in text
    assert "/console/conversations/" in text


def test_channels_can_be_limited_to_teams(demo_kb, endpoint):
    channel = NotificationChannel.objects.create(name="Trust", kind="webhook", url=endpoint.url)
    channel.teams.add(Team.objects.get(slug="trust"))
    handoff_for(demo_kb)
    assert endpoint.received == []


@pytest.mark.task_failures_expected("escalation.tasks.delivery_send")
def test_a_failing_endpoint_is_retried_and_delivers_once(demo_kb, endpoint, settings):
    endpoint.statuses = [500, 503]
    channel = NotificationChannel.objects.create(name="Flaky", kind="webhook", url=endpoint.url)
    handoff = handoff_for(demo_kb)
    delivery = Delivery.objects.get(channel=channel)
    # The task's first try got a 500 (a worker retries it with back-off); two more tries.
    for _attempt in range(2):
        try:
            notifications.deliver(delivery_id=delivery.pk)
        except notifications.DeliveryFailed:
            continue
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None
    assert delivery.attempts == 3
    assert len(endpoint.received) == 3
    # A retry that comes after success sends nothing.
    notifications.deliver(delivery_id=delivery.pk)
    assert len(endpoint.received) == 3
    assert handoff.conversation.messages.filter(author="system").exists()


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

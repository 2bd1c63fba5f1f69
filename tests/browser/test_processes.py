"""The processes `manage.py serve` starts, as the stack runs them."""

import time

import pytest
from django.conf import settings

from project.celery import app as celery_app

pytestmark = pytest.mark.stack


def test_notifications_have_a_worker_of_their_own(stack):
    """A Slack or webhook endpoint that hangs holds the notifications worker's threads, never
    the ones that answer customers."""
    expected = {
        stack.stack.notifications_worker_name,
        *(stack.stack.worker_name(n) for n in range(1, stack.stack.worker_processes + 1)),
    }
    queues: dict[str, set[str]] = {}
    deadline = time.monotonic() + 60
    while not expected <= queues.keys() and time.monotonic() < deadline:
        # Workers answer once they are ready, which can be after daphne is.
        for name, taken in (celery_app.control.inspect(timeout=2).active_queues() or {}).items():
            queues[name.split("@")[0]] = {queue["name"] for queue in taken}
    assert queues[stack.stack.notifications_worker_name] == {settings.BATON_NOTIFICATIONS_QUEUE}
    for number in range(1, stack.stack.worker_processes + 1):
        assert queues[stack.stack.worker_name(number)] == {settings.CELERY_TASK_DEFAULT_QUEUE}
    route = celery_app.amqp.router.route({}, "escalation.tasks.delivery_send")
    assert route["queue"].name == settings.BATON_NOTIFICATIONS_QUEUE

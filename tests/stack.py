"""The real processes for end-to-end tests: daphne, a Celery worker, the demo website.

They use this test session's database and Redis, so a test can prepare data with the ORM
and see what the processes wrote.
"""

import socket
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from project.celery import app as celery_app
from project.embedded import Stack, free_port
from project.queues import notifications_queue


@dataclass
class RunningStack:
    stack: Stack
    demo_port: int

    @property
    def baton_url(self) -> str:
        return self.stack.url

    @property
    def demo_url(self) -> str:
        return f"http://127.0.0.1:{self.demo_port}"


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_stack(*, name: str = "main", demo: bool = True, **extra_env: str) -> RunningStack:
    """Baton's processes (and the demo website, unless ``demo`` is false) with settings
    from ``extra_env`` on top of this session's. Logs go to ``var/test/stack-logs/NAME``."""
    port, demo_port = free_port(), free_port()
    baton_url = f"http://127.0.0.1:{port}"
    env = {
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "CHANNEL_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        "BATON_VAR_DIR": str(settings.VAR_DIR),
        "PUBLIC_URL": baton_url,
        "DJANGO_ALLOW_ASYNC_UNSAFE": "",
        # The test database is dropped when the session ends; no process may keep a
        # connection to it open in between requests.
        "DATABASE_CONN_MAX_AGE": "0",
        **extra_env,
    }
    demo_host = ["manage.py", "demo_host", "--port", str(demo_port), "--baton-url", baton_url]
    stack = Stack(
        port=port,
        env=env,
        log_dir=settings.VAR_DIR / "stack-logs" / name,
        extra={"demo": demo_host} if demo else {},
    )
    stack.start(var_dir=settings.VAR_DIR)
    return RunningStack(stack=stack, demo_port=demo_port)


def wait_until_settled(running: RunningStack, timeout: float = 60) -> None:
    """Wait until every customer message has its decision and the worker has nothing left
    to run. The test's database is wiped next; a task still writing holds row locks that
    PostgreSQL's TRUNCATE waits on, and the two deadlock (seen in a CI run)."""
    from chat.models import Message

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        undecided = Message.objects.filter(
            author=Message.Author.CUSTOMER, decision__isnull=True
        ).exists()
        if not undecided and _workers_idle(running.stack):
            return
        time.sleep(0.2)
    raise AssertionError(f"the worker was still busy {timeout:.0f} s after the test")


def _workers_idle(stack: Stack) -> bool:
    # Celery's "%h" in the names Stack.start gives is this host's name.
    names = [
        f"{stack.worker_name(number)}@{socket.gethostname()}"
        for number in range(1, stack.worker_processes + 1)
    ] + [f"{stack.notifications_worker_name}@{socket.gethostname()}"]
    inspect = celery_app.control.inspect(destination=names, timeout=2, limit=len(names))
    for replies in (inspect.active(), inspect.reserved()):
        if not replies or len(replies) < len(names) or any(replies.values()):
            return False
    # The stack's own queue: a stack started with another CELERY_QUEUE works from that one.
    queue = stack.env["CELERY_QUEUE"]
    with celery_app.connection_for_read() as connection:
        client = connection.default_channel.client
        return client.llen(queue) == 0 and client.llen(notifications_queue(queue)) == 0

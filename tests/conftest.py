"""Shared fixtures and personas.

The suite runs against whatever the environment configures: the embedded default (a
SQLite file and a private Redis that this session starts on a unix socket) or
PostgreSQL + Redis from DATABASE_URL / REDIS_URL. Nothing of ours is replaced by a fake:
the channel layer is Redis, Celery runs its real task code (eagerly in-process here, and
as real worker processes in the stack tests).
"""

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
import pytest
import redis
from celery.signals import task_failure
from django.conf import settings

from project.celery import app as celery_app
from project.embedded import redis_answers, redis_start

SHARED = Path(settings.BASE_DIR).parent / "shared"
SHARED_KB = SHARED / "data" / "kb"
DEV_CONVERSATIONS = SHARED / "data" / "conversations" / "dev.jsonl"


def run_python(script: str, *, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    """A fresh Baton process with only the given configuration (none of this session's)."""
    return subprocess.run(
        [sys.executable, "-c", script],
        env={
            "PATH": os.environ.get("PATH", ""),
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "BATON_VAR_DIR": str(settings.VAR_DIR / "subprocess"),
            **env,
        },
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        timeout=timeout,
        check=False,
    )


# In this process tasks run at once, in the caller's thread, through Celery's own code.
# As with a worker, a task that fails does not fail the code that queued it; the
# _no_task_failures fixture fails the test instead, unless the test expected it.
celery_app.conf.task_always_eager = True
celery_app.conf.task_eager_propagates = False
_task_failures: list[tuple[str, BaseException]] = []

# Production keeps database connections open (DATABASE_CONN_MAX_AGE); here, threads that
# touch the database (consumers' database threads) close theirs after each use, so none
# lingers until the session drops the test database.
settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


@task_failure.connect
def _record_task_failure(sender=None, exception=None, **kwargs):
    _task_failures.append((sender.name if sender else "?", exception))


@pytest.fixture(autouse=True)
def _no_task_failures(request):
    _task_failures.clear()
    yield
    allowed = request.node.get_closest_marker("task_failures_expected")
    allowed_names = set(allowed.args) if allowed else set()
    unexpected = [(name, error) for name, error in _task_failures if name not in allowed_names]
    assert not unexpected, f"tasks failed: {unexpected}"


@pytest.fixture(scope="session", autouse=True)
def redis_server():
    """The embedded mode's private Redis, started for this test session when needed."""
    if settings.EMBEDDED_REDIS:
        process = redis_start(Path(settings.REDIS_SOCKET_PATH), settings.VAR_DIR)
        _empty_task_queue()
        yield
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
    else:
        if not redis_answers(settings.REDIS_URL):
            pytest.exit(f"Redis does not answer at {settings.REDIS_URL}", returncode=2)
        _empty_task_queue()
        yield


def _empty_task_queue() -> None:
    """Start with no task waiting in the broker. A Redis that outlives the session keeps
    what an earlier one left: a worker that stops puts back the tasks it held, such as a
    reply email due minutes later, and they name rows of a database that is gone."""
    celery_app.control.purge()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with nothing cached: Redis outlives each test's database (and, with
    REDIS_URL, the whole session), and a key left earlier (a queue refresh pending, what a
    widget showed) must not reach into this test's rows, whose ids start again."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
    yield


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """Each test starts with empty groups, so no broadcast leaks from one to the next."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    yield
    # In a thread of its own: browser tests keep an event loop running in this one.
    in_thread(async_to_sync(get_channel_layer().flush))


def in_thread(function, *args, **kwargs):
    """Run a blocking call (ORM, broadcast) away from the current thread's event loop."""
    from django.db import connections

    def call():
        try:
            return function(*args, **kwargs)
        finally:
            # The thread ends here; a connection left open would keep the test database
            # busy when the session drops it.
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


@pytest.fixture(autouse=True)
def _default_policy(request):
    """What a fresh install has: the default triggers. Transactional tests wipe every
    table, the migrated data too, so each test that uses the database gets it back."""
    marker = request.node.get_closest_marker("django_db")
    if "transactional_db" in request.fixturenames or (marker and marker.kwargs.get("transaction")):
        request.getfixturevalue("transactional_db")
    elif "db" in request.fixturenames or marker:
        request.getfixturevalue("db")
    else:
        yield
        return
    from escalation import policy
    from escalation.models import Team, Trigger

    policy.install(Team, Trigger)
    yield


@pytest.fixture(autouse=True)
def _responder_checks_the_knowledge_base():
    """A test's rolled-back transaction leaves the knowledge base as it was before the
    test, with no change for the responder to notice; look at the revision again."""
    from chat.responder.local import revision_changed

    revision_changed()


@pytest.fixture(autouse=True)
def _english():
    from django.utils import translation

    with translation.override("en"):
        yield


# Personas ------------------------------------------------------------------------------


@pytest.fixture
def site(db):
    """Acme's website, which embeds the widget from https://www.acme.example."""
    from tests import factories

    return factories.site()


@pytest.fixture
def demo_kb(db):
    """Baton's own demo knowledge base (Parcelbird, a shipping-label service)."""
    from django.core.management import call_command

    call_command("demo_setup", verbosity=0)
    from chat.models import Site

    return Site.objects.get(key="demo")


@pytest.fixture
def lumen_kb(db):
    """The shared sample knowledge base (Lumen, an analytics company)."""
    from chat import services
    from chat.kb_import import parse_folder
    from tests import factories

    services.kb_import(articles=parse_folder(SHARED_KB))
    return factories.site(key="lumen", name="Lumen")


def identity_token(site, *, sub: str = "u-1", lifetime: int = 600, **claims) -> str:
    """What the host's server does for a signed-in user: sign who they are."""
    now = int(time.time())
    payload = {"sub": sub, "iat": now, "exp": now + lifetime, **claims}
    return jwt.encode(payload, site.identity_secret, algorithm="HS256")


@pytest.fixture
def sign():
    return identity_token


def pytest_collection_modifyitems(config, items):
    """Browser tests last: Playwright keeps an event loop running in the main thread for
    the rest of the session, which the asyncio tests need for themselves."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)

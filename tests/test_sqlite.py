"""The embedded database: writers queue for the SQLite file, across threads and processes."""

import os
import subprocess
import sys
import threading

import pytest
from django.conf import settings
from django.db import OperationalError, connection, connections, transaction

from chat.models import Site

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the embedded database only"),
]

HOLD = """
import sys
import django
django.setup()
from django.db import transaction
from chat.models import Site
with transaction.atomic():
    Site.objects.create(key="other-process", name="other process")
    print("holding", flush=True)
    sys.stdin.readline()
"""

LOCK_FILE = """
import fcntl, os, sys
descriptor = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(descriptor, fcntl.LOCK_EX)
print("holding", flush=True)
sys.stdin.readline()
"""


class OtherProcess:
    """Another Baton process in the middle of a write transaction, until ``finish``."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD],
            env={
                "PATH": os.environ.get("PATH", ""),
                "DJANGO_SETTINGS_MODULE": "project.settings",
                "BATON_VAR_DIR": str(settings.VAR_DIR / "subprocess"),
                "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
                "SECRET_KEY": settings.SECRET_KEY,
            },
            cwd=settings.BASE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline().strip() == "holding"

    def finish(self) -> None:
        self.process.communicate("\n", timeout=30)
        assert self.process.returncode == 0


class Writer(threading.Thread):
    """Creates a site in a transaction on a connection of its own; keeps any error."""

    def __init__(self, key: str, *, timeout: float | None = None) -> None:
        super().__init__()
        self.key, self.timeout = key, timeout
        self.errors: list[BaseException] = []
        self.start()

    def run(self) -> None:
        try:
            if self.timeout is not None:
                own = connections.create_connection("default")
                own.settings_dict = {
                    **own.settings_dict,
                    "OPTIONS": {**own.settings_dict["OPTIONS"], "timeout": self.timeout},
                }
                connections["default"] = own
            with transaction.atomic():
                Site.objects.create(key=self.key, name=self.key)
        except BaseException as error:
            self.errors.append(error)
        finally:
            connections["default"].close()

    def still_waiting(self) -> bool:
        self.join(0.5)
        return self.is_alive()


def test_a_writer_waits_for_another_process_that_writes_and_then_writes():
    other = OtherProcess()
    try:
        writer = Writer("waiting")
        assert writer.still_waiting()
    finally:
        other.finish()
    writer.join(30)
    assert writer.errors == []
    assert set(Site.objects.values_list("key", flat=True)) >= {"other-process", "waiting"}


def test_a_writer_waits_for_another_thread_that_writes_and_then_writes():
    holding, finish = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Site.objects.create(key="other-thread", name="other thread")
                holding.set()
                finish.wait(30)
        finally:
            connections["default"].close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(30)
        writer = Writer("waiting")
        assert writer.still_waiting()
    finally:
        finish.set()
    holder.join(30)
    writer.join(30)
    assert writer.errors == []
    assert set(Site.objects.values_list("key", flat=True)) >= {"other-thread", "waiting"}


def test_writers_queue_on_the_lock_file_beside_the_database():
    """What makes a waiting writer take the file the moment it is free: an OS lock that
    every Baton process takes before it writes (SQLite alone would not wait here)."""
    lock_path = f"{connection.settings_dict['NAME']}-writer.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_FILE, lock_path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "holding"
    try:
        writer = Writer("queued")
        assert writer.still_waiting()
    finally:
        holder.communicate("\n", timeout=30)
    writer.join(30)
    assert writer.errors == []
    assert Site.objects.filter(key="queued").exists()


def test_a_writer_gives_up_after_its_timeout_with_the_usual_error():
    other = OtherProcess()
    try:
        writer = Writer("given-up", timeout=0.3)
        writer.join(30)
        assert not writer.is_alive()
    finally:
        other.finish()
    assert len(writer.errors) == 1, writer.errors
    assert isinstance(writer.errors[0], OperationalError)
    assert "database is locked" in str(writer.errors[0])
    assert not Site.objects.filter(key="given-up").exists()
    # The lock was given back: the next writer does not wait.
    Writer("next").join(30)
    assert Site.objects.filter(key="next").exists()


def test_a_transaction_that_fails_gives_the_lock_back():
    with pytest.raises(RuntimeError), transaction.atomic():
        Site.objects.create(key="rolled-back", name="rolled back")
        raise RuntimeError("boom")
    writer = Writer("after")
    writer.join(30)
    assert writer.errors == []
    assert list(Site.objects.values_list("key", flat=True)) == ["after"]

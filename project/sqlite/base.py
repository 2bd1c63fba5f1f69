"""Django's SQLite backend, with writers that queue for the file instead of polling it.

In the embedded mode daphne and the Celery workers (several threads each) write to one
SQLite file, one writer at a time. With SQLite's own busy handler a writer that found the
file busy slept 1, 2, 5, 10, 15, 20, then 25 ms and more between looks, so the file sat
idle after each writer while the next one slept; measured under load, the write lock was
the bottleneck of the whole server. Polling faster did not help: every look needs the
Python interpreter lock, which the writer holding the file needs to finish.

So a write transaction (``BEGIN IMMEDIATE``, the only place a writer waits) first takes
this process's writer lock, on which the other threads of the process wait without
running, and then an OS file lock beside the database, on which the one waiting thread
of each other process waits. Both are released when the transaction commits or rolls
back; the file lock also when a process dies. Waiting longer than the connection's
``timeout`` fails with SQLite's usual "database is locked".
"""

import fcntl
import os
import threading
import time
from collections.abc import Callable

from django.db import OperationalError
from django.db.backends.sqlite3 import base

# How often the one waiting thread of a process looks at the file lock, at most.
POLL_SECONDS = 0.001
FIRST_POLL_SECONDS = 0.0001

_writer = threading.Lock()
_lock_files: dict[str, int] = {}
_lock_files_guard = threading.Lock()


def _lock_file(database: str) -> int:
    """This process's descriptor of the database's writer lock file."""
    with _lock_files_guard:
        descriptor = _lock_files.get(database)
        if descriptor is None:
            descriptor = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
            _lock_files[database] = descriptor
        return descriptor


class DatabaseWrapper(base.DatabaseWrapper):
    # Whether this connection holds the writer locks (from BEGIN to COMMIT or ROLLBACK).
    holds_writer_lock = False

    def get_connection_params(self):
        params = super().get_connection_params()
        self.busy_seconds = float(params.get("timeout", 5.0))
        return params

    def _start_transaction_under_autocommit(self) -> None:
        if self.transaction_mode != "IMMEDIATE" or self.is_in_memory_db():
            super()._start_transaction_under_autocommit()
            return
        deadline = time.monotonic() + self.busy_seconds
        if not _writer.acquire(timeout=self.busy_seconds):
            raise OperationalError("database is locked")
        try:
            self._lock_the_file(deadline)
        except BaseException:
            _writer.release()
            raise
        self.holds_writer_lock = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer_lock()
            raise

    def _lock_the_file(self, deadline: float) -> None:
        descriptor = _lock_file(self.settings_dict["NAME"])
        pause = FIRST_POLL_SECONDS
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OperationalError("database is locked") from None
            time.sleep(pause)
            pause = min(pause * 2, POLL_SECONDS)

    def _release_writer_lock(self) -> None:
        if self.holds_writer_lock:
            self.holds_writer_lock = False
            fcntl.flock(_lock_file(self.settings_dict["NAME"]), fcntl.LOCK_UN)
            _writer.release()

    def _releasing(self, finish: Callable[[], None]) -> None:
        """Commit, roll back or close, then give the writer locks back whatever happened."""
        try:
            finish()
        finally:
            self._release_writer_lock()

    def _commit(self) -> None:
        self._releasing(super()._commit)

    def _rollback(self) -> None:
        self._releasing(super()._rollback)

    def _close(self) -> None:
        self._releasing(super()._close)

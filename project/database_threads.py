"""Where the websocket consumers do their database work: a few threads, not one.

Channels runs the synchronous code of every consumer of a process in one thread (its
``database_sync_to_async`` is thread-sensitive). Under load that thread was the
bottleneck of the whole server: while it waited for the SQLite write lock, or for Redis,
every other customer's message waited too, and the Celery workers sat idle. Here a small
pool does that work. A consumer still awaits its calls one at a time, so its own calls stay
in order; each thread has its own database connection, opened and closed as Channels
does it (``close_old_connections`` around every call).
"""

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from channels.db import DatabaseSyncToAsync

THREADS = 4

_P = ParamSpec("_P")
_R = TypeVar("_R")

_executor = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="consumer-db")


def database_sync_to_async(function: Callable[_P, _R]) -> Callable[_P, Awaitable[_R]]:
    return DatabaseSyncToAsync(function, thread_sensitive=False, executor=_executor)

"""Group names and broadcasts: the only place that talks to the channel layer.

The channel layer only says "something changed"; the database stays the source of truth
and a client that missed a broadcast catches up by sequence number.
"""

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

_thread = threading.local()


def _run(function: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Run a channel-layer call from synchronous code.

    Called from a consumer's database thread, it goes back to the server's event loop (as
    ``async_to_sync`` does). Anywhere else (a Celery worker thread, a management command)
    ``async_to_sync`` would start a new event loop, in a new thread, with a new Redis
    connection, for every call; a loop kept per thread keeps its connections instead.
    """
    main_loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if main_loop is not None and main_loop.is_running():
        async_to_sync(function)(*args)
        return
    loop = getattr(_thread, "loop", None)
    if loop is None or loop.is_closed():
        loop = _thread.loop = asyncio.new_event_loop()
    loop.run_until_complete(function(*args))


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def contact_group(contact_id: int) -> str:
    return f"contact.{contact_id}"


def broadcast(group: str, event_type: str, **payload: Any) -> None:
    """Send now. Prefer broadcast_on_commit inside services."""
    layer = get_channel_layer()
    if layer is None:
        return
    _run(layer.group_send, group, {"type": event_type, **payload})


def broadcast_on_commit(group: str, event_type: str, **payload: Any) -> None:
    """Send once the surrounding transaction commits, so nobody hears of a rolled-back change."""
    transaction.on_commit(lambda: broadcast(group, event_type, **payload))

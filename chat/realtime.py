"""Group names and broadcasts: the only place that talks to the channel layer.

The channel layer only says "something changed"; the database stays the source of truth
and a client that missed a broadcast catches up by sequence number.
"""

import asyncio
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import SyncToAsync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

_thread = threading.local()
Send = tuple[Callable[..., Awaitable[Any]], tuple[Any, ...]]
# Per server event loop: the sends its database thread handed over, in order.
_outboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Queue[Send]] = (
    weakref.WeakKeyDictionary()
)
_deliveries: set[asyncio.Task[None]] = set()


def _run(function: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Run a channel-layer call from synchronous code.

    Called from a consumer's database thread, it hands the call to the server's event
    loop and returns: those few threads do the database work of every socket of the
    server (project/database_threads.py), and waiting for Redis, and for a busy loop to
    get round to it, held them all up. The calls still go out one at a time, in order.

    Anywhere else (a Celery worker thread, a management command) ``async_to_sync`` would
    start a new event loop, in a new thread, with a new Redis connection, for every call;
    a loop kept per thread keeps its connections instead.
    """
    main_loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if main_loop is not None and main_loop.is_running():
        main_loop.call_soon_threadsafe(_hand_over, main_loop, (function, args))
        return
    loop = getattr(_thread, "loop", None)
    if loop is None or loop.is_closed():
        loop = _thread.loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(function(*args))
    except Exception:
        # As in the server: the change is stored, and the clients catch up by sequence
        # number. Raising here would fail a task whose work is done, after its commit.
        logger.exception("broadcast failed")


def _hand_over(loop: asyncio.AbstractEventLoop, send: Send) -> None:
    """In the event loop's thread: queue a send behind the ones before it."""
    outbox = _outboxes.get(loop)
    if outbox is None:
        outbox = _outboxes[loop] = asyncio.Queue()
        delivery = loop.create_task(_deliver(outbox))
        _deliveries.add(delivery)
        delivery.add_done_callback(_deliveries.discard)
    outbox.put_nowait(send)


async def _deliver(outbox: asyncio.Queue[Send]) -> None:
    while True:
        function, args = await outbox.get()
        try:
            await function(*args)
        except Exception:
            # Nobody waits for a broadcast: clients catch up by sequence number.
            logger.exception("broadcast failed")


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


def broadcast_on_commit(
    group: str,
    event_type: str,
    *,
    later: Callable[[], dict[str, Any]] | None = None,
    **payload: Any,
) -> None:
    """Send once the surrounding transaction commits, so nobody hears of a rolled-back change.

    ``later`` makes the rest of the payload after the commit: what takes time to make (a
    message's HTML) is then not made while the transaction holds the database, which on
    SQLite every other writer is waiting for."""
    transaction.on_commit(
        lambda: broadcast(group, event_type, **payload, **(later() if later else {}))
    )

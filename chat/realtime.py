"""Group names and broadcasts: the only place that talks to the channel layer.

The channel layer only says "something changed"; the database stays the source of truth
and a client that missed a broadcast catches up by sequence number.
"""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def contact_group(contact_id: int) -> str:
    return f"contact.{contact_id}"


def broadcast(group: str, event_type: str, **payload: Any) -> None:
    """Send now. Prefer broadcast_on_commit inside services."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(group, {"type": event_type, **payload})


def broadcast_on_commit(group: str, event_type: str, **payload: Any) -> None:
    """Send once the surrounding transaction commits, so nobody hears of a rolled-back change."""
    transaction.on_commit(lambda: broadcast(group, event_type, **payload))

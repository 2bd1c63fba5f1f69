"""What the customer's open widgets have shown: decides whether a reply must go by email.

Kept in Django's cache (Redis): it is only a hint, so losing it costs at most an email.
"""

import uuid

from django.core.cache import cache

from chat.models import Message

SHOWN_FOR_SECONDS = 7 * 24 * 3600


def _key(conversation: uuid.UUID | str) -> str:
    # The public id, never reused: a database restored or recreated beside a Redis that
    # kept its keys starts its row ids again.
    return f"shown:{conversation}"


def shown(*, conversation: uuid.UUID | str, seq: int) -> None:
    """A widget put message ``seq`` (and all before it) of the conversation with this
    public id in front of the customer."""
    key = _key(conversation)
    if seq > (cache.get(key) or 0):
        cache.set(key, seq, SHOWN_FOR_SECONDS)


def worth_recording(frame: dict) -> bool:
    """Only agents' replies are ever emailed, so only they are worth recording: each record
    costs two Redis round trips, and a widget's consumer one trip to its database thread."""
    return frame["author"] == Message.Author.AGENT


def was_shown(*, conversation: uuid.UUID | str, seq: int) -> bool:
    return (cache.get(_key(conversation)) or 0) >= seq

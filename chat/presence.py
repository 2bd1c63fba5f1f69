"""What the customer's open widgets have shown: decides whether a reply must go by email.

Kept in Django's cache (Redis): it is only a hint, so losing it costs at most an email.
"""

from django.core.cache import cache

SHOWN_FOR_SECONDS = 7 * 24 * 3600


def _key(conversation_id: int) -> str:
    return f"shown:{conversation_id}"


def shown(*, conversation_id: int, seq: int) -> None:
    """A widget put message ``seq`` (and all before it) in front of the customer."""
    key = _key(conversation_id)
    if seq > (cache.get(key) or 0):
        cache.set(key, seq, SHOWN_FOR_SECONDS)


def was_shown(*, conversation_id: int, seq: int) -> bool:
    return (cache.get(_key(conversation_id)) or 0) >= seq

"""Text that Baton refuses at the door.

PostgreSQL can neither store nor compare text, or JSON, that holds a NUL character
(U+0000), and no person types one. Every way in (web addresses, API bodies, widget
frames) refuses it with a clear error instead of failing deep inside a query.
"""

from typing import Any

NUL = "\x00"


def has_nul(value: Any) -> bool:
    """Whether a NUL character is anywhere in this text or JSON-like value, keys included."""
    # A list of what is left to look at, not recursion: a body nested a few hundred deep
    # would otherwise end in a RecursionError (a server error) instead of an answer.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False

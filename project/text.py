"""Text that Baton refuses at the door.

PostgreSQL can neither store nor compare text, or JSON, that holds a NUL character
(U+0000), and no person types one. Every way in (web addresses, API bodies, widget
frames) refuses it with a clear error instead of failing deep inside a query.
"""

from typing import Any

NUL = "\x00"


def has_nul(value: Any) -> bool:
    """Whether a NUL character is anywhere in this text or JSON-like value, keys included."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(has_nul(key) or has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(item) for item in value)
    return False

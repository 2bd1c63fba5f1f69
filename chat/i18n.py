"""The customer's language: what Baton tells a customer is in it, wherever it is written.

A widget's socket speaks the visitor's language (the browser's Accept-Language, as the
widget's own page does); each conversation keeps the language its customer last wrote in,
so what workers and agents' actions say to that customer later (answers the AI words
itself, the handoff and queue lines, status, emails) is in it too. What agents and
supervisors read (decisions, briefs, notifications) stays in the site's LANGUAGE_CODE.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header


def language_of(scope: dict[str, Any]) -> str:
    """The best language Baton has for a websocket's browser."""
    headers = dict(scope.get("headers", []))
    accept = headers.get(b"accept-language", b"").decode("latin-1")
    for code, _quality in parse_accept_lang_header(accept):
        if code == "*":
            continue
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE


@contextmanager
def customer_language(conversation: Any) -> Iterator[None]:
    """Render what this conversation's customer will read in their language."""
    with translation.override(conversation.language or settings.LANGUAGE_CODE):
        yield


@contextmanager
def staff_language() -> Iterator[None]:
    """Render what agents and supervisors read (and what is stored for them)."""
    with translation.override(settings.LANGUAGE_CODE):
        yield

"""The AI responder: one interface, ``answer(query) -> Reply``, whatever engine is behind it."""

from typing import Any

from django.conf import settings

from chat.models import Conversation, Message
from chat.responder.base import Candidate, Query, Reply
from chat.responder.local import LocalResponder

__all__ = ["Candidate", "Query", "Reply", "get_responder", "query_for"]


def get_responder() -> LocalResponder:
    """The configured engine (BATON_RESPONDER): "local", or "llm" on top of it."""
    if settings.BATON_RESPONDER == "llm":
        from chat.responder.llm import LlmResponder

        return LlmResponder()
    return LocalResponder()


def _facts(context: Any) -> tuple[tuple[str, str | int | float | bool], ...]:
    """The host page's facts as the widget checked them (chat.frames.context), by key:
    PostgreSQL keeps JSON keys in its own order, and the same facts must read the same on
    either database. Anything else in the field, put there by other means, is left out."""
    if not isinstance(context, dict):
        return ()
    return tuple(
        (key, value)
        for key, value in sorted(context.items())
        if isinstance(key, str) and isinstance(value, str | int | float | bool)
    )


def query_for(
    *, conversation: Conversation, message: Message, previous_text: str | None = None
) -> Query:
    """The question as the responder sees it: words, page, what the host page said about
    the customer (Baton.setContext), and what was just discussed.

    ``previous_text``: the customer's message before this one ("" for none), when the
    caller has read it already.
    """
    page = message.page or conversation.pages.order_by("-id").first()
    previous = previous_text
    if previous is None:
        previous = (
            conversation.messages.filter(author=Message.Author.CUSTOMER, seq__lt=message.seq)
            .order_by("-seq")
            .values_list("body", flat=True)
            .first()
        )
    return Query(
        text=message.body,
        page_path=page.path if page else "",
        page_title=page.title if page else "",
        facts=_facts(conversation.context),
        topic_slug=conversation.topic.slug if conversation.topic else "",
        previous_text=previous or "",
        company=conversation.site.name,
    )

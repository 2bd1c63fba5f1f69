"""The AI responder: one interface, ``answer(query) -> Reply``, whatever engine is behind it."""

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


def query_for(
    *, conversation: Conversation, message: Message, previous_text: str | None = None
) -> Query:
    """The question as the responder sees it: words, page, and what was just discussed.

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
        topic_slug=conversation.topic.slug if conversation.topic else "",
        previous_text=previous or "",
        company=conversation.site.name,
    )

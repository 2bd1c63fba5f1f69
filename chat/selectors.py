"""Reads of contacts, conversations and messages."""

import uuid
from typing import Any

from django.template.loader import render_to_string

from chat.models import Contact, Conversation, Message, Site


def site_get(*, key: str) -> Site | None:
    return Site.objects.filter(key=key).first()


def conversation_current(*, contact: Contact) -> Conversation | None:
    """The conversation a returning customer sees: their latest one."""
    return contact.conversations.order_by("-created_at", "-id").first()


def conversation_for_contact(*, contact: Contact, public_id: uuid.UUID) -> Conversation | None:
    """A conversation by its public id, only if it is this contact's."""
    return Conversation.objects.filter(contact=contact, public_id=public_id).first()


def messages_after(*, conversation: Conversation, seq: int, limit: int = 200) -> list[Message]:
    """What a widget that last saw ``seq`` has missed, oldest first."""
    return list(
        conversation.messages.filter(seq__gt=seq)
        .select_related("in_reply_to")
        .order_by("seq")[:limit]
    )


def message_frame(message: Message) -> dict[str, Any]:
    """A message as the widget receives it; the HTML comes from a template, never by hand."""
    return {
        "type": "message",
        "seq": message.seq,
        "author": message.author,
        "author_name": message.author_name,
        "body": message.body,
        "html": render_to_string(
            "chat/widget/message_body.html", {"message": message, "widget": True}
        ),
        "sources": message.sources,
        "suggestions": message.suggestions,
        "confidence": message.confidence,
        "client_id": message.client_id or None,
        # Which customer message this answers (a streamed draft of it is replaced).
        "reply_to": message.in_reply_to.seq if message.in_reply_to_id else None,
        "created_at": message.created_at.isoformat(),
    }


def conversation_frame(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": str(conversation.public_id),
        "state": conversation.state,
        "last_seq": conversation.last_seq,
    }

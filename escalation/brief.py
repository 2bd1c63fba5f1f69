"""The brief an agent reads in ten seconds before taking a conversation over."""

from typing import Any

from django.urls import reverse

from agents.models import Agent
from chat.models import Conversation, Message
from escalation import detectors
from escalation.models import Decision


def account_owner(attributes: dict[str, Any]) -> Agent | None:
    """The agent a verified ``account_owner`` attribute names (username or email)."""
    owner = str(attributes.get("account_owner") or "").strip()
    if not owner:
        return None
    return (
        Agent.objects.select_related("user").filter(user__username__iexact=owner).first()
        or Agent.objects.select_related("user").filter(user__email__iexact=owner).first()
    )


def _trend(scores: list[float]) -> str:
    if len(scores) < 2:
        return "steady"
    change = scores[-1] - scores[0]
    if change <= -0.25:
        return "worsening"
    if change >= 0.25:
        return "improving"
    return "steady"


# How many of the customer's messages since the handoff the brief keeps.
LATER_MESSAGES = 10


def build(
    *,
    conversation: Conversation,
    decision: Decision | None,
    reason: str,
    explanation: str,
    trigger_name: str,
) -> dict[str, Any]:
    contact = conversation.contact
    messages = list(conversation.messages.order_by("seq"))
    decisions = {d.message_id: d for d in Decision.objects.filter(conversation=conversation)}
    customer = [m for m in messages if m.author == Message.Author.CUSTOMER]
    tried = []
    for message in messages:
        if message.author != Message.Author.AI or not message.sources:
            continue
        reaction = "no reply"
        following = [m for m in customer if m.seq > message.seq]
        if following:
            # Read from the words, whichever rule then decided: "I did that and it didn't
            # work, this is ridiculous" hands off for its anger, and it still rejects.
            rejected = detectors.rejects_answer(following[0].body)
            reaction = "said it did not help" if rejected else "moved on"
        tried.append(
            {
                "title": message.sources[0]["title"],
                "slug": message.sources[0]["slug"],
                "confidence": round(message.confidence or 0, 2),
                "reaction": reaction,
            }
        )
    sentiments = [
        decisions[m.pk].sentiment
        for m in customer
        if m.pk in decisions and decisions[m.pk].sentiment is not None
    ]
    owner = account_owner(contact.attributes) if contact.verified else None
    return {
        "who": {
            "name": contact.display_name,
            "email": contact.email or contact.claimed.get("email", ""),
            "verified": contact.verified,
            "identity": contact.identity,
            "tier": contact.tier,
            "account_owner": owner.display_name if owner else "",
            "attributes": contact.attributes,
            "unverified": {k: v for k, v in contact.claimed.items() if k != "rejected"},
        },
        "wants": {
            "topic": conversation.topic.title if conversation.topic else "",
            "intent": decision.intent if decision else "",
            "first_message": customer[0].body[:300] if customer else "",
            "last_message": customer[-1].body[:300] if customer else "",
        },
        "tried": tried,
        "sentiment": {"scores": sentiments, "trend": _trend(sentiments)},
        "pages": list(conversation.pages.order_by("created_at").values_list("path", flat=True))[
            -10:
        ],
        "context": conversation.context,
        "reason": {"code": reason, "trigger": trigger_name, "explanation": explanation},
        "customer_messages": len(customer),
        "transcript_url": reverse("agents:conversation", args=[conversation.pk]),
    }


def with_later_message(brief: dict[str, Any], *, message: Message, sentiment: float) -> dict:
    """The brief once the customer wrote again while waiting for (or talking to) a person:
    the agent reads the latest words and mood without scrolling the transcript."""
    scores = [*brief["sentiment"]["scores"], sentiment]
    pages = list(brief["pages"])
    if message.page is not None and (not pages or pages[-1] != message.page.path):
        pages = [*pages, message.page.path][-10:]
    later = [*brief.get("later", []), {"seq": message.seq, "body": message.body[:300]}]
    return {
        **brief,
        "wants": {**brief["wants"], "last_message": message.body[:300]},
        "sentiment": {"scores": scores, "trend": _trend(scores)},
        "pages": pages,
        "customer_messages": brief["customer_messages"] + 1,
        "later": later[-LATER_MESSAGES:],
    }

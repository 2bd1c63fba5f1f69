"""What a console user may see: their teams' queues and conversations; supervisors see all.

Every lookup of a conversation goes through ``conversations_for(user)``, so changing an id
in a URL never reaches another team's conversation.
"""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, QuerySet

from agents.models import Agent, CannedResponse, Note, Resolution
from chat.models import Article, Conversation, Message
from escalation.models import Handoff, Team, WaitEstimate
from escalation.selectors import OPEN


def agent_for(user: AbstractBaseUser) -> Agent | None:
    if not user.is_authenticated:
        return None
    return Agent.objects.select_related("user").filter(user=user).first()


def sees_everything(user: AbstractBaseUser, agent: Agent | None = None) -> bool:
    agent = agent if agent is not None else agent_for(user)
    return bool(user.is_superuser or (agent and agent.is_supervisor))


def teams_for(user: AbstractBaseUser) -> QuerySet[Team]:
    agent = agent_for(user)
    if sees_everything(user, agent):
        return Team.objects.all()
    return agent.teams.all() if agent else Team.objects.none()


def conversations_for(user: AbstractBaseUser) -> QuerySet[Conversation]:
    conversations = Conversation.objects.select_related("contact", "team", "topic", "site")
    if sees_everything(user):
        return conversations
    return conversations.filter(team__in=teams_for(user))


def _with_estimates(handoffs: QuerySet[Handoff]) -> QuerySet[Handoff]:
    return handoffs.select_related(
        "team", "agent__user", "trigger", "conversation__contact"
    ).prefetch_related(
        Prefetch("estimates", queryset=WaitEstimate.objects.order_by("-made_at", "-id"))
    )


def queue_for(user: AbstractBaseUser, *, team: Team | None = None) -> list[Handoff]:
    """Waiting conversations of the user's teams, in the order they will be served."""
    handoffs = Handoff.objects.filter(status=Handoff.Status.WAITING, team__in=teams_for(user))
    if team is not None:
        handoffs = handoffs.filter(team=team)
    return list(_with_estimates(handoffs).order_by("-priority", "queued_at", "id"))


def mine(agent: Agent | None) -> list[Handoff]:
    if agent is None:
        return []
    handoffs = Handoff.objects.filter(
        agent=agent, status__in=[Handoff.Status.OFFERED, Handoff.Status.ANSWERED]
    )
    return list(_with_estimates(handoffs).order_by("queued_at"))


@dataclass(frozen=True)
class Entry:
    """One line of the transcript: a message or an internal note, in time order."""

    kind: str  # "message" or "note"
    item: Message | Note

    @property
    def at(self):
        return self.item.created_at


def transcript(conversation: Conversation) -> list[Entry]:
    messages = list(conversation.messages.select_related("decision").order_by("seq"))
    notes = list(conversation.notes.select_related("agent__user"))
    entries = [Entry("message", m) for m in messages] + [Entry("note", n) for n in notes]
    return sorted(entries, key=lambda e: (e.at, 0 if e.kind == "message" else 1))


def conversation_context(conversation: Conversation, user: AbstractBaseUser) -> dict[str, Any]:
    agent = agent_for(user)
    handoff = (
        Handoff.objects.select_related("team", "agent__user", "trigger")
        .prefetch_related(Prefetch("estimates", queryset=WaitEstimate.objects.order_by("made_at")))
        .filter(conversation=conversation)
        .order_by("-queued_at")
        .first()
    )
    is_open = handoff is not None and handoff.status in OPEN
    contact = conversation.contact
    earlier = (
        contact.conversations.exclude(pk=conversation.pk)
        .select_related("team")
        .order_by("-created_at")[:10]
    )
    last_customer = (
        conversation.messages.filter(author=Message.Author.CUSTOMER).order_by("-seq").first()
    )
    last_reply = conversation.messages.filter(author=Message.Author.AGENT).order_by("-seq").first()
    return {
        "conversation": conversation,
        "contact": contact,
        "handoff": handoff,
        "handoff_open": is_open,
        "brief": handoff.brief if handoff else None,
        "first_estimate": handoff.estimates.all()[0]
        if handoff and handoff.estimates.all()
        else None,
        "entries": transcript(conversation),
        "pages": conversation.pages.order_by("created_at"),
        "earlier": earlier,
        "is_mine": bool(is_open and agent and handoff.agent_id == agent.pk),
        "agent": agent,
        "teams": Team.objects.exclude(pk=handoff.team_id) if handoff else Team.objects.all(),
        "colleagues": (
            Agent.objects.filter(teams=handoff.team).select_related("user").distinct()
            if handoff
            else Agent.objects.none()
        ),
        "articles": Article.objects.order_by("title").only("slug", "title"),
        "last_question": last_customer.body if last_customer else "",
        "last_reply": last_reply.body if last_reply else "",
        "resolution_kinds": Resolution.Kind.choices,
        "canned_list": [
            {"shortcut": c.shortcut, "title": c.title, "body": c.body}
            for c in CannedResponse.objects.all()
        ],
    }


def message_for_console(conversation_id: int, seq: int) -> Message | None:
    return (
        Message.objects.select_related("decision")
        .filter(conversation_id=conversation_id, seq=seq)
        .first()
    )

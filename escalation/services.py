"""Decisions, handoffs, routing, queue updates, SLA re-routing and follow-ups.

Every function that changes state runs in a transaction and announces the change only
once it is committed (broadcasts, tasks, notifications).
"""

import datetime as dt
import logging
import smtplib
import zoneinfo
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from agents.models import Agent
from chat import realtime
from chat import services as chat_services
from chat.i18n import customer_language, staff_language
from chat.markdown import render_markdown
from chat.models import Article, Contact, Conversation, ConversationEvent, Message
from chat.responder import Reply, get_responder, query_for
from escalation import brief, detectors, hours, rules, selectors
from escalation.estimates import TeamLoad, estimate_wait_seconds, wait_in_words
from escalation.models import (
    Decision,
    FollowUp,
    Handoff,
    ReplyEmail,
    Team,
    Trigger,
    WaitEstimate,
)

logger = logging.getLogger(__name__)

# When the AI is not sure, it offers at most this many articles, each at least this likely.
SUGGESTIONS = 3
SUGGESTION_FLOOR = 0.2


def team_group(team_id: int) -> str:
    return f"team.{team_id}"


SUPERVISORS_GROUP = "supervisors"


# Deciding ------------------------------------------------------------------------------


def customer_message_handle(*, message_id: int) -> Decision | None:
    """Decide what happens after a customer message, and do it. Safe to run twice.

    Messages of one conversation are decided one at a time and in order: the task holds
    the conversation's row lock, and first decides any earlier message still waiting (a
    worker may pick the second message up before the first), so rules that count ("the
    second unsure answer in a row") always see the history as the customer wrote it.

    The usual case, the only undecided message of a conversation the AI has, is decided
    before the lock is taken, and the lock is held only to record the decision if the
    conversation did not change meanwhile: on SQLite the lock is the whole database's.
    """
    # What is stored for supervisors (explanations, briefs) is in the site's language,
    # wherever the task runs; what the customer reads is put in theirs where it is written.
    with staff_language():
        return _message_handle(message_id=message_id)


def _message_handle(*, message_id: int) -> Decision | None:
    message = (
        Message.objects.filter(pk=message_id, author=Message.Author.CUSTOMER)
        .select_related("decision", "page")
        .first()
    )
    if message is None:
        return None
    if hasattr(message, "decision"):
        return message.decision
    responder = get_responder()
    # Build the knowledge-base index (seconds, the first time) before taking any lock.
    responder.warm()
    to_write: list[tuple[Message, Reply, rules.Outcome]] = []
    decision = _decide_ahead(message=message, to_write=to_write)
    if decision is None:
        decision = _decide_waiting(message=message, to_write=to_write)
    # An LLM writes its answers after the decision, outside the conversation's lock.
    for pending, reply, outcome in to_write:
        _written_reply(message=pending, reply=reply, outcome=outcome, responder=responder)
    return decision or Decision.objects.get(message=message)


def _with_context() -> QuerySet[Conversation]:
    """Conversations with what deciding reads of them, in the same query."""
    return Conversation.objects.select_related("contact", "site", "topic", "topic__team")


def _decide_ahead(
    *, message: Message, to_write: list[tuple[Message, Reply, rules.Outcome]]
) -> Decision | None:
    """Decide without the conversation's lock, then record the decision under it; None
    when this is not the usual case or the conversation changed meanwhile."""
    conversation = _with_context().get(pk=message.conversation_id)
    if conversation.state != Conversation.State.AI:
        return None
    undecided = conversation.messages.filter(
        author=Message.Author.CUSTOMER, seq__lte=message.seq, decision__isnull=True
    )
    if list(undecided.values_list("pk", flat=True)[:2]) != [message.pk]:
        return None
    message.conversation = conversation
    judgement = _judge(message=message, conversation=conversation)
    try:
        with transaction.atomic():
            # Every change to a conversation (a message, a state, a topic) moves updated_at.
            now = (
                Conversation.objects.select_for_update()
                .filter(pk=conversation.pk)
                .values_list("state", "updated_at")
                .get()
            )
            if now != (conversation.state, conversation.updated_at):
                return None
            return _record(
                message=message, conversation=conversation, judgement=judgement, to_write=to_write
            )
    except IntegrityError:
        # Another worker decided this very message and has not posted its answer yet (an
        # LLM writes after the decision): a message has one decision, and that is it.
        if Decision.objects.filter(message=message).exists():
            return None
        raise


def _decide_waiting(
    *, message: Message, to_write: list[tuple[Message, Reply, rules.Outcome]]
) -> Decision | None:
    """Under the conversation's lock, decide this message and any earlier one waiting."""
    with transaction.atomic():
        # The lock is the conversation's row only, not the rows joined to it.
        conversation = (
            _with_context().select_for_update(of=("self",)).get(pk=message.conversation_id)
        )
        waiting = conversation.messages.filter(
            author=Message.Author.CUSTOMER, seq__lte=message.seq, decision__isnull=True
        ).order_by("seq")
        decision = None
        for number, pending in enumerate(waiting.select_related("page")):
            if number:
                # Deciding the previous message may have changed state, topic and last_seq.
                conversation.refresh_from_db(from_queryset=_with_context())
            decision = _decide(message=pending, conversation=conversation, to_write=to_write)
    return decision


def _written_reply(*, message: Message, reply: Reply, outcome: rules.Outcome, responder) -> None:
    conversation = message.conversation

    def show(text: str) -> None:
        realtime.broadcast(
            realtime.conversation_group(conversation.pk),
            "conversation.stream",
            reply_to=message.seq,
            text=text,
            # Rendered and sanitised like a stored message; unfinished Markdown shows as typed.
            html=str(render_markdown(text)),
        )

    try:
        written = responder.write(
            query_for(conversation=conversation, message=message), reply, on_text=show
        )
    except Exception:
        # The decision is stored and will not be made again: without this, the customer
        # would never get an answer. The article's own text is the answer decided on.
        logger.exception("writing the answer of message %s failed; answering locally", message.pk)
        written = reply
    topic = _answer_topic(conversation, written)
    with transaction.atomic():
        _ai_reply(
            message=message,
            reply=written,
            outcome=outcome,
            ruleset=rules.current_ruleset(),
            topic=topic,
        )


@dataclass(frozen=True)
class _Judgement:
    """What the rules make of a message, before anything is written."""

    ruleset: rules.Ruleset
    reply: Reply
    situation: rules.Situation
    outcome: rules.Outcome
    # The article an answer comes from, read before any lock is taken.
    topic: Article | None


def _decide(
    *,
    message: Message,
    conversation: Conversation,
    to_write: list[tuple[Message, Reply, rules.Outcome]],
) -> Decision:
    """Decide on one message; the caller holds the conversation's lock. Answers that an
    LLM is to write are left in ``to_write``."""
    message.conversation = conversation
    if conversation.state != Conversation.State.AI:
        return _quiet(message=message)
    judgement = _judge(message=message, conversation=conversation)
    return _record(
        message=message, conversation=conversation, judgement=judgement, to_write=to_write
    )


def _judge(*, message: Message, conversation: Conversation) -> _Judgement:
    """Apply the rules to a message of a conversation the AI has; reads only."""
    chat_services.typing_announce(
        conversation_id=conversation.pk, author="ai", name="", active=True
    )
    ruleset = rules.current_ruleset()
    since = _ai_period_start(conversation)
    earlier = list(
        conversation.messages.filter(author=Message.Author.CUSTOMER, seq__lt=message.seq)
        .filter(created_at__gte=since)
        .select_related("decision")
        .order_by("seq")
    )
    if earlier:
        previous: str | None = earlier[-1].body
    else:
        # Unless the AI got the conversation back from a person, there is none.
        previous = "" if since == conversation.created_at else None
    # The decision rests on what the knowledge base says; any writing comes later. Its
    # small talk is said to the customer, in their language.
    with customer_language(conversation):
        reply = get_responder().find(
            query_for(conversation=conversation, message=message, previous_text=previous),
            threshold=ruleset.confidence_threshold,
        )
    situation = _situation(message=message, reply=reply, earlier=earlier)
    outcome = rules.decide(situation, ruleset)
    return _Judgement(
        ruleset=ruleset,
        reply=reply,
        situation=situation,
        outcome=outcome,
        topic=_answer_topic(conversation, reply) if outcome.action == "answer" else None,
    )


def _answer_topic(conversation: Conversation, reply: Reply) -> Article | None:
    """The article an answer is from: the conversation's topic once the answer is posted."""
    if not reply.article_id:
        return None
    if reply.article_id == conversation.topic_id:
        return conversation.topic
    return Article.objects.filter(pk=reply.article_id).first()


def _record(
    *,
    message: Message,
    conversation: Conversation,
    judgement: _Judgement,
    to_write: list[tuple[Message, Reply, rules.Outcome]],
) -> Decision:
    """Store the decision and act on it; the caller holds the conversation's lock."""
    reply, outcome = judgement.reply, judgement.outcome
    team = _team(outcome.team_slug) if outcome.action == "handoff" else None
    decision = Decision.objects.create(
        message=message,
        conversation=conversation,
        action=outcome.action,
        team=team,
        priority=outcome.priority,
        reason=outcome.reason,
        trigger=outcome.trigger,
        explanation=(outcome.explanation or _explain(reply))[:300],
        intent=reply.intent or (reply.top.slug if reply.top else ""),
        confidence=reply.confidence,
        sentiment=judgement.situation.sentiment.score,
        signals={**outcome.signals, "top": reply.top.slug if reply.top else ""},
    )
    if outcome.action == "handoff":
        handoff_start(
            conversation=conversation,
            decision=decision,
            team=team,
            topic=_human_only_topic(reply, outcome),
            priority=outcome.priority,
            reason=outcome.reason,
            trigger=outcome.trigger,
            explanation=decision.explanation,
            customer_text=outcome.customer_text,
        )
    elif outcome.action == "answer" and get_responder().writes:
        to_write.append((message, reply, outcome))
    else:
        _ai_reply(
            message=message,
            reply=reply,
            outcome=outcome,
            ruleset=judgement.ruleset,
            topic=judgement.topic,
            deciding=True,
        )
    return decision


def _human_only_topic(reply: Reply, outcome: rules.Outcome) -> Article | None:
    """The human-only article a topic handoff is about: from then on the conversation's
    topic, so the brief says what the customer wants and a hand-back follows up on it."""
    slug = outcome.signals.get("article")
    candidate = next((c for c in reply.candidates if c.slug == slug), None) if slug else None
    return Article.objects.filter(pk=candidate.article_id).first() if candidate else None


def _quiet(*, message: Message) -> Decision:
    """A human has the conversation: the AI says nothing, the agent's console updates."""
    conversation = message.conversation
    with transaction.atomic():
        decision, created = Decision.objects.get_or_create(
            message=message,
            defaults={
                "conversation": conversation,
                "action": Decision.Action.QUIET,
                "sentiment": detectors.sentiment(message.body).score,
                "explanation": _("A person has this conversation."),
            },
        )
        handoff = selectors.handoff_current(conversation=conversation)
        if handoff is not None:
            if created and handoff.brief:
                handoff.brief = brief.with_later_message(
                    handoff.brief, message=message, sentiment=decision.sentiment
                )
                handoff.save(update_fields=["brief"])
                realtime.broadcast_on_commit(
                    realtime.conversation_group(conversation.pk),
                    "conversation.changed",
                    conversation_id=conversation.pk,
                    what="brief",
                )
            _announce_queue(handoff.team_id)
    return decision


def _explain(reply: Reply) -> str:
    if reply.kind == "answer":
        return _("Answered from “%(slug)s” (confidence %(confidence).2f).") % {
            "slug": reply.intent,
            "confidence": reply.confidence,
        }
    if reply.kind == "smalltalk":
        return _("Small talk.")
    return _("Not sure enough to answer (confidence %(confidence).2f).") % {
        "confidence": reply.confidence
    }


def _situation(*, message: Message, reply: Reply, earlier: list[Message]) -> rules.Situation:
    """``earlier``: the customer's messages before this one since the AI last took the
    conversation, with their decisions, in order."""
    conversation = message.conversation
    contact: Contact = conversation.contact
    turns = []
    for m in earlier:
        d = getattr(m, "decision", None)
        turns.append(
            rules.Turn(
                text=m.body,
                intent=(d.signals.get("top") or d.intent) if d else "",
                action=d.action if d else "",
                reason=d.reason if d else "",
                sentiment=d.sentiment if d and d.sentiment is not None else 0.0,
                rejected_topic=d.signals.get("rejected_topic", "") if d else "",
            )
        )
    last_ai = (
        conversation.messages.filter(author=Message.Author.AI, seq__lt=message.seq)
        .order_by("-seq")
        .first()
    )
    topic = conversation.topic
    return rules.situation_of(
        message.body,
        reply,
        turns,
        # Rules trust only what a verified source said.
        tier=contact.tier if contact.verified else "",
        attributes=contact.attributes if contact.verified else {},
        page_path=message.page.path if message.page else "",
        topic_slug=topic.slug if topic else "",
        topic_team=topic.team.slug if topic and topic.team else "",
        last_ai_answered_topic=bool(
            last_ai and topic and any(s.get("slug") == topic.slug for s in last_ai.sources)
        ),
    )


def _ai_period_start(conversation: Conversation) -> dt.datetime:
    """When the AI last took (or got back) the conversation: rules count from there."""
    back = (
        conversation.events.filter(kind__in=["reopened", "state"], data__to="ai")
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return back or conversation.created_at


def _ai_reply(
    *,
    message: Message,
    reply: Reply,
    outcome: rules.Outcome,
    ruleset: rules.Ruleset,
    topic: Article | None,
    deciding: bool = False,
) -> None:
    """Post the AI's reply; ``topic`` is the article an answer comes from (None for any
    other reply). ``deciding`` when the caller holds the conversation's lock and is
    recording this message's decision."""
    conversation = message.conversation
    with customer_language(conversation):
        text, suggestions = _ai_text(
            conversation=conversation, reply=reply, outcome=outcome, ruleset=ruleset
        )
    chat_services.ai_reply_post(
        in_reply_to=message,
        body=text,
        sources=reply.sources if outcome.action == "answer" else [],
        confidence=reply.confidence,
        intent=reply.intent,
        topic=topic,
        suggestions=suggestions,
        locked=conversation if deciding else None,
    )


def _ai_text(
    *, conversation: Conversation, reply: Reply, outcome: rules.Outcome, ruleset: rules.Ruleset
) -> tuple[str, list[dict[str, str]]]:
    """What the AI says to the customer, and the articles it offers when unsure."""
    contact = conversation.contact
    text = reply.text
    suggestions: list[dict[str, str]] = []
    if outcome.reason == "rejected":
        team = _team_name(outcome.team_slug)
        text = _(
            "I'm sorry that didn't solve it, and I don't have a better answer for this one. "
            "Tell me a little more and I'll try again, or say so and I'll bring in someone "
            "from our %(team)s team, with everything you've told me."
        ) % {"team": team}
    elif outcome.action == "clarify":
        text = _(
            "I'm not sure I understood that, and I'd rather not guess. Could you put it "
            "another way? If you prefer, I can bring in a person from our team."
        )
        suggestions = _suggestions(reply)
    elif (
        outcome.action == "answer"
        and contact.verified
        and ruleset.offers_human(contact.tier, contact.attributes)
    ):
        text += "\n\n" + _(
            "_If you'd rather go through this with a person, just say so: you'll be first in line._"
        )
    return text, suggestions


def _suggestions(reply: Reply) -> list[dict[str, str]]:
    """The articles the AI offers when it is not sure: a tap asks for one by its title.

    Offering is not guessing: the customer chooses. Only readings with a fair chance are
    offered; a list of long shots would only look like the AI did not listen."""
    return [
        {"slug": candidate.slug, "title": candidate.title}
        for candidate in reply.candidates[:SUGGESTIONS]
        if candidate.probability >= SUGGESTION_FLOOR
    ]


def _team(slug: str) -> Team:
    """The team a handoff goes to. One that no longer exists (deleted since the knowledge
    base named it) hands over to General rather than to a new team nobody is in."""
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        if slug != rules.GENERAL_TEAM:
            logger.warning("team %r does not exist; handing off to general instead", slug)
        team, _created = Team.objects.get_or_create(
            slug=rules.GENERAL_TEAM, defaults={"name": _("General")}
        )
    return team


def _team_name(slug: str) -> str:
    team = Team.objects.filter(slug=slug).first()
    return team.name if team else slug.replace("-", " ").title()


# Handoff -------------------------------------------------------------------------------


def handoff_start(
    *,
    conversation: Conversation,
    team: Team,
    reason: str,
    priority: int = 0,
    decision: Decision | None = None,
    trigger: Trigger | None = None,
    explanation: str = "",
    customer_text: str = "",
    topic: Article | None = None,
) -> Handoff:
    """Queue the conversation for a human of the team, route it, and tell the customer.

    ``topic``: the article the conversation is now about, when the handoff says so."""
    with transaction.atomic():
        # The brief reads the topic: it is set before the brief is built.
        _conversation_state(conversation, Conversation.State.QUEUED, team=team, topic=topic)
        contact = conversation.contact
        ruleset = rules.current_ruleset()
        if contact.verified and not (trigger and trigger.kind == Trigger.Kind.TIER):
            priority = max(priority, ruleset.tier_boost(contact.tier, contact.attributes))
        handoff = Handoff.objects.create(
            conversation=conversation,
            decision=decision,
            team=team,
            priority=priority,
            reason=reason,
            trigger=trigger,
            explanation=explanation[:300],
            brief=brief.build(
                conversation=conversation,
                decision=decision,
                reason=reason,
                explanation=explanation,
                trigger_name=trigger.name if trigger else "",
            ),
        )
        _route(handoff)
        status = _status(handoff)
        if handoff.status == Handoff.Status.WAITING and status["estimate_seconds"] is None:
            handoff.offline = True
            handoff.promised_by = status["promised_by"]
            handoff.save(update_fields=["offline", "promised_by"])
        _estimate_stored(handoff, status)
        chat_services.system_message_post(
            conversation=conversation,
            body=_transition_text(handoff, status, customer_text),
            in_reply_to=decision.message if decision else None,
        )
        _announce_status(conversation, status)
        _announce_queue(team.pk)
        _notify(handoff, event="handoff.created")
    return handoff


def _conversation_state(
    conversation: Conversation, state: str, *, team: Team | None, topic: Article | None = None
) -> None:
    previous = conversation.state
    conversation.state = state
    fields = ["state", "updated_at"]
    if topic is not None:
        conversation.topic = topic
        fields.append("topic")
    if team is not None:
        conversation.team = team
        fields.append("team")
    conversation.save(update_fields=fields)
    ConversationEvent.objects.create(
        conversation=conversation,
        kind=ConversationEvent.Kind.STATE,
        data={"from": previous, "to": state, "team": team.slug if team else None},
    )


def _transition_text(handoff: Handoff, status: dict[str, Any], customer_text: str) -> str:
    return _line(
        handoff.conversation,
        "transition",
        handoff=handoff,
        status=status,
        customer_text=customer_text,
    )


def _line(conversation: Conversation, template: str, **context: Any) -> str:
    """A line Baton says to the customer (escalation/TEMPLATE.txt), in their language."""
    with customer_language(conversation):
        return render_to_string(f"escalation/{template}.txt", context).strip()


# Routing -------------------------------------------------------------------------------


def _route(handoff: Handoff) -> Agent | None:
    """Give the handoff to the best agent who can take it now, or leave it waiting.

    The account owner first, when online with room; then the least loaded agent of the
    team who has not let it pass already. Load is measured in expected work: the
    conversations an agent holds, times how long they usually take over one, over their
    capacity (room for 4 with 2 taken is as busy as room for 2 with 1 taken, and an agent
    who takes twice as long is twice as busy with the same number). Ties go to the one
    who usually takes less time, then to whoever got a conversation least recently.
    """
    team = handoff.team
    if not hours.is_open(team, timezone.now()):
        return None
    # Two handoffs routed at once must not both take an agent's last free place: the
    # team's online agents are locked before their loads are read (in id order, so
    # routings that share agents wait for each other instead of deadlocking).
    list(
        Agent.objects.filter(teams=team, presence=Agent.Presence.ONLINE)
        .order_by("pk")
        .select_for_update(of=("self",))
        .values_list("pk", flat=True)
    )
    passed_over = set(handoff.passed_over.values_list("pk", flat=True))
    with_room = [a for a in selectors.agents_available(team=team) if a.load < a.capacity]
    # Whoever let this conversation pass is skipped while someone else can take it. When
    # no one else can, it is offered to them again: the estimate counts them, so leaving
    # it waiting would break the promise it makes.
    candidates = [a for a in with_room if a.pk not in passed_over] or with_room
    if not candidates:
        return None
    contact = handoff.conversation.contact
    owner = brief.account_owner(contact.attributes) if contact.verified else None
    chosen = next((a for a in candidates if owner and a.pk == owner.pk), None)
    if chosen is None:
        last_offered = {
            agent_id: offered_at
            for agent_id, offered_at in Handoff.objects.filter(
                agent__in=candidates, offered_at__isnull=False
            )
            .order_by("agent_id", "offered_at")
            .values_list("agent_id", "offered_at")
        }
        handling = selectors.agent_handling_seconds(team=team, agents=candidates)
        epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
        chosen = min(
            candidates,
            key=lambda a: (
                a.load * handling[a.pk] / a.capacity,
                handling[a.pk],
                last_offered.get(a.pk, epoch),
            ),
        )
    handoff.agent = chosen
    handoff.status = Handoff.Status.OFFERED
    handoff.offered_at = timezone.now()
    handoff.save(update_fields=["agent", "status", "offered_at"])
    conversation = handoff.conversation
    if conversation.state != Conversation.State.ASSIGNED:
        _conversation_state(conversation, Conversation.State.ASSIGNED, team=handoff.team)
    realtime.broadcast_on_commit(agent_group(chosen.pk), "agent.assigned", handoff_id=handoff.pk)
    return chosen


def agent_group(agent_id: int) -> str:
    return f"agent.{agent_id}"


def team_dispatch(*, team: Team) -> int:
    """Give waiting conversations to agents who have room; returns how many moved."""
    moved = 0
    with transaction.atomic():
        for handoff in selectors.team_queue(team=team).select_for_update(of=("self",)):
            if _route(handoff) is None:
                break
            moved += 1
            assignment_announce(handoff=handoff)
        if moved:
            _announce_queue(team.pk)
    return moved


def assignment_announce(*, handoff: Handoff) -> None:
    """Tell the customer which agent has their conversation now, and when they answer."""
    status = _status(handoff)
    _estimate_stored(handoff, status)
    _announce_status(handoff.conversation, status)
    chat_services.system_message_post(
        conversation=handoff.conversation,
        body=_line(handoff.conversation, "assigned", status=status),
    )


# Status and estimates ------------------------------------------------------------------


def _estimate_stored(handoff: Handoff, status: dict[str, Any]) -> None:
    """Keep the wait the customer is told, to be completed with the actual one."""
    if status["estimate_seconds"] is not None:
        WaitEstimate.objects.create(
            handoff=handoff,
            position=status["position"],
            estimated_seconds=status["estimate_seconds"],
        )


class _TeamNow:
    """What a team's queue status rests on at one moment, each part read when first used:
    one for a customer, one for a whole queue (not once per waiting customer)."""

    def __init__(self, team: Team) -> None:
        self.team = team
        self.now = timezone.now()

    @cached_property
    def load(self) -> TeamLoad:
        return selectors.team_load(team=self.team)

    @cached_property
    def open(self) -> bool:
        return hours.is_open(self.team, self.now)

    @cached_property
    def closes(self) -> dt.datetime | None:
        return hours.closes_at(self.team, self.now)

    @cached_property
    def back(self) -> dt.datetime | None:
        return hours.next_opening(self.team, self.now)

    @cached_property
    def back_after_closing(self) -> dt.datetime | None:
        return hours.next_opening(self.team, self.closes) if self.closes else None


def _status(
    handoff: Handoff, *, position: int | None = None, team_now: _TeamNow | None = None
) -> dict[str, Any]:
    """What the customer sees about their place: team, position, wait, or the promise, in
    their language."""
    with customer_language(handoff.conversation):
        return _status_of(handoff, position=position, team_now=team_now)


def _status_of(
    handoff: Handoff, *, position: int | None, team_now: _TeamNow | None
) -> dict[str, Any]:
    team = handoff.team
    team_now = team_now or _TeamNow(team)
    now = team_now.now
    status: dict[str, Any] = {
        "state": handoff.conversation.state,
        "team": team.name,
        "agent": "",
        "position": 0,
        "estimate_seconds": None,
        "estimate_text": "",
        "offline": False,
        "back_at": None,
        "back_text": "",
        "promised_by": None,
        "promised_text": "",
        # Set when the team is still working but closes before the customer's turn.
        "closes_text": "",
    }
    if handoff.status in {Handoff.Status.OFFERED, Handoff.Status.ANSWERED} and handoff.agent:
        status["agent"] = handoff.agent.display_name
        seconds = (
            round(team_now.load.pickup_seconds) if handoff.status == Handoff.Status.OFFERED else 0
        )
        status["estimate_seconds"] = seconds
        status["estimate_text"] = wait_in_words(seconds)
        return status
    if position is None:
        position = selectors.queue_position(handoff=handoff)
    status["position"] = position
    seconds = estimate_wait_seconds(position, team_now.load) if team_now.open else None
    closes = team_now.closes
    if seconds is not None and closes is not None and now + dt.timedelta(seconds=seconds) > closes:
        # An estimate past closing time would be a promise nobody keeps: the customer is
        # told when the team closes, and offered the email follow-up (an agent may still
        # get to them first).
        status["closes_text"] = _when(closes, team)
        seconds = None
    if seconds is not None:
        status["estimate_seconds"] = seconds
        status["estimate_text"] = wait_in_words(seconds)
        return status
    status["offline"] = True
    back = team_now.back_after_closing if status["closes_text"] else team_now.back
    if back is not None and back > now:
        status["back_at"] = back
        status["back_text"] = _when(back, team)
        promised = hours.after_working_time(
            team, back, dt.timedelta(hours=settings.BATON_FOLLOWUP_HOURS_AFTER_OPENING)
        )
    else:
        promised = hours.after_working_time(
            team, now, dt.timedelta(hours=settings.BATON_FOLLOWUP_HOURS)
        )
    status["promised_by"] = promised
    status["promised_text"] = _when(promised, team)
    return status


def _when(moment: dt.datetime, team: Team) -> str:
    """A time in the team's own zone, named so a customer elsewhere can place it."""
    zone = zoneinfo.ZoneInfo(team.timezone or "UTC")
    local = moment.astimezone(zone)
    return _("%(day)s at %(time)s (%(zone)s time)") % {
        "day": date_format(local, "l j F"),
        "time": date_format(local, "TIME_FORMAT"),
        "zone": team.timezone.split("/")[-1].replace("_", " "),
    }


def status_frame(*, conversation: Conversation) -> dict[str, Any] | None:
    """The widget's status bar for a conversation with (or waiting for) a human."""
    handoff = selectors.handoff_current(conversation=conversation)
    if handoff is None:
        return None
    status = _status(handoff)
    return _frame(conversation, status)


def _frame(conversation: Conversation, status: dict[str, Any]) -> dict[str, Any]:
    has_followup = FollowUp.objects.filter(conversation=conversation).exists()
    return {
        "type": "status",
        "state": conversation.state,
        "team": status["team"],
        "agent": status["agent"],
        "position": status["position"],
        "estimate_seconds": status["estimate_seconds"],
        "offline": status["offline"],
        "followup": has_followup,
        "text": _line(conversation, "status", status=status, followup=has_followup),
        "ask_email": status["offline"] and not has_followup,
    }


def status_announce(*, conversation: Conversation) -> None:
    """Tell the customer's widget where they stand now (after an agent action)."""
    handoff = selectors.handoff_current(conversation=conversation)
    if handoff is not None:
        _announce_status(conversation, _status(handoff))


def _announce_status(conversation: Conversation, status: dict[str, Any]) -> None:
    # Rendered now, in the customer's language of this request or task.
    frame = _frame(conversation, status)
    realtime.broadcast_on_commit(
        realtime.conversation_group(conversation.pk), "conversation.status", frame=frame
    )


def queue_changed(*, team_id: int) -> None:
    """Something that moves the team's queue changed (an agent came or went)."""
    _announce_queue(team_id)


def _announce_queue(team_id: int) -> None:
    """The team's queue changed: consoles redraw it, waiting customers hear their place."""
    realtime.broadcast_on_commit(team_group(team_id), "queue.changed", team_id=team_id)
    realtime.broadcast_on_commit(SUPERVISORS_GROUP, "queue.changed", team_id=team_id)
    transaction.on_commit(lambda: _queue_refresh_soon(team_id))


# How long a pending queue refresh holds off others for its team, should its task be lost
# (the beat's queues_refresh tells everyone in the meantime).
QUEUE_REFRESH_LEASE_SECONDS = 30


def _queue_refresh_key(team_id: int) -> str:
    return f"queue-refresh-pending:{team_id}"


def _queue_refresh_soon(team_id: int) -> None:
    """At most one refresh waits per team: a burst of handoffs is told in one pass over the
    queue, not one pass each (work that grew with the square of the queue)."""
    from escalation import tasks

    if cache.add(_queue_refresh_key(team_id), True, timeout=QUEUE_REFRESH_LEASE_SECONDS):
        tasks.team_queue_refresh.delay(team_id)


def queue_refresh_started(*, team_id: int) -> None:
    """The pending refresh is running: a change from now on needs a refresh of its own
    (this one reads the queue only after this point)."""
    cache.delete(_queue_refresh_key(team_id))


def team_queue_refresh(*, team: Team) -> int:
    """Tell every waiting customer of the team their current place and wait.

    A new estimate is stored (and announced) only when it moved: another place, or a
    wait that changed by more than a fifth. When the team closes or its last agent
    leaves, the waiting customers are told when it is back and offered the email
    follow-up (and told again with an estimate once someone is there). Returns how many
    customers were told. One query reads the whole queue with each customer's last
    estimate, so customers whose place did not move cost nothing more.
    """
    told = 0
    team_now = _TeamNow(team)
    queue = selectors.team_queue_with_last_estimate(team=team)
    for position, handoff in enumerate(queue, start=1):
        handoff.team = team
        status = _status(handoff, position=position, team_now=team_now)
        seconds = status["estimate_seconds"]
        moved = handoff.last_position is None or handoff.last_position != status["position"]
        if seconds is not None and handoff.last_seconds is not None:
            moved = moved or abs(seconds - handoff.last_seconds) > max(
                30, 0.2 * handoff.last_seconds
            )
        went = status["offline"] != handoff.offline
        if not (moved or went):
            continue
        with transaction.atomic():
            if seconds is not None:
                WaitEstimate.objects.create(
                    handoff=handoff, position=status["position"], estimated_seconds=seconds
                )
            if went:
                _offline_set(handoff, status)
            _announce_status(handoff.conversation, status)
        told += 1
    return told


def _offline_set(handoff: Handoff, status: dict[str, Any]) -> None:
    """The team closed or its last agent left while the customer waited, or it is back."""
    handoff.offline = status["offline"]
    if handoff.offline:
        # Kept once someone is back: an email follow-up may rest on it.
        handoff.promised_by = status["promised_by"]
    handoff.save(update_fields=["offline", "promised_by"])
    if handoff.offline and not FollowUp.objects.filter(conversation=handoff.conversation).exists():
        chat_services.system_message_post(
            conversation=handoff.conversation,
            body=_line(handoff.conversation, "offline", status=status),
        )


def handoff_answered(*, handoff: Handoff, at: dt.datetime | None = None) -> None:
    """An agent answered the customer: the wait is over, so every estimate gets its truth."""
    at = at or timezone.now()
    with transaction.atomic():
        locked = Handoff.objects.select_for_update().get(pk=handoff.pk)
        if locked.answered_at is not None:
            if locked.status == Handoff.Status.OFFERED:
                # The agent it was passed on to: the customer hears from a person again.
                locked.status = Handoff.Status.ANSWERED
                locked.save(update_fields=["status"])
                _announce_status(locked.conversation, _status(locked))
            return
        locked.answered_at = at
        locked.status = Handoff.Status.ANSWERED
        locked.save(update_fields=["answered_at", "status"])
        for estimate in locked.estimates.filter(actual_seconds__isnull=True):
            estimate.actual_seconds = max(0, round((at - estimate.made_at).total_seconds()))
            estimate.save(update_fields=["actual_seconds"])
        _announce_status(locked.conversation, _status(locked))
        _announce_queue(locked.team_id)


# SLA ---------------------------------------------------------------------------------


def sla_sweep(*, now: dt.datetime | None = None) -> int:
    """Move conversations whose agent let the pick-up deadline pass; returns how many.

    Picking up is joining the conversation (the customer sees "Ana joined") or answering
    it; a conversation passed to another agent is theirs to pick up within the deadline
    again. Run by Celery beat every few seconds. A second run finds nothing more to do:
    each handoff is re-checked under a row lock before it moves.
    """
    now = now or timezone.now()
    moved = 0
    in_hand = [Handoff.Status.OFFERED, Handoff.Status.ANSWERED]
    overdue = Handoff.objects.filter(
        Q(status=Handoff.Status.OFFERED, joined_at__isnull=True)
        # An agent deleted with conversations in hand leaves them with nobody: at once.
        | Q(status__in=in_hand, agent__isnull=True)
    ).select_related("team")
    for candidate in overdue:
        orphaned = candidate.agent_id is None
        deadline = dt.timedelta(seconds=candidate.team.sla_seconds)
        if not orphaned and candidate.offered_at + deadline > now:
            continue
        with transaction.atomic():
            handoff = (
                Handoff.objects.select_for_update(of=("self",))
                .select_related("team", "agent__user", "conversation")
                .get(pk=candidate.pk)
            )
            late = handoff.agent
            if handoff.status not in in_hand or (
                late is not None
                and (handoff.status != Handoff.Status.OFFERED or handoff.joined_at is not None)
            ):
                continue
            if late is not None:
                handoff.passed_over.add(late)
                handoff.sla_misses += 1
                realtime.broadcast_on_commit(
                    agent_group(late.pk), "agent.unassigned", handoff_id=handoff.pk
                )
            handoff.agent = None
            handoff.status = Handoff.Status.WAITING
            handoff.offered_at = None
            handoff.joined_at = None
            handoff.save(update_fields=["sla_misses", "agent", "status", "offered_at", "joined_at"])
            conversation = handoff.conversation
            _conversation_state(conversation, Conversation.State.QUEUED, team=handoff.team)
            chosen = _route(handoff)
            status = _status(handoff)
            if status["offline"] != handoff.offline:
                # Nobody left to take it (or someone again): the queue's next pass must not
                # tell the customer a second time.
                handoff.offline = status["offline"]
                if handoff.offline:
                    handoff.promised_by = status["promised_by"]
                handoff.save(update_fields=["offline", "promised_by"])
            _estimate_stored(handoff, status)
            chat_services.system_message_post(
                conversation=conversation,
                body=_line(
                    conversation,
                    "rerouted",
                    status=status,
                    again=chosen is not None and chosen == late,
                ),
            )
            _announce_status(conversation, status)
            _announce_queue(handoff.team_id)
            _notify(handoff, event="handoff.rerouted")
            moved += 1
    return moved


# How long after its idle time a quiet conversation is still handed off.
IDLE_LOOK_BACK = dt.timedelta(hours=1)


def idle_sweep(*, now: dt.datetime | None = None) -> int:
    """Hand off conversations where the AI asked the customer something and heard nothing
    back for an idle trigger's time: the first enabled one, in order, whose time is up.
    Does nothing while no idle trigger is enabled."""
    now = now or timezone.now()
    ruleset = rules.current_ruleset()
    idle = [t.row for t in ruleset.triggers if t.row.kind == Trigger.Kind.IDLE]
    if not idle:
        return 0

    def waited(trigger: Trigger) -> dt.timedelta:
        return dt.timedelta(seconds=trigger.count or 600)

    shortest, longest = min(map(waited, idle)), max(map(waited, idle))
    moved = 0
    # Those that went quiet lately, newest first: the sweep runs every few seconds, so each
    # is looked at soon after its time is up. One quiet for hours (the rule was off, or
    # the customer is long gone) is not handed to a person now.
    stale = Conversation.objects.filter(
        state=Conversation.State.AI,
        updated_at__lt=now - shortest,
        updated_at__gte=now - longest - IDLE_LOOK_BACK,
    ).order_by("-updated_at")
    for conversation in stale.select_related("topic__team", "contact")[:200]:
        last = conversation.messages.order_by("-seq").first()
        if last is None or last.author != Message.Author.AI:
            continue
        quiet = now - last.created_at
        trigger = next((t for t in idle if waited(t) <= quiet <= waited(t) + IDLE_LOOK_BACK), None)
        if trigger is None:
            continue
        asked = Decision.objects.filter(
            message_id=last.in_reply_to_id, action=Decision.Action.CLARIFY
        ).exists()
        if not asked:
            continue
        with transaction.atomic():
            locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
            if locked.state != Conversation.State.AI:
                continue
            topic = conversation.topic
            team = trigger.team or (topic.team if topic and topic.team else _team("general"))
            contact = conversation.contact
            # As for a message's rules: the trigger's boost on top of the customer's tier.
            tier = ruleset.tier_boost(contact.tier, contact.attributes) if contact.verified else 0
            handoff_start(
                conversation=locked,
                team=team,
                reason=trigger.reason_code,
                priority=trigger.priority_boost + tier,
                trigger=trigger,
                explanation=_("No answer from the customer for %(time)s.")
                % {"time": _duration_words(waited(trigger))},
                customer_text=trigger.customer_text,
            )
            moved += 1
    return moved


def _duration_words(span: dt.timedelta) -> str:
    seconds = round(span.total_seconds())
    if seconds < 120:
        return ngettext("%(n)d second", "%(n)d seconds", seconds) % {"n": seconds}
    minutes = seconds // 60
    return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}


# Offline follow-up ---------------------------------------------------------------------


class FollowUpRefused(Exception):
    pass


def followup_request(*, conversation: Conversation, email: str) -> FollowUp:
    """The customer leaves an email to get the team's answer later."""
    with transaction.atomic():
        handoff = selectors.handoff_current(conversation=conversation)
        if handoff is None:
            raise FollowUpRefused(_("This conversation is not waiting for a person."))
        earlier = FollowUp.objects.filter(conversation=conversation).first()
        if earlier is not None and earlier.email == email:
            # Sent again (a double click, a resend): said once.
            return earlier
        status = _status(handoff)
        followup, _created = FollowUp.objects.update_or_create(
            conversation=conversation,
            defaults={"email": email, "promised_by": status["promised_by"]},
        )
        contact = conversation.contact
        if not contact.email:
            contact.claimed = {**contact.claimed, "email": email}
            contact.save(update_fields=["claimed"])
        if conversation.state == Conversation.State.QUEUED:
            _conversation_state(conversation, Conversation.State.FOLLOWUP, team=handoff.team)
        chat_services.system_message_post(
            conversation=conversation,
            body=_line(conversation, "followup_promised", followup=followup, status=status),
        )
        _announce_status(conversation, status)
        _announce_queue(handoff.team_id)
    return followup


def agent_reply_posted(*, message: Message) -> None:
    """An agent answered: the wait is over, and if the customer has left, email them."""
    from escalation import tasks

    handoff = selectors.handoff_current(conversation=message.conversation)
    if handoff is not None and (
        handoff.answered_at is None or handoff.status == Handoff.Status.OFFERED
    ):
        handoff_answered(handoff=handoff, at=message.created_at)
    transaction.on_commit(
        lambda: tasks.reply_email_send.apply_async(
            (message.pk,), countdown=settings.BATON_REPLY_EMAIL_DELAY_SECONDS
        )
    )


def reply_email_send(*, message_id: int) -> bool:
    """Email an agent's reply that no open widget has shown. True when an email went out.

    Idempotent: the ReplyEmail row records the send, so a retried task sends nothing twice.
    SMTP errors propagate, for the task to retry.
    """
    from chat import presence
    from chat.services import resume_token

    message = (
        Message.objects.select_related("conversation__contact", "conversation__site")
        .filter(pk=message_id, author=Message.Author.AGENT)
        .first()
    )
    if message is None:
        return False
    conversation = message.conversation
    if presence.was_shown(conversation=conversation.public_id, seq=message.seq):
        return False
    followup = FollowUp.objects.filter(conversation=conversation).first()
    contact = conversation.contact
    to = followup.email if followup else contact.email or contact.claimed.get("email", "")
    if not to:
        return False
    record, _created = ReplyEmail.objects.get_or_create(message=message, defaults={"to": to})
    if record.sent_at is not None:
        return False
    site = conversation.site
    link = settings.PUBLIC_URL + reverse(
        "chat:conversation-resume",
        kwargs={"site_key": site.key, "token": resume_token(conversation=conversation)},
    )
    context = {"message": message, "site": site, "link": link, "contact": contact}
    with customer_language(conversation):
        email = EmailMultiAlternatives(
            subject=render_to_string("escalation/email/reply_subject.txt", context).strip(),
            body=render_to_string("escalation/email/reply.txt", context),
            to=[to],
        )
        html = render_to_string("escalation/email/reply.html", context)
    email.attach_alternative(html, "text/html")
    ReplyEmail.objects.filter(pk=record.pk).update(attempts=record.attempts + 1)
    try:
        email.send()
    except (smtplib.SMTPException, OSError) as error:
        # Kept for the admin to see (Escalation → Reply emails); the task tries again.
        ReplyEmail.objects.filter(pk=record.pk).update(last_error=str(error)[:300])
        raise
    ReplyEmail.objects.filter(pk=record.pk).update(sent_at=timezone.now(), last_error="")
    return True


# Notifications -------------------------------------------------------------------------


def _notify(handoff: Handoff, *, event: str) -> None:
    from escalation import notifications

    # Slack messages are read by the team, whatever language the customer writes in.
    with staff_language():
        notifications.queue(handoff=handoff, event=event)

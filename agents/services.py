"""Writes for agents: presence, and what agents do to conversations.

Every action runs in a transaction, writes its event, and announces itself on commit; the
customer sees a system line for each change that concerns them.
"""

import datetime as dt
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from agents import metrics
from agents.models import Agent, Alert, ApiToken, Note, Rating, Resolution, token_digest
from chat import realtime
from chat import services as chat_services
from chat.i18n import customer_language
from chat.models import Article, Conversation, ConversationEvent, ExampleQuestion, Message
from escalation import selectors as escalation_selectors
from escalation import services as escalation_services
from escalation.models import Handoff, Team

# An online agent whose console has not been heard from this long is set away.
AWAY_AFTER_SECONDS = 120


class ActionRefused(Exception):
    """An agent action that the conversation's current state does not allow."""


def conversation_agents_group(conversation_id: int) -> str:
    """Consoles watching a conversation; unlike the conversation group, no customer."""
    return f"console.conversation.{conversation_id}"


# Presence ------------------------------------------------------------------------------


def presence_set(*, agent: Agent, presence: str) -> Agent:
    """Online, away or offline. Coming online may hand the agent waiting conversations."""
    if presence not in Agent.Presence.values:
        raise ValueError(f"unknown presence {presence!r}")
    with transaction.atomic():
        changed = agent.presence != presence
        agent.presence = presence
        agent.last_seen_at = timezone.now()
        agent.save(update_fields=["presence", "last_seen_at"])
        if changed:
            for team in agent.teams.all():
                # Their place in the queue and the wait change with who is online.
                escalation_services.queue_changed(team_id=team.pk)
            realtime.broadcast_on_commit(
                escalation_services.SUPERVISORS_GROUP, "agents.changed", agent_id=agent.pk
            )
    return agent


def presence_seen(*, agent: Agent) -> None:
    """The console is open: keep the agent from being set away."""
    Agent.objects.filter(pk=agent.pk).update(last_seen_at=timezone.now())


def presence_sweep() -> int:
    cutoff = timezone.now() - dt.timedelta(seconds=AWAY_AFTER_SECONDS)
    stale = Agent.objects.filter(presence=Agent.Presence.ONLINE, last_seen_at__lt=cutoff)
    count = 0
    for agent in stale:
        presence_set(agent=agent, presence=Agent.Presence.AWAY)
        count += 1
    return count


# Conversations -------------------------------------------------------------------------


def _current(conversation: Conversation) -> Handoff:
    handoff = (
        Handoff.objects.select_for_update()
        .filter(conversation=conversation, status__in=escalation_selectors.OPEN)
        .order_by("-queued_at")
        .first()
    )
    if handoff is None:
        raise ActionRefused(_("This conversation is not with a person right now."))
    return handoff


def _system_line(conversation: Conversation, template: str, **context) -> Message:
    body = _customer_words(conversation, template, **context)
    return chat_services.system_message_post(conversation=conversation, body=body)


def _customer_words(conversation: Conversation, template: str, **context) -> str:
    """agents/lines/TEMPLATE.txt, said to the customer: in their language, not the agent's."""
    with customer_language(conversation):
        return render_to_string(f"agents/lines/{template}.txt", context).strip()


def _changed(conversation: Conversation, handoff: Handoff) -> None:
    realtime.broadcast_on_commit(
        conversation_agents_group(conversation.pk),
        "console.changed",
        conversation_id=conversation.pk,
    )
    escalation_services.queue_changed(team_id=handoff.team_id)


def conversation_claim(*, conversation: Conversation, agent: Agent) -> Handoff:
    """The agent takes the conversation: the customer sees them join."""
    with transaction.atomic():
        handoff = _current(conversation)
        if handoff.agent_id == agent.pk and handoff.joined_at is not None:
            return handoff
        if handoff.agent_id not in (None, agent.pk) and handoff.status == Handoff.Status.ANSWERED:
            raise ActionRefused(
                _("%(name)s is already talking with this customer.")
                % {"name": handoff.agent.display_name}
            )
        if handoff.agent_id != agent.pk:
            handoff.agent = agent
            handoff.status = Handoff.Status.OFFERED
            handoff.offered_at = timezone.now()
        handoff.joined_at = timezone.now()
        handoff.save(update_fields=["agent", "status", "offered_at", "joined_at"])
        _state(conversation, Conversation.State.ASSIGNED, actor=agent)
        _system_line(conversation, "joined", agent=agent)
        escalation_services.status_announce(conversation=conversation)
        _changed(conversation, handoff)
    return handoff


def agent_message_post(*, conversation: Conversation, agent: Agent, body: str) -> Message:
    """The agent's reply to the customer; replying to an unclaimed conversation claims it."""
    body = body.strip()
    if not body:
        raise ActionRefused(_("The reply is empty."))
    with transaction.atomic():
        handoff = _current(conversation)
        if handoff.agent_id != agent.pk or handoff.joined_at is None:
            conversation_claim(conversation=conversation, agent=agent)
        message = chat_services.agent_message_post(
            conversation=conversation, user=agent.user, name=agent.display_name, body=body
        )
        escalation_services.agent_reply_posted(message=message)
    return message


def note_add(*, conversation: Conversation, agent: Agent, body: str) -> Note:
    body = body.strip()
    if not body:
        raise ActionRefused(_("The note is empty."))
    with transaction.atomic():
        note = Note.objects.create(conversation=conversation, agent=agent, body=body)
        realtime.broadcast_on_commit(
            conversation_agents_group(conversation.pk),
            "console.changed",
            conversation_id=conversation.pk,
        )
    return note


def conversation_assign(*, conversation: Conversation, by: Agent, to: Agent) -> Handoff:
    """Give the conversation to another agent of its team."""
    with transaction.atomic():
        handoff = _current(conversation)
        if not to.teams.filter(pk=handoff.team_id).exists():
            raise ActionRefused(
                _("%(name)s is not in the %(team)s team.")
                % {"name": to.display_name, "team": handoff.team.name}
            )
        if handoff.agent_id == to.pk:
            raise ActionRefused(
                _("%(name)s already has this conversation.") % {"name": to.display_name}
            )
        if to.presence == Agent.Presence.OFFLINE:
            raise ActionRefused(
                _("%(name)s is offline: the conversation would wait for nobody.")
                % {"name": to.display_name}
            )
        # Theirs to pick up, within the team's deadline like any conversation offered.
        handoff.agent = to
        handoff.status = Handoff.Status.OFFERED
        handoff.offered_at = timezone.now()
        handoff.joined_at = None
        handoff.save(update_fields=["agent", "status", "offered_at", "joined_at"])
        _state(conversation, Conversation.State.ASSIGNED, actor=by)
        realtime.broadcast_on_commit(
            escalation_services.agent_group(to.pk), "agent.assigned", handoff_id=handoff.pk
        )
        escalation_services.assignment_announce(handoff=handoff)
        _changed(conversation, handoff)
    return handoff


def conversation_transfer(
    *, conversation: Conversation, agent: Agent, team: Team, reason: str
) -> Handoff:
    """Send the conversation to another team, with a reason the next agent reads first."""
    reason = reason.strip()
    if not reason:
        raise ActionRefused(_("Say why you transfer it: the next agent reads it first."))
    with transaction.atomic():
        handoff = _current(conversation)
        if handoff.team_id == team.pk:
            raise ActionRefused(_("The conversation is already with that team."))
        _close(handoff)
        Note.objects.create(
            conversation=conversation,
            agent=agent,
            body=_("Transferred to %(team)s: %(reason)s") % {"team": team.name, "reason": reason},
        )
        new = escalation_services.handoff_start(
            conversation=conversation,
            team=team,
            reason="transfer",
            priority=handoff.priority,
            explanation=_("From %(agent)s (%(team)s): %(reason)s")
            % {"agent": agent.display_name, "team": handoff.team.name, "reason": reason},
            customer_text=_customer_words(conversation, "transferred", team=team),
        )
        _changed(conversation, handoff)
    return new


def conversation_hand_back(*, conversation: Conversation, agent: Agent) -> None:
    """Back to the AI: it answers the customer's next message again."""
    with transaction.atomic():
        handoff = _current(conversation)
        _close(handoff)
        _state(conversation, Conversation.State.AI, actor=agent)
        _system_line(conversation, "handed_back", agent=agent)
        realtime.broadcast_on_commit(
            realtime.conversation_group(conversation.pk),
            "conversation.changed",
            conversation_id=conversation.pk,
            what="state",
        )
        _changed(conversation, handoff)


@dataclass(frozen=True)
class SavedAnswer:
    """An agent's reply to keep as a knowledge-base answer for the customer's question."""

    question: str
    answer: str
    # Extend this article (its slug); empty: create a new one with this title.
    article_slug: str = ""
    title: str = ""


def conversation_resolve(
    *,
    conversation: Conversation,
    agent: Agent,
    kind: str,
    ai_could_have: bool | None,
    saved_answer: SavedAnswer | None = None,
) -> Resolution:
    """Close the conversation: two clicks that feed the dashboard and teach the AI."""
    if kind not in Resolution.Kind.values:
        raise ActionRefused(_("Pick how the conversation ended."))
    with transaction.atomic():
        handoff = (
            Handoff.objects.select_for_update()
            .filter(conversation=conversation, status__in=escalation_selectors.OPEN)
            .first()
        )
        if handoff is None and conversation.state == Conversation.State.RESOLVED:
            raise ActionRefused(_("This conversation is already resolved."))
        if handoff is not None:
            _close(handoff)
        resolution = Resolution.objects.create(
            conversation=conversation,
            handoff=handoff,
            agent=agent,
            kind=kind,
            ai_could_have=ai_could_have,
        )
        _state(conversation, Conversation.State.RESOLVED, actor=agent)
        _system_line(conversation, "resolved", agent=agent)
        realtime.broadcast_on_commit(
            realtime.conversation_group(conversation.pk),
            "conversation.changed",
            conversation_id=conversation.pk,
            what="state",
        )
        if saved_answer is not None:
            knowledge_answer_save(saved=saved_answer, team=handoff.team if handoff else None)
        if handoff is not None:
            _changed(conversation, handoff)
    return resolution


def knowledge_answer_save(*, saved: SavedAnswer, team: Team | None) -> Article:
    """Create or extend an article from an agent's reply, with the customer's question as an
    example question, so the AI answers it next time (every process, next message)."""
    question = saved.question.strip()[:500]
    if saved.article_slug:
        article = Article.objects.filter(slug=saved.article_slug).first()
        if article is None:
            raise ActionRefused(_("There is no article %(slug)s.") % {"slug": saved.article_slug})
        if saved.answer.strip() and saved.answer.strip() not in article.body:
            article.body = f"{article.body.rstrip()}\n\n{saved.answer.strip()}"
        article.save()
    else:
        title = saved.title.strip() or question[:100]
        if not title or not saved.answer.strip():
            raise ActionRefused(_("A new answer needs a title and a text."))
        article = chat_services.article_save(
            article=Article(
                slug=chat_services.unique_slug(title),
                title=title,
                body=saved.answer.strip(),
                team=team,
            ),
        )
    if question:
        ExampleQuestion.objects.get_or_create(
            article=article, text=question, defaults={"origin": ExampleQuestion.Origin.AGENT}
        )
    chat_services.kb_changed()
    return article


def conversation_rate(*, conversation: Conversation, score: int, comment: str = "") -> Rating:
    """The customer's rating after the conversation was resolved."""
    if not 1 <= score <= 5:
        raise ActionRefused(_("A rating is from 1 to 5."))
    with transaction.atomic():
        # Under the conversation's lock: two tabs rating at once store one rating.
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.state != Conversation.State.RESOLVED:
            raise ActionRefused(_("You can rate the conversation once it is resolved."))
        if conversation.ratings.filter(created_at__gte=conversation.resolved_at).exists():
            # Once per resolution: a second rating would count the customer twice.
            raise ActionRefused(_("You have already rated this conversation."))
        with_human = conversation.handoffs.filter(answered_at__isnull=False).exists()
        rating = Rating.objects.create(
            conversation=conversation,
            score=score,
            comment=comment.strip()[:2000],
            with_human=with_human,
        )
        realtime.broadcast_on_commit(
            escalation_services.SUPERVISORS_GROUP,
            "metrics.changed",
            conversation_id=conversation.pk,
        )
    return rating


def _close(handoff: Handoff) -> None:
    handoff.status = Handoff.Status.CLOSED
    handoff.closed_at = timezone.now()
    handoff.save(update_fields=["status", "closed_at"])


def _state(conversation: Conversation, state: str, *, actor: Agent) -> None:
    previous = conversation.state
    if previous == state:
        return
    conversation.state = state
    conversation.resolved_at = timezone.now() if state == Conversation.State.RESOLVED else None
    conversation.save(update_fields=["state", "resolved_at", "updated_at"])
    ConversationEvent.objects.create(
        conversation=conversation,
        kind=ConversationEvent.Kind.STATE,
        data={"from": previous, "to": state},
        actor=actor.user,
    )


def alert_check(*, now: dt.datetime | None = None) -> Alert | None:
    """Raise an alert when the last hour's handoff rate is far above its usual level.

    Once per hour at most: the alert's key is the hour, so a second run adds nothing.
    """
    from escalation import notifications

    now = now or timezone.now()
    spike = metrics.handoff_spike(now=now)
    if spike is None:
        return None
    with transaction.atomic():
        text = _(
            "Handoffs are up: %(rate)s of conversations in the last hour went to a person, "
            "against %(usual)s usually."
        ) % {"rate": f"{spike['rate']:.0%}", "usual": f"{spike['usual']:.0%}"}
        alert, created = Alert.objects.get_or_create(
            kind="handoff_spike",
            key=now.strftime("%Y-%m-%dT%H"),
            defaults={"text": text, "data": spike},
        )
        if not created:
            return None
        realtime.broadcast_on_commit(
            escalation_services.SUPERVISORS_GROUP, "alert.raised", text=text
        )
        notifications.queue_event(
            event="alert.handoff_spike",
            key=f"alert:{alert.pk}",
            payload={"event": "alert.handoff_spike", "text": text, **spike},
            slack_text=f":rotating_light: {text}",
        )
    return alert


def api_token_issue(*, name: str, user, scope: str) -> tuple[ApiToken, str]:
    """A new API token and its key, which is shown once and never stored."""
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name, user=user, scope=scope, prefix=prefix, digest=token_digest(secret)
    )
    return token, f"baton_{prefix}_{secret}"

"""Reads for queues, loads and handoffs."""

import datetime as dt

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from agents.models import Agent
from chat.models import Conversation
from escalation.estimates import (
    PRIOR_HANDLING_SECONDS,
    PRIOR_PICKUP_SECONDS,
    TeamLoad,
    correction_factor,
    shrunk_mean,
    shrunk_median,
)
from escalation.models import Handoff, Team, WaitEstimate

OPEN = [Handoff.Status.WAITING, Handoff.Status.OFFERED, Handoff.Status.ANSWERED]
HISTORY_DAYS = 14


def handoff_current(*, conversation: Conversation) -> Handoff | None:
    """The handoff a conversation is on now, if it is with (or waiting for) a human."""
    return (
        Handoff.objects.select_related("team", "agent__user")
        .filter(conversation=conversation, status__in=OPEN)
        .order_by("-queued_at", "-id")
        .first()
    )


def team_queue(*, team: Team) -> QuerySet[Handoff]:
    """Waiting conversations, in the order they will be served: priority, then time."""
    return (
        Handoff.objects.filter(team=team, status=Handoff.Status.WAITING)
        .select_related("conversation")
        .order_by("-priority", "queued_at", "id")
    )


def team_queue_with_last_estimate(*, team: Team) -> QuerySet[Handoff]:
    """The team's queue, each handoff with the place and wait it was last told
    (``last_position``, ``last_seconds``; None if it was told none yet)."""
    last = WaitEstimate.objects.filter(handoff=OuterRef("pk")).order_by("-made_at", "-id")
    return team_queue(team=team).annotate(
        last_position=Subquery(last.values("position")[:1]),
        last_seconds=Subquery(last.values("estimated_seconds")[:1]),
    )


def queue_position(*, handoff: Handoff) -> int:
    """1 for the next to be served."""
    ahead = Handoff.objects.filter(team_id=handoff.team_id, status=Handoff.Status.WAITING).filter(
        Q(priority__gt=handoff.priority)
        | Q(priority=handoff.priority, queued_at__lt=handoff.queued_at)
        | Q(priority=handoff.priority, queued_at=handoff.queued_at, id__lt=handoff.id)
    )
    return ahead.count() + 1


def agents_available(*, team: Team) -> QuerySet[Agent]:
    """Online agents of the team, each annotated with how many conversations they hold."""
    return (
        Agent.objects.filter(teams=team, presence=Agent.Presence.ONLINE)
        .select_related("user")
        .annotate(
            load=Count(
                "handoffs",
                filter=Q(handoffs__status__in=[Handoff.Status.OFFERED, Handoff.Status.ANSWERED]),
            )
        )
    )


def agent_load(*, agent: Agent) -> int:
    return Handoff.objects.filter(
        agent=agent, status__in=[Handoff.Status.OFFERED, Handoff.Status.ANSWERED]
    ).count()


def _recent(team: Team) -> QuerySet[Handoff]:
    since = timezone.now() - dt.timedelta(days=HISTORY_DAYS)
    return Handoff.objects.filter(team=team, answered_at__gte=since)


# At most this many of the newest samples describe a team (or an agent) as it works now.
SAMPLES = 200


def _handled(handoffs: QuerySet[Handoff]) -> QuerySet[Handoff]:
    """Closed handoffs, newest first, each with its handling time as ``span``."""
    return (
        handoffs.filter(closed_at__isnull=False)
        .annotate(span=F("closed_at") - F("answered_at"))
        .order_by("-answered_at")
    )


def handling_seconds(*, team: Team) -> float:
    """Mean time from an agent's first answer to the conversation's end, recently."""
    spans = _handled(_recent(team)).values_list("span", flat=True)[:SAMPLES]
    return shrunk_mean([s.total_seconds() for s in spans], PRIOR_HANDLING_SECONDS)


def agent_handling_seconds(*, team: Team, agents: list[Agent]) -> dict[int, float]:
    """Each agent's own mean handling time on the team's conversations, recently, pulled
    towards the team's while they have handled few: what routing weighs a load by."""
    team_mean = handling_seconds(team=team)
    spans: dict[int, list[float]] = {agent.pk: [] for agent in agents}
    for agent_id, span in _handled(_recent(team).filter(agent__in=agents)).values_list(
        "agent_id", "span"
    )[: SAMPLES * max(1, len(agents))]:
        if len(spans[agent_id]) < SAMPLES:
            spans[agent_id].append(span.total_seconds())
    return {agent_id: shrunk_mean(samples, team_mean) for agent_id, samples in spans.items()}


def pickup_seconds(*, team: Team) -> float:
    """Typical time from giving a conversation to an agent to their first answer."""
    spans = (
        _recent(team)
        .filter(offered_at__isnull=False)
        .annotate(span=F("answered_at") - F("offered_at"))
        .order_by("-answered_at")
        .values_list("span", flat=True)[:SAMPLES]
    )
    return shrunk_median([max(0.0, s.total_seconds()) for s in spans], PRIOR_PICKUP_SECONDS)


def estimate_correction(*, team: Team) -> float:
    """Actual over estimated wait for the team's recent customers who really queued."""
    since = timezone.now() - dt.timedelta(days=HISTORY_DAYS)
    pairs = (
        WaitEstimate.objects.filter(
            handoff__team=team,
            made_at__gte=since,
            actual_seconds__isnull=False,
            estimated_seconds__gte=60,
        )
        .order_by("-made_at")
        .values_list("actual_seconds", "estimated_seconds")[:SAMPLES]
    )
    return correction_factor([actual / estimated for actual, estimated in pairs])


def team_load(*, team: Team) -> TeamLoad:
    agents = list(agents_available(team=team))
    return TeamLoad(
        agents_online=len(agents),
        total_slots=sum(a.capacity for a in agents),
        free_slots=sum(max(0, a.capacity - a.load) for a in agents),
        handling_seconds=handling_seconds(team=team),
        pickup_seconds=pickup_seconds(team=team),
        correction=estimate_correction(team=team),
    )

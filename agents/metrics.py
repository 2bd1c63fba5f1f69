"""The supervisor's figures, for a period and optionally one team. Reads only."""

import datetime as dt
import statistics
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from agents.models import Rating, Resolution
from chat.models import Conversation
from escalation.models import Handoff, Team, WaitEstimate


@dataclass(frozen=True)
class Period:
    start: dt.datetime
    end: dt.datetime
    team: Team | None = None

    @classmethod
    def last(cls, days: int, team: Team | None = None) -> "Period":
        end = timezone.now()
        return cls(start=end - dt.timedelta(days=days), end=end, team=team)

    @property
    def days(self) -> list[dt.date]:
        first = timezone.localtime(self.start).date()
        last = timezone.localtime(self.end).date()
        return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


@dataclass
class Figures:
    conversations: int = 0
    ai_resolved: int = 0
    handed_off: int = 0
    ai_resolution_rate: float | None = None
    handoff_rate: float | None = None
    time_to_human_median: float | None = None
    time_to_human_p90: float | None = None
    estimate_error_median: float | None = None
    estimate_within_30: float | None = None
    estimates_measured: int = 0
    sla_misses: int = 0
    sla_miss_rate: float | None = None
    csat_ai: float | None = None
    csat_ai_count: int = 0
    csat_human: float | None = None
    csat_human_count: int = 0
    repeat_contact_rate: float | None = None
    by_reason: list[tuple[str, int]] = field(default_factory=list)
    by_trigger: list[tuple[str, int]] = field(default_factory=list)
    by_day: list[dict[str, Any]] = field(default_factory=list)
    false_positives: list[Resolution] = field(default_factory=list)
    false_negatives: list[dict[str, Any]] = field(default_factory=list)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def conversations_in(period: Period) -> QuerySet[Conversation]:
    conversations = Conversation.objects.filter(
        created_at__gte=period.start, created_at__lt=period.end
    )
    if period.team is not None:
        conversations = conversations.filter(Q(team=period.team) | Q(topic__team=period.team))
    return conversations


def _handoffs_in(period: Period) -> QuerySet[Handoff]:
    handoffs = Handoff.objects.filter(queued_at__gte=period.start, queued_at__lt=period.end)
    if period.team is not None:
        handoffs = handoffs.filter(team=period.team)
    return handoffs


def _repeat_within_7_days(conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    later = Conversation.objects.filter(
        contact=OuterRef("contact"),
        created_at__gt=OuterRef("created_at"),
        created_at__lte=OuterRef("created_at") + dt.timedelta(days=7),
    )
    return conversations.annotate(came_back=Exists(later))


def figures(period: Period) -> Figures:
    result = Figures()
    conversations = conversations_in(period)
    with_handoff = Handoff.objects.filter(conversation=OuterRef("pk"))
    result.conversations = conversations.count()
    result.handed_off = conversations.filter(Exists(with_handoff)).count()
    result.ai_resolved = result.conversations - result.handed_off
    result.ai_resolution_rate = _ratio(result.ai_resolved, result.conversations)
    result.handoff_rate = _ratio(result.handed_off, result.conversations)

    handoffs = _handoffs_in(period)
    result.by_reason = list(
        handoffs.values("reason").annotate(n=Count("id")).order_by("-n").values_list("reason", "n")
    )
    result.by_trigger = list(
        handoffs.values("trigger__name")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("trigger__name", "n")
    )
    waits = [
        span.total_seconds()
        for span in handoffs.filter(answered_at__isnull=False)
        .annotate(span=F("answered_at") - F("queued_at"))
        .values_list("span", flat=True)
    ]
    result.time_to_human_median = statistics.median(waits) if waits else None
    result.time_to_human_p90 = _percentile(waits, 0.9)
    totals = handoffs.aggregate(n=Count("id"), missed=Count("id", filter=Q(sla_misses__gt=0)))
    result.sla_misses = totals["missed"]
    result.sla_miss_rate = _ratio(totals["missed"], totals["n"])

    estimates = WaitEstimate.objects.filter(
        made_at__gte=period.start, made_at__lt=period.end, actual_seconds__isnull=False
    )
    if period.team is not None:
        estimates = estimates.filter(handoff__team=period.team)
    pairs = list(estimates.values_list("estimated_seconds", "actual_seconds"))
    result.estimates_measured = len(pairs)
    if pairs:
        result.estimate_error_median = statistics.median(abs(e - a) for e, a in pairs)
    measured = [(e, a) for e, a in pairs if a]
    if measured:
        within = sum(abs(e - a) <= 0.3 * a for e, a in measured)
        result.estimate_within_30 = within / len(measured)

    ratings = Rating.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
    if period.team is not None:
        ratings = ratings.filter(
            Q(conversation__team=period.team) | Q(conversation__topic__team=period.team)
        )
    for human, label in ((False, "ai"), (True, "human")):
        scores = list(ratings.filter(with_human=human).values_list("score", flat=True))
        setattr(result, f"csat_{label}", statistics.fmean(scores) if scores else None)
        setattr(result, f"csat_{label}_count", len(scores))

    came_back = _repeat_within_7_days(conversations).filter(came_back=True).count()
    result.repeat_contact_rate = _ratio(came_back, result.conversations)

    totals_by_day = dict(
        conversations.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    handed_by_day = dict(
        conversations.filter(Exists(with_handoff))
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    per_day = {
        day: {"total": totals_by_day[day], "handed": handed_by_day.get(day, 0)}
        for day in totals_by_day
    }
    result.by_day = [
        {
            "day": day,
            "conversations": per_day.get(day, {}).get("total", 0),
            "handoffs": per_day.get(day, {}).get("handed", 0),
            "rate": _ratio(
                per_day.get(day, {}).get("handed", 0), per_day.get(day, {}).get("total", 0)
            ),
        }
        for day in period.days
    ]

    result.false_positives = list(
        Resolution.objects.filter(
            created_at__gte=period.start, created_at__lt=period.end, ai_could_have=True
        )
        .select_related("conversation__contact", "handoff__team", "agent__user")
        .order_by("-created_at")[:50]
    )
    ai_only = _repeat_within_7_days(
        conversations.annotate(handed=Exists(with_handoff)).filter(handed=False)
    ).annotate(low=Exists(Rating.objects.filter(conversation=OuterRef("pk"), score__lte=2)))
    result.false_negatives = [
        {"conversation": c, "low_rating": c.low, "came_back": c.came_back}
        for c in ai_only.filter(Q(low=True) | Q(came_back=True))
        .select_related("contact")
        .order_by("-created_at")[:50]
    ]
    return result


def handoff_spike(*, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """The last hour's handoff rate, when it is far above the usual one.

    Usual: the rate over the seven days before. Far above: at least twice it and 25 points
    more, with at least five handoffs, so a quiet hour's two handoffs raise nothing.
    """
    now = now or timezone.now()
    hour = Period(start=now - dt.timedelta(hours=1), end=now)
    week = Period(start=now - dt.timedelta(days=7, hours=1), end=hour.start)
    recent = figures_light(hour)
    usual = figures_light(week)
    if recent["handed"] < 5 or usual["rate"] is None or recent["rate"] is None:
        return None
    if recent["rate"] >= max(2 * usual["rate"], usual["rate"] + 0.25):
        return {"rate": recent["rate"], "usual": usual["rate"], "handoffs": recent["handed"]}
    return None


def figures_light(period: Period) -> dict[str, Any]:
    conversations = conversations_in(period)
    total = conversations.count()
    handed = conversations.filter(
        Exists(Handoff.objects.filter(conversation=OuterRef("pk")))
    ).count()
    return {"total": total, "handed": handed, "rate": _ratio(handed, total)}

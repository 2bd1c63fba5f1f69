"""Business hours: is a team working now, and when is it back."""

import datetime as dt
import zoneinfo
from collections.abc import Iterator

from django.db.models import Q

from escalation.models import Holiday, Team


def _zone(team: Team) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(team.timezone or "UTC")


def _holidays(team: Team, start: dt.date, days: int) -> set[dt.date]:
    """Days off for this team (its own and everyone's) from start, for so many days."""
    end = start + dt.timedelta(days=days)
    return set(
        Holiday.objects.filter(date__range=(start, end))
        .filter(Q(team=team) | Q(team__isnull=True))
        .values_list("date", flat=True)
    )


def _period(day: dt.date, hours, zone: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """One day's working period as instants (UTC), so that lengths and comparisons are
    real time on the nights the clocks change. Closing at 00:00 is closing at midnight."""
    closing_day = day + dt.timedelta(days=1) if hours.closes == dt.time(0) else day
    opening = dt.datetime.combine(day, hours.opens, tzinfo=zone)
    closing = dt.datetime.combine(closing_day, hours.closes, tzinfo=zone)
    return opening.astimezone(dt.UTC), closing.astimezone(dt.UTC)


def is_open(team: Team, at: dt.datetime) -> bool:
    """True when the team works at this moment (always, for a team without hours)."""
    hours = list(team.hours.all())
    if not hours:
        return True
    zone = _zone(team)
    local = at.astimezone(zone)
    if local.date() in _holidays(team, local.date(), 0):
        return False
    return any(
        opening <= at < closing
        for opening, closing in (
            _period(local.date(), h, zone) for h in hours if h.weekday == local.weekday()
        )
    )


def _working_periods(team: Team, at: dt.datetime, hours: list) -> Iterator[tuple]:
    """The team's working periods (opening, closing) that end after ``at``, in order, over
    the next two weeks: holidays left out, one under way starting at ``at``."""
    zone = _zone(team)
    local = at.astimezone(zone)
    holidays = _holidays(team, local.date(), 15)
    for offset in range(15):
        day = local.date() + dt.timedelta(days=offset)
        if day in holidays:
            continue
        for h in sorted((h for h in hours if h.weekday == day.weekday()), key=lambda h: h.opens):
            opening, closing = _period(day, h, zone)
            if closing > at:
                yield max(opening, at), closing


def next_opening(team: Team, at: dt.datetime) -> dt.datetime | None:
    """When the team next starts working, as an aware datetime (``at`` when it works now);
    None for a team always open or one with no hours at all in the next two weeks."""
    hours = list(team.hours.all())
    if not hours:
        return None
    opening = next((start for start, _end in _working_periods(team, at, hours)), None)
    return at if opening is not None and opening <= at else opening


def closes_at(team: Team, at: dt.datetime) -> dt.datetime | None:
    """When the team stops working, if it works at ``at``: the end of this working period
    and of any that follow on without a break (18:00-00:00, then 00:00-02:00). None for a
    team always open, or closed now."""
    hours = list(team.hours.all())
    if not hours:
        return None
    closing = None
    for start, end in _working_periods(team, at, hours):
        if start > (closing or at):
            break
        closing = end
    return closing


def after_working_time(team: Team, at: dt.datetime, span: dt.timedelta) -> dt.datetime:
    """When ``span`` of the team's working time has passed from ``at``: a promise of "within
    four hours" made at 16:30 on a Friday is kept on Monday, not at 20:30 that evening.

    A team without hours works around the clock; past two weeks of hours the promise is
    counted in plain time."""
    hours = list(team.hours.all())
    if not hours:
        return at + span
    left = span
    for start, end in _working_periods(team, at, hours):
        if left <= end - start:
            return start + left
        left -= end - start
    return at + span

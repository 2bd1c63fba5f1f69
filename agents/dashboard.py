"""The supervisor dashboard and its CSV export."""

import csv

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from agents import charts, metrics, selectors
from agents.models import Alert
from agents.views import agent_required
from escalation.models import Team

PERIODS = [7, 30, 90]


def _period(request: HttpRequest) -> metrics.Period:
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    days = days if days in PERIODS else 30
    team = Team.objects.filter(slug=request.GET.get("team", "")).first()
    return metrics.Period.last(days, team=team)


def supervisor_only(view):
    @agent_required
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not selectors.sees_everything(request.user, request.agent):
            return render(request, "agents/not_a_supervisor.html", status=403)
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    return wrapper


@supervisor_only
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    period = _period(request)
    figures = metrics.figures(period)
    days = [row["day"].strftime("%d %b") for row in figures.by_day]
    context = {
        "period": period,
        "days_choice": (period.end - period.start).days,
        "periods": PERIODS,
        "teams": Team.objects.all(),
        "figures": figures,
        "rate_chart": charts.line([row["rate"] for row in figures.by_day], days),
        "reason_bars": charts.bars(figures.by_reason),
        "trigger_bars": charts.bars(
            [(name or _("(no trigger: transfer or manual)"), n) for name, n in figures.by_trigger]
        ),
        "csat_bars": charts.bars(
            [
                (label, value)
                for label, value in [
                    (_("AI only"), figures.csat_ai),
                    (_("With a person"), figures.csat_human),
                ]
                if value is not None
            ]
        ),
        "alerts": Alert.objects.order_by("-created_at")[:5],
        "query": request.GET.urlencode(),
    }
    return render(request, "agents/dashboard.html", context)


@supervisor_only
@require_GET
def dashboard_csv(request: HttpRequest) -> HttpResponse:
    period = _period(request)
    figures = metrics.figures(period)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"baton-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(["metric", "value"])
    for field in [
        "conversations",
        "ai_resolved",
        "handed_off",
        "ai_resolution_rate",
        "handoff_rate",
        "time_to_human_median",
        "time_to_human_p90",
        "estimate_error_median",
        "estimate_within_30",
        "estimates_measured",
        "sla_misses",
        "sla_miss_rate",
        "csat_ai",
        "csat_ai_count",
        "csat_human",
        "csat_human_count",
        "repeat_contact_rate",
    ]:
        value = getattr(figures, field)
        writer.writerow([field, "" if value is None else round(value, 4)])
    for reason, count in figures.by_reason:
        writer.writerow([f"handoffs_by_reason:{reason}", count])
    for trigger, count in figures.by_trigger:
        writer.writerow([f"handoffs_by_trigger:{trigger or 'none'}", count])
    writer.writerow([])
    writer.writerow(["day", "conversations", "handoffs", "handoff_rate"])
    for row in figures.by_day:
        rate = "" if row["rate"] is None else round(row["rate"], 4)
        writer.writerow([row["day"].isoformat(), row["conversations"], row["handoffs"], rate])
    return response

"""The dashboard's figures on a data set whose answers are known."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from agents import metrics, services
from agents.models import Alert, Rating, Resolution
from chat.models import Contact, Conversation
from escalation.models import Handoff, NotificationChannel, Team, WaitEstimate
from tests import factories

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def ago(days: float = 0, seconds: float = 0) -> dt.datetime:
    return NOW - dt.timedelta(days=days, seconds=seconds)


def conversation(site, contact=None, *, days: float = 0, seconds: float = 0) -> Conversation:
    contact = contact or Contact.objects.create(site=site)
    made = Conversation.objects.create(site=site, contact=contact)
    Conversation.objects.filter(pk=made.pk).update(created_at=ago(days, seconds))
    made.refresh_from_db()
    return made


def handed_off(
    site, *, days: float, waited: int, told: int, reason: str, team: Team, sla_misses: int = 0
) -> Handoff:
    made = conversation(site, days=days)
    Conversation.objects.filter(pk=made.pk).update(team=team)
    queued = ago(days)
    handoff = Handoff.objects.create(
        conversation=made,
        team=team,
        reason=reason,
        status="closed",
        sla_misses=sla_misses,
        answered_at=queued + dt.timedelta(seconds=waited),
        closed_at=queued + dt.timedelta(seconds=waited + 300),
    )
    Handoff.objects.filter(pk=handoff.pk).update(queued_at=queued)
    estimate = WaitEstimate.objects.create(
        handoff=handoff, position=1, estimated_seconds=told, actual_seconds=waited
    )
    WaitEstimate.objects.filter(pk=estimate.pk).update(made_at=queued)
    handoff.refresh_from_db()
    return handoff


def rate(made: Conversation, score: int, *, with_human: bool) -> None:
    rating = Rating.objects.create(conversation=made, score=score, with_human=with_human)
    Rating.objects.filter(pk=rating.pk).update(created_at=made.created_at + dt.timedelta(hours=1))


@pytest.fixture
def history(site):
    billing = Team.objects.get(slug="billing")
    trust = Team.objects.get(slug="trust")
    returning = Contact.objects.create(site=site, name="Returning")
    came_back = conversation(site, returning, days=5)
    conversation(site, returning, days=3)
    low = conversation(site, days=2)
    happy = conversation(site, days=2)
    for days in (1, 1, 4):
        conversation(site, days=days)
    conversation(site, days=20)  # outside the period
    handoffs = [
        handed_off(site, days=1, waited=60, told=60, reason="explicit_request", team=billing),
        handed_off(site, days=2, waited=120, told=100, reason="explicit_request", team=billing),
        handed_off(site, days=3, waited=180, told=300, reason="topic", team=trust, sla_misses=1),
        handed_off(site, days=4, waited=600, told=600, reason="sentiment", team=billing),
    ]
    rate(happy, 5, with_human=False)
    rate(low, 2, with_human=False)
    rate(handoffs[0].conversation, 4, with_human=True)
    rate(handoffs[1].conversation, 4, with_human=True)
    resolution = Resolution.objects.create(
        conversation=handoffs[0].conversation,
        handoff=handoffs[0],
        kind="solved",
        ai_could_have=True,
    )
    Resolution.objects.filter(pk=resolution.pk).update(created_at=ago(1))
    return {"came_back": came_back, "low": low, "handoffs": handoffs, "billing": billing}


def test_the_figures_of_a_known_week(history):
    figures = metrics.figures(metrics.Period(start=ago(7), end=NOW))
    assert figures.conversations == 11
    assert figures.handed_off == 4
    assert figures.ai_resolution_rate == pytest.approx(7 / 11)
    assert figures.handoff_rate == pytest.approx(4 / 11)
    assert figures.time_to_human_median == 150
    assert figures.time_to_human_p90 == 600
    assert figures.estimate_error_median == 10
    assert figures.estimate_within_30 == pytest.approx(0.75)
    assert (figures.sla_misses, figures.sla_miss_rate) == (1, 0.25)
    assert (figures.csat_ai, figures.csat_human) == (3.5, 4.0)
    assert figures.repeat_contact_rate == pytest.approx(1 / 11)
    assert dict(figures.by_reason) == {"explicit_request": 2, "topic": 1, "sentiment": 1}
    assert [r.conversation for r in figures.false_positives] == [
        history["handoffs"][0].conversation
    ]
    flagged = {item["conversation"]: item for item in figures.false_negatives}
    assert set(flagged) == {history["came_back"], history["low"]}
    assert flagged[history["low"]]["low_rating"] and flagged[history["came_back"]]["came_back"]
    assert sum(day["conversations"] for day in figures.by_day) == 11


def test_a_team_sees_its_own_handoffs(history):
    figures = metrics.figures(metrics.Period(start=ago(7), end=NOW, team=history["billing"]))
    assert figures.handed_off == 3
    assert dict(figures.by_reason) == {"explicit_request": 2, "sentiment": 1}
    assert figures.sla_misses == 0


def test_the_dashboard_and_its_csv_for_a_supervisor(history, demo_kb):
    supervisor = factories.agent("sara", teams=[])
    supervisor.is_supervisor = True
    supervisor.save()
    client = Client()
    client.force_login(supervisor.user)
    page = client.get("/console/dashboard/?days=7").content.decode()
    assert 'id="fig-conversations">11<' in page
    assert 'id="fig-handoff-rate">36%<' in page
    assert "<svg" in page and "polyline" in page
    csv = client.get("/console/dashboard.csv?days=7").content.decode()
    assert "handoff_rate,0.3636" in csv
    assert "handoffs_by_reason:explicit_request,2" in csv


def test_agents_who_are_not_supervisors_do_not_see_the_dashboard(demo_kb):
    agent = factories.agent("ana", teams=["billing"])
    client = Client()
    client.force_login(agent.user)
    assert client.get("/console/dashboard/").status_code == 403
    assert client.get("/console/dashboard.csv").status_code == 403


@pytest.mark.task_failures_expected("escalation.tasks.delivery_send")
def test_a_spike_in_handoffs_raises_one_alert(site, django_capture_on_commit_callbacks):
    billing = Team.objects.get(slug="billing")
    NotificationChannel.objects.create(name="Ops", kind="slack", url="http://127.0.0.1:9/x")
    for day in range(1, 7):  # a usual week: one conversation in ten handed off
        for n in range(10):
            made = conversation(site, days=day + n / 100)
            if n == 0:
                Handoff.objects.create(conversation=made, team=billing, reason="topic")
    assert services.alert_check() is None
    for n in range(8):  # the last hour: six of eight
        made = conversation(site, seconds=60 * n)
        if n < 6:
            Handoff.objects.create(conversation=made, team=billing, reason="explicit_request")
    with django_capture_on_commit_callbacks(execute=True):
        alert = services.alert_check()
    assert alert is not None and "75%" in alert.text
    assert services.alert_check() is None
    assert Alert.objects.count() == 1
    delivery = NotificationChannel.objects.get().deliveries.get()
    assert delivery.event == "alert.handoff_spike" and "75%" in delivery.payload["text"]

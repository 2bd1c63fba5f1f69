"""What happens once a human must take over: routing, waits, deadlines, offline promises."""

import datetime as dt
import re
import threading

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from agents import services as agent_services
from agents.models import Agent
from chat import presence
from chat.models import Contact, Conversation, Message, Site
from escalation import hours, services, tasks
from escalation.models import (
    BusinessHours,
    Handoff,
    Holiday,
    ReplyEmail,
    Team,
    Trigger,
    WaitEstimate,
)
from tests import factories
from tests.conftest import in_thread
from tests.factories import say

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def billing():
    return Team.objects.get(slug="billing")


def waiting_customer(site, text="can I talk to someone in billing?", *, tier=""):
    if tier:
        visitor, _token = factories.verified_visitor(on=site, sub=f"c-{tier}", tier=tier)
        conversation = factories.conversation(on=site, path="/settings/billing", visitor_=visitor)
    else:
        conversation = factories.conversation(on=site, path="/settings/billing")
    say(conversation, "where are my invoices?", path="/settings/billing")
    say(conversation, text)
    return conversation


def last_line(conversation) -> str:
    return conversation.messages.filter(author="system").order_by("-seq").first().body


def test_the_customer_is_told_who_they_wait_for_their_place_and_the_wait(demo_kb, billing):
    factories.agent("ana", teams=["billing"], capacity=1)
    first = waiting_customer(demo_kb)
    second = waiting_customer(demo_kb)
    line = last_line(second)
    assert "Billing" in line
    assert "next in line" in line
    assert re.search(r"about \d+ minutes?|less than a minute", line)
    assert "won't need to repeat yourself" in line
    assert first.state == Conversation.State.ASSIGNED
    assert "Ana has your conversation" in last_line(first)


def test_the_brief_says_who_what_was_tried_and_why(demo_kb, billing):
    visitor, _token = factories.verified_visitor(
        on=demo_kb, sub="m-1", tier="pro", name="Maya", email="maya@example.com"
    )
    conversation = factories.conversation(on=demo_kb, path="/settings/billing", visitor_=visitor)
    say(conversation, "my card payment failed", path="/settings/billing")
    say(conversation, "updated the card, still failing")
    say(conversation, "this is getting ridiculous, get me a person")
    brief = Handoff.objects.get().brief
    assert brief["who"]["name"] == "Maya" and brief["who"]["verified"] is True
    assert brief["who"]["tier"] == "pro"
    assert brief["tried"][0]["slug"] == "payment-card"
    assert brief["tried"][0]["reaction"] == "said it did not help"
    assert brief["pages"] == ["/settings/billing"]
    assert brief["reason"]["code"] == "explicit_request"
    scores = brief["sentiment"]["scores"]
    assert len(scores) == 3 and scores[-1] == min(scores)
    assert brief["transcript_url"] == f"/console/conversations/{conversation.pk}/"


def test_the_brief_keeps_a_rejection_that_a_higher_rule_handed_off(demo_kb, billing):
    conversation = factories.conversation(on=demo_kb, path="/settings/billing")
    say(conversation, "my card payment failed", path="/settings/billing")
    decision = say(conversation, "I did that and it didn't work, this is ridiculous")
    assert (decision.action, decision.reason) == ("handoff", "sentiment")
    assert Handoff.objects.get().brief["tried"][0]["reaction"] == "said it did not help"


def test_an_admin_s_own_words_for_a_trigger_still_name_the_team(demo_kb):
    rule = Trigger.objects.get(kind="explicit_request")
    rule.customer_text = "Of course, one moment."
    rule.save()
    factories.agent("ann", teams=["general"], capacity=1)
    first, second = (factories.conversation(on=demo_kb, path="/") for _ in range(2))
    say(first, "agent please")
    say(second, "agent please")
    assert last_line(first).startswith(
        "Of course, one moment. Ann from our General team has your conversation"
    )
    assert last_line(second).startswith(
        "Of course, one moment. You're next in line for our General team; the wait is"
    )


def test_a_human_only_topic_becomes_what_the_brief_says_the_customer_wants(demo_kb, billing):
    conversation = factories.conversation(on=demo_kb, path="/settings/billing")
    say(conversation, "where are my invoices?", path="/settings/billing")
    assert conversation.messages.get(author="ai").sources[0]["slug"] == "invoices"
    say(conversation, "I was charged twice for the same label, I want my money back")
    handoff = Handoff.objects.get()
    assert handoff.reason == "topic"
    assert handoff.brief["wants"]["topic"] == "Refunds"
    conversation.refresh_from_db()
    assert conversation.topic.slug == "refunds"


def test_the_account_owner_gets_their_customer_first(demo_kb, billing):
    factories.agent("ana", teams=["general"])
    factories.agent("ben", teams=["general"])
    visitor, _token = factories.verified_visitor(
        on=demo_kb, sub="c-9", attributes={"account_owner": "ben"}
    )
    conversation = factories.conversation(on=demo_kb, visitor_=visitor)
    say(conversation, "agent please")
    assert Handoff.objects.get().agent.user.username == "ben"


def test_otherwise_the_least_loaded_agent_with_room_gets_it(demo_kb, billing):
    ana = factories.agent("ana", teams=["billing"], capacity=4)
    ben = factories.agent("ben", teams=["billing"], capacity=2)
    owners = []
    for _ in range(4):
        waiting_customer(demo_kb)
        owners.append(Handoff.objects.order_by("-queued_at").first().agent)
    # Ana has room for four: she takes two before Bob (room for two) takes his second.
    assert owners.count(ana) == 2 and owners.count(ben) == 2
    assert owners[0] != owners[1]


def handled(team, agent=None, *, minutes: float, count: int, days_ago: float = 1) -> None:
    """Closed conversations of the team that took ``minutes`` each after the first answer."""
    contact = Contact.objects.create(site=Site.objects.get(key="demo"))
    answered = timezone.now() - dt.timedelta(days=days_ago)
    Handoff.objects.bulk_create(
        Handoff(
            conversation=Conversation.objects.create(site=contact.site, contact=contact),
            team=team,
            agent=agent,
            reason="topic",
            status=Handoff.Status.CLOSED,
            answered_at=answered + dt.timedelta(seconds=n),
            closed_at=answered + dt.timedelta(seconds=n, minutes=minutes),
        )
        for n in range(count)
    )


def test_load_is_weighed_by_how_long_each_agent_usually_takes(demo_kb, billing):
    ana = factories.agent("ana", teams=["billing"], capacity=2)
    ben = factories.agent("ben", teams=["billing"], capacity=4)
    handled(billing, ana, minutes=3, count=10)
    handled(billing, ben, minutes=30, count=10)
    for agent in (ana, ben):
        holding = waiting_customer(demo_kb)
        Handoff.objects.filter(conversation=holding).update(agent=agent)
    # Ana holds one of two, Ben one of four, but his take him ten times as long: his
    # quarter is more work than her half, and the next customer gets the lighter load.
    customer = waiting_customer(demo_kb)
    assert Handoff.objects.get(conversation=customer).agent == ana


def test_the_wait_estimate_learns_from_the_newest_conversations(demo_kb, billing):
    from escalation import selectors

    handled(billing, minutes=40, count=250, days_ago=10)
    handled(billing, minutes=4, count=250, days_ago=1)
    # The team got faster: the estimate reads what it takes now.
    assert selectors.handling_seconds(team=billing) == pytest.approx(4 * 60, rel=0.1)


def test_a_deleted_agents_conversations_go_to_a_colleague(demo_kb, billing):
    ana = factories.agent("ana", teams=["billing"], capacity=2)
    offered = waiting_customer(demo_kb)
    answered = waiting_customer(demo_kb)
    agent_services.conversation_claim(conversation=answered, agent=ana)
    ben = factories.agent("ben", teams=["billing"], capacity=2)
    ana.user.delete()
    assert services.sla_sweep() == 2
    assert services.sla_sweep() == 0
    for conversation in (offered, answered):
        handoff = Handoff.objects.get(conversation=conversation)
        assert handoff.agent == ben
        assert "Ben" in last_line(conversation)


@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="SQLite routes one handoff at a time anyway"
)
def test_two_handoffs_at_once_do_not_both_take_an_agents_last_place(demo_kb, billing):
    ana = factories.agent("ana", teams=["billing"], capacity=1)
    first = factories.conversation(on=demo_kb, path="/settings/billing")
    second = factories.conversation(on=demo_kb, path="/settings/billing")
    say(second, "where are my invoices?", path="/settings/billing")
    holding, routed = threading.Event(), threading.Event()

    def route_the_first() -> None:
        # Another worker's routing: it holds Ana while it gives her the first customer.
        with transaction.atomic():
            Agent.objects.select_for_update().get(pk=ana.pk)
            holding.set()
            assert routed.wait(1) is False  # the second routing waits for Ana meanwhile
            handoff = Handoff.objects.create(
                conversation=first, team=billing, reason="explicit_request"
            )
            Handoff.objects.filter(pk=handoff.pk).update(agent=ana, status="offered")

    worker = threading.Thread(target=in_thread, args=(route_the_first,))
    worker.start()
    assert holding.wait(10)
    in_thread(say, second, "can I talk to someone in billing?")
    routed.set()
    worker.join()
    # Ana had room for one: the second customer waits for her instead of being offered
    # to her as well.
    assert Handoff.objects.get(conversation=second).status == "waiting"


def test_with_no_room_the_queue_is_ordered_by_priority_then_waiting_time(demo_kb, billing):
    factories.agent("ana", teams=["billing"], capacity=1)
    waiting_customer(demo_kb)  # Ana takes this one.
    early = waiting_customer(demo_kb)
    late_vip = waiting_customer(demo_kb, tier="vip")
    queue = [
        h.conversation
        for h in Handoff.objects.filter(status="waiting").order_by("-priority", "queued_at")
    ]
    assert queue == [late_vip, early]
    assert "next in line" in last_line(late_vip)


def test_an_agent_who_misses_the_deadline_loses_the_conversation_to_the_next(demo_kb, billing):
    billing.sla_seconds = 60
    billing.save()
    ana = factories.agent("ana", teams=["billing"])
    ben = factories.agent("ben", teams=["billing"])
    conversation = waiting_customer(demo_kb)
    first = Handoff.objects.get().agent
    assert services.sla_sweep() == 0
    later = timezone.now() + dt.timedelta(seconds=61)
    with time_machine.travel(later, tick=False):
        assert services.sla_sweep() == 1
        assert services.sla_sweep() == 0  # running it twice does no harm
    handoff = Handoff.objects.get()
    assert handoff.agent != first and handoff.agent in (ana, ben)
    assert handoff.sla_misses == 1
    assert "Sorry for the wait" in last_line(conversation)
    # When everyone who can take it has let it pass, it goes round again rather than wait
    # behind an estimate that counts agents it would never be offered to.
    with time_machine.travel(later + dt.timedelta(seconds=61), tick=False):
        services.sla_sweep()
    handoff.refresh_from_db()
    assert set(handoff.passed_over.all()) == {ana, ben}
    assert handoff.status == "offered" and handoff.agent == first
    assert f"{first.display_name} is taking over" in last_line(conversation)


def test_an_agent_who_joined_keeps_the_conversation_past_the_deadline(demo_kb, billing):
    billing.sla_seconds = 60
    billing.save()
    factories.agent("ana", teams=["billing"])
    factories.agent("ben", teams=["billing"])
    conversation = waiting_customer(demo_kb)
    chosen = Handoff.objects.get().agent
    agent_services.conversation_claim(conversation=conversation, agent=chosen)
    assert last_line(conversation) == f"{chosen.display_name} joined the conversation."
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=61), tick=False):
        assert services.sla_sweep() == 0
    assert Handoff.objects.get().agent == chosen


def test_a_conversation_passed_to_a_colleague_is_theirs_to_pick_up_in_time(demo_kb, billing):
    billing.sla_seconds = 60
    billing.save()
    ana = factories.agent("ana", teams=["billing"])
    conversation = waiting_customer(demo_kb)
    agent_services.agent_message_post(conversation=conversation, agent=ana, body="Hi, Ana here")
    ben = factories.agent("ben", teams=["billing"], online=False)
    with pytest.raises(agent_services.ActionRefused, match="Ben is offline"):
        agent_services.conversation_assign(conversation=conversation, by=ana, to=ben)
    with pytest.raises(agent_services.ActionRefused, match="Ana already has this conversation"):
        agent_services.conversation_assign(conversation=conversation, by=ana, to=ana)
    agent_services.presence_set(agent=ben, presence=Agent.Presence.ONLINE)
    agent_services.conversation_assign(conversation=conversation, by=ana, to=ben)
    # Ben has not joined yet: the customer is told he has it, not that he is there.
    assert last_line(conversation) == "Ben from our Billing team has your conversation now."
    assert services.status_frame(conversation=conversation)["agent"] == "Ben"
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=61), tick=False):
        assert services.sla_sweep() == 1
    handoff = Handoff.objects.get()
    assert handoff.agent == ana and ben in handoff.passed_over.all()
    assert "Sorry for the wait" in last_line(conversation)
    # Once the agent it went to answers, the customer is talking with a person again.
    agent_services.agent_message_post(conversation=conversation, agent=ana, body="Back again")
    handoff.refresh_from_db()
    assert handoff.status == "answered"
    assert services.status_frame(conversation=conversation)["text"] == (
        "You're chatting with Ana (Billing)."
    )


def test_a_missed_deadline_with_nobody_left_offers_email_once(demo_kb, billing):
    billing.sla_seconds = 60
    billing.save()
    ana = factories.agent("ana", teams=["billing"])
    conversation = waiting_customer(demo_kb)
    agent_services.presence_set(agent=ana, presence=Agent.Presence.AWAY)
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=61), tick=False):
        assert services.sla_sweep() == 1
        tasks.queues_refresh()
    lines = list(conversation.messages.filter(author="system").values_list("body", flat=True))
    assert "leave your email" in lines[-1]
    assert sum("email" in line for line in lines) == 1
    assert Handoff.objects.get().offline


def test_the_only_agent_who_misses_the_deadline_is_reminded(demo_kb, billing):
    billing.sla_seconds = 60
    billing.save()
    ana = factories.agent("ana", teams=["billing"])
    conversation = waiting_customer(demo_kb)
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=61), tick=False):
        assert services.sla_sweep() == 1
    handoff = Handoff.objects.get()
    assert (handoff.status, handoff.agent, handoff.sla_misses) == ("offered", ana, 1)
    assert last_line(conversation) == (
        "Sorry for the wait. We have reminded Ana, who usually answers in less than a minute."
    )


def test_an_answered_conversation_never_moves(demo_kb, billing):
    billing.sla_seconds = 60
    billing.save()
    ana = factories.agent("ana", teams=["billing"])
    factories.agent("ben", teams=["billing"])
    conversation = waiting_customer(demo_kb)
    owner = Handoff.objects.get().agent
    agent_services.agent_message_post(conversation=conversation, agent=owner, body="Hi, I'm here")
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=10), tick=False):
        assert services.sla_sweep() == 0
    assert Handoff.objects.get().agent == owner
    assert ana in Agent.objects.all()


def test_business_hours_across_time_zones():
    berlin = Team.objects.create(slug="de", name="DE", timezone="Europe/Berlin")
    for day in range(5):
        BusinessHours.objects.create(team=berlin, weekday=day, opens=dt.time(9), closes=dt.time(17))
    monday_0830_utc = dt.datetime(2026, 11, 23, 8, 30, tzinfo=dt.UTC)  # 09:30 in Berlin
    assert hours.is_open(berlin, monday_0830_utc)
    assert not hours.is_open(berlin, monday_0830_utc - dt.timedelta(hours=1))
    friday_evening = dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.UTC)  # 18:00 in Berlin
    assert not hours.is_open(berlin, friday_evening)
    back = hours.next_opening(berlin, friday_evening)
    assert back == dt.datetime(2026, 11, 30, 9, 0, tzinfo=berlin_zone())
    Holiday.objects.create(team=berlin, date=dt.date(2026, 11, 30), name="Closed")
    assert hours.next_opening(berlin, friday_evening).date() == dt.date(2026, 12, 1)
    # Summer time: New York opens at 9 its time, 13:00 UTC in July, 14:00 in January.
    ny = Team.objects.create(slug="ny", name="NY", timezone="America/New_York")
    BusinessHours.objects.create(team=ny, weekday=2, opens=dt.time(9), closes=dt.time(17))
    assert hours.is_open(ny, dt.datetime(2026, 7, 15, 13, 30, tzinfo=dt.UTC))
    assert not hours.is_open(ny, dt.datetime(2026, 1, 14, 13, 30, tzinfo=dt.UTC))
    assert hours.is_open(ny, dt.datetime(2026, 1, 14, 14, 30, tzinfo=dt.UTC))


def test_working_time_is_real_time_on_the_nights_the_clocks_change():
    night = Team.objects.create(slug="night", name="Night", timezone="Europe/Berlin")
    BusinessHours.objects.create(team=night, weekday=6, opens=dt.time(0), closes=dt.time(6))
    # 29 March 2026: 02:00 becomes 03:00, so the Sunday shift is five hours long.
    saturday_evening = dt.datetime(2026, 3, 28, 23, 0, tzinfo=dt.UTC)  # Sunday 00:00 local
    four_hours = hours.after_working_time(night, saturday_evening, dt.timedelta(hours=4))
    assert four_hours == dt.datetime(2026, 3, 29, 3, 0, tzinfo=dt.UTC)  # 05:00 local
    assert hours.is_open(night, dt.datetime(2026, 3, 29, 3, 30, tzinfo=dt.UTC))
    assert not hours.is_open(night, dt.datetime(2026, 3, 29, 4, 0, tzinfo=dt.UTC))
    # 25 October 2026: 03:00 becomes 02:00 again, so it is seven hours long.
    fall = dt.datetime(2026, 10, 24, 22, 0, tzinfo=dt.UTC)  # Sunday 00:00 local
    longer = hours.after_working_time(night, fall, dt.timedelta(hours=6, minutes=30))
    assert longer == dt.datetime(2026, 10, 25, 4, 30, tzinfo=dt.UTC)  # 05:30 local


def test_a_team_can_work_until_midnight():
    late = Team.objects.create(slug="late", name="Late", timezone="Europe/Berlin")
    evening = BusinessHours(team=late, weekday=0, opens=dt.time(18), closes=dt.time(0))
    evening.full_clean(exclude=["team"])
    evening.save()
    with pytest.raises(ValidationError):
        BusinessHours(team=late, weekday=1, opens=dt.time(18), closes=dt.time(9)).full_clean()
    monday = dt.datetime(2026, 11, 23, 22, 59, 30, tzinfo=dt.UTC)  # 23:59:30 in Berlin
    assert hours.is_open(late, monday)
    assert not hours.is_open(late, monday + dt.timedelta(minutes=1))
    assert hours.next_opening(late, monday + dt.timedelta(minutes=1)) == dt.datetime(
        2026, 11, 30, 18, 0, tzinfo=berlin_zone()
    )
    assert hours.after_working_time(late, monday, dt.timedelta(minutes=1)) == dt.datetime(
        2026, 11, 30, 18, 0, 30, tzinfo=berlin_zone()
    )
    # Working on past midnight is one stretch: it closes when the last part ends.
    BusinessHours.objects.create(team=late, weekday=1, opens=dt.time(0), closes=dt.time(2))
    assert hours.closes_at(late, monday) == dt.datetime(2026, 11, 24, 2, 0, tzinfo=berlin_zone())
    assert hours.closes_at(late, monday - dt.timedelta(hours=6)) is None


def berlin_zone():
    import zoneinfo

    return zoneinfo.ZoneInfo("Europe/Berlin")


def test_a_team_always_open_has_no_hours():
    team = Team.objects.create(slug="always", name="Always")
    assert hours.is_open(team, timezone.now())
    assert hours.next_opening(team, timezone.now()) is None


def test_outside_hours_the_customer_is_told_when_the_team_is_back_and_offered_email(
    demo_kb, billing
):
    billing.timezone = "Europe/Berlin"
    billing.save()
    BusinessHours.objects.create(team=billing, weekday=0, opens=dt.time(9), closes=dt.time(17))
    factories.agent("ana", teams=["billing"])
    saturday = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(saturday, tick=False):
        conversation = waiting_customer(demo_kb)
        line = last_line(conversation)
        assert "back Monday 30 November at 9 a.m. (Berlin time)" in line
        assert "Leave your email" in line
        handoff = Handoff.objects.get()
        assert handoff.offline and handoff.status == "waiting"
        frame = services.status_frame(conversation=conversation)
        assert frame["ask_email"] is True
        services.followup_request(conversation=conversation, email="sam@example.com")
    conversation.refresh_from_db()
    assert conversation.state == Conversation.State.FOLLOWUP
    assert "sam@example.com by Monday 30 November at 11 a.m." in last_line(conversation)
    assert services.status_frame(conversation=conversation)["ask_email"] is False


def test_with_nobody_online_the_conversation_waits_with_a_promise(demo_kb, billing):
    factories.agent("ana", teams=["billing"], online=False)
    conversation = waiting_customer(demo_kb)
    assert "Nobody from the Billing team is online" in last_line(conversation)
    assert Handoff.objects.get().promised_by is not None
    # Ana comes online: the waiting conversation goes to her, and the customer hears it.
    agent_services.presence_set(
        agent=Agent.objects.get(user__username="ana"), presence=Agent.Presence.ONLINE
    )
    conversation.refresh_from_db()
    assert conversation.state == Conversation.State.ASSIGNED
    assert "Ana from our Billing team has your conversation now" in last_line(conversation)


def test_a_promise_made_late_on_a_friday_is_kept_in_working_hours(demo_kb, billing):
    billing.timezone = "Europe/Berlin"
    billing.save()
    nine, five = dt.time(9), dt.time(17)
    for day in range(5):
        BusinessHours.objects.create(team=billing, weekday=day, opens=nine, closes=five)
    factories.agent("ana", teams=["billing"], online=False)
    friday_1630 = dt.datetime(2026, 11, 27, 15, 30, tzinfo=dt.UTC)
    with time_machine.travel(friday_1630, tick=False):
        conversation = waiting_customer(demo_kb)
    # Open, but nobody online: four working hours are half an hour on Friday and three
    # and a half on Monday.
    assert Handoff.objects.get().promised_by == dt.datetime(
        2026, 11, 30, 12, 30, tzinfo=berlin_zone()
    )
    assert "Monday 30 November at 12:30 p.m." in last_line(conversation)


def test_at_closing_time_the_waiting_customers_are_told_when_the_team_is_back(demo_kb, billing):
    BusinessHours.objects.create(team=billing, weekday=0, opens=dt.time(9), closes=dt.time(17))
    factories.agent("ana", teams=["billing"], capacity=1)
    monday_1650 = dt.datetime(2026, 11, 23, 16, 50, tzinfo=dt.UTC)
    with time_machine.travel(monday_1650, tick=False):
        waiting_customer(demo_kb)
        second = waiting_customer(demo_kb)
    assert "next in line" in last_line(second)
    with time_machine.travel(monday_1650 + dt.timedelta(minutes=20), tick=False):
        tasks.queues_refresh()
        tasks.queues_refresh()  # the next pass has nothing new to say
    assert "away right now and back Monday 30 November at 9 a.m." in last_line(second)
    assert second.messages.filter(body__contains="away right now").count() == 1
    handoff = Handoff.objects.get(conversation=second)
    assert handoff.offline and handoff.promised_by is not None


def test_an_email_left_once_an_agent_has_the_conversation_promises_no_time(demo_kb, billing):
    # The form was still on the screen when Ana came online and took the conversation.
    factories.agent("ana", teams=["billing"])
    conversation = waiting_customer(demo_kb)
    services.followup_request(conversation=conversation, email="sam@example.com")
    assert last_line(conversation) == (
        "Thanks. If you leave, the answer will reach you at sam@example.com, with a link "
        "back to this conversation."
    )


def test_a_wait_that_would_end_after_closing_time_is_not_promised(demo_kb, billing):
    BusinessHours.objects.create(team=billing, weekday=0, opens=dt.time(9), closes=dt.time(17))
    BusinessHours.objects.create(team=billing, weekday=1, opens=dt.time(9), closes=dt.time(17))
    factories.agent("ana", teams=["billing"], capacity=1)
    monday_1650 = dt.datetime(2026, 11, 23, 16, 50, tzinfo=dt.UTC)
    with time_machine.travel(monday_1650, tick=False):
        waiting_customer(demo_kb)  # with Ana
        second = waiting_customer(demo_kb)  # about 9 minutes: before five
        third = waiting_customer(demo_kb)  # about 17 minutes: after five
        assert "You're next in line; the wait is about 9 minutes." in last_line(second)
        assert (
            "The Billing team closes Monday 23 November at 5 p.m. (UTC time), probably before "
            "your turn comes, and is back Tuesday 24 November at 9 a.m. (UTC time). Leave "
            "your email below and they will answer by Tuesday 24 November at 11 a.m."
        ) in last_line(third)
        frame = services.status_frame(conversation=third)
        assert frame["ask_email"] is True and frame["estimate_seconds"] is None
        assert frame["text"] == (
            "Billing closes Monday 23 November at 5 p.m. (UTC time), probably before your turn."
        )
    # Nothing past closing time was stored as an estimate to be judged against.
    assert not WaitEstimate.objects.filter(handoff__conversation=third).exists()


def test_a_promise_after_opening_counts_working_hours_too(demo_kb, billing):
    billing.timezone = "Europe/Berlin"
    billing.save()
    for day in range(5):
        BusinessHours.objects.create(
            team=billing, weekday=day, opens=dt.time(9), closes=dt.time(17)
        )
    # A short Saturday morning: the two hours promised after opening do not fit in it.
    BusinessHours.objects.create(team=billing, weekday=5, opens=dt.time(10), closes=dt.time(11))
    factories.agent("ana", teams=["billing"])
    friday_evening = dt.datetime(2026, 11, 27, 19, 0, tzinfo=dt.UTC)  # 20:00 in Berlin
    with time_machine.travel(friday_evening, tick=False):
        conversation = waiting_customer(demo_kb)
    assert "back Saturday 28 November at 10 a.m." in last_line(conversation)
    assert Handoff.objects.get().promised_by == dt.datetime(
        2026, 11, 30, 10, 0, tzinfo=berlin_zone()
    )


def test_a_reply_to_a_customer_who_left_goes_by_email_with_a_link_back(
    demo_kb, billing, client, settings
):
    settings.BATON_REPLY_EMAIL_DELAY_SECONDS = 0
    factories.agent("ana", teams=["billing"], online=False)
    conversation = waiting_customer(demo_kb)
    services.followup_request(conversation=conversation, email="sam@example.com")
    ana = Agent.objects.get(user__username="ana")
    agent_services.agent_message_post(
        conversation=conversation, agent=ana, body="Your invoice is **fixed** now."
    )
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["sam@example.com"]
    assert "Your invoice is **fixed** now." in sent.body
    html = sent.alternatives[0][0]
    assert "<strong>fixed</strong>" in html
    link = re.search(r"http://\S+/widget/demo/resume/\S+/", sent.body).group(0)
    page = client.get(link.removeprefix("http://localhost:8000"))
    assert page.status_code == 200
    assert str(conversation.public_id) in page.content.decode()
    # Sending again (a retried task) sends nothing more.
    message = Message.objects.get(author="agent")
    assert services.reply_email_send(message_id=message.pk) is False
    assert len(mail.outbox) == 1


@pytest.mark.task_failures_expected("escalation.tasks.reply_email_send")
def test_a_reply_email_that_fails_shows_why_in_admin_and_goes_out_later(
    demo_kb, billing, settings, admin_client
):
    from project.embedded import free_port

    settings.BATON_REPLY_EMAIL_DELAY_SECONDS = 0
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    factories.agent("ana", teams=["billing"], online=False)
    conversation = waiting_customer(demo_kb)
    services.followup_request(conversation=conversation, email="sam@example.com")
    agent_services.agent_message_post(
        conversation=conversation, agent=Agent.objects.get(user__username="ana"), body="Fixed."
    )
    record = ReplyEmail.objects.get()
    assert record.sent_at is None and record.attempts >= 1
    assert "refused" in record.last_error.lower()
    listing = admin_client.get("/admin/escalation/replyemail/").content.decode()
    assert "sam@example.com" in listing and record.last_error in listing
    # The mail server is back: the next try sends it, and the error is gone.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert services.reply_email_send(message_id=record.message_id) is True
    record.refresh_from_db()
    assert record.sent_at is not None and record.last_error == ""
    assert [m.to for m in mail.outbox] == [["sam@example.com"]]


def test_agents_words_to_a_german_customer_are_in_german(demo_kb, billing, settings):
    settings.BATON_REPLY_EMAIL_DELAY_SECONDS = 0
    ana = factories.agent("ana", teams=["billing"], online=False)
    conversation = waiting_customer(demo_kb)
    Conversation.objects.filter(pk=conversation.pk).update(language="de")
    conversation.refresh_from_db()
    services.followup_request(conversation=conversation, email="sam@example.com")
    agent_services.conversation_claim(conversation=conversation, agent=ana)
    assert last_line(conversation) == "Ana ist der Unterhaltung beigetreten."
    agent_services.agent_message_post(conversation=conversation, agent=ana, body="Erledigt.")
    assert mail.outbox[0].subject == "Ihre Unterhaltung mit Parcelbird"


def test_a_reply_the_open_widget_already_showed_is_not_emailed(demo_kb, billing, settings):
    settings.BATON_REPLY_EMAIL_DELAY_SECONDS = 0
    factories.agent("ana", teams=["billing"])
    conversation = waiting_customer(demo_kb)
    services.followup_request(conversation=conversation, email="sam@example.com")
    # The customer's widget is open and shows every message as it arrives.
    presence.shown(conversation=conversation.public_id, seq=conversation.last_seq + 100)
    agent_services.agent_message_post(
        conversation=conversation, agent=Agent.objects.get(user__username="ana"), body="Hello!"
    )
    assert mail.outbox == []


def test_what_widgets_showed_before_the_database_was_recreated_does_not_stop_the_email(
    demo_kb, billing, settings
):
    """Redis can outlive the database (a restore, a new test database): row ids come again,
    so what was shown is remembered by the conversation's public id, which never does."""
    from django.core.cache import cache

    settings.BATON_REPLY_EMAIL_DELAY_SECONDS = 0
    factories.agent("ana", teams=["billing"], online=False)
    conversation = waiting_customer(demo_kb)
    services.followup_request(conversation=conversation, email="sam@example.com")
    # Another conversation with the same row id, in the database before this one, was read.
    cache.set(f"shown:{conversation.pk}", 1000)
    agent_services.agent_message_post(
        conversation=conversation, agent=Agent.objects.get(user__username="ana"), body="Hello!"
    )
    assert len(mail.outbox) == 1


def test_a_forged_or_expired_link_opens_nothing(demo_kb, client):
    assert client.get("/widget/demo/resume/not-a-real-token/").status_code == 410


def test_estimates_follow_the_queue_and_meet_the_actual_wait(demo_kb, billing):
    """Time travel: three customers, one agent; the queue moves as conversations end."""
    ana = factories.agent("ana", teams=["billing"], capacity=1)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = waiting_customer(demo_kb)
        second = waiting_customer(demo_kb)
        third = waiting_customer(demo_kb)
    third_handoff = Handoff.objects.get(conversation=third)
    assert third_handoff.estimates.get().position == 2
    with time_machine.travel(start + dt.timedelta(minutes=2), tick=False):
        agent_services.agent_message_post(conversation=first, agent=ana, body="Hi!")
    with time_machine.travel(start + dt.timedelta(minutes=9), tick=False):
        agent_services.conversation_resolve(
            conversation=first, agent=ana, kind="solved", ai_could_have=False
        )
    # The second customer is with Ana now; the third moved up and was told so.
    assert Handoff.objects.get(conversation=second).agent == ana
    third_estimates = list(third_handoff.estimates.order_by("made_at"))
    assert [e.position for e in third_estimates] == [2, 1]
    assert "you're next" in services.status_frame(conversation=third)["text"]
    with time_machine.travel(start + dt.timedelta(minutes=10), tick=False):
        agent_services.agent_message_post(conversation=second, agent=ana, body="Hello")
    # What the second customer was told: a place in line at first, then, once Ana took the
    # conversation at minute 9, her usual pick-up time. Each meets the wait it promised.
    told, taken = WaitEstimate.objects.filter(handoff__conversation=second).order_by("made_at")
    assert (told.position, taken.position) == (1, 0)
    assert told.actual_seconds == pytest.approx(600, abs=2)
    assert taken.actual_seconds == pytest.approx(60, abs=2)


def test_a_longer_queue_costs_a_few_queries_per_customer_not_the_team_s_load_each_time(
    demo_kb, billing
):
    """The refresh after every handoff reads the team's agents, hours and handling times, and
    the whole queue with what each customer was last told, once: a customer whose place did
    not move costs no query."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # Ana takes the first customer; everyone after waits in line.
    factories.agent("ana", teams=["billing"], capacity=1)
    team = Team.objects.get(slug="billing")

    def refresh_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert services.team_queue_refresh(team=team) == 0  # nothing moved
        return len(queries)

    for _ in range(4):
        waiting_customer(demo_kb)
    three = refresh_queries()
    for _ in range(3):
        waiting_customer(demo_kb)
    six = refresh_queries()
    assert six == three


def test_a_burst_of_handoffs_is_told_in_one_pass_over_the_queue_not_one_pass_each(demo_kb, billing):
    """A pass over the queue is queued only when none is waiting to run: with a refresh
    after every handoff, a burst of handoffs cost work that grew with the square of the
    queue (half a Celery worker at 200 customers, bench/latency.py)."""
    from celery.signals import task_prerun

    from escalation import tasks

    factories.agent("ana", teams=["billing"], capacity=1)
    team = Team.objects.get(slug="billing")
    passes = []

    def count(sender=None, **kwargs):
        if sender.name == tasks.team_queue_refresh.name:
            passes.append(sender)

    task_prerun.connect(count, weak=False)
    try:
        waiting_customer(demo_kb)  # with Ana
        before = len(passes)
        # As if a worker had not yet picked up the pass that a handoff queued.
        assert cache.add(services._queue_refresh_key(team.pk), True)
        burst = [waiting_customer(demo_kb) for _ in range(4)]
        assert len(passes) == before
        # The last of the burst turns out to be urgent; then the waiting pass runs, and
        # tells everyone in line their new place.
        Handoff.objects.filter(conversation=burst[-1]).update(priority=5)
        tasks.team_queue_refresh.delay(team.pk)
        assert len(passes) == before + 1
        told = [Handoff.objects.get(conversation=c).estimates.last().position for c in burst]
        assert told == [2, 3, 4, 1]
        assert "you're next" in services.status_frame(conversation=burst[-1])["text"]
        # A change after that pass began gets a pass of its own.
        waiting_customer(demo_kb)
        assert len(passes) == before + 2
    finally:
        task_prerun.disconnect(count)

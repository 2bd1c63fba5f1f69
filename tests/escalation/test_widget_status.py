"""The customer's view of a handoff, over the widget socket."""

import pytest

from tests import factories
from tests.chat.test_consumers import Widget

pytestmark = pytest.mark.django_db(transaction=True)

DEMO = "http://localhost:8001"


async def test_after_a_handoff_the_widget_shows_place_and_wait(demo_kb):
    from channels.db import database_sync_to_async

    await database_sync_to_async(factories.agent)("ana", teams=["general"], capacity=1)
    await database_sync_to_async(factories.agent)("ben", teams=["general"], capacity=0)
    async with Widget("demo", origin=DEMO) as first:
        await first.hello()
        await first.say("agent please")
        status = await first.until("status")
    assert status["state"] == "assigned" and status["agent"] == "Ana"
    async with Widget("demo", origin=DEMO) as second:
        await second.hello()
        await second.say("can I talk to a human?")
        status = await second.until("status")
    assert status["state"] == "queued" and status["position"] == 1
    assert "you're next" in status["text"]
    assert status["ask_email"] is False


async def test_with_nobody_there_the_widget_offers_an_email_follow_up(demo_kb):
    async with Widget("demo", origin=DEMO) as widget:
        welcome = await widget.hello()
        await widget.say("I want to speak to a person")
        status = await widget.until("status")
        assert status["offline"] is True and status["ask_email"] is True
        await widget.send({"type": "followup", "email": "not an email"})
        error = await widget.until("error")
        assert error["code"] == "invalid_field" and error["field"] == "email"
        await widget.send({"type": "followup", "email": "sam@example.com"})
        line = await widget.until("message", author="system")
        promised = await widget.until("status", followup=True)
    assert promised["ask_email"] is False
    assert "sam@example.com" in line["body"]
    # Coming back later, the customer sees where things stand at once.
    async with Widget("demo", origin=DEMO) as back:
        await back.hello(token=welcome["token"])
        status = await back.until("status")
    assert status["followup"] is True and "will email you" in status["text"]


async def test_a_waiting_customer_hears_when_the_last_agent_leaves_and_comes_back(demo_kb):
    from channels.db import database_sync_to_async

    from agents import services as agent_services
    from agents.models import Agent
    from escalation import tasks

    ana = await database_sync_to_async(factories.agent)("ana", teams=["general"], capacity=1)

    def presence(value: str) -> None:
        agent_services.presence_set(agent=ana, presence=value)
        tasks.queues_refresh()  # the beat's pass, whatever was scheduled meanwhile

    async with Widget("demo", origin=DEMO) as first:
        await first.hello()
        await first.say("agent please")
        await first.until("status", state="assigned")
    async with Widget("demo", origin=DEMO) as second:
        await second.hello()
        await second.say("can I talk to a human?")
        waiting = await second.until("status")
        assert waiting["offline"] is False and waiting["ask_email"] is False
        await database_sync_to_async(presence)(Agent.Presence.OFFLINE)
        line = await second.until("message", author="system")
        gone = await second.until("status", offline=True)
        assert gone["ask_email"] is True and "Nobody from General" in gone["text"]
        assert "Nobody from the General team is online" in line["body"]
        assert "Leave your email" in line["body"]
        await database_sync_to_async(presence)(Agent.Presence.ONLINE)
        back = await second.until("status", offline=False)
    # Ana is back but still busy with the first customer: a place and a wait again.
    assert back["position"] == 1 and back["ask_email"] is False
    assert "you're next" in back["text"]


async def test_the_status_bar_follows_closing_time(demo_kb):
    import datetime as dt

    import time_machine
    from channels.db import database_sync_to_async

    from escalation import tasks
    from escalation.models import BusinessHours, Team

    def setup() -> None:
        general = Team.objects.get(slug="general")
        for day in (0, 1):
            BusinessHours.objects.create(
                team=general, weekday=day, opens=dt.time(9), closes=dt.time(17)
            )
        factories.agent("ana", teams=["general"], capacity=1)

    await database_sync_to_async(setup)()
    monday_1650 = dt.datetime(2026, 11, 23, 16, 50, tzinfo=dt.UTC)
    with time_machine.travel(monday_1650, tick=False):
        async with Widget("demo", origin=DEMO) as first:
            await first.hello()
            await first.say("agent please")
            await first.until("status", state="assigned")
        for _ in range(2):
            async with Widget("demo", origin=DEMO) as waiting:
                welcome = await waiting.hello()
                await waiting.say("can I talk to a human?")
                status = await waiting.until("status")
    assert status["text"] == (
        "General closes Monday 23 November at 5 p.m. (UTC time), probably before your turn."
    )
    async with Widget("demo", origin=DEMO) as back:
        await back.hello(token=welcome["token"])
        await back.until("status")
        with time_machine.travel(monday_1650 + dt.timedelta(minutes=15), tick=False):
            await database_sync_to_async(tasks.queues_refresh)()
        later = await back.until("status")
    assert later["text"] == "General is back Tuesday 24 November at 9 a.m. (UTC time)."


async def test_follow_up_requests_are_said_once_and_cannot_flood(demo_kb, settings):
    from channels.db import database_sync_to_async

    from chat.models import Message

    settings.BATON_MESSAGES_PER_MINUTE = 5
    async with Widget("demo", origin=DEMO) as widget:
        await widget.hello()
        await widget.say("I want to speak to a person")
        await widget.until("status", offline=True)
        # Too long to be an address: refused whole, never cut to a shorter one.
        await widget.send({"type": "followup", "email": "sam@" + "sub." * 62 + "example.com"})
        error = await widget.until("error")
        assert (error["code"], error["field"]) == ("invalid_field", "email")
        assert "at most 254 characters" in error["message"]
        for _ in range(3):  # a double click, and one more
            await widget.send({"type": "followup", "email": "sam@example.com"})
        await widget.until("status", followup=True)
        for n in range(10):
            await widget.send({"type": "followup", "email": f"sam{n}@example.com"})
        limited = await widget.until("error", code="rate_limited")
    lines = await database_sync_to_async(list)(
        Message.objects.filter(author="system", body__startswith="Thanks.").values_list(
            "body", flat=True
        )
    )
    assert sum("sam@example.com" in line for line in lines) == 1
    # Five a minute: the question, the first address and three new ones; then no more.
    assert len(lines) == 4
    assert limited["retry_after"] >= 1

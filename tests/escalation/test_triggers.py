"""Each kind of trigger, through the real path: a customer message, the task, the decision."""

import pytest
from django.core.exceptions import ValidationError

from chat.models import Conversation, Message
from escalation import rules, services
from escalation.models import Decision, Handoff, Trigger
from tests import factories
from tests.factories import say

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chat(demo_kb):
    """An anonymous visitor's conversation on the demo site's home page."""
    return factories.conversation(on=demo_kb, path="/")


def chat_for(site, *, tier: str, path: str = "/"):
    visitor, _token = factories.verified_visitor(on=site, sub=f"user-{tier}", tier=tier)
    return factories.conversation(on=site, path=path, visitor_=visitor)


def test_every_customer_message_gets_one_stored_decision(chat):
    say(chat, "hello")
    say(chat, "how do I print a shipping label?", path="/shipments/new")
    say(chat, "what's the capital of Peru")
    actions = list(Decision.objects.order_by("created_at").values_list("action", flat=True))
    assert actions == ["smalltalk", "answer", "clarify"]
    assert Decision.objects.get(action="answer").intent == "print-label"


def test_an_explicit_request_hands_off_at_once_to_the_topic_team(chat):
    say(chat, "where are my invoices?", path="/settings/billing")
    decision = say(chat, "can I talk to a person please")
    assert (decision.action, decision.reason) == ("handoff", "explicit_request")
    assert decision.team.slug == "billing"
    assert decision.trigger.name == "Explicit request for a person"
    assert chat.state == Conversation.State.QUEUED


def test_a_request_for_a_person_about_a_human_only_topic_goes_to_that_topics_team(chat):
    say(chat, "how do I print a shipping label?", path="/shipments/new")
    decision = say(chat, "hi, can I talk to a real person about a refund?")
    assert (decision.action, decision.reason) == ("handoff", "explicit_request")
    assert decision.team.slug == "billing"
    assert (
        decision.explanation == "The customer asked for a person. “Refunds” is a human-only topic."
    )
    chat.refresh_from_db()
    assert chat.topic.slug == "refunds"
    assert Handoff.objects.get().brief["wants"]["topic"] == "Refunds"


def test_an_explicit_request_with_no_topic_goes_to_general(chat):
    decision = say(chat, "human please")
    assert decision.team.slug == "general"


def test_a_human_only_topic_is_not_answered_by_the_ai(chat):
    decision = say(chat, "I want my money back for a label I never used", path="/settings/billing")
    assert (decision.action, decision.reason, decision.team.slug) == ("handoff", "topic", "billing")
    assert not Message.objects.filter(author="ai").exists()


@pytest.mark.parametrize(
    ("text", "team"),
    [
        ("my lawyer wants a copy of your terms for the Scale plan", "trust"),
        ("how do chargebacks work when a buyer returns a parcel?", "billing"),
        ("should I get the police involved or is that too much?", "trust"),
        ("if this goes on we will sue", "trust"),
    ],
)
def test_risk_words_go_to_their_team(chat, text, team):
    decision = say(chat, text)
    assert (decision.action, decision.reason, decision.team.slug) == ("handoff", "risk", team)


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("our account was compromised last night", "compromised"),
        ("looks like a hacker changed our address", "hacker"),
        ("we were breached and the logs show it", "breached"),
        ("I'm going to sue", "going to sue"),
        ("this is a scam", "scam"),
        ("Sue from finance needs a login", ""),
        ("the pursuit of better charts", ""),
    ],
)
def test_the_default_risk_words_cover_their_usual_forms(text, hit):
    from escalation.models import Trigger
    from escalation.policy import TRIGGERS
    from escalation.rules import CompiledTrigger

    (risk_words,) = [t for t in TRIGGERS if t["name"] == "Risk words"]
    trigger = CompiledTrigger.compile(Trigger(kind="phrases", phrases=risk_words["phrases"]))
    assert trigger.phrase_hit(text).lower() == hit


def test_strong_frustration_hands_off_and_a_grumble_does_not(chat):
    assert say(chat, "the label page is a bit slow today").action != "handoff"
    decision = say(chat, "this is ridiculous, nothing works and I've wasted my whole morning")
    assert (decision.action, decision.reason) == ("handoff", "sentiment")


def test_a_mood_falling_across_two_messages_hands_off(chat):
    say(chat, "tracking page is a bit confusing", path="/shipments")
    decision = say(chat, "and now the labels all print blank. I'm really fed up with this")
    assert decision.reason == "sentiment"


def test_a_mood_falling_below_the_trend_line_hands_off_though_neither_message_is_strong(
    chat,
):
    disappointed = "the labels print blank, I am disappointed"  # about -0.48: not strong
    alone = factories.conversation(on=chat.site)
    assert say(alone, disappointed).action != "handoff"
    say(chat, "the tracking page is a little confusing", path="/shipments")  # about -0.18
    decision = say(chat, disappointed)
    assert (decision.action, decision.reason) == ("handoff", "sentiment")
    assert decision.explanation.startswith("Mood falling")


def test_enterprise_customers_get_a_person_on_any_negative_note(demo_kb):
    chat = chat_for(demo_kb, tier="enterprise")
    answered = say(chat, "how do I print a label?", path="/shipments/new")
    assert answered.action == "answer"
    assert "first in line" in Message.objects.filter(author="ai").last().body
    decision = say(chat, "hmm, the batch printing is a little fiddly")
    assert (decision.action, decision.reason) == ("handoff", "tier")
    assert decision.priority == 10


def test_a_tier_the_browser_claims_is_not_trusted(demo_kb):
    chat = factories.conversation(on=demo_kb, path="/")
    chat.contact.claimed = {"tier": "enterprise"}
    chat.contact.save()
    decision = say(chat, "hmm, the batch printing is a little fiddly")
    assert decision.action != "handoff"


def test_every_handoff_of_a_priority_customer_jumps_the_queue(demo_kb):
    vip = chat_for(demo_kb, tier="vip")
    regular = factories.conversation(on=demo_kb, path="/")
    say(regular, "agent please")
    say(vip, "agent please")
    queue = list(Handoff.objects.order_by("-priority", "queued_at"))
    assert queue[0].conversation == vip
    assert queue[0].priority == 10 and queue[1].priority == 0


def test_the_second_rejection_of_the_same_answer_hands_off(chat):
    say(chat, "my card payment failed", path="/settings/billing")
    first = say(chat, "I updated the card like you said, still failing")
    assert first.action == "clarify" and first.signals["rejected_topic"] == "payment-card"
    assert "didn't solve it" in Message.objects.filter(author="ai").last().body
    second = say(chat, "tried a different card too, no luck")
    assert (second.action, second.reason, second.team.slug) == ("handoff", "loop", "billing")


def test_rejections_of_different_topics_do_not_add_up(chat):
    say(chat, "my card payment failed", path="/settings/billing")
    say(chat, "I updated the card, still failing")
    say(chat, "different thing: how do I add a colleague?", path="/settings/team")
    decision = say(chat, "did that but she never got the invite")
    assert decision.action != "handoff"


def test_the_same_question_a_third_time_hands_off(chat):
    say(chat, "how do I turn on the returns portal?", path="/returns")
    say(chat, "sorry, where do I switch the returns portal on?")
    decision = say(chat, "how do I enable the portal for returns")
    assert (decision.action, decision.reason) == ("handoff", "loop")


def test_low_confidence_asks_once_then_hands_off(chat):
    first = say(chat, "can you recommend a good accountant in Leeds")
    assert (first.action, first.reason) == ("clarify", "low_confidence")
    assert "rather not guess" in Message.objects.filter(author="ai").last().body
    second = say(chat, "what is the tallest building in Europe")
    assert (second.action, second.reason, second.team.slug) == (
        "handoff",
        "low_confidence",
        "general",
    )


def test_when_unsure_the_ai_offers_the_likely_articles_and_answers_the_one_picked(chat):
    first = say(chat, "label or pickup")
    assert (first.action, first.reason) == ("clarify", "low_confidence")
    offer = Message.objects.filter(author="ai").last()
    assert [s["title"] for s in offer.suggestions] == [
        "Create and print a shipping label",
        "Carrier pickups",
    ]
    # The widget sends the title of the article the customer taps.
    picked = say(chat, offer.suggestions[0]["title"])
    assert (picked.action, picked.intent) == ("answer", "print-label")


def test_long_shots_are_not_offered(chat):
    say(chat, "can you recommend a good accountant in Leeds")
    assert Message.objects.filter(author="ai").last().suggestions == []


def test_unsure_answers_that_are_not_in_a_row_do_not_hand_off(chat):
    say(chat, "can you recommend a good accountant in Leeds")
    say(chat, "how do I print a shipping label?", path="/shipments/new")
    assert say(chat, "what is the tallest building in Europe").action == "clarify"


# Eight questions the AI answers: as many as the long-conversation rule allows.
EIGHT_QUESTIONS = [
    "how much is Growth",
    "is there a free plan",
    "how do I print a label",
    "can I print on a thermal printer",
    "where is my parcel",
    "how do returns work",
    "who pays for returns",
    "where are my invoices",
]


def test_a_long_conversation_hands_off_after_eight_messages(chat):
    for question in EIGHT_QUESTIONS:
        assert say(chat, question).action != "handoff"
    decision = say(chat, "how do I add a VAT number")
    assert (decision.action, decision.reason) == ("handoff", "too_long")


def test_small_talk_never_hands_off_even_late_in_a_long_conversation(chat):
    for question in EIGHT_QUESTIONS:
        say(chat, question)
    assert say(chat, "great, thanks a lot, bye!").action == "smalltalk"


def test_without_a_low_confidence_threshold_the_configured_one_applies(chat, settings):
    Trigger.objects.filter(kind="low_confidence").update(threshold=None)
    settings.BATON_CONFIDENCE_THRESHOLD = 0.999
    decision = say(chat, "where is my parcel")
    assert decision.action == "clarify"
    assert 0.5 < decision.confidence < 0.999
    settings.BATON_CONFIDENCE_THRESHOLD = 0.5
    assert say(chat, "where is my parcel").action == "answer"


def test_a_page_rule_hands_off_on_its_pages(chat):
    Trigger.objects.filter(kind="page").update(enabled=True)
    decision = say(chat, "hello?", path="/checkout/error/payment")
    assert (decision.action, decision.team.slug) == ("handoff", "billing")


def test_an_expression_that_backtracks_without_end_cannot_hold_the_worker(chat, caplog):
    runaway = Trigger.objects.create(name="Runaway", kind="phrases", phrases="/(a|aa)+$/", order=1)
    # Python's own engine would take about a day on this; the rule gives up in 50 ms.
    decision = say(chat, "a" * 60 + "!")
    assert decision.trigger != runaway
    assert "gave up" in caplog.text and "Runaway" in caplog.text
    # A message it can read still fires it.
    assert say(chat, "aaaa").trigger == runaway


def test_page_rules_match_in_any_case_and_slash_is_every_page(chat):
    rule = Trigger.objects.get(kind="page")
    rule.enabled, rule.values = True, "/Checkout/Error"
    rule.save()
    assert say(chat, "hello?", path="/checkout/errors").action == "smalltalk"
    assert say(chat, "hello?", path="/Checkout/Error").action == "handoff"
    other = factories.conversation(on=chat.site, path="/")
    rule.values = "/"
    rule.save()
    assert say(other, "hello?", path="/pricing").action == "handoff"


def test_attribute_rules_match_names_and_values_in_any_case():
    rule = Trigger(name="Premium", kind="tier", values="accountType=Premium\nVIP")
    compiled = rules.CompiledTrigger.compile(rule)
    assert compiled.matches_contact("", {"accountType": "premium"})
    assert compiled.matches_contact("", {"ACCOUNTTYPE": "PREMIUM"})
    assert compiled.matches_contact("vip", {})
    assert not compiled.matches_contact("", {"accountType": "basic"})
    assert not compiled.matches_contact("gold", {"plan": "premium"})


def test_a_customer_who_went_quiet_after_a_question_is_handed_off_when_enabled(chat):
    import datetime as dt

    import time_machine

    Trigger.objects.filter(kind="idle").update(enabled=True, count=600)
    say(chat, "can you recommend a good accountant in Leeds")
    assert services.idle_sweep() == 0
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11), tick=False):
        assert services.idle_sweep() == 1
        assert services.idle_sweep() == 0
    chat.refresh_from_db()
    assert chat.state == Conversation.State.QUEUED
    assert Handoff.objects.get().reason == "idle"
    # One that went quiet hours ago (the rule was off then) is not handed off now.
    other = factories.conversation(on=chat.site)
    say(other, "can you recommend a good accountant in Leeds")
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=2), tick=False):
        assert services.idle_sweep() == 0


def test_each_idle_rule_counts_and_a_vip_keeps_their_boost(demo_kb):
    import datetime as dt

    import time_machine

    Trigger.objects.filter(kind="idle").update(enabled=True, count=900, priority_boost=5)
    quick = Trigger.objects.create(
        name="Quick idle", kind="idle", count=45, order=101, priority_boost=5
    )
    visitor, _token = factories.verified_visitor(on=demo_kb, sub="vip-1", tier="vip")
    vip = factories.conversation(on=demo_kb, path="/", visitor_=visitor)
    say(vip, "can you recommend a good accountant in Leeds")
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2), tick=False):
        assert services.idle_sweep() == 1
    handoff = Handoff.objects.get()
    assert handoff.trigger == quick
    assert handoff.explanation == "No answer from the customer for 45 seconds."
    # The trigger's boost on top of the tier's, as for every rule a message sets off.
    assert handoff.priority == 5 + 10


def test_rules_run_in_order_and_the_first_that_fires_decides(chat):
    # Both an explicit request and strong frustration: the request comes first.
    decision = say(chat, "this is ridiculous, get me a human now")
    assert decision.reason == "explicit_request"
    sentiment_rule = Trigger.objects.get(kind="sentiment")
    sentiment_rule.order = 1
    sentiment_rule.save()
    other = factories.conversation(on=chat.site)
    assert say(other, "this is ridiculous, get me a human now").reason == "sentiment"


def test_an_edit_in_admin_counts_from_the_next_message(chat):
    assert say(chat, "operator").action == "handoff"
    rule = Trigger.objects.get(kind="explicit_request")
    rule.enabled = False
    rule.save()
    other = factories.conversation(on=chat.site)
    assert say(other, "operator").action != "handoff"


def test_a_deleted_team_hands_over_to_general_and_is_not_made_again(chat):
    from escalation.models import Team

    say(chat, "hello")  # the rules are compiled and cached with the trust team
    Team.objects.get(slug="trust").delete()  # it never had a handoff, so it can go
    decision = say(chat, "I'm going to call my lawyer")
    assert (decision.action, decision.reason, decision.team.slug) == ("handoff", "risk", "general")
    assert not Team.objects.filter(slug="trust").exists()


def test_a_teams_slug_cannot_be_changed_in_admin_once_it_exists(admin_client, demo_kb):
    from escalation.models import Team

    adding = admin_client.get("/admin/escalation/team/add/").content.decode()
    assert 'name="slug"' in adding
    team = Team.objects.get(slug="billing")
    editing = admin_client.get(f"/admin/escalation/team/{team.pk}/change/").content.decode()
    assert 'name="slug"' not in editing and "billing" in editing


def test_after_a_handoff_the_ai_stays_quiet_and_the_brief_takes_new_messages(chat):
    say(chat, "agent please")
    ai_before = Message.objects.filter(author="ai").count()
    decision = say(chat, "also, my order number is 1042")
    assert decision.action == Decision.Action.QUIET
    assert Message.objects.filter(author="ai").count() == ai_before
    say(chat, "this is taking forever, I'm getting really annoyed", path="/shipments")
    brief = Handoff.objects.get().brief
    assert brief["wants"]["last_message"] == "this is taking forever, I'm getting really annoyed"
    assert brief["wants"]["first_message"] == "agent please"
    assert [m["body"] for m in brief["later"]] == [
        "also, my order number is 1042",
        "this is taking forever, I'm getting really annoyed",
    ]
    assert brief["customer_messages"] == 3
    assert len(brief["sentiment"]["scores"]) == 3
    assert brief["sentiment"]["trend"] == "worsening"
    assert brief["pages"][-1] == "/shipments"


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"kind": "phrases", "phrases": ""}, "phrases", "at least one phrase"),
        ({"kind": "phrases", "phrases": "fine\n/(unclosed/"}, "phrases", "Line 2 is not"),
        ({"kind": "sentiment", "threshold": 0.5}, "threshold", "between -1 and 0"),
        ({"kind": "sentiment", "threshold": 0}, "threshold", "every neutral message"),
        ({"kind": "tier", "values": "vip\nplan="}, "values", "no value after ="),
        ({"kind": "low_confidence", "threshold": 2, "count": 2}, "threshold", "between 0 and 1"),
        ({"kind": "turn_count"}, "count", "at least 1"),
        ({"kind": "tier", "values": ""}, "values", "at least one"),
        ({"kind": "page", "values": "checkout"}, "values", "not a path"),
        ({"kind": "idle", "count": 5}, "count", "at least 30"),
    ],
)
def test_admin_refuses_a_broken_trigger_with_the_reason(fields, field, words):
    trigger = Trigger(name="Broken", **fields)
    with pytest.raises(ValidationError) as error:
        trigger.clean()
    assert words in " ".join(error.value.message_dict[field])


def test_the_try_it_page_shows_which_rule_fires_and_why(admin_client, demo_kb):
    response = admin_client.post(
        "/admin/escalation/trigger/try/",
        {
            "earlier": "where are my invoices?",
            "message": "can I speak to a human",
            "tier": "",
            "page": "/settings/billing",
        },
    )
    content = response.content.decode()
    assert response.status_code == 200
    assert "Explicit request for a person" in content
    assert "billing" in content
    assert "The customer asked for a person." in content


def test_the_try_it_page_reads_verified_attributes(admin_client, demo_kb):
    Trigger.objects.filter(kind="tier").update(values="plan=scale")
    fields = {"earlier": "", "message": "hmm, this is a bit annoying", "tier": "", "page": "/"}
    plain = admin_client.post("/admin/escalation/trigger/try/", fields).content.decode()
    assert "Enterprise and VIP customers" not in plain
    scale = admin_client.post(
        "/admin/escalation/trigger/try/", {**fields, "attributes": "plan=scale"}
    ).content.decode()
    assert "Enterprise and VIP customers" in scale
    broken = admin_client.post(
        "/admin/escalation/trigger/try/", {**fields, "attributes": "plan scale"}
    ).content.decode()
    assert "Line 1 is not key=value." in broken


def test_the_try_it_page_never_asks_an_llm(admin_client, demo_kb, settings):
    from tests.llm_stub import StubLLM

    stub = StubLLM()
    settings.BATON_RESPONDER = "llm"
    settings.BATON_LLM_BASE_URL = stub.base_url
    settings.BATON_LLM_MODEL = "stub-1"
    try:
        response = admin_client.post(
            "/admin/escalation/trigger/try/",
            {"earlier": "", "message": "how do I turn on the returns portal?", "page": "/"},
        )
        # The decision is shown (answered from the returns article), without a request.
        assert "<strong>answer</strong>" in response.content.decode()
        assert "returns (" in response.content.decode()
        assert stub.requests == []
    finally:
        stub.close()


@pytest.fixture
def queued_tasks():
    """Tasks go to the real broker (Redis) and wait there: no worker runs in this test. The
    tasks are returned; the queue is emptied before and after."""
    from django.conf import settings

    from project.celery import app

    eager, app.conf.task_always_eager = app.conf.task_always_eager, False
    queue = settings.CELERY_TASK_DEFAULT_QUEUE

    def waiting() -> list[tuple[str, tuple]]:
        tasks = []
        with app.connection_for_read() as connection:
            channel = connection.default_channel
            while (message := channel.basic_get(queue, no_ack=True)) is not None:
                tasks.append((message.headers["task"], message.decode()[0]))
        return tasks

    waiting()
    try:
        yield waiting
    finally:
        app.conf.task_always_eager = eager
        waiting()


def test_a_worker_that_picks_up_the_second_message_first_decides_both_in_order(chat, queued_tasks):
    import uuid

    from chat import services as chat_services

    # Neither message's task has run: both wait in the queue.
    first, second = (
        chat_services.customer_message_post(
            conversation=chat, client_id=uuid.uuid4().hex, body=text
        ).message
        for text in ("where are my invoices?", "how do I print a shipping label?")
    )
    assert queued_tasks() == [
        ("chat.tasks.message_respond", [first.pk]),
        ("chat.tasks.message_respond", [second.pk]),
    ]
    assert not chat.messages.filter(author="ai").exists()
    # A worker takes the second first.
    assert services.customer_message_handle(message_id=second.pk).message == second
    answers = chat.messages.filter(author="ai").order_by("seq")
    assert [answer.in_reply_to for answer in answers] == [first, second]
    assert services.customer_message_handle(message_id=first.pk) == first.decision


def test_a_person_who_takes_over_while_the_ai_thinks_gets_the_conversation_without_an_answer(
    chat, monkeypatch
):
    from escalation.models import Team

    judge = services._judge

    def judge_while_a_person_takes_over(**kwargs):
        # The AI has made up its mind, not yet written anything: a handoff happens now.
        judgement = judge(**kwargs)
        services.handoff_start(
            conversation=Conversation.objects.get(pk=chat.pk),
            team=Team.objects.get(slug="billing"),
            reason="agent",
        )
        return judgement

    monkeypatch.setattr(services, "_judge", judge_while_a_person_takes_over)
    decision = say(chat, "where are my invoices?", path="/settings/billing")
    assert decision.action == "quiet"
    assert not chat.messages.filter(author="ai").exists()

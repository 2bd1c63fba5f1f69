"""The console's pages and actions, as agents of different teams use them."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext

from agents.models import Agent, Note, Resolution
from chat import services as chat_services
from chat.frames import PageInfo
from chat.models import Article, Conversation, Message
from chat.responder import Query, get_responder
from escalation.models import Handoff
from tests import factories
from tests.factories import say

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ana(demo_kb):
    """Ana works in billing."""
    return factories.agent("ana", teams=["billing"])


@pytest.fixture
def ben(demo_kb):
    """Ben works in shipping."""
    return factories.agent("ben", teams=["shipping"])


def signed_in(agent: Agent, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(agent.user)
    return client


def billing_handoff(site) -> Conversation:
    conversation = factories.conversation(on=site, path="/settings/billing")
    say(conversation, "where are my invoices?", path="/settings/billing")
    say(conversation, "I'd like to talk to a person")
    return conversation


def shipping_handoff(site) -> Conversation:
    conversation = factories.conversation(on=site, path="/shipments")
    say(conversation, "where is my parcel", path="/shipments")
    say(conversation, "agent please")
    return conversation


def test_an_agent_sees_the_queue_of_their_teams_only(demo_kb, ana, ben):
    ana.capacity = 0
    ana.save()
    ben.capacity = 0
    ben.save()
    billing = billing_handoff(demo_kb)
    shipping = shipping_handoff(demo_kb)
    page = signed_in(ana).get("/console/").content.decode()
    assert f"/console/conversations/{billing.pk}/" in page
    assert f"/console/conversations/{shipping.pk}/" not in page


def test_another_team_s_conversation_cannot_be_reached_by_changing_the_id(demo_kb, ana, ben):
    shipping = shipping_handoff(demo_kb)
    client = signed_in(ana)
    assert client.get(f"/console/conversations/{shipping.pk}/").status_code == 404
    for action in ("claim", "reply", "note", "hand-back", "resolve", "transfer", "assign"):
        response = client.post(
            f"/console/conversations/{shipping.pk}/{action}/", {"body": "hi", "kind": "solved"}
        )
        assert response.status_code == 404, action
    assert not Message.objects.filter(conversation=shipping, author="agent").exists()


def test_a_supervisor_sees_every_team(demo_kb, ana):
    sam = factories.agent("samira", teams=[])
    sam.is_supervisor = True
    sam.save()
    shipping = shipping_handoff(demo_kb)
    assert signed_in(sam).get(f"/console/conversations/{shipping.pk}/").status_code == 200


def test_strangers_and_non_agents_are_kept_out(demo_kb, django_user_model):
    assert Client().get("/console/").status_code == 302
    client = Client()
    client.force_login(django_user_model.objects.create_user("visitor", password="pw"))
    assert client.get("/console/").status_code == 403


def test_actions_need_post_and_a_csrf_token(demo_kb, ana):
    conversation = billing_handoff(demo_kb)
    url = f"/console/conversations/{conversation.pk}/claim/"
    assert signed_in(ana).get(url).status_code == 405
    assert signed_in(ana, enforce_csrf_checks=True).post(url).status_code == 403


def test_the_conversation_page_shows_brief_transcript_and_customer(demo_kb, ana):
    visitor, _token = factories.verified_visitor(
        on=demo_kb, sub="maya", tier="enterprise", name="Maya", attributes={"plan": "Scale"}
    )
    conversation = factories.conversation(on=demo_kb, path="/settings/billing", visitor_=visitor)
    say(conversation, "where are my invoices?", path="/settings/billing")
    say(conversation, "can I talk to a human")
    page = signed_in(ana).get(f"/console/conversations/{conversation.pk}/").content.decode()
    assert "explicit_request" in page and "The customer asked for a person." in page
    assert "Invoices and receipts" in page  # what the AI tried, with its source
    assert "verified" in page and "enterprise" in page and "Scale" in page
    assert "/settings/billing" in page
    assert page.count('class="line from-customer"') == 2
    assert 'class="line from-ai"' in page and 'class="line from-system"' in page


def test_the_pages_visited_say_which_site_the_customer_came_from(demo_kb, ana):
    visitor, _token = factories.visitor(on=demo_kb)
    google = "https://www.google.com/"
    conversation = chat_services.conversation_start(
        contact=visitor.contact, page=PageInfo(path="/pricing", referrer=google)
    )
    # A single-page app's navigation keeps the referrer of the first load.
    chat_services.page_record(
        conversation=conversation, page=PageInfo(path="/settings/billing", referrer=google)
    )
    chat_services.page_record(
        conversation=conversation,
        page=PageInfo(path="/invoices", referrer="https://news.example/?<b>deal</b>"),
    )
    say(conversation, "where are my invoices?")
    say(conversation, "I'd like to talk to a person")
    page = signed_in(ana).get(f"/console/conversations/{conversation.pk}/").content.decode()
    assert page.count("from https://www.google.com/") == 1
    assert "from https://news.example/?&lt;b&gt;deal&lt;/b&gt;" in page


def test_the_transcript_shows_what_the_ai_offered_when_it_was_unsure(demo_kb, ana):
    conversation = factories.conversation(on=demo_kb, path="/")
    say(conversation, "label or pickup")
    say(conversation, "can I talk to a person about a refund?")
    page = signed_in(ana).get(f"/console/conversations/{conversation.pk}/").content.decode()
    assert "Offered:" in page
    assert '<a href="/kb/print-label/"' in page and '<a href="/kb/pickups/"' in page
    # Buttons are for the customer; the agent reads what was offered.
    assert 'class="suggestion"' not in page


def test_the_brief_says_how_long_the_customer_waited(demo_kb, ana):
    conversation = billing_handoff(demo_kb)
    Handoff.objects.update(queued_at=F("queued_at") - timedelta(minutes=3))
    client = signed_in(ana)
    url = f"/console/conversations/{conversation.pk}/"
    assert "waiting for <time" in client.get(url).content.decode()
    client.post(f"{url}claim/")
    client.post(f"{url}reply/", {"body": "Hi, I'm Ana!"})
    page = client.get(url).content.decode()
    assert "answered after 3\xa0minutes" in page
    assert "waiting for" not in page


def test_claim_reply_and_notes_as_the_customer_sees_them(demo_kb, ana):
    conversation = billing_handoff(demo_kb)
    client = signed_in(ana)
    client.post(f"/console/conversations/{conversation.pk}/claim/")
    client.post(f"/console/conversations/{conversation.pk}/note/", {"body": "VIP, be quick"})
    client.post(f"/console/conversations/{conversation.pk}/reply/", {"body": "Hi, I'm Ana!"})
    lines = list(conversation.messages.order_by("seq").values_list("author", "body"))
    assert ("system", "Ana joined the conversation.") in lines
    assert lines[-1] == ("agent", "Hi, I'm Ana!")
    assert not any("VIP" in body for _author, body in lines)
    assert Note.objects.get().body == "VIP, be quick"
    handoff = Handoff.objects.get()
    assert handoff.status == "answered" and handoff.agent == ana


def test_an_empty_reply_is_refused_with_a_reason(demo_kb, ana):
    conversation = billing_handoff(demo_kb)
    response = signed_in(ana).post(
        f"/console/conversations/{conversation.pk}/reply/", {"body": "   "}, HTTP_HX_REQUEST="true"
    )
    assert "This field is required." in response.content.decode()
    assert not conversation.messages.filter(author="agent").exists()


def test_transfer_tells_the_customer_and_the_next_agent_reads_the_reason(demo_kb, ana, ben):
    conversation = billing_handoff(demo_kb)
    shipping = ben.teams.get()
    signed_in(ana).post(
        f"/console/conversations/{conversation.pk}/transfer/",
        {"team": shipping.pk, "reason": "It is about a lost parcel, not the invoice"},
    )
    conversation.refresh_from_db()
    assert conversation.team == shipping
    current = Handoff.objects.get(status__in=["waiting", "offered"])
    assert "lost parcel" in current.explanation
    assert (
        "moving to our Shipping team" in conversation.messages.filter(author="system").last().body
    )
    page = signed_in(ben).get(f"/console/conversations/{conversation.pk}/").content.decode()
    assert "It is about a lost parcel, not the invoice" in page


def test_hand_back_returns_the_conversation_to_the_ai(demo_kb, ana):
    conversation = billing_handoff(demo_kb)
    signed_in(ana).post(f"/console/conversations/{conversation.pk}/hand-back/")
    conversation.refresh_from_db()
    assert conversation.state == "ai"
    assert (
        "handed the conversation back to the assistant"
        in conversation.messages.filter(author="system").last().body
    )
    decision = say(conversation, "how do I print a label?", path="/shipments/new")
    assert decision.action == "answer"


def test_resolve_is_two_clicks_and_can_teach_the_ai(demo_kb, ana):
    conversation = billing_handoff(demo_kb)
    client = signed_in(ana)
    client.post(f"/console/conversations/{conversation.pk}/reply/", {"body": "Done!"})
    question = "can I get invoices sent to our accounts payable inbox?"
    client.post(
        f"/console/conversations/{conversation.pk}/resolve/",
        {
            "kind": "solved",
            "ai_could_have": "yes",
            "save_answer": "1",
            "title": "Invoices by email",
            "question": question,
            "answer": "Add the inbox under **Billing details → Invoice recipients**.",
        },
    )
    conversation.refresh_from_db()
    assert conversation.state == "resolved"
    resolution = Resolution.objects.get()
    assert (resolution.kind, resolution.ai_could_have) == ("solved", True)
    article = Article.objects.get(title="Invoices by email")
    assert article.questions.get().origin == "agent"
    reply = get_responder().answer(
        Query(text="can invoices be emailed to our accounts payable team?", page_path="/")
    )
    assert reply.intent == article.slug


def test_the_queue_page_costs_the_same_queries_whatever_its_length(demo_kb, ana):
    ana.capacity = 0
    ana.save()
    client = signed_in(ana)
    for _ in range(2):
        billing_handoff(demo_kb)
    with CaptureQueriesContext(connection) as short:
        assert client.get("/console/").status_code == 200
    for _ in range(8):
        billing_handoff(demo_kb)
    with CaptureQueriesContext(connection) as long:
        page = client.get("/console/").content.decode()
    assert page.count('class="row"') == 10
    assert len(long) == len(short)


def test_the_conversation_page_costs_the_same_queries_whatever_its_length(demo_kb, ana):
    conversation = billing_handoff(demo_kb)
    client = signed_in(ana)
    with CaptureQueriesContext(connection) as short:
        client.get(f"/console/conversations/{conversation.pk}/")
    for n in range(6):
        client.post(f"/console/conversations/{conversation.pk}/reply/", {"body": f"line {n}"})
        client.post(f"/console/conversations/{conversation.pk}/note/", {"body": f"note {n}"})
    with CaptureQueriesContext(connection) as long:
        client.get(f"/console/conversations/{conversation.pk}/")
    assert len(long) == len(short)

"""The REST API, as a CRM sync, a helpdesk and a supervisor's script use it."""

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from agents import services as agent_services
from chat.models import Article, Contact
from chat.responder import Query, get_responder
from escalation.models import Trigger
from tests import factories
from tests.factories import say

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(user, scope: str = "read_write") -> APIClient:
    _token, key = agent_services.api_token_issue(name="test", user=user, scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def integration(django_user_model):
    """The CRM sync's user: allowed to read and write contacts and articles."""
    user = django_user_model.objects.create_user("crm", password="x")
    codenames = [
        "view_contact",
        "add_contact",
        "change_contact",
        "view_conversation",
        "view_article",
        "add_article",
        "change_article",
        "delete_article",
        "view_trigger",
        "view_team",
        "view_agent",
        "view_handoff",
    ]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def api(integration):
    return client_for(integration)


def test_without_a_token_there_is_a_clear_401(site):
    response = APIClient().get("/api/v1/contacts/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_or_revoked_token_is_refused(site, integration):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer baton_deadbeef_nope")
    assert client.get("/api/v1/contacts/").status_code == 401
    token, key = agent_services.api_token_issue(name="old", user=integration, scope="read")
    token.revoked = True
    token.save()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert (
        client.get("/api/v1/contacts/")
        .json()["error"]["message"]
        .startswith("The API token is unknown")
    )


def test_a_read_only_token_cannot_write(site, integration):
    read_only = client_for(integration, scope="read")
    assert read_only.get("/api/v1/contacts/").status_code == 200
    response = read_only.put(
        "/api/v1/contacts/by-external-id/acme/c-1/", {"tier": "vip"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This token is read-only."


def test_the_token_user_s_own_permissions_apply(site, django_user_model):
    nobody = client_for(django_user_model.objects.create_user("nobody", password="x"))
    assert nobody.get("/api/v1/contacts/").status_code == 403
    assert nobody.get("/api/v1/articles/").status_code == 403


def test_a_crm_sync_creates_and_updates_contacts_by_their_external_id(site, api):
    url = "/api/v1/contacts/by-external-id/acme/cust-42/"
    created = api.put(
        url, {"name": "Maya", "email": "maya@acme.example", "tier": "Enterprise"}, format="json"
    )
    assert created.status_code == 201
    assert created.json()["tier"] == "enterprise"
    assert created.json()["verified"] is True
    updated = api.patch(url, {"tier": "vip", "attributes": {"plan": "Scale"}}, format="json")
    assert updated.status_code == 200
    contact = Contact.objects.get(external_id="cust-42")
    assert (contact.name, contact.tier, contact.attributes) == ("Maya", "vip", {"plan": "Scale"})
    assert contact.identity == "api"


def test_a_synced_tier_is_trusted_by_the_rules(demo_kb, api):
    api.put("/api/v1/contacts/by-external-id/demo/vip-1/", {"tier": "vip"}, format="json")
    contact = Contact.objects.get(external_id="vip-1")
    visitor, _token = factories.visitor(on=demo_kb)
    visitor.contact = contact
    visitor.save()
    conversation = factories.conversation(on=demo_kb, visitor_=visitor)
    decision = say(conversation, "hmm, the tracking page is a little confusing")
    assert (decision.action, decision.reason) == ("handoff", "tier")


def test_an_anonymous_contact_is_given_an_external_id_and_synced_fields(site, api):
    visitor, _token = factories.visitor(on=site)
    response = api.patch(
        f"/api/v1/contacts/{visitor.contact.pk}/",
        {"external_id": "cust-7", "tier": "VIP"},
        format="json",
    )
    assert response.status_code == 200
    contact = Contact.objects.get(pk=visitor.contact.pk)
    assert (contact.external_id, contact.tier, contact.identity) == ("cust-7", "vip", "api")


def test_an_external_id_another_contact_has_is_refused_with_a_clear_error(site, api):
    api.put("/api/v1/contacts/by-external-id/acme/cust-42/", {"name": "Maya"}, format="json")
    factories.site(key="globex", name="Globex")
    visitor, _token = factories.visitor(on=site)
    # The body names another site, where the id is free; the contact stays on its own.
    response = api.patch(
        f"/api/v1/contacts/{visitor.contact.pk}/",
        {"site": "globex", "external_id": "cust-42", "tier": "vip"},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"] == {"external_id": ["Another contact already has this external id."]}
    anonymous = Contact.objects.get(pk=visitor.contact.pk)
    assert (anonymous.external_id, anonymous.tier) == ("", "")


def test_invalid_input_gets_one_error_shape_with_field_messages(site, api):
    response = api.put(
        "/api/v1/contacts/by-external-id/acme/c-2/", {"email": "not-an-email"}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "email" in error["fields"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/articles/a%00b/",
        "/api/v1/teams/a%00b/",
        "/api/v1/contacts/by-external-id/acme/c%00/",
        "/api/v1/conversations/?team=a%00",
        "/api/v1/contacts/?search=a%00",
    ],
)
def test_a_nul_character_in_the_address_is_a_clear_error_not_a_server_error(site, api, path):
    """PostgreSQL can neither store nor compare text with a NUL character in it."""
    response = api.get(path)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid",
        "message": "The address contains a NUL character.",
    }


@pytest.mark.parametrize(
    ("body", "format"),
    [
        ({"site": "acme\x00", "external_id": "c-9"}, "multipart"),
        ({"site": "acme", "external_id": "c-9", "attributes": {"plan": "a\x00"}}, "json"),
        ({"site": "acme", "external_id": "c-9", "attributes": {"a\x00": 1}}, "json"),
    ],
)
def test_a_nul_character_in_a_body_is_refused_and_nothing_is_stored(site, api, body, format):
    response = api.post("/api/v1/contacts/", body, format=format)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "parse_error",
        "message": "The request contains a NUL character, which Baton cannot store.",
    }
    assert not Contact.objects.filter(external_id="c-9").exists()


def test_a_body_nested_too_deeply_to_parse_is_a_clear_error(site, api):
    nested = "[" * 3000 + "]" * 3000
    body = '{"site": "acme", "external_id": "c-9", "attributes": {"a": ' + nested + "}}"
    response = api.post("/api/v1/contacts/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The request is nested too deeply."
    assert not Contact.objects.filter(external_id="c-9").exists()


def test_an_external_id_too_long_to_store_is_a_clear_error(site, api):
    response = api.put(f"/api/v1/contacts/by-external-id/acme/{'x' * 201}/", {"name": "Sam"})
    assert response.status_code == 400
    assert "external_id" in str(response.json()["error"])
    assert not Contact.objects.filter(name="Sam").exists()


def test_unknown_endpoints_and_objects_answer_in_the_same_shape(site, api):
    assert api.get("/api/v1/nothing-here/").json()["error"]["code"] == "not_found"
    missing = api.get("/api/v1/conversations/4d3b1f6e-0000-4000-8000-000000000000/")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_conversations_filter_and_show_the_handoff_with_its_reason_trigger_and_brief(demo_kb, api):
    waiting = factories.conversation(on=demo_kb, path="/settings/billing")
    say(waiting, "where are my invoices?", path="/settings/billing")
    say(waiting, "can I talk to a person please")
    answered = factories.conversation(on=demo_kb)
    say(answered, "how do I print a label?", path="/shipments/new")
    listing = api.get("/api/v1/conversations/?state=queued").json()
    assert [c["id"] for c in listing["results"]] == [str(waiting.public_id)]
    by_reason = api.get("/api/v1/conversations/?reason=explicit_request&team=billing").json()
    assert by_reason["count"] == 1
    detail = api.get(f"/api/v1/conversations/{waiting.public_id}/").json()
    handoff = detail["handoff"]
    assert (handoff["reason"], handoff["trigger"]) == (
        "explicit_request",
        "Explicit request for a person",
    )
    assert handoff["brief"]["wants"]["last_message"] == "can I talk to a person please"
    assert detail["pages"][0]["path"] == "/settings/billing"


def test_a_moment_in_any_time_zone_filters_conversations(demo_kb, api):
    conversation = factories.conversation(on=demo_kb)
    say(conversation, "how do I print a label?")
    # +16:30 is valid ISO 8601 but beyond what PostgreSQL takes as an offset.
    found = api.get("/api/v1/conversations/", {"created_after": "2000-01-01T00:00+16:30"})
    assert [c["id"] for c in found.json()["results"]] == [str(conversation.public_id)]
    none = api.get("/api/v1/conversations/", {"created_before": "2000-01-01T00:00+16:30"})
    assert none.json()["count"] == 0
    # Year 9999 at -16:00 is in year 10000 in UTC: a clear 400, not a crash.
    beyond = api.get("/api/v1/conversations/", {"created_after": "9999-12-31T23:00-16:00"})
    assert beyond.status_code == 400
    assert "created_after" in beyond.json()["error"]["fields"]


def test_the_transcript_pages_in_order(demo_kb, api):
    conversation = factories.conversation(on=demo_kb)
    say(conversation, "hello")
    say(conversation, "how do I print a label?", path="/shipments/new")
    first = api.get(f"/api/v1/conversations/{conversation.public_id}/messages/?page_size=2").json()
    assert first["count"] == 4 and first["next"]
    assert [m["author"] for m in first["results"]] == ["customer", "ai"]
    second = api.get(first["next"]).json()
    answer = second["results"][1]
    assert answer["sources"][0]["slug"] == "print-label" and answer["confidence"] > 0.5
    assert second["results"][0]["page"]["path"] == "/shipments/new"


def test_the_transcript_says_what_an_unsure_ai_offered(demo_kb, api):
    conversation = factories.conversation(on=demo_kb)
    say(conversation, "label or pickup")
    messages = api.get(f"/api/v1/conversations/{conversation.public_id}/messages/").json()
    offer = messages["results"][-1]
    assert offer["author"] == "ai" and offer["sources"] == []
    assert [s["slug"] for s in offer["suggestions"]] == ["print-label", "pickups"]


def test_an_agent_s_token_can_reply_to_a_customer(demo_kb):
    ana = factories.agent("ana", teams=["billing"])
    conversation = factories.conversation(on=demo_kb, path="/settings/billing")
    say(conversation, "where are my invoices?", path="/settings/billing")
    say(conversation, "agent please")
    client = client_for(ana.user)
    response = client.post(
        f"/api/v1/conversations/{conversation.public_id}/messages/",
        {"body": "Hi, Ana here."},
        format="json",
    )
    assert response.status_code == 201
    assert conversation.messages.filter(author="agent").get().body == "Hi, Ana here."
    # Another team's conversation does not exist for Ana.
    other = factories.conversation(on=demo_kb, path="/shipments")
    say(other, "where is my parcel", path="/shipments")
    say(other, "agent please")
    assert client.get(f"/api/v1/conversations/{other.public_id}/").status_code == 404


def test_articles_round_trip_in_the_import_format_and_teach_the_ai(demo_kb, api):
    created = api.post(
        "/api/v1/articles/",
        {
            "slug": "insurance",
            "title": "Parcel insurance",
            "team": "shipping",
            "pages": ["/shipments/new"],
            "escalate": False,
            "questions": ["can I insure a parcel", "cover for valuable shipments"],
            "body": "Tick **Insure** when you buy the label.",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["questions"] == ["can I insure a parcel", "cover for valuable shipments"]
    reply = get_responder().answer(Query(text="is insurance available for pricey parcels?"))
    assert reply.intent == "insurance"
    api.patch("/api/v1/articles/insurance/", {"pages": ["shipments"]}, format="json")
    assert Article.objects.get(slug="insurance").pages == ["/shipments/new"]
    assert api.delete("/api/v1/articles/insurance/").status_code == 204
    assert (
        get_responder().answer(Query(text="is insurance available for pricey parcels?")).intent
        != "insurance"
    )


def test_anyone_may_read_triggers_only_admins_change_them(demo_kb, api, admin_user):
    listing = api.get("/api/v1/triggers/").json()
    assert listing["results"][0]["kind"] == "explicit_request"
    rule = Trigger.objects.get(kind="phrases", team__slug="trust")
    assert (
        api.patch(f"/api/v1/triggers/{rule.pk}/", {"enabled": False}, format="json").status_code
        == 403
    )
    admin = client_for(admin_user)
    broken = admin.patch(f"/api/v1/triggers/{rule.pk}/", {"phrases": "/(oops/"}, format="json")
    assert broken.status_code == 400
    assert "not a valid regular expression" in broken.json()["error"]["fields"]["phrases"][0]
    # Expressions Python cannot even build are refused the same way, not with a 500.
    for phrases in ("/a{99999999999}/", "/" + "(" * 2000 + ")" * 2000 + "/"):
        refused = admin.patch(f"/api/v1/triggers/{rule.pk}/", {"phrases": phrases}, format="json")
        assert refused.status_code == 400
        assert (
            "Line 1 is not a valid regular expression"
            in (refused.json()["error"]["fields"]["phrases"][0])
        )
    assert (
        admin.patch(f"/api/v1/triggers/{rule.pk}/", {"enabled": False}, format="json").status_code
        == 200
    )
    assert Trigger.objects.get(pk=rule.pk).enabled is False


def test_teams_agents_and_figures(demo_kb, api):
    factories.agent("ana", teams=["billing"])
    teams = {t["slug"] for t in api.get("/api/v1/teams/").json()["results"]}
    assert {"billing", "general", "shipping"} <= teams
    agents = api.get("/api/v1/agents/?presence=online").json()["results"]
    assert [a["username"] for a in agents] == ["ana"] and agents[0]["load"] == 0
    figures = api.get("/api/v1/figures/?days=7").json()
    assert figures["conversations"] == 0 and figures["handoff_rate"] is None
    assert api.get("/api/v1/figures/?days=0").json()["error"]["fields"]["days"]


def test_over_the_limit_a_token_is_told_when_to_come_back(site, api, settings):
    settings.BATON_API_RATE = "3/min"
    codes = [api.get("/api/v1/contacts/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = api.get("/api/v1/contacts/")
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "throttled"


def test_the_schema_and_its_docs_page(site):
    client = APIClient()
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200 and b"openapi: 3" in schema.content
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content

import asyncio
import logging
import threading

import pytest
from channels.layers import get_channel_layer
from django.db import connections, transaction

from chat import realtime, services
from chat.frames import PageInfo, UserHash
from chat.models import Contact, Conversation, ConversationEvent, Message
from tests import factories

pytestmark = pytest.mark.django_db


def post(conversation, body, client_id="", path=None):
    page = PageInfo(path=path) if path else None
    return services.customer_message_post(
        conversation=conversation, client_id=client_id, body=body, page=page
    )


def test_messages_are_numbered_in_order_per_conversation(site):
    first = factories.conversation(on=site)
    second = factories.conversation(on=site)
    post(first, "hello", "client-aaaa")
    post(second, "hi", "client-bbbb")
    post(first, "anyone?", "client-cccc")
    customer_seqs = list(
        first.messages.filter(author="customer").order_by("seq").values_list("seq", flat=True)
    )
    assert customer_seqs[0] == 1
    assert sorted(first.messages.values_list("seq", flat=True)) == list(
        range(1, first.messages.count() + 1)
    )
    assert second.messages.filter(author="customer").get().seq == 1


def test_a_repeated_client_id_is_stored_once(site):
    conversation = factories.conversation(on=site)
    first = post(conversation, "my order is late", "retry-1234")
    again = post(conversation, "my order is late", "retry-1234")
    assert first.created and not again.created
    assert again.message.pk == first.message.pk
    assert conversation.messages.filter(author="customer").count() == 1


def test_a_customer_message_gets_exactly_one_decision_and_one_reply(
    demo_kb, django_capture_on_commit_callbacks
):
    conversation = factories.conversation(on=demo_kb)
    with django_capture_on_commit_callbacks(execute=True):
        result = post(conversation, "how do I print a label for an order?", "label-0001")
    replies = Message.objects.filter(in_reply_to=result.message)
    assert replies.count() == 1
    assert result.message.decision.action == "answer"
    # Running the task again (a redelivery) changes nothing.
    from chat.tasks import message_respond

    with django_capture_on_commit_callbacks(execute=True):
        message_respond(result.message.pk)
    assert Message.objects.filter(in_reply_to=result.message).count() == 1


def test_a_message_on_a_resolved_conversation_reopens_it(site):
    conversation = factories.conversation(on=site)
    Conversation.objects.filter(pk=conversation.pk).update(state="resolved")
    conversation.refresh_from_db()
    post(conversation, "one more thing", "reopen-0001")
    conversation.refresh_from_db()
    assert conversation.state == "ai"
    assert conversation.events.filter(kind="reopened").exists()


def test_the_same_page_twice_is_one_visit(site):
    conversation = factories.conversation(on=site, path="/pricing")
    services.page_record(conversation=conversation, page=PageInfo(path="/pricing"))
    services.page_record(conversation=conversation, page=PageInfo(path="/docs", title="Docs"))
    assert list(conversation.pages.values_list("path", flat=True)) == ["/pricing", "/docs"]


def test_a_title_set_just_after_the_address_changed_names_that_visit(site):
    """A single-page app pushes the new address, then sets the page's title."""
    conversation = factories.conversation(on=site, path="/")
    order = "https://www.acme.example/orders/7"
    services.page_record(conversation=conversation, page=PageInfo(path="/orders/7", url=order))
    services.page_record(
        conversation=conversation, page=PageInfo(path="/orders/7", title="Order 7", url=order)
    )
    services.customer_message_post(
        conversation=conversation,
        client_id="title-0001",
        body="where is it?",
        page=PageInfo(path="/orders/7", title="Order 7", url=order),
    )
    visits = conversation.pages.exclude(path="/")
    assert list(visits.values_list("title", flat=True)) == ["Order 7"]
    assert conversation.messages.get(client_id="title-0001").page == visits.get()


def test_another_query_of_the_same_page_is_a_visit_of_its_own(site):
    conversation = factories.conversation(on=site, path="/")
    shop = "https://www.acme.example/search?q="
    for query in ("boots", "boots", "socks"):
        services.page_record(
            conversation=conversation,
            page=PageInfo(path="/search", title="Search", url=shop + query),
        )
    visits = conversation.pages.exclude(path="/").values_list("url", flat=True)
    assert list(visits) == [shop + "boots", shop + "socks"]


def test_messages_remember_the_page_they_were_sent_from(site):
    conversation = factories.conversation(on=site, path="/pricing")
    message = post(conversation, "how much?", "page-0001").message
    assert message.page.path == "/pricing"
    moved = post(conversation, "and this?", "page-0002", path="/billing").message
    assert moved.page.path == "/billing"


def test_context_facts_merge_and_are_recorded(site):
    conversation = factories.conversation(on=site)
    services.context_update(conversation=conversation, facts={"plan": "Growth"})
    services.context_update(conversation=conversation, facts={"orders": 3})
    conversation.refresh_from_db()
    assert conversation.context == {"plan": "Growth", "orders": 3}
    assert conversation.events.filter(kind="context").count() == 2


@pytest.mark.django_db(transaction=True)
def test_nothing_is_broadcast_for_a_change_that_rolled_back(site):
    conversation = factories.conversation(on=site)
    layer = get_channel_layer()
    # One loop for the listener: a pub/sub layer's subscriptions live in their loop.
    listener = asyncio.new_event_loop()
    channel = listener.run_until_complete(layer.new_channel())
    listener.run_until_complete(
        layer.group_add(realtime.conversation_group(conversation.pk), channel)
    )

    with pytest.raises(RuntimeError), transaction.atomic():
        services.system_message_post(conversation=conversation, body="never happened")
        raise RuntimeError
    services.system_message_post(conversation=conversation, body="this happened")

    try:
        event = listener.run_until_complete(asyncio.wait_for(layer.receive(channel), 10))
    finally:
        listener.close()
    assert event["frame"]["body"] == "this happened"
    assert not conversation.messages.filter(body="never happened").exists()


def test_a_broadcast_that_fails_after_the_commit_is_logged_and_the_message_stands(
    site, settings, caplog, django_capture_on_commit_callbacks
):
    """A worker or a shell posting while the channel layer's Redis refuses connections."""
    conversation = factories.conversation(on=site)
    layer = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {
        "default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": ["redis://127.0.0.1:1"]}}
    }
    with (
        caplog.at_level(logging.ERROR, logger="chat.realtime"),
        django_capture_on_commit_callbacks(execute=True) as hooks,
    ):
        services.system_message_post(conversation=conversation, body="stored anyway")

    assert hooks, "the message was not broadcast on commit"
    assert conversation.messages.filter(body="stored anyway").exists()
    assert "broadcast failed" in caplog.text


# Identity ------------------------------------------------------------------------------


def test_a_signed_token_verifies_the_contact_and_sets_tier(site, sign):
    visitor, _token = factories.visitor(on=site)
    token = sign(
        site,
        sub="cust-42",
        name="Maya",
        email="maya@acme.example",
        tier="Enterprise",
        attributes={"plan": "Scale"},
    )
    contact = services.contact_identify(visitor=visitor, token=token)
    assert contact.verified
    assert (contact.external_id, contact.name, contact.tier) == ("cust-42", "Maya", "enterprise")
    assert contact.attributes == {"plan": "Scale"}


@pytest.mark.parametrize(
    ("make_token", "code"),
    [
        (lambda site, sign: sign(site, lifetime=-120), "identity_expired"),
        (lambda site, sign: sign(site, lifetime=30 * 24 * 3600), "identity_invalid"),
        (
            lambda site, sign: sign(factories.site(key="other", name="Other"), sub="x"),
            "identity_invalid",
        ),
        (lambda site, sign: "not-a-token", "identity_invalid"),
        (lambda site, sign: sign(site, name="Ada\x00Lovelace"), "identity_invalid"),
    ],
    ids=["expired", "lives-too-long", "signed-by-another-site", "garbage", "nul-character"],
)
def test_an_unverifiable_token_leaves_the_visitor_anonymous(site, sign, make_token, code):
    visitor, _token = factories.visitor(on=site)
    token = make_token(site, sign)
    with pytest.raises(services.IdentityRejected) as rejected:
        services.contact_identify(visitor=visitor, token=token)
    assert rejected.value.code == code
    visitor.contact.refresh_from_db()
    assert not visitor.contact.verified
    assert visitor.contact.tier == ""
    assert visitor.contact.claimed["rejected"] == code


@pytest.mark.parametrize(
    ("claims", "named"),
    [
        ({"sub": "u" * 201}, "user id"),
        ({"tier": "t" * 51}, '"tier"'),
        ({"email": "e" * 250 + "@a.example"}, '"email"'),
    ],
    ids=["sub", "tier", "email"],
)
def test_a_claim_too_long_to_store_whole_is_refused_and_the_visitor_stays_anonymous(
    site, sign, claims, named
):
    """Cut, a user id or a tier would be another user's or another tier."""
    visitor, _token = factories.visitor(on=site)
    with pytest.raises(services.IdentityRejected) as rejected:
        services.contact_identify(visitor=visitor, token=sign(site, **claims))
    assert rejected.value.code == "identity_invalid"
    assert named in rejected.value.message
    visitor.contact.refresh_from_db()
    assert not visitor.contact.verified
    assert visitor.contact.claimed["rejected"] == "identity_invalid"


def test_claims_that_fit_their_columns_are_kept_and_a_long_name_is_shortened(site, sign):
    visitor, _token = factories.visitor(on=site)
    email = "e" * 240 + "@a.example"
    token = sign(site, sub="u" * 200, name="N" * 300, email=email, tier="T" * 50)
    contact = services.contact_identify(visitor=visitor, token=token)
    contact.refresh_from_db()
    assert (contact.external_id, contact.email, contact.tier) == ("u" * 200, email, "t" * 50)
    assert contact.name == "N" * 200


def test_a_user_hash_for_a_user_id_too_long_to_store_is_refused(site):
    import hashlib
    import hmac

    user_id = "u" * 201
    digest = hmac.new(site.identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()
    visitor, _token = factories.visitor(on=site)
    with pytest.raises(services.IdentityRejected) as rejected:
        services.contact_identify_user_hash(visitor=visitor, user_id=user_id, user_hash=digest)
    assert "longer than 200" in rejected.value.message
    visitor.contact.refresh_from_db()
    assert not visitor.contact.verified


def test_identifying_moves_the_anonymous_chat_to_the_known_customer(site, sign):
    # Maya chatted before on another device, so Baton already knows her.
    laptop, _token = factories.visitor(on=site)
    services.contact_identify(visitor=laptop, token=sign(site, sub="maya"))
    known = laptop.contact
    # Now she starts chatting anonymously on her phone, then signs in.
    phone, _token = factories.visitor(on=site)
    conversation = factories.conversation(on=site, visitor_=phone)
    anonymous = phone.contact
    services.contact_identify(visitor=phone, token=sign(site, sub="maya"))
    conversation.refresh_from_db()
    assert conversation.contact == known
    assert not Contact.objects.filter(pk=anonymous.pk).exists()


def test_another_user_signing_in_on_the_same_browser_does_not_see_the_first_users_chat(site, sign):
    browser, _token = factories.visitor(on=site)
    services.contact_identify(visitor=browser, token=sign(site, sub="alice"))
    alices = factories.conversation(on=site, visitor_=browser)
    services.contact_identify(visitor=browser, token=sign(site, sub="bob"))
    assert browser.contact.external_id == "bob"
    assert alices.contact.external_id == "alice"
    assert not browser.contact.conversations.exists()


def test_a_user_hash_verifies_only_the_id_never_the_tier(site):
    import hashlib
    import hmac

    visitor, _token = factories.visitor(on=site)
    digest = hmac.new(site.identity_secret.encode(), b"u-9", hashlib.sha256).hexdigest()
    contact = services.contact_identify_user_hash(
        visitor=visitor, user_id="u-9", user_hash=digest, name="Lee", email="lee@acme.example"
    )
    assert contact.identity == Contact.Identity.USER_HASH
    assert contact.external_id == "u-9"
    assert contact.tier == ""
    assert contact.claimed == {"name": "Lee", "email": "lee@acme.example"}


def test_a_wrong_user_hash_is_refused(site):
    visitor, _token = factories.visitor(on=site)
    with pytest.raises(services.IdentityRejected):
        services.contact_identify_user_hash(visitor=visitor, user_id="u-9", user_hash="00" * 32)
    visitor.contact.refresh_from_db()
    assert not visitor.contact.verified


def test_a_rejected_identity_is_written_into_the_conversation_history(site, sign):
    visitor, token = factories.visitor(on=site)
    conversation = factories.conversation(on=site, visitor_=visitor)
    session = services.widget_hello(
        site=site,
        token=token,
        identity=sign(site, lifetime=-300),
        conversation_id=None,
        page=None,
        context={},
    )
    assert session.identity_error.code == "identity_expired"
    assert conversation.events.filter(kind=ConversationEvent.Kind.IDENTITY_REJECTED).exists()


def test_a_browser_token_from_another_site_is_not_recognised(site):
    visitor, token = factories.visitor(on=site)
    other = factories.site(key="globex", name="Globex")
    stranger, new_token = services.visitor_start(site=other, token=token)
    assert stranger.contact != visitor.contact
    assert new_token != token


def test_widget_identify_accepts_the_user_hash_form(site):
    import hashlib
    import hmac

    visitor, token = factories.visitor(on=site)
    digest = hmac.new(site.identity_secret.encode(), b"42", hashlib.sha256).hexdigest()
    session = services.widget_identify(
        visitor=visitor, token=token, identity=UserHash(user_id="42", user_hash=digest)
    )
    assert session.identity_error is None
    assert session.contact.external_id == "42"


@pytest.mark.django_db(transaction=True)
def test_a_message_costs_the_same_queries_late_in_a_conversation(demo_kb):
    """Posting, deciding and answering the seventh message reads no more than the second."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chat.responder.local import revision_changed

    conversation = factories.conversation(on=demo_kb)
    questions = [
        "how do I print a shipping label?",
        "where can I see my invoices?",
        "how do I track a parcel?",
        "how do I change the card you charge?",
        "how do I add a teammate to my account?",
        "which carriers do you support?",
        "what documents do I need for customs?",
    ]
    counts, kinds = [], []
    for question in questions:
        # The responder asks for the knowledge base's revision at most once a second: each
        # message pays that query here, so the count does not depend on the machine's speed.
        revision_changed()
        with CaptureQueriesContext(connection) as queries:
            decision = factories.say(conversation, question)
        counts.append(len(queries))
        kinds.append(decision.action)
    assert kinds == ["answer"] * len(questions)
    assert counts[-1] == counts[1], counts
    # Every query is paid on every message (39 before repeated reads were dropped).
    assert counts[-1] <= 27, counts


@pytest.mark.django_db(transaction=True)
def test_a_retry_that_races_its_original_is_stored_once(site):
    """Both copies wait while a third writer holds the conversation; the unique
    constraint then turns the second into the first."""
    conversation = factories.conversation(on=site)
    holding, finish = threading.Event(), threading.Event()
    results = []

    def hold() -> None:
        try:
            with transaction.atomic():
                Conversation.objects.select_for_update().get(pk=conversation.pk)
                holding.set()
                finish.wait(30)
        finally:
            connections["default"].close()

    def send() -> None:
        try:
            results.append(post(Conversation.objects.get(pk=conversation.pk), "late", "twice-1"))
        finally:
            connections["default"].close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(30)
    senders = [threading.Thread(target=send) for _ in range(2)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(0.5)
        assert sender.is_alive()
    finish.set()
    for thread in [holder, *senders]:
        thread.join(30)
    assert sorted(result.created for result in results) == [False, True]
    assert results[0].message.pk == results[1].message.pk
    assert conversation.messages.filter(client_id="twice-1").count() == 1

"""The widget socket, spoken to as a browser would, through the real ASGI application."""

import hashlib
import hmac
import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chat import consumers
from chat.models import Contact, Conversation, Message, PageVisit
from project.asgi import application
from tests import factories
from tests.agents.test_console_socket import Console, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

ACME = "https://www.acme.example"


class Widget:
    """One browser tab's socket, with helpers to read the frames it gets."""

    def __init__(
        self, site_key: str = "acme", origin: str | None = ACME, language: str | None = None
    ) -> None:
        headers = [(b"host", b"testserver")]
        if origin is not None:
            headers.append((b"origin", origin.encode()))
        if language is not None:
            headers.append((b"accept-language", language.encode()))
        self.socket = WebsocketCommunicator(application, f"/ws/widget/{site_key}/", headers=headers)
        self.seen: list[dict] = []

    async def __aenter__(self) -> "Widget":
        connected, code = await self.socket.connect()
        self.refused = None if connected else code
        return self

    async def __aexit__(self, *exc) -> None:
        await self.socket.disconnect()

    async def send(self, frame: dict) -> None:
        await self.socket.send_json_to(frame)

    async def next(self, wait: float = 5) -> dict:
        frame = await self.socket.receive_json_from(timeout=wait)
        self.seen.append(frame)
        return frame

    async def until(self, kind: str, wait: float = 10, **match) -> dict:
        while True:
            try:
                frame = await self.next(wait)
            except TimeoutError:
                seen = [
                    f["type"] + ":" + str(f.get("code", f.get("author", ""))) for f in self.seen
                ]
                raise AssertionError(f"no {kind} {match} frame came; saw {seen}") from None
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame

    async def until_message(self, wait: float = 10, **match) -> dict:
        """A message, whether it comes live or inside a history catch-up."""
        while True:
            frame = await self.next(wait)
            batch = frame["messages"] if frame["type"] == "history" else [frame]
            for message in batch:
                if message.get("type") == "message" and all(
                    message.get(k) == v for k, v in match.items()
                ):
                    return message

    async def hello(self, **fields) -> dict:
        await self.send({"type": "hello", "page": {"path": "/", "title": "Home"}, **fields})
        return await self.until("welcome")

    async def say(self, body: str, client_id: str | None = None, **fields) -> dict:
        client_id = client_id or uuid.uuid4().hex
        await self.send({"type": "message", "client_id": client_id, "body": body, **fields})
        return await self.until("ack", client_id=client_id)

    async def quiet(self) -> bool:
        return await self.socket.receive_nothing(timeout=0.3)


@pytest.fixture
def acme(site):
    return site


async def test_a_new_visitor_gets_a_token_and_no_conversation_yet(acme):
    async with Widget() as widget:
        welcome = await widget.hello()
    assert len(welcome["token"]) >= 40
    assert welcome["conversation"] is None
    assert welcome["contact"] == {"name": "", "verified": False}


async def test_a_question_gets_an_ack_the_echo_and_an_answer_with_its_source(demo_kb):
    async with Widget("demo", origin="http://localhost:8001") as widget:
        await widget.hello(page={"path": "/shipments/new", "title": "New shipment"})
        ack = await widget.say("what do I do to get a label printed for my parcel?")
        echo = await widget.until("message", author="customer")
        answer = await widget.until("message", author="ai")
    assert ack["seq"] == echo["seq"] == 1
    assert answer["seq"] == 2
    assert answer["sources"] == [
        {"slug": "print-label", "title": "Create and print a shipping label"}
    ]
    assert "Buy label" in answer["html"] and "/kb/print-label/" in answer["html"]
    assert answer["confidence"] > 0.5


async def test_a_reload_shows_the_conversation_again(acme):
    async with Widget() as widget:
        welcome = await widget.hello()
        await widget.say("first question")
        await widget.say("second question")
    async with Widget() as reloaded:
        again = await reloaded.hello(token=welcome["token"])
        history = await reloaded.until("history")
    bodies = [m["body"] for m in history["messages"] if m["author"] == "customer"]
    assert bodies == ["first question", "second question"]
    assert again["conversation"]["id"] == history_conversation_id(reloaded)


def history_conversation_id(widget: Widget) -> str:
    return next(f for f in widget.seen if f["type"] == "welcome")["conversation"]["id"]


async def test_a_reconnect_resumes_after_the_last_sequence_number_seen(acme):
    async with Widget() as widget:
        welcome = await widget.hello()
        for text in ("one", "two"):
            ack = await widget.say(text)
            await widget.until("message", seq=ack["seq"] + 1)  # the reply, whoever gives it
    last_seen = max(f["seq"] for f in widget.seen if f["type"] == "message")
    conversation = await database_sync_to_async(Conversation.objects.get)()
    await database_sync_to_async(_system_line)(conversation, "an update while you were away")
    async with Widget() as back:
        await back.hello(
            token=welcome["token"], conversation=str(conversation.public_id), last_seq=last_seen
        )
        history = await back.until("history")
    assert [m["body"] for m in history["messages"]] == ["an update while you were away"]
    assert history["messages"][0]["seq"] == last_seen + 1


def _system_line(conversation, body):
    from chat import services

    services.system_message_post(conversation=conversation, body=body)


async def test_a_resent_message_is_acknowledged_again_but_stored_once(acme):
    async with Widget() as widget:
        await widget.hello()
        first = await widget.say("hello?", client_id="resend-000001")
        second = await widget.say("hello?", client_id="resend-000001")
    assert first["seq"] == second["seq"]
    assert first["duplicate"] is False and second["duplicate"] is True
    count = await database_sync_to_async(Message.objects.filter(author="customer").count)()
    assert count == 1


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("this is not json", "bad_json"),
        ("[1, 2, 3]", "bad_json"),
        ('{"body": "no type"}', "missing_field"),
        ('{"type": "shout"}', "unknown_type"),
        ('{"type": "message", "body": "hi"}', "missing_field"),
        ('{"type": "message", "client_id": "../etc", "body": "hi"}', "invalid_field"),
        ('{"type": "message", "client_id": "abcdefgh1", "body": "   "}', "empty_message"),
        ('{"type": "message", "client_id": "abcdefgh1", "body": 42}', "missing_field"),
        (
            '{"type": "message", "client_id": "abcdefgh1", "body": "' + "x" * 4001 + '"}',
            "message_too_long",
        ),
        ('{"type": "page", "page": {"path": "javascript:alert(1)"}}', "invalid_field"),
        ('{"type": "context", "context": {"nested": {"a": 1}}}', "invalid_field"),
        ('{"type": "resume", "after": -1}', "invalid_field"),
        ('{"type": "hello"}', "hello_repeated"),
        ('{"type": "message", "client_id": "abcdefgh1", "body": "a\\u0000b"}', "nul_character"),
        ('{"type": "context", "context": {"plan": "\\u0000"}}', "nul_character"),
        (
            '{"type": "message", "client_id": "abcdefgh1", "body": "' + "x" * 70000 + '"}',
            "frame_too_large",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 30 else None,
)
async def test_a_bad_frame_gets_a_clear_error_and_the_socket_stays_usable(acme, frame, code):
    async with Widget() as widget:
        await widget.hello()
        await widget.socket.send_to(text_data=frame)
        error = await widget.until("error")
        assert error["code"] == code
        assert error["message"]
        await widget.send({"type": "ping"})
        assert (await widget.until("pong"))["type"] == "pong"
        ack = await widget.say("still here")
    assert ack["seq"] == 1
    stored = await database_sync_to_async(list)(
        Message.objects.filter(author="customer").values_list("body", flat=True)
    )
    assert stored == ["still here"]


async def test_binary_frames_are_refused_with_an_error(acme):
    async with Widget() as widget:
        await widget.hello()
        await widget.socket.send_to(bytes_data=b"\x00\x01")
        error = await widget.until("error")
    assert error["code"] == "binary_unsupported"


async def test_frames_before_hello_are_refused(acme):
    async with Widget() as widget:
        await widget.send({"type": "message", "client_id": "early-0001", "body": "hi"})
        error = await widget.until("error")
    assert error["code"] == "hello_required"


async def test_a_flood_is_slowed_down_without_losing_what_was_typed(acme, settings):
    settings.BATON_MESSAGES_PER_MINUTE = 3
    async with Widget() as widget:
        await widget.hello()
        for n in range(3):
            await widget.say(f"message {n}")
        await widget.send({"type": "message", "client_id": "flood-00004", "body": "message 3"})
        error = await widget.until("error")
    assert error["code"] == "rate_limited"
    assert error["client_id"] == "flood-00004"
    assert error["retry_after"] >= 1
    count = await database_sync_to_async(Message.objects.filter(author="customer").count)()
    assert count == 3


async def test_a_resent_message_does_not_use_up_the_minute_s_allowance(acme, settings):
    """The widget resends a message it saw no ack for; that is one message, not two."""
    settings.BATON_MESSAGES_PER_MINUTE = 2
    async with Widget() as widget:
        await widget.hello()
        first = await widget.say("is anyone there?", client_id="resent-0001")
        again = await widget.say("is anyone there?", client_id="resent-0001")
        other = await widget.say("hello?", client_id="second-0002")
        await widget.send({"type": "message", "client_id": "third-00003", "body": "hi"})
        error = await widget.until("error")
    assert (first["duplicate"], again["duplicate"], other["duplicate"]) == (False, True, False)
    assert again["seq"] == first["seq"]
    assert error["code"] == "rate_limited"
    assert error["client_id"] == "third-00003"
    bodies = await database_sync_to_async(list)(
        Message.objects.filter(author="customer").values_list("body", flat=True)
    )
    assert bodies == ["is anyone there?", "hello?"]


async def test_resending_one_message_without_end_is_still_a_flood(acme, settings):
    settings.BATON_MESSAGES_PER_MINUTE = 2
    async with Widget() as widget:
        await widget.hello()
        for _ in range(4):  # sent, and resent three times: one message
            await widget.say("hello?", client_id="again-00001")
        # The fourth resend counts as a message of its own, and uses the last place.
        await widget.say("hello?", client_id="again-00001")
        await widget.send({"type": "message", "client_id": "other-00002", "body": "hi"})
        error = await widget.until("error")
    assert (error["code"], error["client_id"]) == ("rate_limited", "other-00002")


async def test_a_socket_from_a_foreign_origin_is_refused(acme):
    async with Widget(origin="https://evil.example") as widget:
        assert widget.refused == 4403


async def test_baton_s_own_iframe_origin_is_accepted(acme):
    async with Widget(origin="http://testserver") as widget:
        assert widget.refused is None
        assert (await widget.hello())["type"] == "welcome"


async def test_an_unknown_site_is_refused(acme):
    async with Widget("nope") as widget:
        assert widget.refused == 4404


async def test_another_customer_s_conversation_id_reveals_nothing(acme):
    async with Widget() as alice:
        await alice.hello()
        await alice.say("my secret order number is 1234")
    theirs = await database_sync_to_async(Conversation.objects.get)()
    async with Widget() as mallory:
        await mallory.send({"type": "hello", "conversation": str(theirs.public_id)})
        error = await mallory.until("error")
        welcome = await mallory.until("welcome")
        assert await mallory.quiet()
    assert error["code"] == "not_found"
    assert welcome["conversation"] is None
    assert "1234" not in json.dumps(mallory.seen)


async def test_page_changes_and_context_reach_the_conversation(acme):
    async with Widget() as widget:
        await widget.hello(page={"path": "/pricing", "title": "Pricing"})
        await widget.say("hi")
        await widget.send({"type": "page", "page": {"path": "/docs/api", "title": "API"}})
        await widget.send({"type": "context", "context": {"plan": "Pro", "seats": 12}})
        await widget.send({"type": "ping"})
        await widget.until("pong")
    conversation = await database_sync_to_async(Conversation.objects.get)()
    paths = await database_sync_to_async(list)(
        PageVisit.objects.filter(conversation=conversation).values_list("path", flat=True)
    )
    assert paths == ["/pricing", "/docs/api"]
    assert conversation.context == {"plan": "Pro", "seats": 12}


async def test_identify_with_a_signed_token_marks_the_customer_verified(acme, sign):
    async with Widget() as widget:
        await widget.hello()
        token = sign(acme, sub="c-7", name="Maya", tier="enterprise")
        await widget.send({"type": "identify", "identity": token})
        welcome = await widget.until("welcome")
    assert welcome["contact"] == {"name": "Maya", "verified": True}
    contact = await database_sync_to_async(Contact.objects.get)(external_id="c-7")
    assert contact.tier == "enterprise"


async def test_an_expired_identity_is_reported_and_stays_anonymous(acme, sign):
    async with Widget() as widget:
        await widget.send({"type": "hello", "identity": sign(acme, lifetime=-100, tier="vip")})
        error = await widget.until("error")
        welcome = await widget.until("welcome")
    assert error["code"] == "identity_expired"
    assert welcome["contact"]["verified"] is False
    tiers = await database_sync_to_async(list)(Contact.objects.values_list("tier", flat=True))
    assert tiers == [""]


async def test_a_second_tab_sees_the_messages_of_the_first(acme):
    async with Widget() as first:
        welcome = await first.hello()
        async with Widget() as second:
            await second.hello(token=welcome["token"])
            await first.say("typed in tab one")
            seen = await second.until_message(author="customer")
    assert seen["body"] == "typed in tab one"


async def test_html_typed_by_a_customer_comes_back_as_text(acme):
    async with Widget() as widget:
        await widget.hello()
        await widget.say('<img src=x onerror="alert(1)">')
        echo = await widget.until("message", author="customer")
    assert "<img" not in echo["html"]
    assert "&lt;img" in echo["html"]


async def test_a_silent_socket_is_closed_so_half_open_connections_do_not_linger(acme, settings):
    settings.BATON_SOCKET_IDLE_SECONDS = 1
    async with Widget() as widget:
        await widget.hello()
        closed = await widget.socket.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4408}


async def test_a_socket_that_never_says_hello_is_closed(acme, monkeypatch):
    monkeypatch.setattr(consumers, "HELLO_TIMEOUT_SECONDS", 1)
    async with Widget() as silent, Widget() as greeted:
        await greeted.hello()
        closed = await silent.socket.receive_output(timeout=5)
        # By now the one that said hello has outlived the hello deadline too.
        await greeted.send({"type": "ping"})
        assert (await greeted.until("pong"))["type"] == "pong"
    assert closed == {"type": "websocket.close", "code": 4400}


async def test_an_agent_reply_shown_in_an_open_widget_is_recorded_as_seen(acme):
    """So it is not emailed to a customer who read it (escalation.services.reply_email_send)."""
    from chat import presence, services

    async with Widget() as widget:
        await widget.hello()
        await widget.say("is anyone there?")
        conversation = await database_sync_to_async(Conversation.objects.get)()
        reply = await database_sync_to_async(services.agent_message_post)(
            conversation=conversation, user=None, name="Ana", body="Yes, I'm here."
        )
        await widget.until_message(author="agent")
    shown = await database_sync_to_async(presence.was_shown)(
        conversation=conversation.public_id, seq=reply.seq
    )
    assert shown


# A hello that cannot be fully used ------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("context", {"customer": {"plan": "pro"}}, "invalid_field"),
        ("context", {"plan": "a\u0000b"}, "nul_character"),
        ("identity", {"user_id": "42"}, "identity_invalid"),
        ("identity", 12345, "identity_invalid"),
        ("identity", "x" * 8193, "identity_invalid"),
        ("conversation", "not-a-conversation-id", "not_found"),
        ("page", {"path": "javascript:alert(1)"}, "invalid_field"),
        ("last_seq", "ten", "invalid_field"),
        ("token", 42, "invalid_field"),
    ],
    ids=[
        "nested-context",
        "nul-in-context",
        "user-id-without-hash",
        "number-identity",
        "over-long-token",
        "malformed-conversation",
        "bad-page",
        "bad-last-seq",
        "number-token",
    ],
)
async def test_a_bad_optional_hello_field_is_reported_and_ignored_and_the_chat_works(
    acme, field, value, code
):
    """The widget sends the same hello on every reconnect: refused, it never chats again."""
    async with Widget() as widget:
        await widget.send({"type": "hello", "page": {"path": "/pricing"}, field: value})
        error = await widget.next()
        welcome = await widget.until("welcome")
        ack = await widget.say("is this thing on?")
    assert error["type"] == "error"
    assert (error["code"], error["field"].split(".")[0]) == (code, field)
    assert error["message"]
    assert welcome["contact"]["verified"] is False
    assert ack["seq"] == 1
    message = await database_sync_to_async(Message.objects.select_related("conversation").get)(
        author="customer"
    )
    assert message.body == "is this thing on?"
    assert message.conversation.context == {}


# Frames that would once have cost a server error ---------------------------------------------


@pytest.mark.parametrize("depth", [400, 3000])
async def test_a_deeply_nested_frame_is_refused_as_bad_json_without_an_error_in_the_log(
    acme, caplog, depth
):
    """A client must not be able to fill the log with tracebacks."""
    frame = '{"type": "ping", "x": ' + "[" * depth + "]" * depth + "}"
    async with Widget() as widget:
        await widget.hello()
        await widget.socket.send_to(text_data=frame)
        error = await widget.until("error")
        await widget.send({"type": "ping"})
        await widget.until("pong")
    assert error["code"] == "bad_json"
    assert error["message"] == "The frame is nested too deeply."
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


async def test_a_second_tab_keeps_working_after_the_first_signs_in(acme, sign):
    """Signing in merges the anonymous contact into the known one and deletes it; the
    other tab of the same browser still holds the old one."""
    # Maya is known from her laptop; in this browser she starts anonymous, in two tabs.
    await database_sync_to_async(factories.verified_visitor)(on=acme, sub="maya")
    async with Widget() as first:
        welcome = await first.hello()
        async with Widget() as second:
            await second.hello(token=welcome["token"])
            await first.send({"type": "identify", "identity": sign(acme, sub="maya")})
            assert (await first.until("welcome"))["contact"]["verified"] is True
            ack = await second.say("typed in the second tab")
            seen_in_first = await first.until_message(author="customer")
    assert ack["seq"] == 1
    assert seen_in_first["body"] == "typed in the second tab"
    message = await database_sync_to_async(
        Message.objects.select_related("conversation__contact").get
    )(author="customer")
    assert message.conversation.contact.external_id == "maya"


async def test_a_message_that_fails_on_our_side_says_which_message_failed(acme):
    async with Widget() as widget:
        await widget.hello()
        await widget.say("first")
        # Staff delete the conversation in the admin while the widget is open.
        await database_sync_to_async(Conversation.objects.all().delete)()
        await widget.send({"type": "message", "client_id": "after-delete-1", "body": "second"})
        error = await widget.until("error")
    assert error["code"] == "server_error"
    assert error["client_id"] == "after-delete-1"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (
            '{"type": "message", "client_id": "refused-0001", "body": "hi", '
            '"page": {"path": "javascript:alert(1)"}}',
            "invalid_field",
        ),
        ('{"type": "message", "client_id": "refused-0001", "body": "a\\u0000b"}', "nul_character"),
    ],
    ids=["bad-page", "nul-character"],
)
async def test_every_error_answering_a_message_names_its_client_id(acme, frame, code):
    async with Widget() as widget:
        await widget.hello()
        await widget.socket.send_to(text_data=frame)
        error = await widget.until("error")
    assert (error["code"], error["client_id"]) == (code, "refused-0001")


async def test_an_identity_claim_too_long_for_its_column_leaves_the_visitor_anonymous(acme, sign):
    async with Widget() as widget:
        await widget.send({"type": "hello", "identity": sign(acme, sub="c-8", tier="t" * 51)})
        error = await widget.until("error")
        welcome = await widget.until("welcome")
        ack = await widget.say("still here")
    assert error["code"] == "identity_invalid"
    assert '"tier"' in error["message"]
    assert welcome["contact"]["verified"] is False
    assert ack["seq"] == 1
    assert not await database_sync_to_async(Contact.objects.filter(external_id="c-8").exists)()


# What else a widget relies on ---------------------------------------------------------------


async def test_customer_typing_reaches_the_agent_watching_and_the_agent_s_reaches_the_widget(
    demo_kb,
):
    ana = await database_sync_to_async(factories.agent)("ana", teams=["billing"])
    cookie = await database_sync_to_async(session_cookie)(ana.user)
    async with Widget("demo", origin="http://localhost:8001") as widget:
        await widget.hello(page={"path": "/settings/billing", "title": "Billing"})
        await widget.say("where are my invoices?")
        await widget.say("I want a human")
        conversation = await database_sync_to_async(Conversation.objects.get)()
        async with Console(cookie) as console:
            await console.socket.send_json_to({"type": "watch", "conversation": conversation.pk})
            await console.socket.send_json_to({"type": "ping"})
            await console.until("pong")
            await widget.send({"type": "typing", "active": True})
            customer_typing = await console.until("typing")
            await console.socket.send_json_to({"type": "typing", "active": True})
            agent_typing = await widget.until("typing", author="agent")
    # A widget is not told about its own customer's typing.
    assert "customer" not in [f["author"] for f in widget.seen if f["type"] == "typing"]
    assert customer_typing == {"type": "typing", "active": True}
    assert agent_typing == {"type": "typing", "author": "agent", "name": "Ana", "active": True}


async def test_the_assistant_is_shown_typing_before_its_answer(demo_kb):
    async with Widget("demo", origin="http://localhost:8001") as widget:
        await widget.hello()
        await widget.say("how do I print a shipping label?")
        await widget.until("message", author="ai")
    kinds = [(f["type"], f.get("author")) for f in widget.seen]
    typing = {"type": "typing", "author": "ai", "name": "", "active": True}
    assert typing in widget.seen
    assert kinds.index(("typing", "ai")) < kinds.index(("message", "ai"))


async def test_resume_after_a_gap_sends_exactly_the_missed_messages(acme):
    async with Widget() as widget:
        await widget.hello()
        ack = await widget.say("one")
        reply = await widget.until("message", seq=ack["seq"] + 1)
        conversation = await database_sync_to_async(Conversation.objects.get)()
        for body in ("missed one", "missed two", "missed three"):
            await database_sync_to_async(_system_line)(conversation, body)
        await widget.until("message", body="missed three")
        # Say the widget showed only the reply: it asks for what came after.
        await widget.send({"type": "resume", "after": reply["seq"]})
        history = await widget.until("history")
    assert [(m["seq"], m["body"]) for m in history["messages"]] == [
        (reply["seq"] + 1, "missed one"),
        (reply["seq"] + 2, "missed two"),
        (reply["seq"] + 3, "missed three"),
    ]
    assert history["last_seq"] == reply["seq"] + 3


async def test_a_conversation_can_be_rated_once_it_is_resolved_and_a_reload_knows_it(acme):
    from agents import services as agent_services
    from agents.models import Rating

    ana = await database_sync_to_async(factories.agent)("ana", teams=["support"])
    async with Widget() as widget:
        welcome = await widget.hello()
        ack = await widget.say("thanks, that worked")
        await widget.until("message", seq=ack["seq"] + 1)
        await widget.send({"type": "rating", "score": 5})
        too_early = await widget.until("error")
        conversation = await database_sync_to_async(Conversation.objects.get)()
        await database_sync_to_async(agent_services.conversation_resolve)(
            conversation=conversation, agent=ana, kind="solved", ai_could_have=True
        )
        resolved = await widget.until("state", state="resolved")
        await widget.send({"type": "rating", "score": 4, "comment": "quick"})
        rated = await widget.until("rated")
    async with Widget() as reloaded:
        await reloaded.hello(token=welcome["token"])
        after_reload = await reloaded.until("state")
        # Another tab (or a replayed frame) cannot rate the same resolution twice.
        await reloaded.send({"type": "rating", "score": 1})
        twice = await reloaded.until("error")
    assert twice["code"] == "rating_refused"
    assert twice["message"] == "You have already rated this conversation."
    assert too_early["code"] == "rating_refused"
    assert resolved["id"] == str(conversation.public_id)
    assert resolved["rated"] is False
    assert rated == {"type": "rated", "score": 4}
    assert (after_reload["state"], after_reload["rated"]) == ("resolved", True)
    stored = await database_sync_to_async(list)(Rating.objects.values_list("score", "comment"))
    assert stored == [(4, "quick")]


async def test_a_user_hash_sent_over_the_socket_verifies_only_the_user_id(acme):
    digest = hmac.new(acme.identity_secret.encode(), b"42", hashlib.sha256).hexdigest()
    async with Widget() as widget:
        welcome = await widget.hello(
            identity={"user_id": 42, "user_hash": digest, "name": "Lee", "tier": "vip"}
        )
    async with Widget() as forger:
        await forger.send({"type": "hello", "identity": {"user_id": "43", "user_hash": digest}})
        refused = await forger.until("error")
        forged = await forger.until("welcome")
    assert welcome["contact"]["verified"] is True
    contact = await database_sync_to_async(Contact.objects.get)(external_id="42")
    assert (contact.identity, contact.tier, contact.claimed) == ("user_hash", "", {"name": "Lee"})
    assert refused["code"] == "identity_invalid"
    assert forged["contact"]["verified"] is False


async def test_a_message_resent_on_a_new_socket_is_acknowledged_once_and_stored_once(acme):
    """The widget's outbox is sent again after a reconnect, with the same client_ids."""
    async with Widget() as before:
        welcome = await before.hello()
        first = await before.say("did this arrive?", client_id="outbox-000001")
    conversation = next(f for f in before.seen if f["type"] == "conversation")
    async with Widget() as after:
        await after.hello(
            token=welcome["token"], conversation=conversation["id"], last_seq=first["seq"]
        )
        await after.say("did this arrive?", client_id="outbox-000001")
        await after.send({"type": "ping"})
        await after.until("pong")
    acks = [f for f in after.seen if f["type"] == "ack"]
    assert acks == [
        {"type": "ack", "client_id": "outbox-000001", "seq": first["seq"], "duplicate": True}
    ]
    count = await database_sync_to_async(Message.objects.filter(client_id="outbox-000001").count)()
    assert count == 1


async def test_a_visitor_is_told_everything_in_their_language_and_agents_read_theirs(demo_kb):
    from escalation.models import Decision

    async with Widget("demo", origin="http://localhost:8001", language="de-DE,de;q=0.9") as tab:
        await tab.hello()
        await tab.send({"type": "message", "client_id": "empty-message-1", "body": "  "})
        assert (await tab.until("error"))["message"] == "Die Nachricht ist leer."
        await tab.say("hello!")
        greeting = await tab.until("message", author="ai")
        await tab.say("can I talk to a person please")
        handoff = await tab.until("message", author="system")
    assert greeting["body"] == "Hallo! Wobei kann ich Ihnen helfen?"
    assert "Sie müssen sich also nicht" in handoff["body"]
    conversation = await database_sync_to_async(Conversation.objects.get)()
    assert conversation.language == "de"
    # What is stored for supervisors stays in the site's language.
    decision = await database_sync_to_async(Decision.objects.get)(action="handoff")
    assert decision.explanation == "The customer asked for a person."

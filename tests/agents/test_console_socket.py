"""The console's websocket, signed in with a real session cookie."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from project.asgi import application
from tests import factories
from tests.factories import say

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


class Console:
    def __init__(self, cookie: str | None, origin: str = "http://testserver") -> None:
        headers = [(b"host", b"testserver"), (b"origin", origin.encode())]
        if cookie:
            headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
        self.socket = WebsocketCommunicator(application, "/ws/console/", headers=headers)

    async def __aenter__(self):
        self.connected, self.code = await self.socket.connect()
        return self

    async def __aexit__(self, *exc):
        await self.socket.disconnect()

    async def until(self, kind: str, wait: float = 10) -> dict:
        while True:
            frame = await self.socket.receive_json_from(timeout=wait)
            if frame["type"] == kind:
                return frame


async def test_only_agents_get_a_console_socket(demo_kb, django_user_model):
    async with Console(None) as anonymous:
        assert not anonymous.connected
    user = await database_sync_to_async(django_user_model.objects.create_user)("x", password="p")
    cookie = await database_sync_to_async(session_cookie)(user)
    async with Console(cookie) as stranger:
        assert not stranger.connected


async def test_a_page_on_another_site_cannot_use_an_agent_s_cookie(demo_kb):
    ana = await database_sync_to_async(factories.agent)("ana", teams=["billing"])
    cookie = await database_sync_to_async(session_cookie)(ana.user)
    async with Console(cookie, origin="https://evil.example") as console:
        assert not console.connected


async def test_a_new_handoff_reaches_the_team_s_consoles_at_once(demo_kb):
    ana = await database_sync_to_async(factories.agent)("ana", teams=["billing"], capacity=0)
    cookie = await database_sync_to_async(session_cookie)(ana.user)
    async with Console(cookie) as console:
        assert console.connected
        conversation = await database_sync_to_async(factories.conversation)(on=demo_kb)
        await database_sync_to_async(say)(
            conversation, "where are my invoices?", path="/settings/billing"
        )
        await database_sync_to_async(say)(conversation, "I want a human")
        frame = await console.until("queue")
    team = await database_sync_to_async(lambda: ana.teams.get().pk)()
    assert frame["team"] == team


async def test_watching_a_conversation_brings_its_lines_and_typing(demo_kb):
    ana = await database_sync_to_async(factories.agent)("ana", teams=["billing"])
    cookie = await database_sync_to_async(session_cookie)(ana.user)
    conversation = await database_sync_to_async(factories.conversation)(on=demo_kb)
    await database_sync_to_async(say)(
        conversation, "where are my invoices?", path="/settings/billing"
    )
    await database_sync_to_async(say)(conversation, "I want a human")
    async with Console(cookie) as console:
        await console.socket.send_json_to({"type": "watch", "conversation": conversation.pk})
        await console.socket.send_json_to({"type": "ping"})
        await console.until("pong")
        await database_sync_to_async(say)(conversation, "<b>also</b> my order is 1042")
        line = await console.until("line")
    assert line["author"] == "customer"
    assert "&lt;b&gt;also&lt;/b&gt; my order is 1042" in line["html"]
    assert 'class="line from-customer"' in line["html"]


async def test_an_agent_cannot_watch_another_team_s_conversation(demo_kb):
    ben = await database_sync_to_async(factories.agent)("ben", teams=["shipping"])
    cookie = await database_sync_to_async(session_cookie)(ben.user)
    conversation = await database_sync_to_async(factories.conversation)(on=demo_kb)
    await database_sync_to_async(say)(
        conversation, "where are my invoices?", path="/settings/billing"
    )
    await database_sync_to_async(say)(conversation, "I want a human")
    async with Console(cookie) as console:
        await console.socket.send_json_to({"type": "watch", "conversation": conversation.pk})
        error = await console.until("error")
        await database_sync_to_async(say)(conversation, "my card number is 4242")
        assert await console.socket.receive_nothing(timeout=0.5)
    assert error["code"] == "not_found"


@pytest.mark.parametrize("frame", ["not json", "[" * 3000 + "]" * 3000])
async def test_a_frame_the_console_never_sends_is_ignored_and_the_socket_stays(demo_kb, frame):
    agent = await database_sync_to_async(factories.agent)("ana", teams=["billing"])
    async with Console(await database_sync_to_async(session_cookie)(agent.user)) as console:
        await console.socket.send_to(text_data=frame)
        await console.socket.send_json_to({"type": "ping"})
        assert (await console.until("pong"))["type"] == "pong"

"""The console's websocket: live queue changes, messages, typing, and presence.

The socket only says what changed; the console redraws from the server (htmx), except new
transcript lines, which arrive rendered from the same template as the page.
"""

import json
from typing import Any
from urllib.parse import urlsplit

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.template.loader import render_to_string

from agents import selectors, services
from agents.models import Agent
from chat import realtime
from chat import services as chat_services
from escalation import services as escalation_services
from project.database_threads import database_sync_to_async

CLOSE_NOT_AN_AGENT = 4403


def same_origin(scope: dict[str, Any]) -> bool:
    headers = dict(scope.get("headers", []))
    origin = headers.get(b"origin", b"").decode("latin-1")
    host = headers.get(b"host", b"").decode("latin-1")
    return not origin or urlsplit(origin).netloc == host


class ConsoleConsumer(AsyncJsonWebsocketConsumer):
    agent: Agent

    async def connect(self) -> None:
        if not same_origin(self.scope):
            # Another site's page must not open a socket that carries an agent's cookie.
            await self.close(code=CLOSE_NOT_AN_AGENT)
            return
        user = self.scope.get("user")
        agent = await database_sync_to_async(selectors.agent_for)(user) if user else None
        if agent is None:
            await self.close(code=CLOSE_NOT_AN_AGENT)
            return
        self.agent = agent
        self.groups_joined: set[str] = set()
        self.watching: int | None = None
        await self.accept()
        if await database_sync_to_async(selectors.sees_everything)(user, agent):
            await self._join(escalation_services.SUPERVISORS_GROUP)
        for team_id in await database_sync_to_async(self._team_ids)():
            await self._join(escalation_services.team_group(team_id))
        await self._join(escalation_services.agent_group(agent.pk))
        await database_sync_to_async(services.presence_seen)(agent=agent)

    def _team_ids(self) -> list[int]:
        return list(self.agent.teams.values_list("pk", flat=True))

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.add(group)

    async def _leave(self, group: str) -> None:
        await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined.discard(group)

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        # The console sends only what console.js writes: anything else is ignored, rather
        # than closing an agent's socket with a traceback.
        try:
            return json.loads(text_data)
        except (ValueError, RecursionError):
            return None

    async def receive_json(self, content: Any, **kwargs) -> None:
        if not isinstance(content, dict):
            return
        match content.get("type"):
            case "ping":
                await database_sync_to_async(services.presence_seen)(agent=self.agent)
                await self.send_json({"type": "pong"})
            case "watch":
                await self._watch(content.get("conversation"))
            case "typing" if self.watching is not None:
                await database_sync_to_async(chat_services.typing_announce)(
                    conversation_id=self.watching,
                    author="agent",
                    name=self.agent.display_name,
                    active=bool(content.get("active")),
                )
            case "presence":
                await self._auto_presence(content.get("presence"))

    async def _watch(self, conversation_id: Any) -> None:
        """Follow one conversation, if this agent may see it."""
        if not isinstance(conversation_id, int):
            return
        user = self.scope["user"]
        allowed = await database_sync_to_async(
            lambda: selectors.conversations_for(user).filter(pk=conversation_id).exists()
        )()
        if not allowed:
            await self.send_json({"type": "error", "code": "not_found"})
            return
        if self.watching is not None:
            await self._leave(realtime.conversation_group(self.watching))
            await self._leave(services.conversation_agents_group(self.watching))
        self.watching = conversation_id
        await self._join(realtime.conversation_group(conversation_id))
        await self._join(services.conversation_agents_group(conversation_id))

    async def _auto_presence(self, presence: Any) -> None:
        """The console went idle (away) or came back (online); a manual choice stands."""
        agent = await database_sync_to_async(Agent.objects.get)(pk=self.agent.pk)
        if presence == "away" and agent.presence == Agent.Presence.ONLINE:
            await database_sync_to_async(services.presence_set)(agent=agent, presence="away")
        elif presence == "online" and agent.presence == Agent.Presence.AWAY:
            await database_sync_to_async(services.presence_set)(agent=agent, presence="online")
        self.agent = agent

    # Group events --------------------------------------------------------------------------

    async def queue_changed(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "queue", "team": event["team_id"]})

    async def agent_assigned(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "assigned", "handoff": event["handoff_id"]})

    async def agent_unassigned(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "unassigned", "handoff": event["handoff_id"]})

    async def agents_changed(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "agents"})

    async def metrics_changed(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "metrics"})

    async def alert_raised(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "alert", "text": event["text"]})

    async def conversation_message(self, event: dict[str, Any]) -> None:
        html = await database_sync_to_async(self._line)(
            event["conversation_id"], event["frame"]["seq"]
        )
        if html:
            await self.send_json(
                {
                    "type": "line",
                    "conversation": event["conversation_id"],
                    "seq": event["frame"]["seq"],
                    "author": event["frame"]["author"],
                    "html": html,
                }
            )

    def _line(self, conversation_id: int, seq: int) -> str:
        message = selectors.message_for_console(conversation_id, seq)
        if message is None:
            return ""
        return render_to_string("agents/partials/message.html", {"message": message})

    async def conversation_typing(self, event: dict[str, Any]) -> None:
        if event["author"] == "customer":
            await self.send_json({"type": "typing", "active": event["active"]})

    async def conversation_changed(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "changed", "conversation": event["conversation_id"]})

    async def console_changed(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "changed", "conversation": event["conversation_id"]})

    async def conversation_status(self, event: dict[str, Any]) -> None:
        """The customer's queue status: the console shows it through its own panels."""

    async def conversation_started(self, event: dict[str, Any]) -> None:
        """Only customers' widgets care."""

    async def conversation_stream(self, event: dict[str, Any]) -> None:
        """The console shows the AI's answer once it is complete."""

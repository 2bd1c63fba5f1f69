"""The customer widget's websocket: a translator between frames and chat services.

Protocol: docs/widget-protocol.md. The socket never closes because of bad input; it
answers with an ``error`` frame and stays usable.
"""

import asyncio
import logging
import time
import weakref
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from agents import services as agent_services
from chat import frames, i18n, presence, realtime, selectors, services
from chat.frames import FrameError
from chat.models import Conversation, Site
from escalation import services as escalation_services
from project.database_threads import database_sync_to_async

logger = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's own).
CLOSE_UNKNOWN_SITE = 4404
CLOSE_ORIGIN_REFUSED = 4403
CLOSE_NO_HELLO = 4400
CLOSE_IDLE = 4408

HELLO_TIMEOUT_SECONDS = 15
# How often a message the widget saw no ack for may be sent again without counting as new.
FREE_RESENDS = 3


class Watchdog:
    """Closes widget sockets that never said hello, and half-open ones gone silent.

    One task per event loop looks at every socket, rather than one task per socket: a
    server holds thousands of idle sockets, and each task would cost memory and wake-ups.
    """

    def __init__(self) -> None:
        self.sockets: weakref.WeakSet[WidgetConsumer] = weakref.WeakSet()
        self.task: asyncio.Task | None = None

    def add(self, consumer: "WidgetConsumer") -> None:
        self.sockets.add(consumer)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, consumer: "WidgetConsumer") -> None:
        self.sockets.discard(consumer)

    async def _run(self) -> None:
        while self.sockets:
            await asyncio.sleep(min(2, settings.BATON_SOCKET_IDLE_SECONDS / 2))
            now = time.monotonic()
            for consumer in list(self.sockets):
                code = consumer.overdue(now)
                if code is None:
                    continue
                self.sockets.discard(consumer)
                try:
                    await consumer.close(code=code)
                except Exception:
                    # One socket that cannot be closed must not stop the checks for the rest.
                    logger.exception("closing a silent widget socket failed")


_watchdogs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Watchdog]" = (
    weakref.WeakKeyDictionary()
)


def watchdog() -> Watchdog:
    """This event loop's watchdog."""
    loop = asyncio.get_running_loop()
    if loop not in _watchdogs:
        _watchdogs[loop] = Watchdog()
    return _watchdogs[loop]


def origin_allowed(scope: dict[str, Any], site: Site) -> bool:
    """Same-origin (Baton's own iframe) or one of the site's allowed origins.

    Browsers always send Origin on websocket handshakes; a client without one is not a
    browser page and cannot be a cross-site attack, so it is let through.
    """
    headers = dict(scope.get("headers", []))
    origin = headers.get(b"origin", b"").decode("latin-1").rstrip("/")
    if not origin:
        return True
    host = headers.get(b"host", b"").decode("latin-1")
    if urlsplit(origin).netloc == host:
        return True
    return origin in site.origins


class WidgetConsumer(AsyncJsonWebsocketConsumer):
    site: Site
    session: services.WidgetSession | None
    conversation: Conversation | None

    async def connect(self) -> None:
        site_key = self.scope["url_route"]["kwargs"]["site_key"]
        site = await database_sync_to_async(selectors.site_get)(key=site_key)
        if site is None:
            await self.close(code=CLOSE_UNKNOWN_SITE)
            return
        if not origin_allowed(self.scope, site):
            logger.info("widget socket refused for origin on site %s", site_key)
            await self.close(code=CLOSE_ORIGIN_REFUSED)
            return
        self.site = site
        # Errors, welcome and history speak the visitor's language (chat.i18n).
        self.language = i18n.language_of(self.scope)
        self.session = None
        self.conversation = None
        self.page: frames.PageInfo | None = None
        self.context: dict[str, Any] = {}
        # Each message of the last minute: when, its key, and whether it counted.
        self.sent_at: deque[tuple[float, str, bool]] = deque()
        self.connected_at = self.last_heard = time.monotonic()
        self.groups_joined: set[str] = set()
        await self.accept()
        watchdog().add(self)

    async def disconnect(self, code: int) -> None:
        watchdog().discard(self)
        for group in getattr(self, "groups_joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    def overdue(self, now: float) -> int | None:
        """The close code if this socket has been silent too long, else None."""
        if self.session is None and now - self.connected_at > HELLO_TIMEOUT_SECONDS:
            return CLOSE_NO_HELLO
        if now - self.last_heard > settings.BATON_SOCKET_IDLE_SECONDS:
            return CLOSE_IDLE
        return None

    # Inbound -----------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.last_heard = time.monotonic()
        with translation.override(self.language):
            await self._receive(text_data, bytes_data)

    async def _receive(self, text_data: str | None, bytes_data: bytes | None) -> None:
        frame: dict[str, Any] | None = None
        try:
            frame = frames.decode(text_data, bytes_data)
            await self.handle(frame)
        except FrameError as error:
            await self.send_json({**frames.message_reference(frame), **error.as_frame()})
        except Exception:
            logger.exception("widget frame failed")
            await self.send_error(
                "server_error",
                _("Something went wrong on our side. Please try again."),
                **frames.message_reference(frame),
            )

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "ping":
            await self.send_json({"type": "pong"})
            return
        if kind == "hello":
            await self.hello(frame)
            return
        if kind not in {
            "message",
            "page",
            "context",
            "identify",
            "typing",
            "resume",
            "followup",
            "rating",
        }:
            raise FrameError(
                "unknown_type", _('Unknown frame type "%(type)s".') % {"type": kind[:40]}
            )
        if self.session is None:
            raise FrameError("hello_required", _('Send a "hello" frame first.'))
        match kind:
            case "message":
                await self.message(frame)
            case "page":
                await self.page_changed(frame)
            case "context":
                await self.context_changed(frame)
            case "identify":
                await self.identify(frame)
            case "typing":
                await self.typing(frame)
            case "resume":
                await self.send_history(after=frames.sequence(frame.get("after"), "after"))
            case "followup":
                await self.followup(frame)
            case "rating":
                await self.rate(frame)

    async def hello(self, frame: dict[str, Any]) -> None:
        if self.session is not None:
            raise FrameError("hello_repeated", _("This socket has already said hello."))
        asked, ignored = frames.hello(frame)
        for error in ignored:
            await self.send_json(error.as_frame())
        self.page = asked.page
        self.context = dict(asked.context)
        requested = asked.conversation
        session = await database_sync_to_async(services.widget_hello)(
            site=self.site,
            token=asked.token,
            identity=asked.identity,
            conversation_id=requested,
            page=self.page,
            context=self.context,
        )
        self.session = session
        await self._join(realtime.contact_group(session.contact.pk))
        if session.identity_error is not None:
            await self.send_error(session.identity_error.code, session.identity_error.message)
        if session.conversation_refused:
            await self.send_error("not_found", _("That conversation does not exist."))
        await self.send_json(await self._welcome())
        if session.conversation is not None:
            await self._attach(session.conversation)
            same = requested is not None and requested == session.conversation.public_id
            await self.send_history(after=asked.last_seq if same else 0)
            await self.send_status()

    async def message(self, frame: dict[str, Any]) -> None:
        client_id = frames.client_id(frame)
        body = frames.message_body(frame, client_id=client_id)
        page = frames.page(frame.get("page")) or self.page
        self._check_rate(client_id, client_id=client_id)
        if self.conversation is None:
            contact = self.session.contact.pk
            conversation, created = await database_sync_to_async(
                services.widget_conversation_start
            )(session=self.session, page=page, context=self.context)
            if self.session.contact.pk != contact:
                # Another tab of this browser signed in: this one is that customer now.
                await self._join(realtime.contact_group(self.session.contact.pk))
            await self._attach(conversation)
            await self.send_json(
                {"type": "conversation", **selectors.conversation_frame(conversation)}
            )
            if not created:
                await self.send_history(after=0)
        result = await database_sync_to_async(services.customer_message_post)(
            conversation=self.conversation, client_id=client_id, body=body, page=page
        )
        await self.send_json(
            {
                "type": "ack",
                "client_id": client_id,
                "seq": result.message.seq,
                "duplicate": not result.created,
            }
        )

    def _check_rate(self, key: str, *, client_id: str = "") -> None:
        """Refuse more than BATON_MESSAGES_PER_MINUTE new messages (and follow-up
        requests) a minute.

        A frame sent again under the same key (the widget resends a message it saw no ack
        for, under its client_id) was counted when it first got through: a few resends are
        let through free, and the store keeps the message once. More count as new ones.
        """
        now = time.monotonic()
        while self.sent_at and now - self.sent_at[0][0] > 60:
            self.sent_at.popleft()
        sends = sum(1 for _at, sent, _counted in self.sent_at if sent == key)
        if 0 < sends <= FREE_RESENDS:
            self.sent_at.append((now, key, False))
            return
        counted = [at for at, _sent, counts in self.sent_at if counts]
        if len(counted) >= settings.BATON_MESSAGES_PER_MINUTE:
            retry_after = max(1, int(60 - (now - counted[0])) + 1)
            raise FrameError(
                "rate_limited",
                _("You are sending messages too quickly; your message will be sent shortly."),
                client_id=client_id,
                retry_after=retry_after,
            )
        self.sent_at.append((now, key, True))

    async def page_changed(self, frame: dict[str, Any]) -> None:
        page = frames.page(frame.get("page"))
        if page is None:
            raise FrameError("missing_field", _('A page frame needs "page".'), field="page")
        self.page = page
        if self.conversation is not None:
            await database_sync_to_async(services.page_record)(
                conversation=self.conversation, page=page
            )

    async def context_changed(self, frame: dict[str, Any]) -> None:
        facts = frames.context(frame.get("context"))
        self.context.update(facts)
        if self.conversation is not None:
            await database_sync_to_async(services.context_update)(
                conversation=self.conversation, facts=facts
            )

    async def identify(self, frame: dict[str, Any]) -> None:
        identity = frames.identity(frame.get("identity"))
        if identity is None:
            raise FrameError("missing_field", _('"identity" is required.'), field="identity")
        previous_contact = self.session.contact.pk
        session = await database_sync_to_async(services.widget_identify)(
            visitor=self.session.visitor, token=self.session.token, identity=identity
        )
        self.session = session
        if session.identity_error is not None:
            await self.send_error(session.identity_error.code, session.identity_error.message)
        if session.contact.pk != previous_contact:
            await self._join(realtime.contact_group(session.contact.pk))
        await self.send_json(await self._welcome())
        if session.conversation is not None and (
            self.conversation is None or session.conversation.pk != self.conversation.pk
        ):
            await self._attach(session.conversation)
            await self.send_history(after=0)

    async def followup(self, frame: dict[str, Any]) -> None:
        email = frames.email(frame)
        self._check_rate(f"followup:{email}")
        if self.conversation is None:
            raise FrameError("not_found", _("There is no conversation to follow up on yet."))
        try:
            await database_sync_to_async(escalation_services.followup_request)(
                conversation=self.conversation, email=email
            )
        except escalation_services.FollowUpRefused as refused:
            raise FrameError("followup_refused", str(refused)) from None

    async def rate(self, frame: dict[str, Any]) -> None:
        score, comment = frames.rating(frame)
        if self.conversation is None:
            raise FrameError("not_found", _("There is no conversation to rate yet."))
        try:
            await database_sync_to_async(agent_services.conversation_rate)(
                conversation=self.conversation, score=score, comment=comment
            )
        except agent_services.ActionRefused as refused:
            raise FrameError("rating_refused", str(refused)) from None
        await self.send_json({"type": "rated", "score": score})

    async def typing(self, frame: dict[str, Any]) -> None:
        if self.conversation is None:
            return
        await database_sync_to_async(services.typing_announce)(
            conversation_id=self.conversation.pk,
            author="customer",
            name=self.session.contact.display_name,
            active=bool(frame.get("active")),
        )

    # Outbound ----------------------------------------------------------------------------

    async def send_error(self, code: str, message: str, **extra: Any) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, **extra})

    async def send_history(self, *, after: int) -> None:
        if self.conversation is None:
            await self.send_json({"type": "history", "messages": [], "last_seq": 0})
            return
        messages = await database_sync_to_async(self._history)(after)
        await self.send_json(
            {"type": "history", "messages": messages, "last_seq": self.conversation.last_seq}
        )

    def _history(self, after: int) -> list[dict[str, Any]]:
        self.conversation.refresh_from_db(fields=["last_seq", "state"])
        messages = selectors.messages_after(conversation=self.conversation, seq=after)
        if messages:
            presence.shown(conversation=self.conversation.public_id, seq=messages[-1].seq)
        return [selectors.message_frame(message) for message in messages]

    async def send_status(self) -> None:
        """Where the customer stands with a human (queue place, wait), when that applies."""
        if self.conversation is None:
            return
        await self.send_json(await database_sync_to_async(self._state_frame)())
        frame = await database_sync_to_async(escalation_services.status_frame)(
            conversation=self.conversation
        )
        if frame is not None:
            await self.send_json(frame)

    async def _welcome(self) -> dict[str, Any]:
        contact = self.session.contact
        conversation = self.session.conversation
        return {
            "type": "welcome",
            "token": self.session.token,
            "contact": {"name": contact.name, "verified": contact.verified},
            "conversation": selectors.conversation_frame(conversation) if conversation else None,
        }

    async def _attach(self, conversation: Conversation) -> None:
        if self.conversation is not None:
            group = realtime.conversation_group(self.conversation.pk)
            await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined.discard(group)
        self.conversation = conversation
        await self._join(realtime.conversation_group(conversation.pk))

    async def _join(self, group: str) -> None:
        if group not in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.add(group)

    # Group events ------------------------------------------------------------------------

    async def conversation_message(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])
        conversation = self.conversation
        if (
            conversation is not None
            and conversation.pk == event["conversation_id"]
            and presence.worth_recording(event["frame"])
        ):
            await database_sync_to_async(presence.shown)(
                conversation=conversation.public_id, seq=event["frame"]["seq"]
            )

    async def conversation_status(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])

    async def conversation_stream(self, event: dict[str, Any]) -> None:
        """An answer as it is being written; the stored message replaces it."""
        await self.send_json(
            {
                "type": "stream",
                "reply_to": event["reply_to"],
                "text": event["text"],
                "html": event["html"],
            }
        )

    async def conversation_typing(self, event: dict[str, Any]) -> None:
        if event["author"] != "customer":
            await self.send_json(
                {
                    "type": "typing",
                    "author": event["author"],
                    "name": event["name"],
                    "active": event["active"],
                }
            )

    async def conversation_changed(self, event: dict[str, Any]) -> None:
        if self.conversation is None or event["what"] not in {"state", "status"}:
            return
        await self.send_json(await database_sync_to_async(self._state_frame)())

    def _state_frame(self) -> dict[str, Any]:
        self.conversation.refresh_from_db()
        rated = self.conversation.ratings.filter(
            created_at__gte=self.conversation.resolved_at or self.conversation.created_at
        ).exists()
        return {"type": "state", **selectors.conversation_frame(self.conversation), "rated": rated}

    async def conversation_started(self, event: dict[str, Any]) -> None:
        """Another tab of this customer started a conversation: follow it here too."""
        if self.conversation is not None and str(self.conversation.public_id) == event["public_id"]:
            return
        conversation = await database_sync_to_async(selectors.conversation_for_contact)(
            contact=self.session.contact, public_id=event["public_id"]
        )
        if conversation is not None:
            await self._attach(conversation)
            await self.send_json(
                {"type": "conversation", **selectors.conversation_frame(conversation)}
            )
            await self.send_history(after=0)

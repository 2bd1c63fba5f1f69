"""The widget protocol's edge: turn raw frames into checked values, or a clear error.

docs/widget-protocol.md documents every frame and error code defined here.
"""

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from project.text import has_nul

# A frame larger than this is refused before it is parsed.
MAX_FRAME_BYTES = 64 * 1024
# No frame needs more than a few levels (hello.identity.user_id is three).
MAX_FRAME_DEPTH = 16
MAX_CONTEXT_KEYS = 30
MAX_IDENTITY_TOKEN_CHARS = 8192
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")


class FrameError(Exception):
    """An input-shape problem. The socket stays open; the client gets an ``error`` frame."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    def as_frame(self) -> dict[str, Any]:
        return {"type": "error", "code": self.code, "message": self.message, **self.extra}


@dataclass(frozen=True)
class PageInfo:
    path: str
    title: str = ""
    url: str = ""
    referrer: str = ""


def decode(text_data: str | None, bytes_data: bytes | None) -> dict[str, Any]:
    if bytes_data is not None:
        raise FrameError(
            "binary_unsupported", _("Binary frames are not supported; send JSON text.")
        )
    if text_data is None:
        raise FrameError("bad_json", _("The frame was empty."))
    if len(text_data.encode()) > MAX_FRAME_BYTES:
        raise FrameError(
            "frame_too_large",
            _("The frame is larger than %(limit)d KB.") % {"limit": MAX_FRAME_BYTES // 1024},
        )
    try:
        frame = json.loads(text_data)
    except RecursionError:
        # A few KB of brackets is enough to reach Python's recursion limit while parsing.
        raise FrameError("bad_json", _("The frame is nested too deeply.")) from None
    except ValueError:
        raise FrameError("bad_json", _("The frame is not valid JSON.")) from None
    if not isinstance(frame, dict):
        raise FrameError("bad_json", _("A frame must be a JSON object."))
    if _deeper_than(frame, MAX_FRAME_DEPTH):
        raise FrameError("bad_json", _("The frame is nested too deeply."))
    # A hello's fields are looked at one by one (see hello()): a NUL character in one of
    # them costs that field only, not the whole session.
    if frame.get("type") != "hello" and has_nul(frame):
        raise FrameError(
            "nul_character",
            _("The frame contains a NUL character, which Baton cannot store."),
            **message_reference(frame),
        )
    if not isinstance(frame.get("type"), str):
        raise FrameError("missing_field", _('Every frame needs a "type".'), field="type")
    return frame


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and objects nest more than ``limit`` levels (looked at without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def message_reference(frame: dict[str, Any] | None) -> dict[str, str]:
    """``{"client_id": ...}`` when the frame is a message with a valid client_id, else ``{}``.

    Every error answering a message carries it, so the widget knows which message failed.
    """
    if not isinstance(frame, dict) or frame.get("type") != "message":
        return {}
    value = frame.get("client_id")
    if isinstance(value, str) and _CLIENT_ID.match(value):
        return {"client_id": value}
    return {}


def text_field(frame: dict[str, Any], name: str, *, required: bool = True, limit: int = 500) -> str:
    value = frame.get(name)
    if value is None or value == "":
        if required:
            raise FrameError(
                "missing_field",
                _('The field "%(field)s" is required.') % {"field": name},
                field=name,
            )
        return ""
    if not isinstance(value, str):
        raise FrameError(
            "invalid_field",
            _('The field "%(field)s" must be text.') % {"field": name},
            field=name,
        )
    return value[:limit]


def client_id(frame: dict[str, Any]) -> str:
    value = text_field(frame, "client_id")
    if not _CLIENT_ID.match(value):
        raise FrameError(
            "invalid_field",
            _("client_id must be 8 to 64 letters, digits, dashes or underscores."),
            field="client_id",
        )
    return value


def message_body(frame: dict[str, Any], *, client_id: str) -> str:
    body = frame.get("body")
    if not isinstance(body, str):
        raise FrameError(
            "missing_field",
            _('A message needs a "body" of text.'),
            field="body",
            client_id=client_id,
        )
    body = body.strip()
    if not body:
        raise FrameError("empty_message", _("The message is empty."), client_id=client_id)
    limit = settings.BATON_MAX_MESSAGE_CHARS
    if len(body) > limit:
        raise FrameError(
            "message_too_long",
            _("Messages can be at most %(limit)d characters; this one has %(length)d.")
            % {"limit": limit, "length": len(body)},
            client_id=client_id,
            limit=limit,
        )
    return body


def page(value: Any) -> PageInfo | None:
    """A page description from the widget; None when absent. Only the path is required."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FrameError("invalid_field", _('"page" must be an object.'), field="page")
    path = value.get("path")
    url = value.get("url") if isinstance(value.get("url"), str) else ""
    if not isinstance(path, str) or not path:
        path = urlsplit(url).path if url else ""
    if not path.startswith("/"):
        raise FrameError(
            "invalid_field",
            _('"page.path" must be a URL path such as /pricing.'),
            field="page.path",
        )
    title = value.get("title") if isinstance(value.get("title"), str) else ""
    referrer = value.get("referrer") if isinstance(value.get("referrer"), str) else ""
    return PageInfo(path=path[:1000], title=title[:300], url=url[:2000], referrer=referrer[:2000])


def context(value: Any) -> dict[str, str | int | float | bool]:
    """Host-supplied facts: a flat object of short scalar values."""
    if not isinstance(value, dict):
        raise FrameError("invalid_field", _('"context" must be an object.'), field="context")
    if len(value) > MAX_CONTEXT_KEYS:
        raise FrameError(
            "invalid_field",
            _('"context" can hold at most %(limit)d keys.') % {"limit": MAX_CONTEXT_KEYS},
            field="context",
        )
    facts: dict[str, str | int | float | bool] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > 60:
            raise FrameError(
                "invalid_field", _("Context keys must be short text."), field="context"
            )
        if isinstance(item, bool | int | float):
            facts[key] = item
        elif isinstance(item, str):
            facts[key] = item[:500]
        elif item is None:
            continue
        else:
            raise FrameError(
                "invalid_field",
                _('Context values must be text, numbers or true/false ("%(key)s" is not).')
                % {"key": key},
                field="context",
            )
    return facts


EMAIL_CHARS = 254


def email(frame: dict[str, Any]) -> str:
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    value = text_field(frame, "email", limit=10_000).strip()
    if len(value) > EMAIL_CHARS:
        # Never cut: a shortened address could still look valid and be someone else's.
        raise FrameError(
            "invalid_field",
            _("An email address has at most %(count)d characters.") % {"count": EMAIL_CHARS},
            field="email",
        )
    try:
        validate_email(value)
    except ValidationError:
        raise FrameError(
            "invalid_field", _("That does not look like an email address."), field="email"
        ) from None
    return value


def rating(frame: dict[str, Any]) -> tuple[int, str]:
    score = frame.get("score")
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise FrameError(
            "invalid_field", _("A rating is a whole number from 1 to 5."), field="score"
        )
    return score, text_field(frame, "comment", required=False, limit=2000)


def conversation_id(value: Any) -> uuid.UUID | None:
    if value is None or value == "":
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise FrameError(
            "not_found", _("That conversation does not exist."), field="conversation"
        ) from None


def sequence(value: Any, field: str) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FrameError(
            "invalid_field",
            _('"%(field)s" must be a whole number.') % {"field": field},
            field=field,
        )
    return value


@dataclass(frozen=True)
class UserHash:
    """The id-only alternative to a signed token: HMAC-SHA256(site secret, user_id)."""

    user_id: str
    user_hash: str
    name: str = ""
    email: str = ""


def identity(value: Any) -> str | UserHash | None:
    """A signed token (a string), a user id with its hash (an object), or nothing."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if len(value) > MAX_IDENTITY_TOKEN_CHARS:
            raise FrameError("identity_invalid", _("The identity token is too long."))
        return value
    if isinstance(value, dict):
        user_id = value.get("user_id")
        user_hash = value.get("user_hash")
        if isinstance(user_id, int) and not isinstance(user_id, bool):
            user_id = str(user_id)
        if not isinstance(user_id, str) or not isinstance(user_hash, str):
            raise FrameError("identity_invalid", _('An identity needs "user_id" and "user_hash".'))
        name = value.get("name") if isinstance(value.get("name"), str) else ""
        email = value.get("email") if isinstance(value.get("email"), str) else ""
        # The user id is not cut: a shortened id could be another user's (the service
        # refuses one too long to store).
        return UserHash(user_id, user_hash[:128], name[:200], email[:200])
    raise FrameError(
        "identity_invalid", _("An identity is a signed token or a user id with its hash.")
    )


@dataclass(frozen=True)
class Hello:
    """What a hello asks for; every field may be left out."""

    token: str = ""
    conversation: uuid.UUID | None = None
    last_seq: int = 0
    page: PageInfo | None = None
    context: dict[str, str | int | float | bool] = field(default_factory=dict)
    identity: str | UserHash | None = None


def hello(frame: dict[str, Any]) -> tuple[Hello, list[FrameError]]:
    """A hello's fields, and an error for each one that was malformed and so left out.

    A bad field never fails the hello itself: the widget sends the same hello again on
    every reconnect, so refusing it would leave the visitor without a chat for good.
    The hello goes on without it (no token: a new visitor; no identity: anonymous; no
    conversation: the visitor's own).
    """
    ignored: list[FrameError] = []

    def optional(name: str, parse: Callable[[Any], Any], default: Any) -> Any:
        value = frame.get(name)
        try:
            if has_nul(value):
                raise FrameError(
                    "nul_character",
                    _("The field contains a NUL character, which Baton cannot store."),
                )
            return parse(value)
        except FrameError as error:
            error.extra.setdefault("field", name)
            ignored.append(error)
            return default

    parsed = Hello(
        token=optional(
            "token", lambda _value: text_field(frame, "token", required=False, limit=200), ""
        ),
        conversation=optional("conversation", conversation_id, None),
        last_seq=optional("last_seq", lambda value: sequence(value, "last_seq"), 0),
        page=optional("page", page, None),
        context=optional("context", lambda value: {} if value is None else context(value), {}),
        identity=optional("identity", identity, None),
    )
    return parsed, ignored

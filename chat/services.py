"""Every write to contacts, conversations, messages and the knowledge base.

Each function runs in one transaction and broadcasts or enqueues only on commit.
"""

import datetime as dt
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _

from chat import realtime, selectors
from chat.frames import PageInfo, UserHash
from chat.i18n import customer_language
from chat.kb_import import ParsedArticle
from chat.models import (
    Article,
    Contact,
    Conversation,
    ConversationEvent,
    ExampleQuestion,
    KnowledgeBaseRevision,
    Message,
    PageVisit,
    Site,
    Visitor,
    token_digest,
)
from project.text import NUL, has_nul


class IdentityRejected(Exception):
    """An identity the host page passed could not be verified; the visitor stays anonymous."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PostResult:
    message: Message
    created: bool


@dataclass
class WidgetSession:
    """Who is on the other end of a widget socket, after its hello."""

    visitor: Visitor
    token: str
    conversation: Conversation | None
    identity_error: IdentityRejected | None = None
    # The widget asked for a conversation that is not this visitor's.
    conversation_refused: bool = False

    @property
    def contact(self) -> Contact:
        return self.visitor.contact


# Visitors and identity -----------------------------------------------------------------


def visitor_start(*, site: Site, token: str = "") -> tuple[Visitor, str]:
    """The visitor a browser token belongs to, or a new anonymous one.

    Returns the visitor and the token the browser should keep: the same one, or a new one
    when the given token was missing or unknown (another site's token is unknown here).
    """
    if token:
        visitor = (
            Visitor.objects.select_related("contact")
            .filter(site=site, token_digest=token_digest(token))
            .first()
        )
        if visitor is not None:
            Visitor.objects.filter(pk=visitor.pk).update(last_seen_at=timezone.now())
            return visitor, token
    new_token = secrets.token_urlsafe(32)
    with transaction.atomic():
        contact = Contact.objects.create(site=site)
        visitor = Visitor.objects.create(
            site=site, contact=contact, token_digest=token_digest(new_token)
        )
    return visitor, new_token


def _verified_claims(*, site: Site, token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(
            token,
            site.identity_secret,
            algorithms=["HS256"],
            options={"require": ["exp", "sub"]},
            leeway=30,
        )
    except jwt.ExpiredSignatureError:
        raise IdentityRejected("identity_expired", _("The identity token has expired.")) from None
    except jwt.InvalidTokenError:
        raise IdentityRejected(
            "identity_invalid", _("The identity token could not be verified.")
        ) from None
    issued_at = claims.get("iat", time.time())
    if not isinstance(issued_at, int | float) or claims["exp"] - issued_at > (
        settings.BATON_IDENTITY_MAX_AGE
    ):
        raise IdentityRejected(
            "identity_invalid", _("The identity token lives longer than this site allows.")
        )
    if not isinstance(claims["sub"], str | int) or not str(claims["sub"]).strip():
        raise IdentityRejected("identity_invalid", _("The identity token has no user id."))
    if has_nul(claims):
        raise IdentityRejected(
            "identity_invalid", _("The identity token contains a NUL character.")
        )
    _external_id_check(str(claims["sub"]))
    # Cut, a tier would be another tier (or none the rules know) and an address another
    # address, so a claim too long for its column is refused; a name is only shown.
    for claim in ("tier", "email"):
        value = claims.get(claim)
        limit = _column_length(claim)
        if isinstance(value, str) and len(value.strip()) > limit:
            raise IdentityRejected(
                "identity_invalid",
                _('The identity token\'s "%(claim)s" is longer than %(limit)d characters.')
                % {"claim": claim, "limit": limit},
            )
    return claims


def _column_length(field: str) -> int:
    return Contact._meta.get_field(field).max_length


def _external_id_check(external_id: str) -> None:
    """A user id too long to store is refused: cut, it could be another user's id."""
    limit = _column_length("external_id")
    if len(external_id) > limit:
        raise IdentityRejected(
            "identity_invalid",
            _("The user id is longer than %(limit)d characters.") % {"limit": limit},
        )


def _unverified_details(token: str) -> dict[str, str]:
    """What a rejected token claimed, kept for agents as unverified details only."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return {}
    return {
        key: str(claims[key]).replace(NUL, "")[:200] for key in ("name", "email") if claims.get(key)
    }


def _contact_for_external_id(*, visitor: Visitor, external_id: str) -> Contact:
    """The contact that owns this user id, merging the anonymous visitor into it."""
    current = visitor.contact
    contact = Contact.objects.filter(site=visitor.site, external_id=external_id).first()
    if contact is None:
        if current.external_id:
            # This browser belonged to another user: start a fresh contact for this one.
            contact = Contact.objects.create(site=visitor.site, external_id=external_id)
        else:
            contact = current
            contact.external_id = external_id
    elif contact.pk != current.pk and not current.external_id:
        # The anonymous chats of this browser are the identified user's chats.
        Conversation.objects.filter(contact=current).update(contact=contact)
        Visitor.objects.filter(contact=current).update(contact=contact)
        current.delete()
    if visitor.contact_id != contact.pk:
        visitor.contact = contact
        visitor.save(update_fields=["contact"])
    return contact


def contact_identify(*, visitor: Visitor, token: str) -> Contact:
    """Trust the claims of a token the host's server signed: id, name, email, tier, attributes."""
    site = visitor.site
    try:
        claims = _verified_claims(site=site, token=token)
    except IdentityRejected as rejected:
        _identity_rejected(
            visitor=visitor, reason=rejected.code, details=_unverified_details(token)
        )
        raise
    with transaction.atomic():
        contact = _contact_for_external_id(visitor=visitor, external_id=str(claims["sub"]))
        contact.identity = Contact.Identity.TOKEN
        for field in ("name", "email", "tier"):
            if isinstance(claims.get(field), str):
                # Only a name can be too long here (_verified_claims refused the others).
                setattr(contact, field, claims[field].strip()[: _column_length(field)])
        contact.tier = contact.tier.lower()
        if isinstance(claims.get("attributes"), dict):
            contact.attributes = claims["attributes"]
        contact.claimed = {}
        contact.last_seen_at = timezone.now()
        contact.save()
        _contact_identified(contact=contact)
    return contact


def contact_identify_user_hash(
    *, visitor: Visitor, user_id: str, user_hash: str, name: str = "", email: str = ""
) -> Contact:
    """Trust only the user id (HMAC-SHA256 of it with the site secret); the rest is claimed."""
    expected = hmac.new(
        visitor.site.identity_secret.encode(), user_id.encode(), hashlib.sha256
    ).hexdigest()
    details = {key: value for key, value in (("name", name), ("email", email)) if value}
    try:
        _external_id_check(user_id)
        if not user_id or not hmac.compare_digest(expected, user_hash.lower()):
            raise IdentityRejected(
                "identity_invalid", _("The user hash does not match the user id.")
            )
    except IdentityRejected as rejected:
        _identity_rejected(visitor=visitor, reason=rejected.code, details=details)
        raise
    with transaction.atomic():
        contact = _contact_for_external_id(visitor=visitor, external_id=user_id)
        if contact.identity == Contact.Identity.ANONYMOUS:
            contact.identity = Contact.Identity.USER_HASH
        # Tier and attributes never come from the browser on this path.
        contact.claimed = details
        contact.last_seen_at = timezone.now()
        contact.save()
        _contact_identified(contact=contact)
    return contact


def _identity_rejected(*, visitor: Visitor, reason: str, details: dict[str, str]) -> None:
    with transaction.atomic():
        contact = visitor.contact
        if contact.identity == Contact.Identity.ANONYMOUS:
            contact.claimed = {**details, "rejected": reason}
            contact.save(update_fields=["claimed"])
        conversation = selectors.conversation_current(contact=contact)
        if conversation is not None:
            ConversationEvent.objects.create(
                conversation=conversation,
                kind=ConversationEvent.Kind.IDENTITY_REJECTED,
                data={"reason": reason},
            )


def _contact_identified(*, contact: Contact) -> None:
    conversation = selectors.conversation_current(contact=contact)
    if conversation is not None:
        ConversationEvent.objects.create(
            conversation=conversation,
            kind=ConversationEvent.Kind.IDENTIFIED,
            data={"identity": contact.identity, "tier": contact.tier},
        )
        realtime.broadcast_on_commit(
            realtime.conversation_group(conversation.pk),
            "conversation.changed",
            conversation_id=conversation.pk,
            what="contact",
        )


def widget_hello(
    *,
    site: Site,
    token: str,
    identity: str | UserHash | None,
    conversation_id: uuid.UUID | None,
    page: PageInfo | None,
    context: dict[str, Any],
) -> WidgetSession:
    """Open a widget session: the browser's visitor, its identity and its conversation."""
    visitor, token = visitor_start(site=site, token=token)
    session = WidgetSession(visitor=visitor, token=token, conversation=None)
    if identity is not None:
        session.identity_error = _identify(visitor=visitor, identity=identity)
    if conversation_id is not None:
        session.conversation = selectors.conversation_for_contact(
            contact=visitor.contact, public_id=conversation_id
        )
        session.conversation_refused = session.conversation is None
    if session.conversation is None:
        session.conversation = selectors.conversation_current(contact=visitor.contact)
    if session.conversation is not None:
        if page is not None:
            page_record(conversation=session.conversation, page=page)
        if context:
            context_update(conversation=session.conversation, facts=context)
    return session


def widget_identify(*, visitor: Visitor, token: str, identity: str | UserHash) -> WidgetSession:
    """Baton.identify() on an open widget: the visitor may now be another contact."""
    # Another tab of this browser may have signed in since this one's hello.
    visitor.refresh_from_db(fields=["contact"])
    session = WidgetSession(visitor=visitor, token=token, conversation=None)
    session.identity_error = _identify(visitor=visitor, identity=identity)
    session.conversation = selectors.conversation_current(contact=visitor.contact)
    return session


def widget_conversation_start(
    *, session: WidgetSession, page: PageInfo | None, context: dict[str, Any]
) -> tuple[Conversation, bool]:
    """The conversation for the first message of a widget socket, and whether it is new.

    The visitor's contact is read again first: since this socket's hello, another tab of
    the same browser may have signed in, which merges (and deletes) the anonymous contact
    this socket began with. The session then follows the signed-in contact, into its
    latest conversation if it has one, as a hello would.
    """
    with transaction.atomic():
        visitor = (
            Visitor.objects.select_for_update(of=("self",))
            .select_related("contact")
            .get(pk=session.visitor.pk)
        )
        session.visitor = visitor
        conversation = selectors.conversation_current(contact=visitor.contact)
        if conversation is not None:
            if context:
                context_update(conversation=conversation, facts=context)
            session.conversation = conversation
            return conversation, False
        session.conversation = conversation_start(
            contact=visitor.contact, page=page, context=context
        )
        return session.conversation, True


def _identify(*, visitor: Visitor, identity: str | UserHash) -> IdentityRejected | None:
    try:
        if isinstance(identity, UserHash):
            contact_identify_user_hash(
                visitor=visitor,
                user_id=identity.user_id,
                user_hash=identity.user_hash,
                name=identity.name,
                email=identity.email,
            )
        else:
            contact_identify(visitor=visitor, token=identity)
    except IdentityRejected as rejected:
        return rejected
    return None


RESUME_SALT = "baton.conversation.resume"
# A contact's "last seen" moves with their messages, at most once a minute (a write saved).
LAST_SEEN_PRECISION = dt.timedelta(minutes=1)


def resume_token(*, conversation: Conversation) -> str:
    """A signed, expiring capability to reopen this conversation (sent by email)."""
    return signing.dumps({"c": str(conversation.public_id)}, salt=RESUME_SALT, compress=True)


def conversation_resume(*, site: Site, token: str) -> tuple[Conversation, str] | None:
    """Open a conversation from an email link: a new browser token for its customer."""
    try:
        data = signing.loads(
            token, salt=RESUME_SALT, max_age=settings.BATON_RESUME_LINK_DAYS * 24 * 3600
        )
    except signing.BadSignature:
        return None
    conversation = Conversation.objects.filter(site=site, public_id=data.get("c")).first()
    if conversation is None:
        return None
    new_token = secrets.token_urlsafe(32)
    Visitor.objects.create(
        site=site, contact=conversation.contact, token_digest=token_digest(new_token)
    )
    return conversation, new_token


# Conversations -------------------------------------------------------------------------


def conversation_start(
    *, contact: Contact, page: PageInfo | None = None, context: dict[str, Any] | None = None
) -> Conversation:
    with transaction.atomic():
        conversation = Conversation.objects.create(
            site_id=contact.site_id,
            contact=contact,
            context=context or {},
            # The widget's socket speaks its visitor's language (chat.i18n).
            language=translation.get_language() or "",
        )
        ConversationEvent.objects.create(
            conversation=conversation, kind=ConversationEvent.Kind.CREATED
        )
        if page is not None:
            _page_append(conversation=conversation, page=page)
        realtime.broadcast_on_commit(
            realtime.contact_group(contact.pk),
            "conversation.started",
            public_id=str(conversation.public_id),
        )
    return conversation


def _same_address(visit: PageVisit | None, page: PageInfo) -> bool:
    """The page the customer was already on (query and hash count: a hash router's pages
    differ only there)."""
    if visit is None:
        return False
    if page.url and visit.url:
        return visit.url == page.url
    return visit.path == page.path


def _nothing_new(visit: PageVisit | None, page: PageInfo) -> bool:
    return _same_address(visit, page) and page.title in ("", visit.title)


def _page_append(*, conversation: Conversation, page: PageInfo) -> PageVisit:
    last = conversation.pages.order_by("-id").first()
    if _same_address(last, page):
        # A single-page app sets the new page's title just after it changes the address:
        # the same visit, now with its title.
        if not _nothing_new(last, page):
            last.title = page.title
            last.save(update_fields=["title"])
            realtime.broadcast_on_commit(
                realtime.conversation_group(conversation.pk),
                "conversation.changed",
                conversation_id=conversation.pk,
                what="page",
            )
        return last
    visit = PageVisit.objects.create(
        conversation=conversation,
        path=page.path,
        title=page.title,
        url=page.url,
        referrer=page.referrer,
    )
    ConversationEvent.objects.create(
        conversation=conversation,
        kind=ConversationEvent.Kind.PAGE,
        data={"path": page.path, "title": page.title},
    )
    realtime.broadcast_on_commit(
        realtime.conversation_group(conversation.pk),
        "conversation.changed",
        conversation_id=conversation.pk,
        what="page",
    )
    return visit


def page_record(*, conversation: Conversation, page: PageInfo) -> PageVisit:
    """Note the page the customer is on; a repeat of the current page adds nothing."""
    with transaction.atomic():
        return _page_append(conversation=conversation, page=page)


def context_update(*, conversation: Conversation, facts: dict[str, Any]) -> None:
    """Merge host-supplied facts (Baton.setContext) into the conversation."""
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        merged = {**locked.context, **facts}
        if merged == locked.context:
            return
        locked.context = merged
        locked.save(update_fields=["context", "updated_at"])
        ConversationEvent.objects.create(
            conversation=locked, kind=ConversationEvent.Kind.CONTEXT, data=facts
        )
        realtime.broadcast_on_commit(
            realtime.conversation_group(locked.pk),
            "conversation.changed",
            conversation_id=locked.pk,
            what="context",
        )
    conversation.context = merged


# Messages ------------------------------------------------------------------------------


def _message_append(
    *, conversation: Conversation, conversation_fields: dict[str, Any] | None = None, **fields: Any
) -> Message:
    """Give the message the next sequence number.

    The caller read ``conversation`` under its lock, so its last_seq is current (a stale one
    would break the unique sequence number loudly). ``conversation_fields`` are saved on the
    conversation in the same UPDATE.
    """
    changes = {
        **(conversation_fields or {}),
        "last_seq": conversation.last_seq + 1,
        "updated_at": timezone.now(),
    }
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    for name, value in changes.items():
        setattr(conversation, name, value)
    message = Message.objects.create(conversation=conversation, seq=conversation.last_seq, **fields)

    def frame() -> dict[str, Any]:
        with customer_language(conversation):
            return {"frame": selectors.message_frame(message)}

    realtime.broadcast_on_commit(
        realtime.conversation_group(conversation.pk),
        "conversation.message",
        conversation_id=conversation.pk,
        later=frame,
    )
    return message


def customer_message_post(
    *, conversation: Conversation, client_id: str, body: str, page: PageInfo | None = None
) -> PostResult:
    """Store a customer's message once per client_id and ask for a decision on commit.

    What can be read before the transaction is: on SQLite the transaction holds the one
    write lock that every other writer waits for. A retry is rare and is found by the
    unique constraint on ``client_id``, not by a look before every message.
    """
    from chat import tasks  # tasks import services: resolved at call time

    last_visit = conversation.pages.order_by("-id").first()
    try:
        with transaction.atomic():
            locked = (
                Conversation.objects.select_for_update(of=("self",))
                .select_related("contact")
                .get(pk=conversation.pk)
            )
            visit = last_visit
            if page is not None and not _nothing_new(last_visit, page):
                # The customer moved on (looked at again under the lock: another tab of
                # the same conversation may have said so already).
                visit = _page_append(conversation=locked, page=page)
            if locked.state == Conversation.State.RESOLVED:
                _state_set(conversation=locked, state=Conversation.State.AI, kind="reopened")
            speaking = translation.get_language() or ""
            message = _message_append(
                conversation=locked,
                # The language the customer writes in now is the one they are answered in.
                conversation_fields={"language": speaking}
                if speaking and speaking != locked.language
                else None,
                author=Message.Author.CUSTOMER,
                author_name=locked.contact.display_name,
                body=body,
                client_id=client_id,
                page=visit,
            )
            now = timezone.now()
            if now - locked.contact.last_seen_at >= LAST_SEEN_PRECISION:
                Contact.objects.filter(pk=locked.contact_id).update(last_seen_at=now)
            transaction.on_commit(lambda: tasks.message_respond.delay(message.pk))
    except IntegrityError:
        existing = conversation.messages.filter(client_id=client_id).first() if client_id else None
        if existing is None:
            raise
        return PostResult(message=existing, created=False)
    conversation.last_seq = locked.last_seq
    conversation.state = locked.state
    return PostResult(message=message, created=True)


def ai_reply_post(
    *,
    in_reply_to: Message,
    body: str,
    sources: list[dict[str, str]],
    confidence: float | None,
    intent: str,
    topic: Article | None = None,
    suggestions: list[dict[str, str]] | None = None,
    locked: Conversation | None = None,
) -> Message | None:
    """The AI's reply to one customer message; None when it was already answered.

    ``suggestions``: articles ({"slug", "title"}) offered when the AI is not sure.

    ``locked``: the conversation, when the caller holds its lock and is deciding this very
    message under it (so no reply to the message can exist yet, and the conversation as
    the caller knows it is current).
    """
    # No savepoint when called inside the decision's transaction: nothing there catches
    # an error from here, so the whole decision rolls back either way.
    with transaction.atomic(savepoint=False):
        conversation = locked
        if conversation is None:
            conversation = Conversation.objects.select_for_update().get(
                pk=in_reply_to.conversation_id
            )
            if in_reply_to.replies.filter(author=Message.Author.AI).exists():
                return None
        if conversation.state != Conversation.State.AI:
            # A person took over while the answer was being written.
            return None
        new_topic = topic is not None and conversation.topic_id != topic.pk
        return _message_append(
            conversation=conversation,
            conversation_fields={"topic": topic} if new_topic else None,
            author=Message.Author.AI,
            author_name=_("Assistant"),
            body=body,
            sources=sources,
            suggestions=suggestions or [],
            confidence=confidence,
            intent=intent,
            in_reply_to=in_reply_to,
        )


def agent_message_post(*, conversation: Conversation, user, name: str, body: str) -> Message:
    """An agent's reply, shown to the customer under the agent's name."""
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        return _message_append(
            conversation=locked,
            author=Message.Author.AGENT,
            author_user=user,
            author_name=name,
            body=body,
        )


def system_message_post(
    *, conversation: Conversation, body: str, in_reply_to: Message | None = None
) -> Message:
    """A line from Baton itself: a handoff, a transfer, a change of state."""
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        return _message_append(
            conversation=locked,
            author=Message.Author.SYSTEM,
            body=body,
            in_reply_to=in_reply_to,
        )


def typing_announce(*, conversation_id: int, author: str, name: str, active: bool) -> None:
    """Typing is ephemeral: broadcast, never stored."""
    realtime.broadcast(
        realtime.conversation_group(conversation_id),
        "conversation.typing",
        author=author,
        name=name,
        active=active,
    )


def _state_set(*, conversation: Conversation, state: str, kind: str = "state") -> None:
    previous = conversation.state
    conversation.state = state
    conversation.resolved_at = timezone.now() if state == Conversation.State.RESOLVED else None
    conversation.save(update_fields=["state", "resolved_at", "updated_at"])
    ConversationEvent.objects.create(
        conversation=conversation,
        kind=ConversationEvent.Kind.REOPENED
        if kind == "reopened"
        else ConversationEvent.Kind.STATE,
        data={"from": previous, "to": state},
    )
    realtime.broadcast_on_commit(
        realtime.conversation_group(conversation.pk),
        "conversation.changed",
        conversation_id=conversation.pk,
        what="state",
    )


# Knowledge base ----------------------------------------------------------------------


def kb_revision_bump() -> None:
    """Tell every process that the knowledge base changed (read by the responder)."""
    from chat.responder.local import revision_changed

    # Now (this transaction already sees the new revision) and after the commit.
    revision_changed()
    transaction.on_commit(revision_changed)
    updated = KnowledgeBaseRevision.objects.filter(pk=1).update(
        number=F("number") + 1, changed_at=timezone.now()
    )
    if not updated:
        KnowledgeBaseRevision.objects.get_or_create(pk=1, defaults={"number": 1})


def article_save(*, article: Article, questions: list[str] | None = None) -> Article:
    """Create or update an article (and, when given, replace its example questions)."""
    with transaction.atomic():
        article.full_clean()
        article.save()
        if questions is not None:
            _questions_replace(article=article, questions=questions, origin="admin")
        kb_revision_bump()
    return article


def unique_slug(title: str) -> str:
    """A slug for a new article that no other article has."""
    base = slugify(title)[:80] or "answer"
    slug, n = base, 2
    while Article.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _questions_replace(*, article: Article, questions: list[str], origin: str) -> None:
    """The article's questions become these, plus any agent taught it from the console."""
    wanted = list(dict.fromkeys(q.strip() for q in questions if q.strip()))
    article.questions.exclude(text__in=wanted).exclude(origin="agent").delete()
    existing = set(article.questions.values_list("text", flat=True))
    ExampleQuestion.objects.bulk_create(
        ExampleQuestion(article=article, text=text[:500], origin=origin)
        for text in wanted
        if text not in existing
    )


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    unchanged: int
    teams_created: list[str]


def kb_import(
    *, articles: list[ParsedArticle], progress: Callable[[], None] | None = None
) -> ImportSummary:
    """Create or update articles by slug, all or nothing.

    Imported example questions are replaced by the file's; questions written in admin or
    saved by agents from the console are kept, so a re-import never undoes what the
    humans taught the AI.
    """
    from escalation.models import Team

    created = updated = unchanged = 0
    teams_created: list[str] = []
    with transaction.atomic():
        teams = {team.slug: team for team in Team.objects.all()}
        for parsed in articles:
            team = teams.get(parsed.team)
            if team is None:
                team = Team.objects.create(
                    slug=parsed.team, name=parsed.team.replace("-", " ").title()
                )
                teams[parsed.team] = team
                teams_created.append(parsed.team)
            fields = {
                "title": parsed.title,
                "body": parsed.body,
                "team": team,
                "pages": parsed.pages,
                "escalate": parsed.escalate,
            }
            article = Article.objects.filter(slug=parsed.slug).first()
            questions_before = (
                set(article.questions.filter(origin="import").values_list("text", flat=True))
                if article
                else set()
            )
            if article is None:
                article = Article.objects.create(slug=parsed.slug, **fields)
                created += 1
            elif any(getattr(article, k) != v for k, v in fields.items()) or (
                questions_before != set(parsed.questions)
            ):
                for key, value in fields.items():
                    setattr(article, key, value)
                article.save()
                updated += 1
            else:
                unchanged += 1
            wanted = list(dict.fromkeys(parsed.questions))
            article.questions.filter(origin="import").exclude(text__in=wanted).delete()
            present = set(article.questions.values_list("text", flat=True))
            ExampleQuestion.objects.bulk_create(
                ExampleQuestion(article=article, text=text[:500], origin="import")
                for text in wanted
                if text not in present
            )
            if progress is not None:
                progress()
        if created or updated:
            kb_revision_bump()
    return ImportSummary(created, updated, unchanged, teams_created)


def article_delete(*, article: Article) -> None:
    with transaction.atomic():
        article.delete()
        kb_revision_bump()


class ExternalIdTaken(Exception):
    """Another contact of the site already has this external id."""


def contact_sync(
    *,
    site: Site,
    external_id: str,
    name: str | None = None,
    email: str | None = None,
    tier: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> tuple[Contact, bool]:
    """Create or update a contact from a trusted system (a CRM sync through the API).

    What the API sets is verified: rules use its tier and attributes. Fields left out
    stay as they are. Returns the contact and whether it was created.
    """
    with transaction.atomic():
        contact, created = Contact.objects.select_for_update().get_or_create(
            site=site, external_id=external_id, defaults={"identity": Contact.Identity.API}
        )
        _contact_apply(contact, name=name, email=email, tier=tier, attributes=attributes)
        contact.save()
    return contact, created


def contact_update(
    *,
    contact: Contact,
    external_id: str,
    name: str | None = None,
    email: str | None = None,
    tier: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Contact:
    """Update a contact by its Baton id from a trusted system, giving an anonymous contact
    its external id; raises ExternalIdTaken when another contact of the site has that id.

    Fields left out stay as they are; what is set is verified, as with contact_sync.
    """
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        locked.external_id = external_id
        _contact_apply(locked, name=name, email=email, tier=tier, attributes=attributes)
        try:
            # The unique constraint decides, not a look beforehand that a request giving
            # another contact the same id at the same moment would slip past.
            with transaction.atomic():
                locked.save()
        except IntegrityError:
            raise ExternalIdTaken(external_id) from None
    return locked


def _contact_apply(
    contact: Contact,
    *,
    name: str | None,
    email: str | None,
    tier: str | None,
    attributes: dict[str, Any] | None,
) -> None:
    if name is not None:
        contact.name = name
    if email is not None:
        contact.email = email
    if tier is not None:
        contact.tier = tier.strip().lower()
    if attributes is not None:
        contact.attributes = attributes
    if contact.identity == Contact.Identity.ANONYMOUS:
        contact.identity = Contact.Identity.API


def kb_changed() -> None:
    """For edits made through Django admin forms: the rows are saved, bump the revision."""
    with transaction.atomic():
        kb_revision_bump()

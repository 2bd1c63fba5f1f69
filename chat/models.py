import hashlib
import ipaddress
import re
import secrets
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


def _new_identity_secret() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What we store of a secret a browser holds: a leaked table reveals no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


DEFAULT_PORTS = {"http": 80, "https": 443}
HOST_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$")


def _valid_host(host: str) -> bool:
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    return all(HOST_LABEL.match(label) for label in host.split("."))


def origin_normalise(value: str) -> str:
    """The origin spelled as browsers send it in the Origin header, or why it cannot be one.

    Browsers write the scheme and host in lower case and leave out the default port and
    any path, and the widget's checks compare exactly: ``https://Example.com:443/`` has
    to be stored as ``https://example.com`` to ever match.
    """
    text = value.strip()
    params = {"value": text}
    if "://" not in text:
        raise ValidationError(
            _(
                "“%(value)s” has no scheme: an origin starts with https:// or http://, "
                "such as https://www.example.com."
            ),
            code="no_scheme",
            params=params,
        )
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValidationError(
            _(
                "“%(value)s” is not the origin of a web page: it must start with https:// "
                "or http://."
            ),
            code="scheme",
            params=params,
        )
    host = parts.hostname or ""
    if "*" in host:
        raise ValidationError(
            _("“%(value)s”: wildcards are not supported; list each origin on its own line."),
            code="wildcard",
            params=params,
        )
    if not host.isascii():
        raise ValidationError(
            _(
                "“%(value)s”: write an international domain name in its xn-- form, as "
                "location.origin shows it in the browser console on that page."
            ),
            code="unicode_host",
            params=params,
        )
    try:
        port = parts.port
    except ValueError:
        port = 0  # not a number, or beyond 65535; port 0 is no origin either
    if not host or not _valid_host(host) or port == 0 or parts.username is not None:
        raise ValidationError(
            _("“%(value)s” is not an origin such as https://www.example.com."),
            code="invalid",
            params=params,
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    origin = f"{scheme}://{netloc}"
    if parts.path not in {"", "/"} or "?" in text or "#" in text:
        raise ValidationError(
            _("“%(value)s” has a path or query, which an origin never has: write %(origin)s."),
            code="path",
            params={**params, "origin": origin},
        )
    return origin


class Site(models.Model):
    """A website that embeds the widget. Its key is public; its secret signs identities."""

    key = models.SlugField(
        _("key"), unique=True, help_text=_("Public id pasted into the embed snippet.")
    )
    name = models.CharField(_("name"), max_length=200)
    identity_secret = models.CharField(
        _("identity secret"),
        max_length=128,
        default=_new_identity_secret,
        help_text=_(
            "Your server signs Baton.identify() tokens with this secret (HS256). "
            "Keep it on your server; never put it in a web page."
        ),
    )
    allowed_origins = models.TextField(
        _("allowed origins"),
        blank=True,
        help_text=_(
            "One origin per line, such as https://www.example.com. The widget can be "
            "embedded only on these; leave empty to allow Baton's own pages only."
        ),
    )
    product_names = models.CharField(
        _("product names"),
        max_length=300,
        blank=True,
        help_text=_(
            "Comma-separated names customers use for your product, besides the site name. "
            'The AI ignores them when matching questions to articles: "does Acme have '
            'dark mode" is about dark mode, not about every article that mentions Acme.'
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")

    def __str__(self) -> str:
        return self.name

    @property
    def names(self) -> list[str]:
        return [n.strip() for n in [self.name, *self.product_names.split(",")] if n.strip()]

    @property
    def origins(self) -> list[str]:
        """The allowed origins as browsers send them.

        Entries saved before admin checked them are normalised here too; one that cannot
        be an origin is left out, as it could never match and must not reach the
        frame-ancestors header.
        """
        origins: list[str] = []
        for line in self.allowed_origins.splitlines():
            if line.strip():
                try:
                    origins.append(origin_normalise(line))
                except ValidationError:
                    continue
        return list(dict.fromkeys(origins))


class Contact(models.Model):
    """A customer. Only identity, tier and attributes from trusted sources are used by rules."""

    class Identity(models.TextChoices):
        ANONYMOUS = "anonymous", _("Anonymous")
        TOKEN = "token", _("Verified by a signed token")
        USER_HASH = "user_hash", _("Verified user id")
        API = "api", _("From the API or CRM")

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="contacts")
    external_id = models.CharField(
        _("external id"), max_length=200, blank=True, help_text=_("The user id on your site.")
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    email = models.EmailField(_("email"), blank=True)
    tier = models.CharField(
        _("tier"), max_length=50, blank=True, help_text=_("Set only from a verified source.")
    )
    attributes = models.JSONField(_("verified attributes"), default=dict, blank=True)
    identity = models.CharField(
        _("identity"), max_length=20, choices=Identity.choices, default=Identity.ANONYMOUS
    )
    claimed = models.JSONField(
        _("unverified details"),
        default=dict,
        blank=True,
        help_text=_("What the browser said without proof. Shown to agents, never used by rules."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        constraints = [
            models.UniqueConstraint(
                fields=["site", "external_id"],
                condition=~Q(external_id=""),
                name="contact_external_id_unique_per_site",
            )
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def verified(self) -> bool:
        return self.identity != self.Identity.ANONYMOUS

    @property
    def display_name(self) -> str:
        return self.name or self.claimed.get("name") or str(_("Visitor"))


class Visitor(models.Model):
    """One browser of a contact. The browser keeps the token; we keep its digest."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="visitors")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="visitors")
    token_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.contact} ({self.created_at:%Y-%m-%d})"


class Conversation(models.Model):
    class State(models.TextChoices):
        AI = "ai", _("With the AI")
        QUEUED = "queued", _("Waiting for a human")
        ASSIGNED = "assigned", _("With an agent")
        FOLLOWUP = "followup", _("Follow-up promised")
        RESOLVED = "resolved", _("Resolved")

    # The id customers see: random, so one conversation's id says nothing about another's.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="conversations")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="conversations")
    state = models.CharField(
        _("state"), max_length=20, choices=State.choices, default=State.AI, db_index=True
    )
    team = models.ForeignKey(
        "escalation.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    topic = models.ForeignKey(
        "chat.Article",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The article the conversation was last about."),
    )
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        help_text=_("The customer's language, for what Baton tells them; empty: the site's."),
    )
    context = models.JSONField(
        _("page context"),
        default=dict,
        blank=True,
        help_text=_("Facts the host page supplied with Baton.setContext(); not verified."),
    )
    last_seq = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.contact} · {self.created_at:%Y-%m-%d %H:%M}"


class PageVisit(models.Model):
    """A page the customer was on while the conversation was open."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="pages")
    url = models.CharField(max_length=2000, blank=True)
    path = models.CharField(max_length=1000)
    title = models.CharField(max_length=300, blank=True)
    referrer = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.path


class Message(models.Model):
    class Author(models.TextChoices):
        CUSTOMER = "customer", _("Customer")
        AI = "ai", _("AI")
        AGENT = "agent", _("Agent")
        SYSTEM = "system", _("System")

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    seq = models.PositiveIntegerField(help_text=_("Order within the conversation, from 1."))
    author = models.CharField(max_length=10, choices=Author.choices)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    author_name = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    # A snapshot of the cited articles ({"slug", "title"}), so history survives edits.
    sources = models.JSONField(default=list, blank=True)
    # When the AI is unsure: the articles it offers instead ({"slug", "title"}), which the
    # customer can pick with one tap.
    suggestions = models.JSONField(default=list, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    intent = models.CharField(max_length=100, blank=True)
    # Chosen by the widget; a retried send carries the same id and is stored once.
    client_id = models.CharField(max_length=64, blank=True)
    in_reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    page = models.ForeignKey(PageVisit, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~Q(client_id=""),
                name="message_client_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.author}: {self.body[:60]}"


class ConversationEvent(models.Model):
    """The history of a conversation besides its messages: one row per change."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        STATE = "state", _("State changed")
        PAGE = "page", _("Page changed")
        CONTEXT = "context", _("Context updated")
        IDENTIFIED = "identified", _("Identified")
        IDENTITY_REJECTED = "identity_rejected", _("Identity rejected")
        REOPENED = "reopened", _("Reopened")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.created_at:%Y-%m-%d %H:%M}"


class Article(models.Model):
    """A knowledge-base answer. The AI cites it; human-only topics hand off instead."""

    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("answer"), help_text=_("Markdown. This is what the AI replies."))
    team = models.ForeignKey(
        "escalation.Team",
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="articles",
    )
    pages = models.JSONField(
        _("pages"),
        default=list,
        blank=True,
        help_text=_("URL paths where this article is most relevant, such as /pricing."),
    )
    escalate = models.BooleanField(
        _("human-only topic"),
        default=False,
        help_text=_("The AI hands these conversations to the team instead of answering."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        verbose_name = _("article")
        verbose_name_plural = _("articles")

    def __str__(self) -> str:
        return self.title


class ExampleQuestion(models.Model):
    class Origin(models.TextChoices):
        IMPORT = "import", _("Imported")
        ADMIN = "admin", _("Written in admin")
        AGENT = "agent", _("Saved by an agent")

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="questions")
    text = models.CharField(_("question"), max_length=500)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.ADMIN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("example question")
        verbose_name_plural = _("example questions")
        constraints = [
            models.UniqueConstraint(fields=["article", "text"], name="question_unique_per_article")
        ]

    def __str__(self) -> str:
        return self.text


class KnowledgeBaseRevision(models.Model):
    """One row whose number grows on every knowledge-base change.

    Each process compares it with the revision its index was built from, so an edit in
    admin reaches every web and worker process on their next message, without a restart.
    """

    number = models.PositiveBigIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"revision {self.number}"

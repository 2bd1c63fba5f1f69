from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Agent(models.Model):
    """A human who answers customers. Supervisors see every team."""

    class Presence(models.TextChoices):
        ONLINE = "online", _("Online")
        AWAY = "away", _("Away")
        OFFLINE = "offline", _("Offline")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent"
    )
    teams = models.ManyToManyField("escalation.Team", related_name="agents", blank=True)
    capacity = models.PositiveSmallIntegerField(
        _("capacity"), default=3, help_text=_("Conversations this agent can handle at once.")
    )
    presence = models.CharField(
        _("presence"), max_length=10, choices=Presence.choices, default=Presence.OFFLINE
    )
    is_supervisor = models.BooleanField(
        _("supervisor"), default=False, help_text=_("Sees every team's queue and the dashboard.")
    )
    # When the console last told us this agent was there (heartbeat or action).
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("agent")
        verbose_name_plural = _("agents")

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.user.get_full_name() or self.user.get_username()


class Note(models.Model):
    """An internal note on a conversation. Customers never see notes."""

    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="notes"
    )
    agent = models.ForeignKey(Agent, on_delete=models.SET_NULL, null=True, related_name="notes")
    body = models.TextField(_("note"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.body[:60]


class CannedResponse(models.Model):
    """A reply agents insert by typing its shortcut, such as /refund."""

    shortcut = models.SlugField(_("shortcut"), unique=True)
    title = models.CharField(_("title"), max_length=100)
    body = models.TextField(_("text"))

    class Meta:
        ordering = ["shortcut"]
        verbose_name = _("canned response")
        verbose_name_plural = _("canned responses")

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class Resolution(models.Model):
    """How an agent closed a conversation: the two clicks that teach the AI."""

    class Kind(models.TextChoices):
        SOLVED = "solved", _("Solved")
        WORKAROUND = "workaround", _("Workaround given")
        NOT_SOLVED = "not_solved", _("Could not solve")
        NO_REPLY = "no_reply", _("Customer left")
        SPAM = "spam", _("Spam or abuse")

    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="resolutions"
    )
    handoff = models.OneToOneField(
        "escalation.Handoff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent = models.ForeignKey(Agent, on_delete=models.SET_NULL, null=True)
    kind = models.CharField(_("resolution"), max_length=20, choices=Kind.choices)
    ai_could_have = models.BooleanField(_("the AI could have handled this"), null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.get_kind_display()


class Rating(models.Model):
    """The customer's 1-5 rating after a conversation ends."""

    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="ratings"
    )
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    # Whether a human took part in the conversation being rated.
    with_human = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__gte=1, score__lte=5), name="rating_between_1_and_5"
            )
        ]

    def __str__(self) -> str:
        return f"{self.score}/5"


class Alert(models.Model):
    """Something a supervisor should look at now, such as a spike in handoffs."""

    kind = models.CharField(max_length=40)
    # At most one alert of a kind per key (for a spike: the hour it was seen).
    key = models.CharField(max_length=60)
    text = models.CharField(max_length=300)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="alert_once")]

    def __str__(self) -> str:
        return self.text


def token_digest(secret: str) -> str:
    import hashlib

    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    """A key for the REST API. It acts as its user: their permissions apply.

    Only a digest of the key is stored; the key itself is shown once, when created.
    """

    class Scope(models.TextChoices):
        READ = "read", _("Read only")
        WRITE = "read_write", _("Read and write")

    name = models.CharField(_("name"), max_length=100, help_text=_("What uses it, e.g. CRM sync."))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    scope = models.CharField(_("scope"), max_length=12, choices=Scope.choices, default=Scope.READ)
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked = models.BooleanField(_("revoked"), default=False)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} (baton_{self.prefix}_…)"

    def matches(self, secret: str) -> bool:
        import hmac

        return hmac.compare_digest(self.digest, token_digest(secret))

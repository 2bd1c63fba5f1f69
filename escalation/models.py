import datetime as dt
import zoneinfo

import regex
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            _("%(value)s is not a time zone; use a name such as Europe/Berlin."),
            params={"value": value},
        ) from None


class Team(models.Model):
    """A group of humans who own a set of topics (billing, technical, ...)."""

    slug = models.SlugField(_("slug"), unique=True, help_text=_("Stable id used by imports."))
    name = models.CharField(_("name"), max_length=100)
    sla_seconds = models.PositiveIntegerField(
        _("pick-up deadline (seconds)"),
        default=120,
        help_text=_(
            "An agent who has neither joined nor answered a conversation this long after "
            "getting it (from the queue or from a colleague) loses it to the next agent, and "
            "the customer is told."
        ),
    )
    timezone = models.CharField(
        _("time zone"), max_length=64, default="UTC", validators=[validate_timezone]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class BusinessHours(models.Model):
    """When a team works, in its own time zone. A team without any hours works around the clock."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField(_("day"), choices=Weekday.choices)
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"), help_text=_("00:00 is midnight, the end of the day."))

    class Meta:
        ordering = ["weekday", "opens"]
        verbose_name = _("business hours")
        verbose_name_plural = _("business hours")

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"

    def clean(self) -> None:
        midnight = dt.time(0)
        if (
            self.opens is not None
            and self.closes is not None
            and self.closes != midnight
            and self.closes <= self.opens
        ):
            raise ValidationError(
                _("A team must close after it opens on the same day (00:00 is midnight).")
            )


class Holiday(models.Model):
    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        related_name="holidays",
        null=True,
        blank=True,
        help_text=_("Leave empty for a day off for every team."),
    )
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        ordering = ["date"]
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")

    def __str__(self) -> str:
        return f"{self.date}: {self.name}"


class Trigger(models.Model):
    """One rule that decides when a human must take over. Edited in Django admin."""

    class Kind(models.TextChoices):
        EXPLICIT_REQUEST = "explicit_request", _("Explicit request for a human")
        TOPIC = "topic", _("Human-only topic (article flag)")
        PHRASES = "phrases", _("Phrase list")
        SENTIMENT = "sentiment", _("Negative sentiment")
        TIER = "tier", _("Customer tier or verified attribute")
        LOOP = "loop", _("Loop (rejected answers, repeated question)")
        LOW_CONFIDENCE = "low_confidence", _("Low AI confidence")
        TURN_COUNT = "turn_count", _("Long conversation")
        PAGE = "page", _("Page")
        IDLE = "idle", _("Customer idle")

    DEFAULT_REASONS = {
        Kind.PHRASES: "risk",
        Kind.TURN_COUNT: "too_long",
    }

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    enabled = models.BooleanField(_("enabled"), default=True)
    order = models.PositiveIntegerField(
        _("order"), default=100, help_text=_("Lower runs first; the first rule that fires decides.")
    )
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text=_(
            "Who takes over. Empty: the topic team (the team of the article the "
            "conversation is about; for human-only topics, that article's team)."
        ),
    )
    priority_boost = models.IntegerField(
        _("priority boost"),
        default=0,
        help_text=_(
            "Added to the conversation's place in the queue ordering; higher goes first. "
            "On a tier rule it applies to every handoff of those customers."
        ),
    )
    reason = models.SlugField(
        _("reason code"),
        max_length=40,
        blank=True,
        help_text=_("Shown on the dashboard. Empty: the kind's own code."),
    )
    customer_text = models.TextField(
        _("customer-facing text"),
        blank=True,
        help_text=_(
            "Said to the customer when this rule hands off, before the wait estimate. "
            "Empty: the standard message."
        ),
    )
    phrases = models.TextField(
        _("phrases"),
        blank=True,
        help_text=_(
            "Phrase list and explicit request: one per line, matched as whole words in any "
            "case. Write /…/ for a regular expression."
        ),
    )
    threshold = models.FloatField(
        _("threshold"),
        null=True,
        blank=True,
        help_text=_(
            "Sentiment: the level (from -1 to 0) at or below which one message counts as "
            "strongly negative. Low confidence: the confidence (0 to 1) below which the AI "
            "does not answer. Human-only topic: how sure (0 to 1) the match must be."
        ),
    )
    trend_threshold = models.FloatField(
        _("trend threshold"),
        null=True,
        blank=True,
        help_text=_(
            "Sentiment: hand off when the customer's mood falls across two messages in a row "
            "to this level or below (from -1 to 0). Empty: no trend rule."
        ),
    )
    count = models.PositiveIntegerField(
        _("count"),
        null=True,
        blank=True,
        help_text=_(
            "Loop: rejections of the same topic (the same question asked one time more "
            "also counts). Low confidence: unsure answers in a row. Long conversation: "
            "customer messages allowed before a handoff. Idle: seconds of silence."
        ),
    )
    values = models.TextField(
        _("values"),
        blank=True,
        help_text=_(
            "Tier: one tier per line (enterprise, vip) or a verified attribute as key=value. "
            "Page: one URL path per line (/checkout matches /checkout/…)."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("trigger")
        verbose_name_plural = _("triggers")

    def __str__(self) -> str:
        return self.name

    @property
    def reason_code(self) -> str:
        return self.reason or self.DEFAULT_REASONS.get(self.kind, self.kind)

    def phrase_lines(self) -> list[str]:
        return [line.strip() for line in self.phrases.splitlines() if line.strip()]

    def value_lines(self) -> list[str]:
        return [line.strip() for line in self.values.splitlines() if line.strip()]

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}

        def need(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        kind = self.kind
        if kind == self.Kind.PHRASES and not self.phrase_lines():
            need("phrases", _("A phrase list needs at least one phrase."))
        for number, line in enumerate(self.phrase_lines(), start=1):
            if len(line) > 1 and line.startswith("/") and line.endswith("/"):
                try:
                    regex.compile(line[1:-1])
                except (regex.error, OverflowError, RecursionError, ValueError) as error:
                    need(
                        "phrases",
                        _("Line %(number)d is not a valid regular expression: %(error)s.")
                        % {"number": number, "error": error},
                    )
        if kind == self.Kind.SENTIMENT:
            if self.threshold is None or not -1 <= self.threshold <= 0:
                need("threshold", _("Sentiment needs a level between -1 and 0."))
            elif self.threshold == 0:
                # A neutral message scores 0: every plain question would go to a person.
                need("threshold", _("A level of 0 would hand off every neutral message."))
            if self.trend_threshold is not None and not -1 <= self.trend_threshold <= 0:
                need("trend_threshold", _("The trend level must be between -1 and 0."))
        if kind in {self.Kind.LOW_CONFIDENCE, self.Kind.TOPIC} and (
            self.threshold is None or not 0 < self.threshold < 1
        ):
            need("threshold", _("This rule needs a threshold between 0 and 1."))
        counted = {self.Kind.LOOP, self.Kind.LOW_CONFIDENCE, self.Kind.TURN_COUNT}
        if kind in counted and not self.count:
            need("count", _("This rule needs a count of at least 1."))
        if kind == self.Kind.IDLE and (self.count is None or self.count < 30):
            need("count", _("Idle time is in seconds and must be at least 30."))
        if kind in {self.Kind.TIER, self.Kind.PAGE} and not self.value_lines():
            need("values", _("List at least one tier, attribute or page."))
        if kind == self.Kind.PAGE:
            for line in self.value_lines():
                if not line.startswith("/"):
                    need(
                        "values", _("%(line)s is not a path; paths start with /.") % {"line": line}
                    )
        if kind == self.Kind.TIER:
            for line in self.value_lines():
                if "=" in line and not line.split("=", 1)[0].strip():
                    need("values", _("%(line)s has no attribute name before =.") % {"line": line})
                elif "=" in line and not line.split("=", 1)[1].strip():
                    # It would match every verified customer who lacks the attribute.
                    need("values", _("%(line)s has no value after =.") % {"line": line})
        if errors:
            raise ValidationError(errors)


class Decision(models.Model):
    """What Baton decided for one customer message, and why. Every message gets one."""

    class Action(models.TextChoices):
        ANSWER = "answer", _("Answer")
        CLARIFY = "clarify", _("Ask to rephrase")
        SMALLTALK = "smalltalk", _("Small talk")
        HANDOFF = "handoff", _("Hand off")
        QUIET = "quiet", _("AI quiet (a human has it)")

    message = models.OneToOneField(
        "chat.Message", on_delete=models.CASCADE, related_name="decision"
    )
    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="decisions"
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    priority = models.IntegerField(_("priority"), default=0)
    reason = models.CharField(_("reason"), max_length=40, blank=True)
    trigger = models.ForeignKey(Trigger, null=True, blank=True, on_delete=models.SET_NULL)
    explanation = models.CharField(_("explanation"), max_length=300, blank=True)
    intent = models.CharField(_("intent"), max_length=100, blank=True)
    confidence = models.FloatField(_("confidence"), null=True, blank=True)
    sentiment = models.FloatField(_("sentiment"), null=True, blank=True)
    # What the rules saw: rejection of a topic, a repeated question, and so on.
    signals = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.reason or self.intent})"


class Handoff(models.Model):
    """A conversation's trip from the AI to a human, with everything the human needs."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting in the queue")
        OFFERED = "offered", _("Given to an agent")
        ANSWERED = "answered", _("Answered by an agent")
        CLOSED = "closed", _("Closed")

    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="handoffs"
    )
    decision = models.OneToOneField(
        Decision, null=True, blank=True, on_delete=models.SET_NULL, related_name="handoff"
    )
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="handoffs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    priority = models.IntegerField(default=0, db_index=True)
    reason = models.CharField(max_length=40)
    trigger = models.ForeignKey(Trigger, null=True, blank=True, on_delete=models.SET_NULL)
    explanation = models.CharField(max_length=300, blank=True)
    brief = models.JSONField(default=dict)
    agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="handoffs"
    )
    # Agents who let the pick-up deadline pass on this handoff; not offered it again.
    passed_over = models.ManyToManyField("agents.Agent", blank=True, related_name="+")
    offline = models.BooleanField(default=False)
    promised_by = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True, db_index=True)
    offered_at = models.DateTimeField(null=True, blank=True)
    # When the agent who has it now took it up (claimed it or first wrote); the customer
    # is told "<name> joined" then.
    joined_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    sla_misses = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-priority", "queued_at"]
        verbose_name = _("handoff")
        verbose_name_plural = _("handoffs")

    def __str__(self) -> str:
        return f"{self.conversation} → {self.team} ({self.reason})"


class WaitEstimate(models.Model):
    """An estimate shown to a customer, and later the wait it turned out to be."""

    handoff = models.ForeignKey(Handoff, on_delete=models.CASCADE, related_name="estimates")
    position = models.PositiveIntegerField()
    estimated_seconds = models.PositiveIntegerField()
    made_at = models.DateTimeField(auto_now_add=True)
    actual_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["made_at", "id"]

    def __str__(self) -> str:
        return f"#{self.position}: {self.estimated_seconds}s"


class FollowUp(models.Model):
    """An asynchronous reply promised to a customer who could not wait."""

    conversation = models.OneToOneField(
        "chat.Conversation", on_delete=models.CASCADE, related_name="followup"
    )
    email = models.EmailField()
    promised_by = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.email


class ReplyEmail(models.Model):
    """An agent reply sent by email to a customer who had left. One per message."""

    message = models.OneToOneField("chat.Message", on_delete=models.CASCADE, related_name="email")
    to = models.EmailField()
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"{self.to} ({'sent' if self.sent_at else 'pending'})"


class NotificationChannel(models.Model):
    """Where handoffs are announced besides the console: Slack, or any webhook."""

    class Kind(models.TextChoices):
        SLACK = "slack", _("Slack incoming webhook")
        WEBHOOK = "webhook", _("Webhook (JSON, signed with HMAC-SHA256)")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(
        _("signing secret"),
        max_length=200,
        blank=True,
        help_text=_("Webhooks: requests carry X-Baton-Signature: sha256=HMAC(secret, body)."),
    )
    teams = models.ManyToManyField(
        Team, blank=True, help_text=_("Only handoffs to these teams. Empty: every team.")
    )
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        verbose_name = _("notification channel")
        verbose_name_plural = _("notification channels")

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    """One notification to one channel: its payload and how delivering it went."""

    channel = models.ForeignKey(
        NotificationChannel, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=40)
    # What the delivery is about, so the same event is never queued twice.
    key = models.CharField(max_length=100)
    payload = models.JSONField()
    attempts = models.PositiveSmallIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    # Every attempt: when it was made and how it went ({"at", "outcome"}), the last
    # ATTEMPTS_KEPT of them.
    attempt_log = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    ATTEMPTS_KEPT = 20

    class Meta:
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["channel", "key"], name="delivery_once_per_channel")
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.channel}"

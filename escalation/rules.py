"""The decision engine: the admin's triggers, compiled once, evaluated in order.

``decide`` is a pure function of a ``Situation`` (the message and everything known about
the conversation) and a ``Ruleset``; the first trigger that fires decides. The ruleset is
cached per process and rebuilt when any trigger row changes, so an edit in admin counts
from the next message on, in every process.
"""

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import regex
from django.conf import settings
from django.utils.translation import gettext as _

from chat.responder import Reply
from chat.responder.local import embed
from escalation import detectors
from escalation.models import Trigger

logger = logging.getLogger(__name__)

GENERAL_TEAM = "general"
# Two customer messages at least this similar, about the same article, ask the same thing.
SAME_QUESTION_SIMILARITY = 0.42
# A fall in mood counts when it is this large, not a wobble between two grumbles.
TREND_DROP = 0.25
# The longest a phrase expression may take on one message.
PHRASE_SECONDS = 0.05


@dataclass(frozen=True)
class Turn:
    """An earlier customer message of this conversation and what was decided for it."""

    text: str
    intent: str
    action: str
    reason: str
    sentiment: float
    rejected_topic: str = ""


@dataclass(frozen=True)
class Situation:
    text: str
    reply: Reply
    sentiment: detectors.Sentiment
    tier: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    page_path: str = ""
    # The article the conversation was last about (slug, team), before this message.
    topic_slug: str = ""
    topic_team: str = ""
    # Whether the AI's last message answered from that article.
    last_ai_answered_topic: bool = False
    previous: tuple[Turn, ...] = ()
    # How many earlier messages ask the same thing as this one.
    same_question_count: int = 0


@dataclass(frozen=True)
class Outcome:
    action: str
    reason: str = ""
    trigger: Trigger | None = None
    team_slug: str = ""
    priority: int = 0
    explanation: str = ""
    customer_text: str = ""
    signals: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CompiledTrigger:
    row: Trigger
    patterns: tuple[regex.Pattern, ...]
    values: tuple[str, ...]

    @classmethod
    def compile(cls, row: Trigger) -> "CompiledTrigger":
        patterns = []
        for line in row.phrase_lines():
            if len(line) > 1 and line.startswith("/") and line.endswith("/"):
                try:
                    patterns.append(regex.compile(line[1:-1], regex.IGNORECASE))
                except (regex.error, OverflowError, RecursionError, ValueError):
                    # Saved around validation (a bare update()): skipped, not fatal.
                    logger.warning("Trigger %s: cannot compile %r", row.pk, line)
            else:
                # Whole words, in any case, with plural endings: "lawyer" finds "lawyers".
                words = r"\s+".join(regex.escape(word) + r"(?:s|es|'s)?" for word in line.split())
                patterns.append(regex.compile(rf"(?<!\w){words}(?!\w)", regex.IGNORECASE))
        values = tuple(v.lower() for v in row.value_lines())
        return cls(row=row, patterns=tuple(patterns), values=values)

    def phrase_hit(self, text: str) -> str:
        for pattern in self.patterns:
            try:
                match = pattern.search(text, timeout=PHRASE_SECONDS)
            except TimeoutError:
                # An admin's expression that backtracks without end ("(a|aa)+$") must not
                # hold the worker: it counts as no match, and the admin hears of it.
                logger.warning(
                    "Trigger %s (%s): the expression %r gave up after %s s on a message",
                    self.row.pk,
                    self.row.name,
                    pattern.pattern,
                    PHRASE_SECONDS,
                )
                continue
            if match:
                return match.group(0)
        return ""

    def matches_contact(self, tier: str, attributes: dict[str, Any]) -> bool:
        """Tiers, attribute names and their values match in any case."""
        attributes = {str(key).lower(): value for key, value in attributes.items()}
        for value in self.values:
            if "=" in value:
                key, expected = (part.strip() for part in value.split("=", 1))
                if str(attributes.get(key, "")).lower() == expected:
                    return True
            elif tier and tier.lower() == value:
                return True
        return False


@dataclass(frozen=True)
class Ruleset:
    triggers: tuple[CompiledTrigger, ...]
    fingerprint: tuple = ()

    @property
    def confidence_threshold(self) -> float:
        """The enabled Low-confidence trigger's value, else BATON_CONFIDENCE_THRESHOLD."""
        for trigger in self.triggers:
            if trigger.row.kind == Trigger.Kind.LOW_CONFIDENCE and trigger.row.threshold:
                return trigger.row.threshold
        return settings.BATON_CONFIDENCE_THRESHOLD

    def tier_boost(self, tier: str, attributes: dict[str, Any]) -> int:
        """Customers named by a tier rule jump the queue on every handoff."""
        return sum(
            t.row.priority_boost
            for t in self.triggers
            if t.row.kind == Trigger.Kind.TIER and t.matches_contact(tier, attributes)
        )

    def offers_human(self, tier: str, attributes: dict[str, Any]) -> bool:
        return any(
            t.row.kind == Trigger.Kind.TIER and t.matches_contact(tier, attributes)
            for t in self.triggers
        )


# Cache ---------------------------------------------------------------------------------

_cache: dict[str, Ruleset] = {}
_lock = threading.Lock()


def _fingerprint() -> tuple:
    """Changes whenever a trigger is added, removed, edited, reordered or switched, or loses
    its team (a deleted team leaves its triggers with none, without touching updated_at)."""
    return tuple(
        Trigger.objects.order_by("id").values_list("id", "updated_at", "enabled", "order", "team")
    )


def current_ruleset() -> Ruleset:
    """The enabled triggers in order, compiled; rebuilt when any row changed."""
    fingerprint = _fingerprint()
    cached = _cache.get("ruleset")
    if cached is not None and cached.fingerprint == fingerprint:
        return cached
    with _lock:
        rows = Trigger.objects.filter(enabled=True).select_related("team").order_by("order", "id")
        ruleset = Ruleset(
            triggers=tuple(CompiledTrigger.compile(row) for row in rows), fingerprint=fingerprint
        )
        _cache["ruleset"] = ruleset
    return ruleset


# Evaluation ----------------------------------------------------------------------------


def _topic_team(situation: Situation) -> str:
    return situation.topic_team or GENERAL_TEAM


def _human_only_article(situation: Situation, threshold: float):
    """The human-only article this message is about, if the responder is sure enough."""
    for candidate in situation.reply.candidates[:2]:
        if candidate.escalate and candidate.probability >= threshold:
            return candidate
    return None


def _probably_human_only(situation: Situation, threshold: float):
    """When the AI has no confident answer but the human-only readings together are
    likely: on sensitive topics a person is the safer guess than "please rephrase"."""
    if situation.reply.kind != "clarify":
        return None
    human_only = [c for c in situation.reply.candidates if c.escalate]
    if human_only and sum(c.probability for c in human_only) >= threshold * 0.75:
        return human_only[0]
    return None


def _fires(trigger: CompiledTrigger, s: Situation) -> tuple[str, str, dict] | None:
    """(team, explanation, signals) when the trigger fires, else None."""
    row = trigger.row
    team = row.team.slug if row.team else ""
    match row.kind:
        case Trigger.Kind.EXPLICIT_REQUEST:
            hit = trigger.phrase_hit(s.text)
            if detectors.wants_human(s.text) or hit:
                return team or _topic_team(s), _("The customer asked for a person."), {}
        case Trigger.Kind.TOPIC:
            article = _human_only_article(s, row.threshold or 0.4)
            if article is not None:
                return (
                    team or article.team or GENERAL_TEAM,
                    _("“%(title)s” is a human-only topic.") % {"title": article.title},
                    {"article": article.slug},
                )
        case Trigger.Kind.PHRASES:
            hit = trigger.phrase_hit(s.text)
            if hit:
                return (
                    team or _topic_team(s),
                    _("The message says “%(phrase)s”.") % {"phrase": hit},
                    {"phrase": hit},
                )
        case Trigger.Kind.SENTIMENT:
            score = s.sentiment.score
            if row.threshold is not None and score <= row.threshold:
                return (
                    team or _topic_team(s),
                    _("Strongly negative message (sentiment %(score).2f).") % {"score": score},
                    {},
                )
            previous = s.previous[-1].sentiment if s.previous else 0.0
            if (
                row.trend_threshold is not None
                and previous <= -0.05
                and score <= row.trend_threshold
                and score <= previous - TREND_DROP
            ):
                return (
                    team or _topic_team(s),
                    _("Mood falling: %(before).2f, then %(now).2f.")
                    % {"before": previous, "now": score},
                    {"trend": [previous, score]},
                )
        case Trigger.Kind.TIER:
            if trigger.matches_contact(s.tier, s.attributes) and s.sentiment.negative:
                return (
                    team or _topic_team(s),
                    _("A %(tier)s customer is unhappy (sentiment %(score).2f).")
                    % {"tier": s.tier or _("priority"), "score": s.sentiment.score},
                    {},
                )
        case Trigger.Kind.LOOP:
            limit = row.count or 2
            rejections = _rejections(s)
            if rejections >= limit:
                return (
                    team or _topic_team(s),
                    _("The answer on “%(topic)s” did not help, %(count)d times.")
                    % {"topic": s.topic_slug, "count": rejections},
                    {"rejected_topic": s.topic_slug},
                )
            # Asked a third time (with the default 2): the earlier times plus this one.
            if s.same_question_count >= limit:
                return (
                    team or _topic_team(s),
                    _("The same question, %(count)d times.") % {"count": s.same_question_count + 1},
                    {"repeated": s.same_question_count + 1},
                )
        case Trigger.Kind.LOW_CONFIDENCE:
            if s.reply.kind == "clarify":
                in_a_row = 1
                for turn in reversed(s.previous):
                    if turn.action == "clarify" and turn.reason == "low_confidence":
                        in_a_row += 1
                    else:
                        break
                if in_a_row >= (row.count or 2):
                    return (
                        team or _topic_team(s),
                        _("The AI was unsure %(count)d times in a row (%(confidence).2f).")
                        % {"count": in_a_row, "confidence": s.reply.confidence},
                        {},
                    )
        case Trigger.Kind.TURN_COUNT:
            messages = len(s.previous) + 1
            # Small talk never hands off: "thanks, bye!" ends a long conversation well.
            if messages > (row.count or 8) and s.reply.kind != "smalltalk":
                return (
                    team or _topic_team(s),
                    _("%(count)d customer messages without a resolution.") % {"count": messages},
                    {},
                )
        case Trigger.Kind.PAGE:
            # In any case, as the values are kept; "/" is every page.
            path = s.page_path.lower().rstrip("/") or "/"
            for value in trigger.values:
                prefix = value.rstrip("/")
                if path == (prefix or "/") or path.startswith(prefix + "/"):
                    return (
                        team or _topic_team(s),
                        _("The customer is on %(path)s.") % {"path": s.page_path},
                        {},
                    )
    return None


def _human_only_subject(situation: Situation, ruleset: Ruleset) -> tuple[str, str, dict] | None:
    """(team, explanation, signals) of the human-only topic a request for a person is also
    about, as the enabled topic rule reads it."""
    for trigger in ruleset.triggers:
        if trigger.row.kind == Trigger.Kind.TOPIC:
            fired = _fires(trigger, situation)
            if fired is not None:
                return fired
    return None


def _rejections(s: Situation) -> int:
    """This message's rejection of the current topic, plus the earlier ones."""
    if not (s.topic_slug and detectors.rejects_answer(s.text)):
        return 0
    if not s.last_ai_answered_topic and not any(
        t.rejected_topic == s.topic_slug for t in s.previous
    ):
        return 0
    return 1 + sum(1 for t in s.previous if t.rejected_topic == s.topic_slug)


def same_question_count(text: str, reply: Reply, previous: list[Turn] | tuple[Turn, ...]) -> int:
    """Earlier messages that ask what this one asks: same article, similar words."""
    top = reply.top.slug if reply.top else ""
    same = [turn.text for turn in previous if top and turn.intent == top]
    if not same:
        return 0
    vectors = embed([text, *same])
    return int(((vectors[1:] @ vectors[0]) >= SAME_QUESTION_SIMILARITY).sum())


def situation_of(
    text: str, reply: Reply, previous: list[Turn] | tuple[Turn, ...] = (), **context: Any
) -> Situation:
    """A customer message as the rules read it: its words, its mood, the responder's reply,
    the earlier turns and ``context`` (tier, attributes, page, topic). The live path, the
    try-it page and the benchmarks all build it here, so they read a message alike."""
    return Situation(
        text=text,
        reply=reply,
        sentiment=detectors.sentiment(text),
        previous=tuple(previous),
        same_question_count=same_question_count(text, reply, previous),
        **context,
    )


def decide(situation: Situation, ruleset: Ruleset) -> Outcome:
    boost = ruleset.tier_boost(situation.tier, situation.attributes)
    for trigger in ruleset.triggers:
        if trigger.row.kind == Trigger.Kind.IDLE:
            continue
        fired = _fires(trigger, situation)
        if fired is None:
            continue
        team, explanation, signals = fired
        subject = (
            _human_only_subject(situation, ruleset)
            if trigger.row.kind == Trigger.Kind.EXPLICIT_REQUEST and not trigger.row.team
            else None
        )
        if subject is not None:
            # "Can I talk to a person about a refund?" goes to the refunds team.
            team, topic_explanation, signals = subject
            explanation = f"{explanation} {topic_explanation}"
        return Outcome(
            action="handoff",
            reason=trigger.row.reason_code,
            trigger=trigger.row,
            team_slug=team,
            priority=trigger.row.priority_boost
            + (boost if trigger.row.kind != Trigger.Kind.TIER else 0),
            explanation=explanation,
            customer_text=trigger.row.customer_text,
            signals=signals,
        )
    for trigger in ruleset.triggers:
        # Only once no rule fired: an unsure reply that is probably a sensitive topic.
        if trigger.row.kind == Trigger.Kind.TOPIC:
            article = _probably_human_only(situation, trigger.row.threshold or 0.4)
            if article is not None:
                return Outcome(
                    action="handoff",
                    reason=trigger.row.reason_code,
                    trigger=trigger.row,
                    team_slug=trigger.row.team.slug if trigger.row.team else article.team,
                    priority=trigger.row.priority_boost + boost,
                    explanation=_("Probably “%(title)s”, a human-only topic.")
                    % {"title": article.title},
                    customer_text=trigger.row.customer_text,
                    signals={"article": article.slug},
                )
    signals: dict[str, Any] = {}
    reason = ""
    action = situation.reply.kind
    if _rejections(situation):
        # Once is not yet a loop: say so, and offer a person.
        signals["rejected_topic"] = situation.topic_slug
        action, reason = "clarify", "rejected"
    elif action == "clarify":
        reason = "low_confidence"
    return Outcome(action=action, reason=reason, team_slug=_topic_team(situation), signals=signals)

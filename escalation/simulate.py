"""Run the rules on a conversation typed by hand, without storing anything.

Powers the "try it" page in Django admin: the same responder, the same rules, in order.
"""

from dataclasses import dataclass
from typing import Any

from chat.responder import Query, Reply, get_responder
from escalation import detectors, rules


@dataclass(frozen=True)
class Step:
    text: str
    reply: Reply
    sentiment: detectors.Sentiment
    outcome: rules.Outcome


def simulate(
    *,
    messages: list[str],
    tier: str = "",
    attributes: dict[str, Any] | None = None,
    page_path: str = "",
) -> list[Step]:
    """Decide each message in turn, as if a verified customer of this tier sent them."""
    ruleset = rules.current_ruleset()
    responder = get_responder()
    previous: list[rules.Turn] = []
    topic_slug = topic_team = ""
    answered_topic = False
    steps: list[Step] = []
    for text in messages:
        # What the rules decide on: the article and its confidence. An LLM would only word
        # the answer, at the cost of a request per line typed here.
        reply = responder.find(
            Query(
                text=text,
                page_path=page_path,
                topic_slug=topic_slug,
                previous_text=previous[-1].text if previous else "",
            ),
            threshold=ruleset.confidence_threshold,
        )
        situation = rules.situation_of(
            text,
            reply,
            previous,
            tier=tier,
            attributes=attributes or {},
            page_path=page_path,
            topic_slug=topic_slug,
            topic_team=topic_team,
            last_ai_answered_topic=answered_topic,
        )
        outcome = rules.decide(situation, ruleset)
        feeling = situation.sentiment
        steps.append(Step(text=text, reply=reply, sentiment=feeling, outcome=outcome))
        if outcome.action == "handoff":
            break
        previous.append(
            rules.Turn(
                text=text,
                intent=reply.top.slug if reply.top else "",
                action=outcome.action,
                reason=outcome.reason,
                sentiment=feeling.score,
                rejected_topic=outcome.signals.get("rejected_topic", ""),
            )
        )
        answered_topic = outcome.action == "answer"
        if answered_topic and reply.top is not None:
            topic_slug, topic_team = reply.top.slug, reply.top.team
    return steps

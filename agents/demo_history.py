"""Past conversations for a demo install, so the dashboard has something to show.

Writes rows directly with timestamps in the past (the services stamp "now"): contacts,
conversations, messages, decisions, handoffs with their waits and estimates, resolutions
and ratings, in proportions a real support desk might see. Demo data only.
"""

import datetime as dt
import random
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from agents.models import Agent, Rating, Resolution
from chat.models import Article, Contact, Conversation, Message, PageVisit, Site
from escalation.models import Decision, Handoff, Team, Trigger, WaitEstimate

FIRST_NAMES = [
    "Maya",
    "Leo",
    "Priya",
    "Tom",
    "Aisha",
    "Ingrid",
    "Kenji",
    "Sofia",
    "Omar",
    "Lena",
    "Jonas",
    "Chloe",
    "Mateo",
    "Zara",
    "Noah",
    "Elif",
    "Ravi",
    "Hana",
    "Lucas",
    "Amara",
]
SMALL_TALK = ["hi", "hello!", "thanks!", "thank you, that helps", "ok great", "bye"]
# Reason, share of handoffs, what the customer says.
HANDOFF_REASONS = [
    ("explicit_request", 0.34, "can I talk to a person please?"),
    ("topic", 0.24, "I want a refund for labels I never used"),
    ("low_confidence", 0.14, "do you integrate with our warehouse robots?"),
    ("sentiment", 0.1, "this is ridiculous, my labels have been wrong all week"),
    ("loop", 0.08, "did that already, still not working"),
    ("tier", 0.06, "the batch printing is a bit fiddly"),
    ("risk", 0.02, "I'm talking to my lawyer about this"),
    ("too_long", 0.02, "one more question about the customs forms"),
]


@dataclass
class Counts:
    conversations: int = 0
    handoffs: int = 0
    ratings: int = 0


def generate(*, site: Site, days: int, per_day: int = 40, seed: int = 7) -> Counts:
    rng = random.Random(seed)
    articles = list(Article.objects.filter(escalate=False).prefetch_related("questions"))
    if not articles:
        raise ValueError("Import a knowledge base first (manage.py demo_setup).")
    agents = list(Agent.objects.prefetch_related("teams"))
    teams = {team.slug: team for team in Team.objects.all()}
    triggers = {t.reason_code: t for t in Trigger.objects.all()}
    counts = Counts()
    now = timezone.now()
    contacts: list[Contact] = []
    with transaction.atomic():
        for day in range(days, 0, -1):
            date = (now - dt.timedelta(days=day)).date()
            weekend = date.weekday() >= 5
            n = max(0, round(rng.gauss(per_day * (0.4 if weekend else 1.0), per_day * 0.15)))
            for _ in range(n):
                start = dt.datetime.combine(
                    date, dt.time(rng.randint(7, 19), rng.randint(0, 59)), tzinfo=dt.UTC
                )
                returning = contacts and rng.random() < 0.12
                contact = rng.choice(contacts) if returning else _contact(site, rng)
                contacts.append(contact)
                _conversation(site, contact, start, rng, articles, agents, teams, triggers, counts)
    return counts


def _contact(site: Site, rng: random.Random) -> Contact:
    name = rng.choice(FIRST_NAMES)
    verified = rng.random() < 0.6
    tier = rng.choices(["", "growth", "scale", "enterprise"], [5, 3, 2, 1])[0] if verified else ""
    return Contact.objects.create(
        site=site,
        name=name if verified else "",
        email=f"{name.lower()}.{uuid.uuid4().hex[:6]}@example.com" if verified else "",
        external_id=f"demo-{uuid.uuid4().hex[:10]}" if verified else "",
        identity=Contact.Identity.TOKEN if verified else Contact.Identity.ANONYMOUS,
        tier=tier,
    )


def _at(row, field: str, value: dt.datetime) -> None:
    type(row).objects.filter(pk=row.pk).update(**{field: value})


def _conversation(site, contact, start, rng, articles, agents, teams, triggers, counts) -> None:
    article = rng.choice(articles)
    conversation = Conversation.objects.create(site=site, contact=contact, topic=article)
    _at(conversation, "created_at", start)
    visit = PageVisit.objects.create(
        conversation=conversation, path=(article.pages or ["/"])[0], title=article.title
    )
    _at(visit, "created_at", start)
    counts.conversations += 1
    seq = 0
    clock = start

    def say(author: str, body: str, **fields) -> Message:
        nonlocal seq, clock
        seq += 1
        clock += dt.timedelta(seconds=rng.randint(5, 60))
        message = Message.objects.create(
            conversation=conversation, seq=seq, author=author, body=body, **fields
        )
        _at(message, "created_at", clock)
        return message

    if rng.random() < 0.3:
        asked = say("customer", rng.choice(SMALL_TALK))
        say("ai", "Hello! What can I help you with?", in_reply_to=asked)
        Decision.objects.create(message=asked, conversation=conversation, action="smalltalk")
    questions = list(article.questions.all()) or [article]
    asked = say("customer", str(rng.choice(questions)))
    confidence = round(rng.uniform(0.7, 0.99), 2)
    say(
        "ai",
        article.body,
        sources=[{"slug": article.slug, "title": article.title}],
        confidence=confidence,
        intent=article.slug,
        in_reply_to=asked,
    )
    Decision.objects.create(
        message=asked,
        conversation=conversation,
        action="answer",
        intent=article.slug,
        confidence=confidence,
        sentiment=0.0,
    )
    handed = rng.random() < 0.22
    ended = clock + dt.timedelta(minutes=rng.randint(1, 5))
    if handed:
        counts.handoffs += 1
        reason, _share, text = rng.choices(
            HANDOFF_REASONS, [share for _r, share, _t in HANDOFF_REASONS]
        )[0]
        team = (article.team if article.team else None) or teams.get("general")
        asked = say("customer", text)
        decision = Decision.objects.create(
            message=asked,
            conversation=conversation,
            action="handoff",
            team=team,
            reason=reason,
            trigger=triggers.get(reason),
            intent=article.slug,
            sentiment=-0.6 if reason == "sentiment" else -0.1,
        )
        queued = clock
        waited = max(15, rng.lognormvariate(4.3, 0.8))
        pickup = rng.expovariate(1 / 40)
        offered = queued + dt.timedelta(seconds=max(0, waited - pickup))
        answered = queued + dt.timedelta(seconds=waited)
        handled = dt.timedelta(seconds=rng.lognormvariate(6.0, 0.6))
        team_agents = [a for a in agents if team in a.teams.all()] or agents
        agent = rng.choice(team_agents) if team_agents else None
        handoff = Handoff.objects.create(
            conversation=conversation,
            decision=decision,
            team=team,
            status="closed",
            priority=10 if contact.tier == "enterprise" else 0,
            reason=reason,
            trigger=triggers.get(reason),
            explanation=f"Demo: {reason}",
            agent=agent,
            offered_at=offered,
            answered_at=answered,
            closed_at=answered + handled,
            sla_misses=1 if rng.random() < 0.05 else 0,
            brief={"reason": {"code": reason}},
        )
        _at(handoff, "queued_at", queued)
        estimate = WaitEstimate.objects.create(
            handoff=handoff,
            position=rng.randint(1, 4),
            estimated_seconds=max(20, round(waited * rng.lognormvariate(0, 0.35))),
            actual_seconds=round(waited),
        )
        _at(estimate, "made_at", queued)
        clock = answered
        if agent is not None:
            say(
                "agent",
                "Hi, I'm here and I've read the conversation.",
                author_user=agent.user,
                author_name=agent.display_name,
            )
        ended = answered + handled
        resolution = Resolution.objects.create(
            conversation=conversation,
            handoff=handoff,
            agent=agent,
            kind=rng.choices(["solved", "workaround", "not_solved"], [7, 2, 1])[0],
            ai_could_have=rng.random() < 0.15,
        )
        _at(resolution, "created_at", ended)
    Conversation.objects.filter(pk=conversation.pk).update(
        state="resolved", resolved_at=ended, last_seq=seq, team=article.team if handed else None
    )
    if rng.random() < 0.4:
        good = 4.4 if handed else 4.1
        score = max(1, min(5, round(rng.gauss(good, 1.0))))
        rating = Rating.objects.create(conversation=conversation, score=score, with_human=handed)
        _at(rating, "created_at", ended + dt.timedelta(minutes=1))
        counts.ratings += 1

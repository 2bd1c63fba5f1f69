"""Small builders for test data. Everything goes through the services that production uses."""

from chat import services
from chat.frames import PageInfo
from chat.models import Conversation, Site, Visitor


def site(*, key: str = "acme", name: str = "Acme") -> Site:
    return Site.objects.create(key=key, name=name, allowed_origins="https://www.acme.example")


def visitor(*, on: Site) -> tuple[Visitor, str]:
    return services.visitor_start(site=on, token="")


def conversation(*, on: Site, path: str = "/", visitor_: Visitor | None = None) -> Conversation:
    if visitor_ is None:
        visitor_, _token = visitor(on=on)
    return services.conversation_start(contact=visitor_.contact, page=PageInfo(path=path))


def agent(username: str, *, teams: list[str], capacity: int = 2, online: bool = True):
    """An agent in these teams (by slug), online unless told otherwise."""
    from django.contrib.auth import get_user_model

    from agents import services as agent_services
    from agents.models import Agent
    from escalation.models import Team

    user = get_user_model().objects.create_user(
        username, f"{username}@baton.example", "pw", first_name=username.title()
    )
    person = Agent.objects.create(user=user, capacity=capacity)
    for slug in teams:
        team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": slug.title()})
        person.teams.add(team)
    if online:
        agent_services.presence_set(agent=person, presence=Agent.Presence.ONLINE)
    return person


def verified_visitor(*, on: Site, sub: str, tier: str = "", **claims) -> tuple[Visitor, str]:
    """A visitor the host site signed in (as Baton.identify does)."""
    import time

    import jwt

    found, token = visitor(on=on)
    now = int(time.time())
    identity = jwt.encode(
        {"sub": sub, "tier": tier, "iat": now, "exp": now + 600, **claims},
        on.identity_secret,
        algorithm="HS256",
    )
    services.contact_identify(visitor=found, token=identity)
    found.refresh_from_db()
    return found, token


def say(conversation: Conversation, text: str, *, path: str | None = None):
    """A customer message, decided and acted on (tasks run in-process); returns the decision."""
    import uuid

    from escalation.models import Decision

    result = services.customer_message_post(
        conversation=conversation,
        client_id=uuid.uuid4().hex,
        body=text,
        page=PageInfo(path=path) if path else None,
    )
    conversation.refresh_from_db()
    return Decision.objects.filter(message=result.message).first()

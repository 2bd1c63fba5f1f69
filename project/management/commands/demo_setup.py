from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from agents.models import Agent, CannedResponse
from chat import services as chat_services
from chat.kb_import import parse_folder
from chat.models import Site
from escalation.models import Team

DEMO_KB = Path(settings.BASE_DIR) / "project" / "demo" / "kb"

DEMO_AGENTS = [
    ("alice", "Alice", ["general", "billing"], False),
    ("bob", "Bob", ["shipping", "technical"], False),
    (
        "sam",
        "Sam",
        ["general", "billing", "shipping", "technical", "success", "trust", "sales"],
        True,
    ),
]

CANNED = [
    ("hello", "Greeting", "Hi! I'm here and I've read the conversation so far."),
    (
        "refund",
        "Refund on its way",
        "I've issued the refund; it shows on your statement in 3 to 5 working days.",
    ),
    (
        "claim",
        "Carrier claim filed",
        "I've filed a claim with the carrier. They usually decide within 10 working days, "
        "and I'll email you when they do.",
    ),
    ("bye", "Closing", "Glad I could help. If anything else comes up, just write here again."),
]


class Command(BaseCommand):
    help = "Load the demo: a site, its knowledge base and the demo users. Safe to run again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--demo-port", type=int, default=8001)

    def handle(self, *args, demo_port: int, **options) -> None:
        site, _ = Site.objects.get_or_create(key="demo", defaults={"name": "Parcelbird"})
        origins = {f"http://localhost:{demo_port}", f"http://127.0.0.1:{demo_port}"}
        if set(site.origins) != origins:
            site.allowed_origins = "\n".join(sorted(origins))
            site.save(update_fields=["allowed_origins"])
        summary = chat_services.kb_import(articles=parse_folder(DEMO_KB))
        users = get_user_model()
        if not users.objects.filter(username="admin").exists():
            users.objects.create_superuser("admin", "admin@example.com", "baton-admin")
        for username, name, teams, supervisor in DEMO_AGENTS:
            user = users.objects.filter(username=username).first()
            if user is None:
                user = users.objects.create_user(
                    username, f"{username}@example.com", "baton-demo", first_name=name
                )
            agent, _created = Agent.objects.get_or_create(
                user=user, defaults={"is_supervisor": supervisor, "capacity": 3}
            )
            for slug in teams:
                team, _created = Team.objects.get_or_create(
                    slug=slug, defaults={"name": slug.replace("-", " ").title()}
                )
                agent.teams.add(team)
        for shortcut, title, body in CANNED:
            CannedResponse.objects.get_or_create(
                shortcut=shortcut, defaults={"title": title, "body": body}
            )
        self.stdout.write(
            f"Demo ready: site 'demo', {summary.created + summary.updated + summary.unchanged} "
            f"articles ({summary.created} new)."
        )

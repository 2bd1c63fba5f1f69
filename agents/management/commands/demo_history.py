from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.demo_history import generate
from chat.models import Conversation, Site


class Command(BaseCommand):
    help = "Fill a demo install with realistic past conversations, for the dashboard."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--per-day", type=int, default=40)
        parser.add_argument("--site", default="demo")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when there are conversations."
        )

    def handle(
        self, *args, days: int, per_day: int, site: str, seed: int, if_empty: bool, **options
    ) -> None:
        if if_empty and Conversation.objects.exists():
            self.stdout.write("There are conversations already; no history added.")
            return
        found = Site.objects.filter(key=site).first()
        if found is None:
            raise CommandError(f"No site {site!r}. Run manage.py demo_setup first.")
        if days < 1:
            raise CommandError("--days must be at least 1.")
        try:
            counts = generate(site=found, days=days, per_day=per_day, seed=seed)
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Added {counts.conversations} conversations over {days} days: "
                f"{counts.handoffs} handed off, {counts.ratings} rated."
            )
        )

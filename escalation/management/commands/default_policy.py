from django.core.management.base import BaseCommand, CommandParser

from escalation import policy
from escalation.models import Team, Trigger


class Command(BaseCommand):
    help = "Install the default escalation triggers (with --replace: drop every trigger first)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--replace", action="store_true")

    def handle(self, *args, replace: bool, **options) -> None:
        created = policy.install(Team, Trigger, replace=replace)
        if created:
            self.stdout.write(self.style.SUCCESS(f"Installed {created} triggers."))
        else:
            self.stdout.write("Triggers already exist; use --replace to start over.")

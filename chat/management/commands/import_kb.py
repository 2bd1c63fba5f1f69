from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from chat import services
from chat.kb_import import ImportFailed, article_files, parse_folder


class Command(BaseCommand):
    help = (
        "Import knowledge-base articles (Markdown with YAML front matter) from a folder. "
        "Articles are matched by slug; a batch with any error imports nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="A folder of .md files, or one file.")
        parser.add_argument("--no-progress", action="store_true", help="Draw no progress bars.")

    def handle(self, *args, path: Path, no_progress: bool, **options) -> None:
        quiet = no_progress or options["verbosity"] == 0
        try:
            total = len(article_files(path))
            with tqdm(
                total=total, desc="Reading", unit="file", disable=quiet, file=self.stderr
            ) as bar:
                articles = parse_folder(path, progress=bar.update)
        except ImportFailed as failed:
            raise CommandError(
                f"Nothing was imported: {len(failed.problems)} problem(s) to fix first.\n{failed}"
            ) from None
        with tqdm(
            total=len(articles), desc="Saving", unit="article", disable=quiet, file=self.stderr
        ) as bar:
            summary = services.kb_import(articles=articles, progress=bar.update)
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {len(articles)} article(s): {summary.created} new, "
                f"{summary.updated} updated, {summary.unchanged} unchanged."
            )
        )
        if summary.teams_created:
            self.stdout.write(f"New teams: {', '.join(summary.teams_created)}")

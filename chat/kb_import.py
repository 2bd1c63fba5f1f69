"""Read knowledge-base articles: Markdown files with YAML front matter.

Parsing is separate from saving so that a broken batch is refused whole, with every
problem named by file and line, before anything is written.
"""

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.apps import apps
from django.utils.translation import gettext as _

SLUG = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
KNOWN_KEYS = {"slug", "title", "team", "pages", "escalate", "questions"}


@dataclass(frozen=True)
class ParsedArticle:
    path: Path
    slug: str
    title: str
    team: str
    body: str
    pages: list[str] = field(default_factory=list)
    escalate: bool = False
    questions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ImportFailed(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def article_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise ImportFailed([Problem(folder, 0, _("No such file or folder."))])
    return sorted(p for p in folder.rglob("*.md") if p.is_file())


def _max_length(model: str, field_name: str) -> int:
    """The model's limit, so that PostgreSQL never refuses a value this module let through."""
    return apps.get_model(model)._meta.get_field(field_name).max_length


def _too_long(path: Path, line: int, what: str, value: str, limit: int) -> Problem:
    return Problem(
        path,
        line,
        _("%(what)s is %(length)d characters long; at most %(limit)d fit.")
        % {"what": what, "length": len(value), "limit": limit},
    )


def _item_lines(front_matter: str, key: str) -> list[int]:
    """The file line of each item of a list under ``key`` (the front matter starts on line 2)."""
    root = yaml.compose(front_matter, Loader=yaml.SafeLoader)
    for key_node, value_node in getattr(root, "value", []):
        if key_node.value == key and isinstance(value_node, yaml.SequenceNode):
            return [item.start_mark.line + 2 for item in value_node.value]
    return []


def parse_file(path: Path) -> ParsedArticle:
    """One article, or ImportFailed naming the line of every problem found."""
    # Editors on Windows save UTF-8 with a byte order mark; it is not part of the text.
    data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ImportFailed([Problem(path, line, _("The file is not UTF-8 text."))]) from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ImportFailed(
            [Problem(path, 1, _("The file must start with a front matter block (a --- line)."))]
        )
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        raise ImportFailed(
            [Problem(path, 1, _("The front matter block is never closed by a --- line."))]
        ) from None
    front_matter = "\n".join(lines[1:end])
    try:
        meta = yaml.safe_load(front_matter) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        problem = getattr(error, "problem", None) or str(error)
        raise ImportFailed(
            [Problem(path, line, _("Invalid YAML: %(problem)s") % {"problem": problem})]
        ) from None
    if not isinstance(meta, dict):
        raise ImportFailed([Problem(path, 2, _("The front matter must be a mapping of keys."))])

    def line_of(key: str) -> int:
        for number, line in enumerate(lines[1:end], start=2):
            if line.startswith(f"{key}:"):
                return number
        return 1

    problems: list[Problem] = []
    for key in sorted(set(meta) - KNOWN_KEYS):
        problems.append(Problem(path, line_of(str(key)), _("Unknown key %(key)r.") % {"key": key}))
    slug = meta.get("slug")
    if not isinstance(slug, str) or not SLUG.match(slug):
        problems.append(
            Problem(
                path,
                line_of("slug"),
                _('"slug" is required: lowercase letters, digits and dashes.'),
            )
        )
    elif len(slug) > (limit := _max_length("chat.Article", "slug")):
        problems.append(_too_long(path, line_of("slug"), '"slug"', slug, limit))
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append(Problem(path, line_of("title"), _('"title" is required.')))
    elif len(title.strip()) > (limit := _max_length("chat.Article", "title")):
        problems.append(_too_long(path, line_of("title"), '"title"', title.strip(), limit))
    team = meta.get("team", "general")
    if not isinstance(team, str) or not SLUG.match(team):
        problems.append(Problem(path, line_of("team"), _('"team" must be a slug such as billing.')))
    elif len(team) > (limit := _max_length("escalation.Team", "slug")):
        problems.append(_too_long(path, line_of("team"), '"team"', team, limit))
    pages = meta.get("pages") or []
    if not isinstance(pages, list) or not all(
        isinstance(p, str) and p.startswith("/") for p in pages
    ):
        problems.append(
            Problem(path, line_of("pages"), _('"pages" must be a list of paths such as /pricing.'))
        )
    escalate = meta.get("escalate", False)
    if not isinstance(escalate, bool):
        problems.append(Problem(path, line_of("escalate"), _('"escalate" must be true or false.')))
    questions = meta.get("questions") or []
    if not isinstance(questions, list) or not all(
        isinstance(q, str) and q.strip() for q in questions
    ):
        problems.append(
            Problem(path, line_of("questions"), _('"questions" must be a list of text lines.'))
        )
    else:
        limit = _max_length("chat.ExampleQuestion", "text")
        lines_of_items = _item_lines(front_matter, "questions")
        for number, question in enumerate(questions):
            if len(question.strip()) > limit:
                line = (
                    lines_of_items[number]
                    if len(lines_of_items) == len(questions)
                    else line_of("questions")
                )
                problems.append(_too_long(path, line, _("A question"), question.strip(), limit))
    body = "\n".join(lines[end + 1 :]).strip()
    if not body:
        problems.append(
            Problem(path, end + 2, _("The article has no answer below the front matter."))
        )
    if problems:
        raise ImportFailed(problems)
    return ParsedArticle(
        path=path,
        slug=slug,
        title=title.strip(),
        team=team,
        body=body,
        pages=pages,
        escalate=escalate,
        questions=[q.strip() for q in questions],
    )


def parse_folder(
    folder: Path, *, progress: Callable[[], object] | None = None
) -> list[ParsedArticle]:
    """Every article in the folder, or ImportFailed listing every problem in every file."""
    articles: list[ParsedArticle] = []
    problems: list[Problem] = []
    seen: dict[str, Path] = {}
    files = article_files(folder)
    if not files:
        raise ImportFailed([Problem(folder, 0, _("No .md files found."))])
    for path in files:
        if progress is not None:
            progress()
        try:
            article = parse_file(path)
        except ImportFailed as failed:
            problems.extend(failed.problems)
            continue
        if article.slug in seen:
            problems.append(
                Problem(
                    path,
                    1,
                    _("The slug %(slug)r is also used by %(other)s.")
                    % {"slug": article.slug, "other": seen[article.slug]},
                )
            )
            continue
        seen[article.slug] = path
        articles.append(article)
    if problems:
        raise ImportFailed(problems)
    return articles

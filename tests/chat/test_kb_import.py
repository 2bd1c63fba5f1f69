import codecs
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from chat.models import Article, ExampleQuestion, KnowledgeBaseRevision
from escalation.models import Team
from tests.conftest import SHARED_KB

pytestmark = pytest.mark.django_db

GOOD = """---
slug: {slug}
title: "{title}"
team: shipping
pages: ["/shipments"]
escalate: false
questions:
  - "where is my parcel"
  - "tracking is stuck"
---

Open **Shipments** to see live tracking.
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_the_shared_knowledge_base_imports_completely(capsys):
    call_command("import_kb", str(SHARED_KB), "--no-progress")
    assert Article.objects.count() == len(list(SHARED_KB.glob("*.md")))
    cancel = Article.objects.get(slug="cancel-subscription")
    assert cancel.escalate and cancel.team.slug == "success"
    assert "close my account" in cancel.questions.values_list("text", flat=True)
    pricing = Article.objects.get(slug="pricing-plans")
    assert pricing.pages == ["/pricing"]
    assert "Imported 28 article(s): 28 new" in capsys.readouterr().out


def test_teams_named_by_articles_are_created(tmp_path):
    write(tmp_path, "a.md", GOOD.format(slug="tracking", title="Tracking"))
    call_command("import_kb", str(tmp_path), "--no-progress")
    assert Team.objects.filter(slug="shipping").exists()


def test_a_reimport_updates_articles_by_slug(tmp_path):
    write(tmp_path, "a.md", GOOD.format(slug="tracking", title="Tracking"))
    call_command("import_kb", str(tmp_path), "--no-progress")
    revision = KnowledgeBaseRevision.objects.get().number
    write(tmp_path, "a.md", GOOD.format(slug="tracking", title="Track a parcel"))
    call_command("import_kb", str(tmp_path), "--no-progress")
    assert Article.objects.get().title == "Track a parcel"
    assert KnowledgeBaseRevision.objects.get().number == revision + 1


def test_a_reimport_keeps_questions_that_agents_taught(tmp_path):
    write(tmp_path, "a.md", GOOD.format(slug="tracking", title="Tracking"))
    call_command("import_kb", str(tmp_path), "--no-progress")
    article = Article.objects.get()
    ExampleQuestion.objects.create(article=article, text="parcel is lost?", origin="agent")
    call_command("import_kb", str(tmp_path), "--no-progress")
    assert set(article.questions.values_list("text", flat=True)) == {
        "where is my parcel",
        "tracking is stuck",
        "parcel is lost?",
    }


def test_a_broken_batch_imports_nothing_and_names_file_and_line(tmp_path):
    write(tmp_path, "good.md", GOOD.format(slug="tracking", title="Tracking"))
    bad = write(
        tmp_path,
        "bad.md",
        '---\nslug: refunds\ntitle: "Refunds"\nquestions:\n  - "money back"\n'
        "  bad: [\n---\n\nBody.\n",
    )
    with pytest.raises(CommandError) as error:
        call_command("import_kb", str(tmp_path), "--no-progress")
    assert f"{bad}:6" in str(error.value)
    assert "Nothing was imported" in str(error.value)
    assert not Article.objects.exists()


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("no front matter\n", 1, "front matter"),
        ("---\nslug: x\n", 1, "never closed"),
        ('---\nslug: Bad Slug\ntitle: "t"\n---\n\nBody\n', 2, "slug"),
        ("---\nslug: ok\n---\n\nBody\n", 1, "title"),
        ('---\nslug: ok\ntitle: "t"\npages: pricing\n---\n\nBody\n', 4, "pages"),
        ('---\nslug: ok\ntitle: "t"\nescalate: maybe\n---\n\nBody\n', 4, "escalate"),
        ('---\nslug: ok\ntitle: "t"\n---\n\n', 5, "no answer"),
        ('---\nslug: ok\ntitle: "t"\ncolour: red\n---\n\nBody\n', 4, "Unknown key"),
    ],
)
def test_each_kind_of_mistake_is_explained(tmp_path, text, line, words):
    path = write(tmp_path, "article.md", text)
    with pytest.raises(CommandError) as error:
        call_command("import_kb", str(tmp_path), "--no-progress")
    assert f"{path}:{line}:" in str(error.value)
    assert words in str(error.value)


def test_a_file_saved_with_a_byte_order_mark_is_read_as_text(tmp_path):
    text = GOOD.format(slug="tracking", title="Tracking").replace("\n", "\r\n")
    (tmp_path / "a.md").write_bytes(codecs.BOM_UTF8 + text.encode())
    call_command("import_kb", str(tmp_path), "--no-progress")
    assert Article.objects.get().title == "Tracking"
    # The mark is not counted as text: a bad byte is still reported on its own line.
    bad = tmp_path / "b.md"
    bad.write_bytes(codecs.BOM_UTF8 + b"---\nslug: ok\n\xe9\n---\n\nBody\n")
    with pytest.raises(CommandError) as error:
        call_command("import_kb", str(tmp_path), "--no-progress")
    assert f"1 problem(s) to fix first.\n{bad}:3: The file is not UTF-8 text." in str(error.value)


@pytest.mark.parametrize(
    ("front_matter", "line", "words"),
    [
        (
            f"slug: {'a' * 101}\ntitle: t\nteam: shipping",
            2,
            '"slug" is 101 characters long; at most 100',
        ),
        (
            f"slug: ok\ntitle: {'T' * 201}\nteam: shipping",
            3,
            '"title" is 201 characters long; at most 200',
        ),
        (f"slug: ok\ntitle: t\nteam: {'s' * 51}", 4, '"team" is 51 characters long; at most 50'),
        (
            f"slug: ok\ntitle: t\nteam: shipping\nquestions:\n  - short\n  - {'q' * 501}",
            7,
            "A question is 501 characters long; at most 500",
        ),
    ],
    ids=["slug", "title", "team", "question"],
)
def test_a_value_too_long_for_the_database_is_refused_naming_its_line(
    tmp_path, front_matter, line, words
):
    """PostgreSQL would refuse it with a DataError naming neither file nor line."""
    longest = f"slug: {'a' * 100}\ntitle: {'T' * 200}\nteam: {'s' * 50}\nquestions: [{'q' * 500}]"
    write(tmp_path, "longest.md", f"---\n{longest}\n---\n\nBody.\n")
    path = write(tmp_path, "long.md", f"---\n{front_matter}\n---\n\nBody.\n")
    with pytest.raises(CommandError) as error:
        call_command("import_kb", str(tmp_path), "--no-progress")
    # The other file's values are as long as the columns allow: they are no problem.
    assert f"1 problem(s) to fix first.\n{path}:{line}: {words} fit." in str(error.value)
    assert not Article.objects.exists()
    assert not Team.objects.filter(slug__in=["shipping", "s" * 50]).exists()


def test_two_files_with_one_slug_are_refused(tmp_path):
    write(tmp_path, "a.md", GOOD.format(slug="tracking", title="One"))
    write(tmp_path, "b.md", GOOD.format(slug="tracking", title="Two"))
    with pytest.raises(CommandError, match="also used by"):
        call_command("import_kb", str(tmp_path), "--no-progress")
    assert not Article.objects.exists()


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="No such file or folder"):
        call_command("import_kb", str(tmp_path / "nowhere"), "--no-progress")


def test_large_imports_draw_a_progress_bar(tmp_path, capsys):
    for n in range(30):
        write(tmp_path, f"a{n}.md", GOOD.format(slug=f"article-{n}", title=f"Article {n}"))
    call_command("import_kb", str(tmp_path))
    err = capsys.readouterr().err
    assert "Reading" in err and "30/30" in err and "Saving" in err

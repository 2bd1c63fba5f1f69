"""BANKING77 through Baton's own paths: import_kb, then the configured responder.

    .venv/bin/python bench/banking77.py [--kb full|10-shot|both] [--split test|validation]

Builds knowledge bases in the import format from ../shared/data/banking77 (one article
per intent; its team and human-only flag from routing.json; its example questions the
intent's training messages: all of them for "full", the first ten in file order for
"10-shot"), imports each with ``manage.py import_kb`` into a fresh database, asks the
responder every message of test.csv, and prints: top-1 accuracy and macro-F1 against the
intent's article, expected calibration error, accuracy among messages answered at the
shipped threshold and the share answered, hand-off recall and precision for the
human-only intents (by the same rule the escalation engine applies), latency per
message, peak memory, and the time to build the index after the import.

``--split validation`` holds out the last fifth of each intent's training messages and
scores on those instead: tune on that, report test figures once per change.
"""

import argparse
import csv
import json
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "banking77"
sys.path.insert(0, str(ROOT))

PUBLISHED = {"full": 93.66, "10-shot": 85.19}
TARGETS = {"full": 94.5, "10-shot": 88.0}


def read(name: str) -> list[tuple[str, str]]:
    with (DATA / name).open(newline="") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def slug(intent: str) -> str:
    """A valid slug: one intent is spelled "reverted_card_payment?"."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", intent.lower()).strip("-")
    return cleaned


def write_kb(folder: Path, examples: dict[str, list[str]], routing: dict) -> None:
    folder.mkdir(parents=True)
    for intent, questions in examples.items():
        route = routing[intent]
        title = intent.replace("_", " ").rstrip("?").capitalize()
        lines = [
            "---",
            f"slug: {slug(intent)}",
            f"title: {json.dumps(title)}",
            f"team: {route['team']}",
            "pages: []",
            f"escalate: {'true' if route['escalate'] else 'false'}",
            "questions:",
            *(f"  - {json.dumps(q)}" for q in questions),
            "---",
            "",
            f"{title}.",
            "",
        ]
        (folder / f"{slug(intent)}.md").write_text("\n".join(lines))


def expected_calibration_error(confidences: list[float], correct: list[bool], bins: int = 10):
    total, error = len(confidences), 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidences) if low < c <= high or (b == 0 and c == 0)]
        if members:
            accuracy = sum(correct[i] for i in members) / len(members)
            mean_confidence = sum(confidences[i] for i in members) / len(members)
            error += len(members) / total * abs(accuracy - mean_confidence)
    return error


def macro_f1(truth: list[str], predicted: list[str]) -> float:
    labels = set(truth)
    scores = []
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0)
    return sum(scores) / len(scores)


def run(kind: str, split: str, var: Path) -> dict:
    train = read("train.csv")
    routing = json.loads((DATA / "routing.json").read_text())
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in train:
        by_intent[intent].append(text)
    if split == "validation":
        held_out = []
        for intent, texts in by_intent.items():
            cut = len(texts) - max(1, len(texts) // 5)
            held_out += [(t, intent) for t in texts[cut:]]
            by_intent[intent] = texts[:cut]
        questions = held_out
    else:
        questions = read("test.csv")
    if kind == "10-shot":
        by_intent = {intent: texts[:10] for intent, texts in by_intent.items()}

    os.environ["BATON_VAR_DIR"] = str(var)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from chat.responder import Query, get_responder
    from chat.responder.local import get_index
    from escalation import rules

    call_command("migrate", verbosity=0)
    folder = var / f"kb-{kind}"
    write_kb(folder, by_intent, routing)
    call_command("import_kb", str(folder), "--no-progress", verbosity=0)
    started = time.perf_counter()
    get_index()
    build_seconds = time.perf_counter() - started

    responder = get_responder()
    threshold = settings.BATON_CONFIDENCE_THRESHOLD
    ruleset = rules.current_ruleset()
    topic_rule = next(t.row for t in ruleset.triggers if t.row.kind == "topic")
    human_only = {slug(i) for i, r in routing.items() if r["escalate"]}
    truth, predicted, confidences, latencies, handoffs = [], [], [], [], []
    for text, intent in questions:
        began = time.perf_counter()
        reply = responder.answer(Query(text=text), threshold=threshold)
        latencies.append(time.perf_counter() - began)
        top = reply.top.slug if reply.top else ""
        truth.append(slug(intent))
        predicted.append(top)
        # How sure the responder is of the article it would cite.
        confidences.append(reply.top.probability if reply.top else 0.0)
        situation = rules.Situation(text=text, reply=reply, sentiment=None)
        handed = rules._human_only_article(situation, topic_rule.threshold) or (
            rules._probably_human_only(situation, topic_rule.threshold)
        )
        handoffs.append(handed is not None)

    correct = [t == p for t, p in zip(truth, predicted, strict=True)]
    answered = [c >= threshold for c in confidences]  # what the responder answers outright
    answered_right = sum(a and c for a, c in zip(answered, correct, strict=True))
    is_human = [t in human_only for t in truth]
    hand_right = sum(h and i for h, i in zip(handoffs, is_human, strict=True))
    latencies.sort()
    # The most a threshold could answer while keeping 99% of answers right.
    ranked = sorted(zip(confidences, correct, strict=True), key=lambda pair: -pair[0])
    right = 0
    coverage_at_99 = 0.0
    for n, (_confidence, ok) in enumerate(ranked, start=1):
        right += ok
        if right / n >= 0.99:
            coverage_at_99 = 100 * n / len(ranked)
    return {
        "kb": kind,
        "split": split,
        "articles": len(by_intent),
        "examples": sum(len(v) for v in by_intent.values()),
        "questions": len(questions),
        "accuracy": 100 * sum(correct) / len(correct),
        "macro_f1": 100 * macro_f1(truth, predicted),
        "ece": expected_calibration_error(confidences, correct),
        "threshold": threshold,
        "answered_accuracy": 100 * answered_right / max(1, sum(answered)),
        "coverage": 100 * sum(answered) / len(answered),
        "coverage_at_99": coverage_at_99,
        "handoff_recall": 100 * hand_right / max(1, sum(is_human)),
        "handoff_precision": 100 * hand_right / max(1, sum(handoffs)),
        "latency_p50_ms": 1000 * statistics.median(latencies),
        "latency_p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "build_seconds": build_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", choices=["full", "10-shot", "both"], default="both")
    parser.add_argument("--split", choices=["test", "validation"], default="test")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    kinds = ["full", "10-shot"] if args.kb == "both" else [args.kb]
    if args.child:
        with tempfile.TemporaryDirectory(prefix="baton-banking77-") as var:
            print(json.dumps(run(kinds[0], args.split, Path(var))))
        return
    # Each knowledge base in its own process: fresh database, fresh memory figures.
    import subprocess

    results = []
    for kind in kinds:
        out = subprocess.run(
            [sys.executable, __file__, "--kb", kind, "--split", args.split, "--child"],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"BANKING77 ({args.split} split), local responder, {os.cpu_count()} CPU cores\n")
    header = (
        f"{'knowledge base':<16}{'accuracy':>10}{'macro-F1':>10}{'ECE':>7}"
        f"{'answered':>10}{'right when answered':>21}{'handoff R/P':>14}"
        f"{'p50/p99 ms':>13}{'build s':>9}{'peak MB':>9}"
    )
    print(header)
    for r in results:
        print(
            f"{r['kb'] + ' (' + str(r['examples']) + ')':<16}{r['accuracy']:>9.2f}%"
            f"{r['macro_f1']:>9.2f}%{r['ece']:>7.3f}{r['coverage']:>9.1f}%"
            f"{r['answered_accuracy']:>20.2f}%"
            f"{r['handoff_recall']:>7.1f}/{r['handoff_precision']:<5.1f}"
            f"{r['latency_p50_ms']:>7.1f}/{r['latency_p99_ms']:<5.1f}"
            f"{r['build_seconds']:>9.1f}{r['peak_rss_mb']:>9.0f}"
        )
    for r in results:
        print(
            f"{r['kb']}: a threshold keeping 99% of answers right would answer "
            f"{r['coverage_at_99']:.1f}% of messages"
        )
    print(
        f"\nthreshold {results[0]['threshold']}; published (test accuracy): "
        + ", ".join(f"{k} {v}%" for k, v in PUBLISHED.items())
        + "; targets: "
        + ", ".join(f"{k} {v}%" for k, v in TARGETS.items())
    )


if __name__ == "__main__":
    main()

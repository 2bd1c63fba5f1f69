"""BANKING77 through Baton's own paths: import_kb, the configured responder, the rules.

    .venv/bin/python bench/banking77.py [--kb full|10-shot|both] [--titles intent|neutral|both]
                                        [--split test|validation]

Builds knowledge bases in the import format from ../shared/data/banking77 (one article
per intent; its team and human-only flag from routing.json; its example questions the
intent's training messages: all of them for "full", the first ten in file order for
"10-shot"), imports each with ``manage.py import_kb`` into a fresh database, asks the
configured responder every message of test.csv as the first message of a conversation,
and lets the escalation engine (``rules.decide`` with the installed triggers) decide on
each, as the product does.

``--titles``: "intent" titles each article with its intent's name ("Card arrival", body
"Card arrival."). The index reads a title as one more example question and the body as
answer text, so each intent also gets its label's words, as a knowledge base with real
titles has. "neutral" titles it "Intent 17", body "Answer 17." (numbered in order of first
appearance in train.csv; slugs likewise): no label information, only the training
messages, like the published figures.

It prints, per knowledge base: top-1 accuracy and macro-F1 of the top article against the
intent's, expected calibration error of its probability; what the product does with each
message (answer, hand off, ask to rephrase, small talk): the share answered and how many of
those answers are right; hand-off recall (human-only intents handed off, and handed off to
their team in routing.json) and precision (hand-offs that are of a human-only intent, and
of one sent to its team), with the triggers that fired; the responder alone at the
threshold (its top probability at or above it, human-only intents included); latency per
message; peak memory; and the time to build the index after the import. The threshold is
the one the live path uses: the Low-confidence trigger's, else BATON_CONFIDENCE_THRESHOLD.

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
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "banking77"
sys.path.insert(0, str(ROOT))

# Casanueva et al. 2020 (the dataset's paper), test accuracy, utterances only: full data,
# BERT-Large fine-tuned; ten per intent, USE + ConveRT dual encoders.
PUBLISHED = {"full": 93.66, "10-shot": 85.19}
TARGETS = {"full": 94.5, "10-shot": 88.0}
TARGET_ECE = 0.03
TARGET_ANSWERED_RIGHT = 99.0
TARGET_ANSWERED_SHARE = 80.0  # with the full knowledge base
TARGET_P99_MS = 20.0


def read(name: str) -> list[tuple[str, str]]:
    with (DATA / name).open(newline="") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def slug(intent: str) -> str:
    """A valid slug: one intent is spelled "reverted_card_payment?"."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", intent.lower()).strip("-")
    return cleaned


def article_names(intents: list[str], titles: str) -> dict[str, tuple[str, str, str]]:
    """Per intent: (slug, title, body). Neutral ones carry nothing of the label."""
    names = {}
    for number, intent in enumerate(intents, start=1):
        if titles == "neutral":
            names[intent] = (f"intent-{number}", f"Intent {number}", f"Answer {number}.")
        else:
            title = intent.replace("_", " ").rstrip("?").capitalize()
            names[intent] = (slug(intent), title, f"{title}.")
    return names


def write_kb(
    folder: Path,
    examples: dict[str, list[str]],
    routing: dict,
    names: dict[str, tuple[str, str, str]],
) -> None:
    folder.mkdir(parents=True)
    for intent, questions in examples.items():
        route = routing[intent]
        article_slug, title, body = names[intent]
        lines = [
            "---",
            f"slug: {article_slug}",
            f"title: {json.dumps(title)}",
            f"team: {route['team']}",
            "pages: []",
            f"escalate: {'true' if route['escalate'] else 'false'}",
            "questions:",
            *(f"  - {json.dumps(q)}" for q in questions),
            "---",
            "",
            body,
            "",
        ]
        (folder / f"{article_slug}.md").write_text("\n".join(lines))


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


def percentile(ordered: list[float], share: float) -> float:
    return ordered[int(share * (len(ordered) - 1))]


def percent(part: int, whole: int) -> float:
    return 100 * part / max(1, whole)


def responder_name(settings, index) -> str:
    if settings.BATON_RESPONDER == "llm":
        # Decisions rest on its local find(); the endpoint only rewrites answers.
        return f"llm responder ({settings.BATON_LLM_MODEL}; its local find, {index.sentence_model})"
    return f"local responder (sentence model: {index.sentence_model})"


def run(kind: str, titles: str, split: str, var: Path) -> dict:
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
    names = article_names(list(by_intent), titles)

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
    folder = var / f"kb-{kind}-{titles}"
    write_kb(folder, by_intent, routing, names)
    call_command("import_kb", str(folder), "--no-progress", verbosity=0)
    started = time.perf_counter()
    index = get_index()
    build_seconds = time.perf_counter() - started

    responder = get_responder()
    # As the live path (escalation.services._judge): the Low-confidence trigger's value.
    ruleset = rules.current_ruleset()
    threshold = ruleset.confidence_threshold
    human_only = {names[i][0] for i, r in routing.items() if r["escalate"]}
    team_of = {names[i][0]: r["team"] for i, r in routing.items()}
    truth, predicted, confidences, outcomes = [], [], [], []
    responder_seconds, responder_cpu_seconds, decision_seconds = [], [], []
    for text, intent in questions:
        began, began_cpu = time.perf_counter(), time.process_time()
        # The first message of a conversation, as escalation.services._judge asks it.
        reply = responder.find(Query(text=text, previous_text=""), threshold=threshold)
        found, found_cpu = time.perf_counter(), time.process_time()
        # The first message of a conversation: no history, no page.
        situation = rules.situation_of(text, reply)
        outcomes.append(rules.decide(situation, ruleset))
        decided = time.perf_counter()
        responder_seconds.append(found - began)
        responder_cpu_seconds.append(found_cpu - began_cpu)
        decision_seconds.append(decided - began)
        truth.append(names[intent][0])
        # The article the responder ranks first (small talk aside).
        predicted.append(reply.top.slug if reply.top else "")
        confidences.append(reply.top.probability if reply.top else 0.0)

    n = len(questions)
    correct = [t == p for t, p in zip(truth, predicted, strict=True)]
    is_human = [t in human_only for t in truth]
    actions = Counter(o.action for o in outcomes)
    # What the product answers: the decision is "answer", citing the top article.
    answered = [o.action == "answer" for o in outcomes]
    answered_right = sum(a and c for a, c in zip(answered, correct, strict=True))
    answerable = n - sum(is_human)
    answered_answerable = sum(a and not h for a, h in zip(answered, is_human, strict=True))
    handed = [o.action == "handoff" for o in outcomes]
    to_team = [
        h and o.team_slug == team_of[t] for h, o, t in zip(handed, outcomes, truth, strict=True)
    ]
    hand_human = sum(h and i for h, i in zip(handed, is_human, strict=True))
    hand_human_team = sum(h and i for h, i in zip(to_team, is_human, strict=True))
    triggers = Counter(o.trigger.name for o in outcomes if o.action == "handoff" and o.trigger)
    # The responder alone: its top article at or above the threshold, human-only included.
    confident = [c >= threshold for c in confidences]
    confident_right = sum(a and c for a, c in zip(confident, correct, strict=True))
    # The most a threshold could answer while keeping 99% of answers right.
    ranked = sorted(zip(confidences, correct, strict=True), key=lambda pair: -pair[0])
    right = 0
    coverage_at_99 = 0.0
    for count, (_confidence, ok) in enumerate(ranked, start=1):
        right += ok
        if right / count >= 0.99:
            coverage_at_99 = 100 * count / len(ranked)
    responder_seconds.sort()
    responder_cpu_seconds.sort()
    decision_seconds.sort()
    return {
        "kb": kind,
        "titles": titles,
        "split": split,
        "responder": responder_name(settings, index),
        "articles": len(by_intent),
        "examples": sum(len(v) for v in by_intent.values()),
        "questions": n,
        "human_only_questions": sum(is_human),
        "accuracy": 100 * sum(correct) / n,
        "macro_f1": 100 * macro_f1(truth, predicted),
        "ece": expected_calibration_error(confidences, correct),
        "threshold": threshold,
        "actions": {a: percent(c, n) for a, c in actions.most_common()},
        "answered": percent(sum(answered), n),
        "answered_accuracy": percent(answered_right, sum(answered)),
        "answered_of_answerable": percent(answered_answerable, answerable),
        "handoff_recall": percent(hand_human, sum(is_human)),
        "handoff_recall_team": percent(hand_human_team, sum(is_human)),
        "handoff_precision": percent(hand_human, sum(handed)),
        "handoff_precision_team": percent(hand_human_team, sum(handed)),
        "handoffs": sum(handed),
        "handoff_triggers": dict(triggers.most_common()),
        "confident": percent(sum(confident), n),
        "confident_accuracy": percent(confident_right, sum(confident)),
        "coverage_at_99": coverage_at_99,
        "latency_p50_ms": 1000 * statistics.median(responder_seconds),
        "latency_p99_ms": 1000 * percentile(responder_seconds, 0.99),
        "cpu_p50_ms": 1000 * statistics.median(responder_cpu_seconds),
        "cpu_p99_ms": 1000 * percentile(responder_cpu_seconds, 0.99),
        "decision_p50_ms": 1000 * statistics.median(decision_seconds),
        "decision_p99_ms": 1000 * percentile(decision_seconds, 0.99),
        "build_seconds": build_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def report(results: list[dict], split: str) -> None:
    first = results[0]
    print(f"BANKING77 ({split} split), {first['responder']}, {os.cpu_count()} CPU cores")
    print(
        f"threshold {first['threshold']} (the Low-confidence trigger's, as the live path); "
        "each message decided by rules.decide as a conversation's first\n"
    )

    def name(r: dict) -> str:
        return f"{r['kb']}, {r['titles']} titles ({r['examples']})"

    print("The responder: its top article against the intent's")
    print(
        f"{'knowledge base (examples)':<32}{'accuracy':>10}{'macro-F1':>10}{'ECE':>7}"
        f"{'p50/p99 ms':>13}{'CPU p50/p99':>13}{'build s':>9}{'peak MB':>9}"
    )
    for r in results:
        print(
            f"{name(r):<32}{r['accuracy']:>9.2f}%{r['macro_f1']:>9.2f}%{r['ece']:>7.3f}"
            f"{r['latency_p50_ms']:>7.1f}/{r['latency_p99_ms']:<5.1f}"
            f"{r['cpu_p50_ms']:>7.1f}/{r['cpu_p99_ms']:<5.1f}"
            f"{r['build_seconds']:>9.1f}{r['peak_rss_mb']:>9.0f}"
        )
    print(
        "p50/p99 ms: wall clock per message; CPU: this process's CPU time for it, which "
        "other load on the machine\nswells less; build s: the index after the import"
    )
    print(
        "\nThe product: what rules.decide does with each message "
        f"({first['human_only_questions']} of {first['questions']} are of human-only intents)"
    )
    print(
        f"{'knowledge base (examples)':<32}{'answered':>9}{'right':>8}{'of answerable':>15}"
        f"{'handoff recall':>16}{'(to team)':>10}{'precision':>11}{'(to team)':>10}"
        f"{'p50/p99 ms':>13}"
    )
    for r in results:
        print(
            f"{name(r):<32}{r['answered']:>8.1f}%{r['answered_accuracy']:>7.2f}%"
            f"{r['answered_of_answerable']:>14.1f}%"
            f"{r['handoff_recall']:>15.1f}%{r['handoff_recall_team']:>9.1f}%"
            f"{r['handoff_precision']:>10.1f}%{r['handoff_precision_team']:>9.1f}%"
            f"{r['decision_p50_ms']:>7.1f}/{r['decision_p99_ms']:<5.1f}"
        )
    print(
        "answered: share of all messages the product answers; right: of those, citing the "
        "intent's article;\nof answerable: share answered of the messages of other intents; "
        "p50/p99: responder, sentiment and rules"
    )
    for r in results:
        actions = ", ".join(f"{a} {v:.1f}%" for a, v in r["actions"].items())
        fired = ", ".join(f"{t} {c}" for t, c in r["handoff_triggers"].items())
        print(f"\n{name(r)}: decisions {actions}")
        print(f"  {r['handoffs']} hand-offs, by trigger: {fired or 'none'}")
        print(
            f"  the responder alone at the threshold (human-only intents too): answers "
            f"{r['confident']:.1f}%, {r['confident_accuracy']:.2f}% of them right; a threshold "
            f"keeping 99% right would answer {r['coverage_at_99']:.1f}%"
        )
    print(
        "\npublished (test accuracy, utterances only, Casanueva et al. 2020): "
        + ", ".join(f"{k} {v}%" for k, v in PUBLISHED.items())
    )
    print(
        "targets: accuracy "
        + ", ".join(f"{k} >= {v}%" for k, v in TARGETS.items())
        + f"; ECE <= {TARGET_ECE}; at the default threshold >= {TARGET_ANSWERED_RIGHT}% of "
        f"answers right while answering >= {TARGET_ANSWERED_SHARE}% (full); "
        f"p99 <= {TARGET_P99_MS} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", choices=["full", "10-shot", "both"], default="both")
    parser.add_argument(
        "--titles",
        choices=["intent", "neutral", "both"],
        default="both",
        help="article titles and bodies: the intent's name, or with no label information",
    )
    parser.add_argument("--split", choices=["test", "validation"], default="test")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    kinds = ["full", "10-shot"] if args.kb == "both" else [args.kb]
    titles = ["intent", "neutral"] if args.titles == "both" else [args.titles]
    if args.child:
        with tempfile.TemporaryDirectory(prefix="baton-banking77-") as var:
            print(json.dumps(run(kinds[0], titles[0], args.split, Path(var))))
        return
    # Each knowledge base in its own process, one after the other: fresh database, fresh
    # memory figures.
    import subprocess

    results = []
    for kind in kinds:
        for title in titles:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--kb",
                    kind,
                    "--titles",
                    title,
                    "--split",
                    args.split,
                    "--child",
                ],
                capture_output=True,
                text=True,
            )
            if out.returncode:
                sys.exit(f"{kind}, {title} titles failed:\n{out.stderr}")
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    report(results, args.split)


if __name__ == "__main__":
    main()

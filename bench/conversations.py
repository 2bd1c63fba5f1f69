"""Replay scripted conversations through the real websocket path and score the outcomes.

    .venv/bin/python bench/conversations.py [SCRIPTS.jsonl] [--kb FOLDER] [--show-failures]

Defaults: ../shared/data/conversations/dev.jsonl and ../shared/data/kb. Our own
bench/data/fresh.jsonl (same format, same knowledge base) uses other wordings for the
triggers, to check the policy rather than the shared examples. Starts a fresh
Baton (daphne, a Celery worker, Redis) with the knowledge base imported and the default
triggers, plays each script as a customer's widget would (hello, identity, page changes,
messages), and reads what Baton decided for each message. A script ends at its first
handoff. Prints the pass rate per expectation kind and per handoff reason.
"""

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import jwt
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import SHARED, baton, git_revision


def expectation_met(expect: str, reason: str, outcome: dict) -> bool:
    kind, _, value = expect.partition(":")
    action = outcome["action"]
    match kind:
        case "answer":
            return action == "answer" and outcome["intent"] in value.split("|")
        case "handoff":
            return action == "handoff" and outcome["team"] == value and outcome["reason"] == reason
        case "no_handoff":
            return action != "handoff"
        case "smalltalk":
            return action == "smalltalk"
        case "no_wrong_answer":
            return action not in {"answer", "handoff"}
    raise ValueError(f"unknown expectation {expect!r}")


class Customer:
    def __init__(self, url: str, site, script: dict) -> None:
        self.url = url
        self.site = site
        self.script = script
        self.conversation = ""

    def identity(self) -> str | None:
        contact = self.script.get("contact")
        if not contact:
            return None
        now = int(time.time())
        claims = {"sub": contact.get("email") or uuid.uuid4().hex, "iat": now, "exp": now + 600}
        claims.update({k: v for k, v in contact.items() if v})
        return jwt.encode(claims, self.site.identity_secret, algorithm="HS256")

    async def play(self, decide) -> list[dict]:
        results = []
        async with websockets.connect(self.url, open_timeout=10) as socket:
            page = self.script["page"]
            hello = {"type": "hello", "page": page}
            if identity := self.identity():
                hello["identity"] = identity
            await socket.send(json.dumps(hello))
            await self._until(socket, "welcome")
            for turn in self.script["turns"]:
                if "page" in turn and turn["page"] != page:
                    page = turn["page"]
                    await socket.send(json.dumps({"type": "page", "page": page}))
                client_id = uuid.uuid4().hex
                await socket.send(
                    json.dumps({"type": "message", "client_id": client_id, "body": turn["say"]})
                )
                ack = await self._until(socket, "ack", client_id=client_id)
                # The reply: an AI message, or the system line of a handoff.
                await self._until(socket, "message", author=("ai", "system"))
                outcome = await asyncio.to_thread(decide, self.conversation, ack["seq"])
                results.append({"turn": turn, "outcome": outcome})
                if outcome["action"] == "handoff" or turn["expect"].startswith("handoff"):
                    break
        return results

    async def _until(self, socket, kind: str, **match) -> dict:
        while True:
            frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=30))
            if frame["type"] == "conversation":
                self.conversation = frame["id"]
            if frame["type"] == "error":
                raise RuntimeError(f"Baton refused a frame: {frame}")
            if frame["type"] != kind:
                continue
            if all(
                frame.get(k) in v if isinstance(v, tuple) else frame.get(k) == v
                for k, v in match.items()
            ):
                return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "scripts", nargs="?", type=Path, default=SHARED / "data/conversations/dev.jsonl"
    )
    parser.add_argument("--kb", type=Path, default=SHARED / "data/kb")
    parser.add_argument("--show-failures", action="store_true")
    args = parser.parse_args()
    scripts = [json.loads(line) for line in args.scripts.read_text().splitlines() if line.strip()]

    with baton(kb=args.kb) as (stack, site):
        from escalation.models import Decision

        def decide(conversation: str, seq: int) -> dict:
            for _ in range(100):
                decision = (
                    Decision.objects.select_related("team")
                    .filter(message__conversation__public_id=conversation, message__seq=seq)
                    .first()
                )
                if decision is not None:
                    return {
                        "action": decision.action,
                        "intent": decision.intent,
                        "team": decision.team.slug if decision.team else "",
                        "reason": decision.reason,
                        "explanation": decision.explanation,
                        "confidence": decision.confidence,
                    }
                time.sleep(0.05)
            raise RuntimeError(f"no decision for message {seq} of {conversation}")

        url = stack.url.replace("http", "ws") + f"/ws/widget/{site.key}/"
        started = time.perf_counter()
        played = []
        for script in scripts:
            played.append((script, asyncio.run(Customer(url, site, script).play(decide))))
        seconds = time.perf_counter() - started

    by_kind, by_reason, passed_kind, passed_reason = Counter(), Counter(), Counter(), Counter()
    failures = []
    for script, results in played:
        for result in results:
            turn, outcome = result["turn"], result["outcome"]
            kind = turn["expect"].split(":")[0]
            ok = expectation_met(turn["expect"], turn.get("reason", ""), outcome)
            by_kind[kind] += 1
            passed_kind[kind] += ok
            if kind == "handoff":
                by_reason[turn["reason"]] += 1
                passed_reason[turn["reason"]] += ok
            if not ok:
                failures.append((script["id"], turn, outcome))

    total, passed = sum(by_kind.values()), sum(passed_kind.values())
    print(
        f"Conversation benchmark: {args.scripts.name}, {len(scripts)} scripts, "
        f"{total} turns, revision {git_revision()}, {seconds:.1f} s"
    )
    print(f"\n{'expectation':<22}{'passed':>8}{'turns':>8}{'rate':>8}")
    for kind in sorted(by_kind):
        print(
            f"{kind:<22}{passed_kind[kind]:>8}{by_kind[kind]:>8}"
            f"{passed_kind[kind] / by_kind[kind]:>8.0%}"
        )
    print(f"\n{'handoff reason':<22}{'passed':>8}{'turns':>8}{'rate':>8}")
    for reason in sorted(by_reason):
        print(
            f"{reason:<22}{passed_reason[reason]:>8}{by_reason[reason]:>8}"
            f"{passed_reason[reason] / by_reason[reason]:>8.0%}"
        )
    print(f"\n{'all turns':<22}{passed:>8}{total:>8}{passed / total:>8.0%}")
    if args.show_failures:
        print("\nFailures:")
        for script_id, turn, outcome in failures:
            print(
                f"  {script_id}: {turn['say'][:70]!r}\n    expected {turn['expect']} "
                f"{turn.get('reason', '')}; got {outcome['action']} "
                f"{outcome['intent'] or outcome['team']} {outcome['reason']} "
                f"({outcome['confidence']:.2f}) {outcome['explanation'][:80]}"
            )


if __name__ == "__main__":
    main()

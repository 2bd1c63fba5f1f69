"""Customer message to AI answer, over real widget websockets, beside a bare Channels echo.

    .venv/bin/python bench/latency.py [--clients 1,50,200] [--interval 2] [--seconds 20]
                                      [--layer classic|pubsub|both] [--kb FOLDER]

Starts a fresh Baton (daphne, a Celery worker, Redis; PostgreSQL + Redis when
DATABASE_URL and REDIS_URL are set) with ../shared/data/kb imported and the default
triggers, serving one more websocket route: a bare echo consumer that sends each frame
back through the same channel layer. For each number of clients it prints:

- paced: every client is a customer who asks a question every ``--interval`` seconds
  (spread evenly), as the knowledge-base questions of the shared conversations. The
  latency is from the moment the message was due to the AI's answer on the socket, so a
  slow server cannot hide its backlog by delaying the next question.
- flat out: every client asks its next question as soon as the answer arrives; the
  answers per second are the sustained rate.

and the same for the echo, so the cost of Baton's pipeline (database, Celery, responder,
triggers, broadcast) shows as a ratio. A customer is a new visitor every six questions,
below the long-conversation trigger. "handoff" counts questions the triggers gave to a
person (no answer to time); "lost", questions with no answer within 30 seconds or whose
socket the server dropped. ``--layer both`` runs everything once per Redis
channel layer (docs/configuration.md, CHANNEL_LAYER).
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import SHARED, baton, git_revision

QUESTIONS_PER_VISITOR = 6
REPLY_TIMEOUT = 30.0


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    handed_off: int = 0
    timed_out: int = 0
    dropped: int = 0


def questions() -> list[str]:
    """What customers ask in the answer turns of the shared conversations."""
    found = []
    for line in (SHARED / "data/conversations/dev.jsonl").read_text().splitlines():
        for turn in json.loads(line)["turns"]:
            if turn["expect"].startswith("answer:") and turn["say"] not in found:
                found.append(turn["say"])
    return found


async def next_due(due: float, interval: float | None) -> float:
    """Wait for the next question's moment; flat out, it is now (or the start)."""
    await asyncio.sleep(max(0.0, due - time.perf_counter()))
    return due if interval else max(due, time.perf_counter())


async def baton_customer(url, asked, begin, stop, interval, phase, run: Run) -> None:
    due = begin + phase
    index = 0
    while time.perf_counter() < stop:
        try:
            due, index = await _visit(url, asked, due, index, stop, interval, run)
        except (OSError, websockets.WebSocketException):
            # The server dropped or refused the socket: a customer who lost the chat.
            run.dropped += 1
            if interval:
                due += interval


async def _hello(socket) -> None:
    """Say hello as a new visitor and wait for the welcome."""
    await socket.send(json.dumps({"type": "hello", "page": {"path": "/"}}))
    while json.loads(await socket.recv())["type"] != "welcome":
        pass


async def _visit(url, asked, due, index, stop, interval, run: Run) -> tuple[float, int]:
    """One visitor's questions on one socket; returns when the next is due, and which."""
    async with websockets.connect(url, open_timeout=30, max_queue=None) as socket:
        await _hello(socket)
        for _ in range(QUESTIONS_PER_VISITOR):
            due = await next_due(due, interval)
            if due >= stop:
                break
            client_id = uuid.uuid4().hex
            body = asked[index % len(asked)]
            index += 1
            await socket.send(json.dumps({"type": "message", "client_id": client_id, "body": body}))
            outcome = await _answer(socket, client_id)
            asked_at = due
            if interval:
                due += interval
            if outcome == "answer":
                run.latencies.append(time.perf_counter() - asked_at)
                continue
            if outcome == "handoff":
                run.handed_off += 1
            else:
                run.timed_out += 1
            break
    return due, index


async def _answer(socket, client_id: str) -> str:
    seq = None
    try:
        while True:
            frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=REPLY_TIMEOUT))
            if frame["type"] == "ack" and frame["client_id"] == client_id:
                seq = frame["seq"]
            elif frame["type"] == "error":
                raise RuntimeError(f"Baton refused a frame: {frame}")
            elif frame["type"] == "message" and seq is not None:
                if frame["author"] == "ai" and frame.get("reply_to") == seq:
                    return "answer"
                if frame["author"] == "system":
                    return "handoff"
    except TimeoutError:
        return "timeout"


async def settle(url: str, asked: list[str]) -> None:
    """Wait until Baton answers at once again: the last run's backlog is worked off."""
    for attempt in range(60):
        async with websockets.connect(url, open_timeout=30) as socket:
            await _hello(socket)
            client_id = uuid.uuid4().hex
            sent = time.perf_counter()
            message = {"type": "message", "client_id": client_id, "body": asked[attempt]}
            await socket.send(json.dumps(message))
            if await _answer(socket, client_id) == "answer" and time.perf_counter() - sent < 1:
                return
    raise RuntimeError("Baton did not get back to answering within a second")


async def echo_client(url, asked, begin, stop, interval, phase, run: Run) -> None:
    try:
        await _echoes(url, asked, begin + phase, stop, interval, run)
    except (OSError, websockets.WebSocketException):
        run.dropped += 1


async def _echoes(url, asked, due, stop, interval, run: Run) -> None:
    async with websockets.connect(url, open_timeout=30, max_queue=None) as socket:
        index = 0
        while True:
            due = await next_due(due, interval)
            if due >= stop:
                return
            frame = json.dumps({"type": "message", "n": index, "body": asked[index % len(asked)]})
            index += 1
            await socket.send(frame)
            try:
                while await asyncio.wait_for(socket.recv(), timeout=REPLY_TIMEOUT) != frame:
                    pass
            except TimeoutError:
                run.timed_out += 1
                return
            run.latencies.append(time.perf_counter() - due)
            if interval:
                due += interval


async def measure(client, url, asked, clients, seconds, interval) -> tuple[Run, float]:
    """``clients`` customers (or echo clients) for ``seconds``, after a few seconds in
    which they connect."""
    run = Run()
    begin = time.perf_counter() + 3.0
    stop = begin + seconds
    spread = interval or 0.0
    await asyncio.gather(
        *(
            client(url, asked[i:] + asked[:i], begin, stop, interval, spread * i / clients, run)
            for i in range(clients)
        )
    )
    return run, seconds


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def row(label: str, clients: int, run: Run, seconds: float) -> str:
    if not run.latencies:
        return f"{label:<22}{clients:>8}{'no answers':>12}"
    ms = [value * 1000 for value in run.latencies]
    return (
        f"{label:<22}{clients:>8}{len(ms) / seconds:>10.1f}"
        f"{statistics.median(ms):>9.1f}{percentile(ms, 0.95):>9.1f}{percentile(ms, 0.99):>9.1f}"
        f"{run.handed_off:>8}{run.timed_out + run.dropped:>8}"
    )


def bench_layer(args) -> None:
    asked = questions()
    env = {"BATON_MESSAGES_PER_MINUTE": "100000", "CHANNEL_LAYER": args.layer}
    with baton(kb=args.kb, env=env, web_app="bench.echo_asgi:application") as (stack, site):
        ws = stack.url.replace("http", "ws")
        baton_url, echo_url = f"{ws}/ws/widget/{site.key}/", f"{ws}/ws/echo/"
        # Warm up: the index is built on the first question.
        asyncio.run(measure(baton_customer, baton_url, asked, 1, 3, None))
        database = "PostgreSQL" if "postgres" in os.environ.get("DATABASE_URL", "") else "SQLite"
        print(
            f"\nChannel layer {args.layer!r}, {database}, {len(asked)} questions, "
            f"revision {git_revision()}"
        )
        print(
            f"{'':<22}{'clients':>8}{'answers/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
            f"{'handoff':>8}{'lost':>8}"
        )
        flat_out = {}
        for label, client, url in (
            ("baton", baton_customer, baton_url),
            ("echo", echo_client, echo_url),
        ):
            for clients in args.clients:
                asyncio.run(settle(baton_url, asked))
                run, seconds = asyncio.run(
                    measure(client, url, asked, clients, args.seconds, args.interval)
                )
                print(row(f"{label} every {args.interval:g} s", clients, run, seconds), flush=True)
            for clients in args.clients:
                asyncio.run(settle(baton_url, asked))
                run, seconds = asyncio.run(
                    measure(client, url, asked, clients, args.seconds / 2, None)
                )
                flat_out[label, clients] = len(run.latencies) / seconds
                print(row(f"{label} flat out", clients, run, seconds), flush=True)
        for clients in args.clients:
            ratio = flat_out["baton", clients] / max(flat_out["echo", clients], 1e-9)
            print(f"sustained rate, baton / echo, {clients} clients: {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients", type=lambda text: [int(n) for n in text.split(",")], default=[1, 50, 200]
    )
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--layer", choices=["classic", "pubsub", "both"], default="both")
    parser.add_argument("--kb", type=Path, default=SHARED / "data/kb")
    args = parser.parse_args()
    if args.layer != "both":
        bench_layer(args)
        return
    # One process per layer: each gets a fresh Baton and its own settings.
    for layer in ("classic", "pubsub"):
        subprocess.run(
            [
                sys.executable,
                __file__,
                f"--clients={','.join(map(str, args.clients))}",
                f"--interval={args.interval}",
                f"--seconds={args.seconds}",
                f"--kb={args.kb}",
                f"--layer={layer}",
            ],
            check=True,
        )


if __name__ == "__main__":
    main()

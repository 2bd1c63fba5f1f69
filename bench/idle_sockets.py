"""Memory of one daphne process holding many idle widget sockets.

    .venv/bin/python bench/idle_sockets.py [--sockets 10000] [--layer pubsub|classic]

Starts a fresh Baton (as bench/latency.py does), reads the daphne process's resident
memory, opens ``--sockets`` widget websockets that each say hello as a new visitor (so
each has a contact and its group on the channel layer) and then only send the widget's
heartbeat, and reads the memory again once they are all open and again a minute later.
Prints the memory per socket and how many sockets were still answering pings at the
end. Needs a file-descriptor limit above the socket count (``ulimit -n``).
"""

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import baton, git_revision

HEARTBEAT_SECONDS = 20  # what the widget does (docs/widget-protocol.md)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


async def visitor(url: str, opened: asyncio.Event, stop: asyncio.Event, alive: list) -> None:
    async with websockets.connect(url, open_timeout=120, ping_interval=None) as socket:
        await socket.send(json.dumps({"type": "hello", "page": {"path": "/pricing"}}))
        while json.loads(await socket.recv())["type"] != "welcome":
            pass
        opened.set()
        answering = True
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=HEARTBEAT_SECONDS)
            except TimeoutError:
                await socket.send('{"type": "ping"}')
                try:
                    while json.loads(await asyncio.wait_for(socket.recv(), 30))["type"] != "pong":
                        pass
                except (TimeoutError, websockets.ConnectionClosed):
                    answering = False
                    break
        alive.append(answering)


async def hold(url: str, sockets: int, pid: int, soak: float) -> None:
    stop = asyncio.Event()
    alive: list[bool] = []
    before = rss_kib(pid)
    started = time.perf_counter()
    tasks = []
    # Open them a few hundred at a time, as visitors arrive, not all in one instant.
    for start in range(0, sockets, 200):
        batch = [asyncio.Event() for _ in range(min(200, sockets - start))]
        tasks += [asyncio.create_task(visitor(url, event, stop, alive)) for event in batch]
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in batch)), timeout=300)
    opening = time.perf_counter() - started
    await asyncio.sleep(5)
    opened = rss_kib(pid)
    print(f"{sockets} sockets open in {opening:.0f} s")
    print(f"daphne resident memory: {before / 1024:.0f} MiB before, {opened / 1024:.0f} MiB open")
    print(f"per socket, just opened: {(opened - before) / sockets:.1f} KiB")
    await asyncio.sleep(soak)
    held = rss_kib(pid)
    print(f"per socket, after {soak:.0f} s of heartbeats: {(held - before) / sockets:.1f} KiB")
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(f"still answering pings at the end: {sum(alive)} of {sockets}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--soak", type=float, default=60.0, help="seconds to hold them")
    parser.add_argument("--layer", choices=["classic", "pubsub"], default="pubsub")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.sockets + 1000:
        sys.exit(f"The file-descriptor limit ({hard}) is too low for {args.sockets} sockets.")
    with baton(env={"CHANNEL_LAYER": args.layer}) as (stack, site):
        print(f"Idle widget sockets, channel layer {args.layer!r}, revision {git_revision()}")
        url = stack.url.replace("http", "ws") + f"/ws/widget/{site.key}/"
        asyncio.run(hold(url, args.sockets, stack.processes["web"].pid, args.soak))


if __name__ == "__main__":
    main()

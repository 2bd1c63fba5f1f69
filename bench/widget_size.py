"""What a host page downloads for the widget, as served by a running Baton, gzipped.

    .venv/bin/python bench/widget_size.py

Starts a fresh Baton, fetches the loader, then what the loader fetches (its config and
the frame page) and what the frame page links to (scripts, styles), and prints each
one's size as served and gzipped (level 9, as WhiteNoise or a proxy compresses).
"""

import gzip
import re
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import baton, git_revision


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own server
        return response.read()


def main() -> None:
    with baton() as (stack, site):
        loader = f"{stack.url}/static/baton/widget.js"
        frame = f"{stack.url}/widget/{site.key}/"
        parts = {"loader (widget.js)": fetch(loader)}
        parts["config.json"] = fetch(f"{frame}config.json")
        page = fetch(frame)
        parts["frame page"] = page
        for link in re.findall(rb'(?:src|href)="(/static/[^"]+\.(?:js|css))"', page):
            parts[link.decode()] = fetch(stack.url + link.decode())

    print(f"Widget download, revision {git_revision()}")
    print(f"{'':<34}{'bytes':>8}{'gzipped':>9}")
    total = total_gzipped = 0
    for name, body in parts.items():
        gzipped = len(gzip.compress(body, compresslevel=9))
        total += len(body)
        total_gzipped += gzipped
        print(f"{name:<34}{len(body):>8}{gzipped:>9}")
    print(f"{'whole widget':<34}{total:>8}{total_gzipped:>9}")


if __name__ == "__main__":
    main()

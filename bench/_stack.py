"""Benchmarks run Baton for real: a fresh embedded install in a temporary folder.

Or against DATABASE_URL / REDIS_URL when they are set (the database must be empty).
"""

import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@contextmanager
def baton(
    *,
    kb: Path | None = None,
    site_name: str = "Lumen",
    workers: int = 4,
    worker_processes: int | None = None,
    env: dict[str, str] | None = None,
    web_app: str = "project.asgi:application",
):
    """A running Baton (daphne, a Celery worker, Redis) with this knowledge base.

    ``env`` adds settings for Baton's processes; ``web_app`` is the ASGI application
    daphne serves; ``workers`` is the threads of each worker process, and
    ``worker_processes`` their number (BATON_WORKER_PROCESSES when None)."""
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as var:
        os.environ.setdefault("BATON_VAR_DIR", var)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
        os.environ.setdefault("CELERY_QUEUE", "baton-bench")
        os.environ.setdefault("CHANNEL_PREFIX", "baton-bench")
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        from chat.models import Site
        from project.embedded import Stack, free_port, redis_start

        call_command("migrate", verbosity=0)
        if kb is not None:
            call_command("import_kb", str(kb), "--no-progress", verbosity=0)
        site, _ = Site.objects.get_or_create(key="bench", defaults={"name": site_name})
        redis = None
        if settings.EMBEDDED_REDIS:
            redis = redis_start(Path(settings.REDIS_SOCKET_PATH), settings.VAR_DIR)
        port = free_port()
        stack = Stack(
            port=port,
            worker_concurrency=workers,
            worker_processes=worker_processes or settings.BATON_WORKER_PROCESSES,
            log_dir=settings.VAR_DIR / "logs",
            env={
                "DATABASE_URL": settings.DATABASE_URL,
                "REDIS_URL": settings.REDIS_URL,
                "SECRET_KEY": settings.SECRET_KEY,
                "BATON_VAR_DIR": str(settings.VAR_DIR),
                "PYTHONPATH": str(ROOT),
                **(env or {}),
            },
            web_app=web_app,
        )
        stack.start(var_dir=settings.VAR_DIR)
        try:
            yield stack, site
        finally:
            stack.stop()
            if redis is not None:
                redis.terminate()
                redis.wait(timeout=10)


def git_revision() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return "?"

"""Start and stop Baton's processes: Redis (embedded mode), daphne, a Celery worker.

``manage.py serve`` uses this for the embedded default, and the test suite uses it to run
the real stack for browser and multi-process tests. Each process is a child of the caller
and is stopped with it.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from project.queues import DEFAULT_QUEUE, notifications_queue


class StackError(RuntimeError):
    pass


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """Runs in each child before exec: if the runner dies, even by SIGKILL, so does it."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def redis_answers(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping())
    except (RedisError, OSError):
        return False


def redis_start(socket_path: Path, log_dir: Path) -> subprocess.Popen | None:
    """A private Redis on a unix socket; None when one already answers there."""
    url = f"unix://{socket_path}"
    if redis_answers(url):
        return None
    server = shutil.which("redis-server")
    if server is None:
        raise StackError(
            "redis-server is not installed. On Debian or Ubuntu: apt-get install redis-server"
        )
    socket_path.unlink(missing_ok=True)
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [
            server,
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(log_dir),
            "--logfile",
            str(log_dir / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if redis_answers(url):
            return process
        if process.poll() is not None:
            raise StackError(f"Redis stopped at start; see {log_dir / 'redis.log'}")
        time.sleep(0.05)
    process.terminate()
    raise StackError("Redis did not answer within 10 seconds.")


@dataclass
class Stack:
    """daphne + Celery workers (the first with beat), and Redis when none was given."""

    port: int
    host: str = "127.0.0.1"
    env: dict[str, str] = field(default_factory=dict)
    # Threads: one copy of the language model serves every task of a process, and NumPy
    # releases the GIL. The rest of a task is Python that holds it, so one process per
    # core (each with its own copy of the model) is what uses the machine.
    worker_concurrency: int = 4
    worker_processes: int = 1
    log_dir: Path | None = None
    # The ASGI application daphne serves (benchmarks add a bare echo consumer to Baton's).
    web_app: str = "project.asgi:application"
    # More processes to run beside Baton, by name: arguments for this Python.
    extra: dict[str, list[str]] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def worker_name(self, number: int) -> str:
        """The Celery node name of worker process ``number`` (from 1), before "@host"."""
        return f"worker{number}-{self.port}"

    @property
    def notifications_worker_name(self) -> str:
        return f"notifications-{self.port}"

    def _worker_args(self, hostname: str, queue: str, threads: int, *extra: str) -> list[str]:
        return [
            "-m",
            "celery",
            "-A",
            "project",
            "worker",
            *extra,
            "--queues",
            queue,
            "--hostname",
            f"{hostname}@%h",
            "--pool",
            "threads",
            "--concurrency",
            str(threads),
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
        ]

    def _environment(self) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}

    def _spawn(self, name: str, args: list[str]) -> None:
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, *args],
            env=self._environment(),
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def _spawn_web(self) -> None:
        access_log = str(self.log_dir / "access.log") if self.log_dir else os.devnull
        self._spawn(
            "web",
            [
                "-m",
                "daphne",
                "-b",
                self.host,
                "-p",
                str(self.port),
                "--access-log",
                access_log,
                self.web_app,
            ],
        )

    def start(self, *, redis_socket: Path | None = None, var_dir: Path | None = None) -> None:
        if redis_socket is not None and var_dir is not None:
            redis = redis_start(redis_socket, var_dir)
            if redis is not None:
                self.processes["redis"] = redis
        self._spawn_web()
        beat_schedule = (var_dir or Path(".")) / f"celerybeat-{self.port}"
        queues = self._queues()
        for number in range(1, self.worker_processes + 1):
            # Beat runs in the first worker only: every sweep is scheduled once.
            beat = ["--beat", "--schedule", str(beat_schedule)] if number == 1 else []
            self._spawn(
                "worker" if number == 1 else f"worker-{number}",
                self._worker_args(
                    self.worker_name(number), queues["chat"], self.worker_concurrency, *beat
                ),
            )
        # Deliveries to Slack and webhooks wait on other servers: a worker of their own.
        self._spawn(
            "notifications",
            self._worker_args(self.notifications_worker_name, queues["notifications"], 4),
        )
        for name, args in self.extra.items():
            self._spawn(name, args)
        self.wait_until_healthy()

    def _queues(self) -> dict[str, str]:
        """The Celery queues the workers take, for the CELERY_QUEUE the stack runs with."""
        chat = self._environment().get("CELERY_QUEUE") or DEFAULT_QUEUE
        return {"chat": chat, "notifications": notifications_queue(chat)}

    def wait_until_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    self.stop()
                    raise StackError(f"{name} stopped while starting (exit {process.returncode}).")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise StackError(f"Baton did not answer on {self.url} within {timeout:.0f} seconds.")

    def stop_web(self) -> None:
        """Kill daphne: every socket drops without a goodbye, as in a crash."""
        process = self.processes.pop("web")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def start_web(self) -> None:
        self._spawn_web()
        self.wait_until_healthy()

    def watch(self) -> str | None:
        """The name of a process that has stopped, if any."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                return name
        return None

    def stop(self) -> None:
        # Workers first, Redis last: they need it to shut down cleanly.
        order = [n for n in self.processes if n != "redis"] + (
            ["redis"] if "redis" in self.processes else []
        )
        for name in order:
            process = self.processes[name]
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for name in order:
            process = self.processes[name]
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()

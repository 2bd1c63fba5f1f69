import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.models import Site
from project.embedded import Stack, StackError, port_free


class Command(BaseCommand):
    help = (
        "Run Baton: daphne and a Celery worker with beat; in the embedded mode also a "
        "private Redis on a unix socket. Ctrl-C stops every process it started."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--demo-port",
            type=int,
            default=8001,
            help="Where the demo host page (a separate website embedding the widget) runs.",
        )
        parser.add_argument("--no-demo", action="store_true", help="Do not serve the demo page.")

    def handle(self, *args, host: str, port: int, demo_port: int, no_demo: bool, **options) -> None:
        for wanted in [port] if no_demo else [port, demo_port]:
            if not port_free(host, wanted):
                raise CommandError(
                    f"Port {wanted} is in use. Stop what runs there or pick another port "
                    f"(make run PORT=… DEMO_PORT=…)."
                )
        shown_host = "localhost" if host in {"127.0.0.1", "0.0.0.0"} else host  # noqa: S104
        baton_url = f"http://{shown_host}:{port}"
        extra = {}
        demo_site = Site.objects.filter(key="demo").first()
        if not no_demo and demo_site is not None:
            extra["demo"] = [
                "manage.py",
                "demo_host",
                "--host",
                host,
                "--port",
                str(demo_port),
                "--baton-url",
                baton_url,
            ]
        log_dir = settings.VAR_DIR / "logs"
        stack = Stack(
            port=port,
            host=host,
            extra=extra,
            env={"PUBLIC_URL": baton_url},
            log_dir=log_dir,
            worker_processes=settings.BATON_WORKER_PROCESSES,
        )
        # A polite kill (SIGTERM) stops everything as Ctrl-C does.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        self.stdout.write("Starting Baton…")
        try:
            stack.start(
                redis_socket=settings.VAR_DIR / "redis.sock" if settings.EMBEDDED_REDIS else None,
                var_dir=settings.VAR_DIR,
            )
        except StackError as error:
            raise CommandError(str(error)) from None
        lines = ["", self.style.SUCCESS("Baton is running."), ""]
        if "demo" in extra:
            lines.append(f"  Demo website with the chat widget:  http://{shown_host}:{demo_port}/")
        lines += [
            f"  Agent console:                      {baton_url}/console/",
            f"  Django admin:                       {baton_url}/admin/",
            "",
            "  Demo logins (user / password):",
            "    admin / baton-admin       superuser: admin, console, dashboard",
            "    alice / baton-demo        agent: general, billing",
            "    bob   / baton-demo        agent: shipping, technical",
            "    sam   / baton-demo        supervisor: every team",
            "",
            f"Logs: {log_dir}/",
            "Press Ctrl-C to stop.",
        ]
        self.stdout.write("\n".join(lines))
        try:
            while (stopped := stack.watch()) is None:
                time.sleep(0.5)
            self.stderr.write(f"{stopped} stopped unexpectedly; shutting down.")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            stack.stop()

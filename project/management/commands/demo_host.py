"""The demo website: a separate origin that embeds the widget, as a customer's site would."""

import json
import mimetypes
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.template.loader import render_to_string

from chat.models import Site

ASSETS = Path(settings.BASE_DIR) / "static" / "demo"

# The demo site's own users. A real site's server signs its logged-in user the same way.
DEMO_USERS = {
    "maya": {
        "sub": "demo-maya",
        "name": "Maya Lopez",
        "email": "maya@example.com",
        "tier": "enterprise",
        "attributes": {"plan": "Scale", "account_owner": "alice"},
    },
    "leo": {
        "sub": "demo-leo",
        "name": "Leo Park",
        "email": "leo@example.com",
        "tier": "growth",
        "attributes": {"plan": "Growth"},
    },
}


def make_handler(baton_url: str, site_key: str):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:
            return

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path.startswith("/assets/"):
                self._asset(path.removeprefix("/assets/"))
            elif path.startswith("/identity/"):
                self._identity(path.removeprefix("/identity/"))
            elif path == "/favicon.ico":
                self.send_response(HTTPStatus.NO_CONTENT)
                self.end_headers()
            else:
                body = render_to_string(
                    "demo/host.html", {"baton_url": baton_url, "site_key": site_key}
                ).encode()
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", body)

        def _asset(self, name: str) -> None:
            file = (ASSETS / name).resolve()
            if ASSETS.resolve() not in file.parents or not file.is_file():
                self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found")
                return
            kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            self._send(HTTPStatus.OK, kind, file.read_bytes())

        def _identity(self, user: str) -> None:
            # What the host's own backend does: sign its logged-in user for Baton.
            claims = DEMO_USERS.get(user)
            site = Site.objects.filter(key=site_key).first()
            if claims is None or site is None:
                self._send(HTTPStatus.NOT_FOUND, "application/json", b'{"error": "no such user"}')
                return
            now = int(time.time())
            token = jwt.encode(
                {**claims, "iat": now, "exp": now + 3600}, site.identity_secret, "HS256"
            )
            self._send(HTTPStatus.OK, "application/json", json.dumps({"token": token}).encode())

        def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    return Handler


class Command(BaseCommand):
    help = "Serve the demo website that embeds the Baton widget (a separate origin)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument("--baton-url", default=settings.PUBLIC_URL)
        parser.add_argument("--site", default="demo")

    def handle(self, *args, host: str, port: int, baton_url: str, site: str, **options) -> None:
        server = ThreadingHTTPServer((host, port), make_handler(baton_url.rstrip("/"), site))
        self.stdout.write(f"Demo website on http://{host}:{port}/")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()

"""A stand-in for an OpenAI-compatible chat-completions endpoint, on loopback.

The LLM endpoint is a third-party service the tests cannot reach; this speaks its
protocol (JSON answers and server-sent-event streams) and answers what a test scripts.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubLLM:
    """Speaks the OpenAI chat-completions protocol, answering what the test scripts."""

    def __init__(self) -> None:
        self.reply = "Use **Returns → Settings** to switch the portal on. [returns]"
        self.mode = "ok"
        # Seconds between streamed words.
        self.word_delay = 0.05
        # Hosted endpoints send chunked HTTP/1.1; simple servers close the connection.
        self.chunked = True
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(
                    {"path": self.path, "body": body, "headers": dict(self.headers)}
                )
                stub.answer(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, handler: BaseHTTPRequestHandler, body: dict) -> None:
        if self.mode == "error":
            return self._send(handler, 500, {"error": {"message": "boom"}})
        if self.mode == "rate_limited":
            return self._send(handler, 429, {"error": {"message": "slow down"}})
        if self.mode == "slow":
            time.sleep(3)
        if self.mode == "garbage":
            handler.send_response(200)
            handler.end_headers()
            handler.wfile.write(b"<html>not json</html>")
            return None
        if not body.get("stream"):
            return self._send(
                handler,
                200,
                {"choices": [{"message": {"role": "assistant", "content": self.reply}}]},
            )
        if self.chunked:
            handler.protocol_version = "HTTP/1.1"
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        if self.chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

        def event(data: bytes) -> None:
            if self.chunked:
                data = b"%x\r\n%s\r\n" % (len(data), data)
            handler.wfile.write(data)
            handler.wfile.flush()

        words = self.reply.split(" ")
        for n, word in enumerate(words):
            chunk = {
                "choices": [{"delta": {"content": word + (" " if n < len(words) - 1 else "")}}]
            }
            event(f"data: {json.dumps(chunk)}\n\n".encode())
            time.sleep(self.word_delay)
            if self.mode == "stream_error" and n == 2:
                event(b'data: {"error": {"message": "overloaded"}}\n\n')
                break
        else:
            event(b"data: [DONE]\n\n")
        if self.chunked:
            handler.wfile.write(b"0\r\n\r\n")
        return None

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

"""A stand-in for an OpenAI-compatible chat-completions endpoint, on loopback.

The LLM endpoint is a third-party service the tests cannot reach; this speaks its
protocol (JSON answers and server-sent-event streams) and answers what a test scripts.
"""

import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# How a streamed answer can go wrong, or differ from OpenAI's own, after its headers:
# "stall" stops sending for longer than any timeout, "cut" drops the connection in the
# middle of a chunk, "no_done" ends the body without [DONE] or a finish reason,
# "stream_error" sends an in-band error event, "azure" starts with a chunk of content-
# filter results and no choices (as Azure OpenAI does), "gzip" compresses the stream.
STREAM_MODES = ("stall", "cut", "no_done", "stream_error", "azure", "gzip")


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
        self._stream(handler)
        return None

    def _stream(self, handler: BaseHTTPRequestHandler) -> None:
        if self.chunked:
            handler.protocol_version = "HTTP/1.1"
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        if self.chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        compressor = None
        if self.mode == "gzip":
            handler.send_header("Content-Encoding", "gzip")
            compressor = zlib.compressobj(wbits=31)
        handler.end_headers()

        def send(data: bytes) -> None:
            if self.chunked:
                data = b"%x\r\n%s\r\n" % (len(data), data)
            handler.wfile.write(data)
            handler.wfile.flush()

        def event(payload: dict | str) -> None:
            text = payload if isinstance(payload, str) else json.dumps(payload)
            data = f"data: {text}\n\n".encode()
            if compressor is not None:
                # Flushed at every event, as a compressing server streams.
                data = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
            send(data)

        if self.mode == "azure":
            event({"choices": [], "prompt_filter_results": [{"prompt_index": 0}]})
        words = self.reply.split(" ")
        for n, word in enumerate(words):
            event({"choices": [{"delta": {"content": word + (" " if n < len(words) - 1 else "")}}]})
            time.sleep(self.word_delay)
            if n == 2 and self.mode == "stream_error":
                event({"error": {"message": "overloaded"}})
                break
            if n == 2 and self.mode == "stall":
                time.sleep(4)
                return
            if n == 2 and self.mode == "cut":
                # Half a chunk, then the connection closes.
                handler.wfile.write(b"40\r\ndata: {")
                handler.wfile.flush()
                return
        else:
            if self.mode == "azure":
                event({"choices": [{"delta": {}, "finish_reason": "stop"}]})
            if self.mode != "no_done":
                event("[DONE]")
        if compressor is not None:
            send(compressor.flush())
        if self.chunked:
            handler.wfile.write(b"0\r\n\r\n")

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

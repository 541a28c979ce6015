"""A webhook of our own for the notification tests: Apprise's json:// URLs POST
{"version", "title", "message", "type"} to it, and it keeps every message it took.

    with notify_endpoint() as hook:
        url = hook.url("secret-path")  # json://127.0.0.1:PORT/secret-path
        hook.down = True               # answers 500 until set back
        hook.messages                  # [{"title": ..., "message": ...}, ...] taken
        hook.refused                   # requests answered 500
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class NotifyEndpoint(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.port: int = self.server_address[1]
        self.down = False
        self.messages: list[dict[str, Any]] = []
        self.refused = 0
        self.paths: list[str] = []

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"


class _Handler(BaseHTTPRequestHandler):
    server: NotifyEndpoint

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.paths.append(self.path)
        if self.server.down:
            self.server.refused += 1
            self.send_response(500)
        else:
            self.server.messages.append(json.loads(body))
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def notify_endpoint() -> Iterator[NotifyEndpoint]:
    server = NotifyEndpoint()
    thread = threading.Thread(target=server.serve_forever, name="notify-endpoint", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()

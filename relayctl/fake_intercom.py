"""A local stand-in for Intercom's "Wait for webhook" URLs, recording what the relay forwards."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True)
class Received:
    """One request as it reached "Intercom"."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeIntercom:
    """Threaded ``http.server`` on 127.0.0.1 that answers ``{}`` (200 unless told otherwise) and
    records every request.

    ``url_for(name)`` gives a distinct webhook URL per workflow (``/hooks/<name>``), so a test or
    the demo can tell which workflow's URL a forward went to.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.received: list[Received] = []
        self.answer_status = 200  # set e.g. 404 to play an Intercom that refuses the event
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        bound_host, bound_port = self._server.server_address[:2]
        self.url = f"http://{bound_host!s}:{bound_port}"

    def url_for(self, name: str) -> str:
        return f"{self.url}/hooks/{name}"

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def _record(self, request: Received) -> None:
        with self._lock:
            self.received.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
                body = self.rfile.read(length)
                recorder._record(Received("POST", self.path, dict(self.headers.items()), body))
                reply = b"{}"
                self.send_response(recorder.answer_status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the demo prints what arrived its own way."""

        return Handler

    def start(self) -> FakeIntercom:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeIntercom:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

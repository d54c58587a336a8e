"""The one local stand-in for Intercom's "Wait for webhook" URLs (demo, CLI and relay tests, bench).

A threaded HTTP/1.1 server on loopback, keep-alive, optionally over TLS, that records what the
relay forwards and answers it. In-process (``FakeIntercom(...).start()``, or as a context
manager) or as its own process (``python -m relayctl.fake_intercom [--cert C --key K]``: prints
its port on the first line, and answers ``GET /count`` with the number of POSTs received, so a
load generator does not share a GIL with it).

``mode`` picks how it answers:

- ``answer`` (default): ``answer_status`` (200) with ``{}``, or per conversation what
  ``script(conversation_id, 500, HANG, 200)`` lists, one entry per request (``HANG``: wait
  ``hang_seconds``, then 200);
- ``reset``: reads each request, then resets the connection (RST, no answer);
- ``drop_second``: answers a connection's first request (keep-alive), then closes it without
  answering the second: a stale pooled connection;
- ``drip``: answers every request with a valid 200, one byte at a time over ``drip_seconds``;
- ``drip_second``: answers a connection's first request at once and drips the later ones;
- ``close``: answers as ``answer`` does, then closes the connection (``Connection: close``), so
  nothing of it stays in the relay's pool once it stops;
- ``chunked``: answers as ``answer`` does, the body in chunks (``Transfer-Encoding: chunked``),
  as a proxy in front of Intercom may.

Whatever the mode: ``interim_statuses`` (e.g. ``(103,)``) are sent as interim answers, each on
its own write, before every final answer (RFC 9110, 15.2; a ``103 Early Hints`` carries a
``Link`` field); ``idle_close_seconds`` closes a kept-alive connection that stays idle that
long, as real servers do; ``connections`` counts the connections accepted.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import struct
import sys
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

MAX_BODY_BYTES = 1 << 20
HANG = -1  # a scripted answer: wait hang_seconds, then 200
MODES = ("answer", "reset", "drop_second", "drip", "drip_second", "close", "chunked")
_OK = b"{}"


@dataclass(frozen=True)
class Received:
    """One request as it reached "Intercom"."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def conversation_id(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a 16-way load generator must not meet a full accept queue

    def __init__(self, address: tuple[str, int], fake: FakeIntercom) -> None:
        super().__init__(address, _Handler)
        self.fake = fake

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TCP_NODELAY: our single-write answers leave at once. The TLS handshake happens here,
        # on the connection's own thread, not in accept(): handshakes must not queue.
        self.fake.count_connection()
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        context = self.fake.tls_context
        if context is None:
            super().finish_request(request, client_address)
            return
        try:
            tls_socket = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls_socket, client_address)
        finally:
            tls_socket.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (the relay closing a kept-alive connection, a test
        # resetting one) is part of what this stand-in is for, not an error worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        if self.fake.take_reset(request):
            request.close()  # SO_LINGER 0 is set: close() sends RST, not FIN
            return
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the relay's pool can reuse connections
    # Buffer the answer so status, headers and body leave in one write (flushed after each
    # request): separate small writes meet Nagle and delayed ACKs (40 ms) no real server adds.
    wbufsize = -1
    server: _Server
    _requests_on_connection = 0

    def setup(self) -> None:
        super().setup()
        # handle_one_request closes the connection when a read times out ("Request timed out").
        if (idle := self.server.fake.idle_close_seconds) is not None:
            self.connection.settimeout(idle)

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, MAX_BODY_BYTES))
        self._requests_on_connection += 1
        received = Received("POST", self.path, dict(self.headers.items()), body)
        fake.record(received)
        first = self._requests_on_connection == 1
        if fake.mode == "reset":
            fake.mark_reset(self.connection)
            self.close_connection = True
        elif fake.mode == "drop_second" and not first:
            fake.count_dropped()
            self.close_connection = True
        elif fake.mode == "drip" or (fake.mode == "drip_second" and not first):
            self._drip(fake)
        else:
            self._answer(fake.status_for(received), received)

    def do_GET(self) -> None:
        self._send(200, str(self.server.fake.post_count).encode())

    def _answer(self, status: int, received: Received) -> None:
        fake = self.server.fake
        if status == HANG:
            fake.release.wait(fake.hang_seconds)
            status = 200
        if 200 <= status < 300:
            fake.record_answered(received.headers.get("Idempotency-Key", ""))
        for interim in fake.interim_statuses:
            self.send_response_only(interim)
            if interim == 103:  # Early Hints: the kind of field it carries
                self.send_header("Link", "</assets/app.css>; rel=preload; as=style")
            self.end_headers()
            self.wfile.flush()  # on its own write, ahead of the final answer
        self._send(status, _OK)

    def _send(self, status: int, body: bytes) -> None:
        mode = self.server.fake.mode
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if mode == "chunked":  # a chunk per byte, then the last (empty) chunk
            self.send_header("Transfer-Encoding", "chunked")
            body = b"".join(b"1\r\n%c\r\n" % byte for byte in body) + b"0\r\n\r\n"
        else:
            self.send_header("Content-Length", str(len(body)))
        if mode == "close":
            self.send_header("Connection", "close")  # also sets close_connection
        self.end_headers()
        self.wfile.write(body)

    def _drip(self, fake: FakeIntercom) -> None:
        answer = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n" + _OK
        )
        self.close_connection = True
        for byte in answer:  # OSError once the relay gives up and closes
            if fake.stopping.wait(fake.drip_seconds / len(answer)):
                return
            try:
                self.connection.sendall(bytes([byte]))
            except OSError:
                return

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a line per request would be the slowest thing in a benchmark."""


class FakeIntercom:
    """The stand-in server on ``host`` (loopback) and a free port; see the module docstring.

    ``url_for(name)`` gives a distinct webhook URL per workflow (``/hooks/<name>``), so a test
    or the demo can tell which workflow's URL a forward went to.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        mode: str = "answer",
        tls_context: ssl.SSLContext | None = None,
        hang_seconds: float = 3.0,
        drip_seconds: float = 30.0,
        idle_close_seconds: float | None = None,
        record: bool = True,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.mode = mode
        self.tls_context = tls_context
        self.hang_seconds = hang_seconds
        self.drip_seconds = drip_seconds
        self.idle_close_seconds = idle_close_seconds
        self.interim_statuses: tuple[int, ...] = ()  # e.g. (103,): sent before each answer
        self.connections = 0  # connections accepted
        self.answer_status = 200  # e.g. 404 to play an Intercom that refuses the event
        self.answered_keys: list[str] = []  # Idempotency-Key of every request answered 2xx
        self.dropped = 0  # requests read and left unanswered (drop_second)
        self.stopping = threading.Event()
        self.release = threading.Event()  # set: HANG answers (now and later) go out at once
        self._record = record
        self._received: list[Received] = []
        self._posts = 0
        self._scripts: dict[str, deque[int]] = {}
        self._to_reset: set[int] = set()
        self._lock = threading.Lock()
        self._server = _Server((host, port), self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.2,))
        self._thread.daemon = True
        bound_host, bound_port = self._server.server_address[:2]
        self.port: int = int(bound_port)
        scheme = "https" if tls_context else "http"
        self.url = f"{scheme}://{bound_host!s}:{bound_port}"

    def url_for(self, name: str) -> str:
        return f"{self.url}/hooks/{name}"

    def script(self, conversation_id: str, *answers: int) -> None:
        """The next answers for one conversation, in order (a status, or ``HANG``)."""
        with self._lock:
            self._scripts[conversation_id] = deque(answers)

    def received(self, conversation_id: str | None = None) -> list[Received]:
        """Every request so far, or those for one conversation (the URL's last segment)."""
        with self._lock:
            return [
                r
                for r in self._received
                if conversation_id is None or r.conversation_id == conversation_id
            ]

    def snapshot(self) -> list[Received]:
        return self.received()

    @property
    def post_count(self) -> int:
        with self._lock:
            return self._posts

    @property
    def requests(self) -> int:
        """POSTs read so far (the drip modes count what the relay sent)."""
        return self.post_count

    # Called by the handler threads.
    def record(self, received: Received) -> None:
        with self._lock:
            self._posts += 1
            if self._record:
                self._received.append(received)

    def status_for(self, received: Received) -> int:
        with self._lock:
            script = self._scripts.get(received.conversation_id)
            return script.popleft() if script else self.answer_status

    def record_answered(self, key: str) -> None:
        with self._lock:
            self.answered_keys.append(key)

    def count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def count_dropped(self) -> None:
        with self._lock:
            self.dropped += 1

    def mark_reset(self, connection: socket.socket) -> None:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self._lock:
            self._to_reset.add(id(connection))

    def take_reset(self, connection: object) -> bool:
        with self._lock:
            if id(connection) in self._to_reset:
                self._to_reset.discard(id(connection))
                return True
            return False

    def start(self) -> FakeIntercom:
        """Serve from a daemon thread of this process."""
        self._thread.start()
        return self

    def serve(self) -> None:
        """Serve from the calling thread until ``stop()`` (from another thread) or an interrupt."""
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self.stopping.set()  # wakes dripping answers
        self.release.set()  # and hanging ones
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
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


def tls_server_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def main(argv: list[str] | None = None) -> int:
    """Run as its own process until interrupted; the first stdout line is the port."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--mode", choices=MODES, default="answer")
    args = parser.parse_args(argv)
    context = tls_server_context(args.cert, args.key) if args.cert and args.key else None
    # record=False: a benchmark sends tens of thousands of requests; it only needs the count.
    fake = FakeIntercom(port=args.port, mode=args.mode, tls_context=context, record=False)
    print(fake.port, flush=True)
    try:
        fake.serve()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

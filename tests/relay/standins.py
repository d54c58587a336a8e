"""Intercom stand-ins for the relay tests: a scriptable HTTP server and a raw-socket misbehaver."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass

from werkzeug import Request, Response

HANG = -1  # a scripted "answer": sleep past the relay's forward timeout, then 200
OK_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
# A dripped answer takes this long in all: longer than Jam waits for the relay (15 s).
DRIP_SECONDS = 30.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, object]


class IntercomStandIn:
    """Handler for pytest-httpserver: records every POST, answers per conversation id.

    ``script(conversation_id, 500, 500, 200)`` makes the next three requests for that
    conversation answer 500, 500, then 200; anything unscripted answers ``default_status``.
    """

    def __init__(self, hang_seconds: float) -> None:
        self.hang_seconds = hang_seconds
        self.default_status = 200
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._scripts: dict[str, deque[int]] = {}

    def script(self, conversation_id: str, *answers: int) -> None:
        with self._lock:
            self._scripts[conversation_id] = deque(answers)

    def received(self, conversation_id: str | None = None) -> list[Received]:
        with self._lock:
            return [
                r
                for r in self._received
                if conversation_id is None or r.path.rsplit("/", 1)[-1] == conversation_id
            ]

    def __call__(self, request: Request) -> Response:
        body = json.loads(request.get_data())
        conversation_id = request.path.rsplit("/", 1)[-1]
        with self._lock:
            self._received.append(Received(request.path, dict(request.headers), body))
            script = self._scripts.get(conversation_id)
            status = script.popleft() if script else self.default_status
        if status == HANG:
            time.sleep(self.hang_seconds)
            status = 200
        return Response(json.dumps({"status": status}), status=status, mimetype="application/json")


def _read_request(conn: socket.socket) -> bytes:
    """One HTTP/1.1 request (head and Content-Length body); b"" when the peer closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        body += chunk
    return head + b"\r\n\r\n" + body


class RawIntercom:
    """A loopback TCP server that misbehaves at the socket level.

    mode ``reset``: reads each request, then resets the connection (RST, no answer).
    mode ``drop_second``: answers the first request on a connection with 200 (keep-alive),
    then closes the connection without answering the second: a stale pooled connection.
    mode ``drip``: answers every request with a valid 200, one byte at a time over
    DRIP_SECONDS (each byte arrives well within any per-read timeout).
    mode ``drip_second``: answers the first request on a connection at once (keep-alive) and
    drips the answer to the next one: a slow answer on a reused connection.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.answered_keys: list[str] = []  # Idempotency-Key of every request answered 200
        self.dropped = 0
        self.requests = 0  # requests read, in the drip modes
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook/raw"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> RawIntercom:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            if self.mode == "reset":
                if _read_request(conn):
                    # SO_LINGER 0: close() sends RST instead of FIN.
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if self.mode in ("drip", "drip_second"):
                self._answer_dripping(conn)
                return
            request = _read_request(conn)
            if request:
                self._answer(conn, request)
            if _read_request(conn):
                with self._lock:
                    self.dropped += 1
        except OSError:
            pass
        finally:
            conn.close()

    def _answer_dripping(self, conn: socket.socket) -> None:
        answered_at_once = 0
        while request := _read_request(conn):
            with self._lock:
                self.requests += 1
            if self.mode == "drip_second" and answered_at_once == 0:
                self._answer(conn, request)
                answered_at_once += 1
                continue
            for byte in OK_ANSWER:  # raises OSError once the relay gives up and closes
                if self._stopping.wait(DRIP_SECONDS / len(OK_ANSWER)):
                    return
                conn.sendall(bytes([byte]))

    def _answer(self, conn: socket.socket, request: bytes) -> None:
        key = ""
        for line in request.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"idempotency-key":
                key = value.strip().decode()
        with self._lock:
            self.answered_keys.append(key)
        conn.sendall(OK_ANSWER)

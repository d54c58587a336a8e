"""The Intercom stand-in: a threaded HTTP/1.1 server with keep-alive that answers 200.

Run as its own process (``python bench/standin.py [--cert C --key K]``) so its threads do not
share a GIL with the load generator. It prints its port on the first stdout line, counts the
POSTs it receives, and answers ``GET /count`` with that number (so the benchmark can check that
every request really was forwarded).
"""

from __future__ import annotations

import argparse
import socket as socket_module
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import socket
from typing import Any

_ACCEPTED = b'{"status":"accepted"}'


class _Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def increment(self) -> None:
        with self._lock:
            self._value += 1

    @property
    def value(self) -> int:
        with self._lock:
            return self._value


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port: int, tls_context: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", port), StandinHandler)
        self.tls_context = tls_context
        self.posts = _Counter()

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake happens here, on the connection's own thread, not in accept():
        # handshakes must not queue behind one another.
        if self.tls_context is None:
            request.setsockopt(socket_module.IPPROTO_TCP, socket_module.TCP_NODELAY, 1)
            super().finish_request(request, client_address)
            return
        assert isinstance(request, socket)
        request.setsockopt(socket_module.IPPROTO_TCP, socket_module.TCP_NODELAY, 1)
        try:
            tls_socket = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls_socket, client_address)
        finally:
            tls_socket.close()


class StandinHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client that reuses connections can
    # Buffer the answer so headers and body leave in one write (flushed after each request):
    # two small writes would meet Nagle and delayed ACKs and add 40 ms no real server adds.
    wbufsize = -1
    server: StandinServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.posts.increment()
        self._answer(_ACCEPTED)

    def do_GET(self) -> None:
        self._answer(str(self.server.posts.value).encode())

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a log line per request would be the slowest thing in the benchmark."""


def _tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args(argv)
    context = _tls_context(args.cert, args.key) if args.cert and args.key else None
    server = StandinServer(args.port, context)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

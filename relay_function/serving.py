"""The server's side of client connections: gunicorn 23.0.0's threaded worker, made to let go.

functions-framework serves the relay with gunicorn's ``gthread`` worker and sets its options
itself: it reads ``THREADS`` and ``WORKERS`` from the environment, and neither
``GUNICORN_CMD_ARGS`` nor a config file (it builds on ``gunicorn.app.base.BaseApplication``).
Measured over loopback (docs/relay.md, "Edge cases"), the pinned worker:

- never closes a connection that has sent nothing. At ``worker_connections`` (1,000) its loop
  stops polling and, with no request running, spins without waiting: 1,000 silent connections
  wedge it for good, even after they close (benoitc/gunicorn#3407);
- reads a request with a blocking socket and no timeout, so a connection that sends part of a
  request, or leaves the rest of a refused body unsent, holds a thread until the client closes;
- reads ahead: of two pipelined requests the second sits in its buffer, unseen by the poller,
  and is dropped when the idle connection is closed;
- keeps a connection open after a request it framed as chunked from a disguised
  ``Transfer-Encoding`` (the handler refuses the request itself: 400).

No release fixes these (24.1.1-27.0.1 measured: none closes a silent connection while it is
held or bounds a half-sent request, and each holds threads in cases 23.0.0 does not), and
functions-framework gives no way to choose a worker. So this module subclasses the pinned
worker and puts the subclass where gunicorn looks up ``gthread`` (``install``). ``main``
calls it at import: functions-framework imports the function in the server's master process
before gunicorn builds its worker class.
"""

from __future__ import annotations

import re
import selectors
import socket
import time
from collections.abc import Callable
from functools import partial
from typing import Any

PINNED_GUNICORN = "23.0.0"  # relay_function/requirements.txt; the overrides below are for it
# How long one request may take to arrive once its first byte has: its head and the body the
# relay reads, and the rest of a previous request's unread body. A request from Google's front
# end arrives in milliseconds; a client that stays silent or trickles costs a thread this long.
REQUEST_READ_SECONDS = 5.0

# A Transfer-Encoding field value as RFC 9112 writes it: tokens (RFC 9110, 5.6.2) separated by
# commas, optional spaces and tabs around them. gunicorn 23 strips every character Python calls
# whitespace (\x0b, \x0c, \x1c-\x1f, \x85, \xa0) and so reads "chunked\x0b" as chunked, where
# another HTTP reader in front of it may not: a framing two readers disagree on.
_HTTP_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # noqa: S105 (RFC 9110 tchar, not a secret)
_CODINGS = re.compile(rf"[ \t]*{_HTTP_TOKEN}(?:[ \t]*,[ \t]*{_HTTP_TOKEN})*[ \t]*")


def disguised_transfer_encoding(value: str) -> bool:
    """Whether a Transfer-Encoding value is anything but a plain list of codings."""
    return _CODINGS.fullmatch(value) is None


class RequestReads:
    """The reads of one request on a client socket, all within one deadline.

    Stands in for gunicorn's ``SocketUnreader.chunk`` (``sock.recv(max_chunk)``): each read
    waits at most for the time left, and once it is gone the connection reads as closed
    (``b""``), which gunicorn treats as a client that hung up: the connection is closed,
    quietly (a socket timeout would be logged with a traceback), and a body the relay was
    reading comes up short (400, ``bad_request``).
    """

    def __init__(
        self,
        sock: socket.socket,
        max_chunk: int,
        seconds: float = REQUEST_READ_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sock = sock
        self._max_chunk = max_chunk
        self._seconds = seconds
        self._clock = clock
        self.deadline = clock() + seconds

    def restart(self) -> None:
        """A new request on the connection: a new deadline."""
        self.deadline = self._clock() + self._seconds

    def chunk(self) -> bytes:
        left = self.deadline - self._clock()
        if left <= 0:  # settimeout(0) would make the socket non-blocking, not time out
            return b""
        self._sock.settimeout(left)
        try:
            return self._sock.recv(self._max_chunk)
        except TimeoutError:
            return b""


def _has_disguised_framing(request: Any) -> bool:
    headers = getattr(request, "headers", ())
    return any(
        name == "TRANSFER-ENCODING" and disguised_transfer_encoding(value)
        for name, value in headers
    )


def _worker_class(thread_worker: Any, connection_class: Any) -> type:
    """The pinned ``gthread`` worker with the changes the module docstring lists."""

    class RelayThreadWorker(thread_worker):  # type: ignore[misc]
        def accept(self, server: Any, listener: socket.socket) -> None:
            # 23.0.0's accept, except that the new connection joins the kept-alive queue with
            # its keep-alive timeout: one that never sends a byte is closed like an idle
            # kept-alive one, so silent connections never pile up to worker_connections.
            try:
                sock, client = listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # another worker took it, or the client left first
            conn = connection_class(self.cfg, sock, client, server)
            self.nr_conns += 1
            conn.set_timeout()
            with self._lock:
                self._keep.append(conn)
                self.poller.register(
                    conn.sock,
                    selectors.EVENT_READ,
                    partial(self.on_client_socket_readable, conn),
                )

        def on_client_socket_readable(self, conn: Any, client: socket.socket) -> None:
            # 23.0.0 takes only kept-alive connections off the queue; new ones are on it too.
            with self._lock:
                self.poller.unregister(client)
                try:
                    self._keep.remove(conn)
                except ValueError:  # closed as idle meanwhile
                    return
            self.enqueue_req(conn)

        def handle(self, conn: Any) -> tuple[bool, Any]:
            unreader = conn.parser.unreader
            reads = RequestReads(conn.sock, unreader.mxchunk)
            unreader.chunk = reads.chunk  # this connection's reads, until the next handle()
            while True:
                keepalive, conn = super().handle(conn)
                if keepalive and _has_disguised_framing(conn.parser.mesg):
                    return False, conn  # where its body ended is in doubt: close
                if not (keepalive and unreader.buf.getvalue()):
                    return keepalive, conn
                # Bytes already read past the answered request: a pipelined request, which the
                # poller cannot see. Serve it now, on its own deadline.
                reads.restart()

    return RelayThreadWorker


def install() -> str | None:
    """Put the relay's worker where gunicorn looks up ``gthread``; what went wrong, if anything.

    No gunicorn (functions-framework then serves with Flask's server): nothing to change. A
    gunicorn other than the pinned one: left as it is, and said, since the overrides copy
    23.0.0's methods.
    """
    try:
        import gunicorn  # type: ignore[import-untyped]
        from gunicorn.workers import gthread  # type: ignore[import-untyped]
    except ImportError:
        return None
    if gunicorn.__version__ != PINNED_GUNICORN:
        return (
            f"gunicorn {gunicorn.__version__} is installed, not {PINNED_GUNICORN}: the server "
            "keeps its own handling of silent, idle and pipelined connections; install the "
            "pinned relay_function/requirements.txt"
        )
    if getattr(gthread.ThreadWorker, "relay_worker", False):
        return None  # already installed (the module imported twice)
    worker = _worker_class(gthread.ThreadWorker, gthread.TConn)
    worker.relay_worker = True  # type: ignore[attr-defined]
    gthread.ThreadWorker = worker
    return None

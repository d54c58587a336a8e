"""Forwarding to Intercom over urllib3's keep-alive pool, under one whole-forward deadline.

urllib3 does the pooling (per scheme/host/port), TLS, keep-alive, the check that an idle
connection is still open before reuse, and per-operation timeouts. Two things it lacks are
kept here, small:

- **One resend when a reused connection fails before any answer.** Intercom may close an idle
  connection just after the pool checked it; the request then fails with no answer. urllib3's
  ``Retry`` cannot tell a reused connection from a fresh one and does not resend a POST after a
  read error, so it would either lose the event (Jam retries it later, after a 502) or resend
  after failures where Intercom may have the request. ``tests/relay/test_relay_faults.py``
  (``test_stale_pooled_connection_loses_no_event``) fails without it.
- **A deadline on the whole forward.** A socket timeout restarts with every byte received, so
  an Intercom that drips its answer would hold the forward (and Jam's delivery) far past any
  per-operation timeout (``test_relay_deadline.py`` drips a valid 200 over 30 s). No urllib3 or
  socket option bounds a whole exchange, so one daemon thread for the process (a heap of
  deadlines, started on first use) shuts down the socket of a forward whose deadline passed.
  Measured before (bench/keepalive.py): a shared thread costs no more than noise per forward;
  a ``threading.Timer`` per forward cost ≈0.27 ms (a thread start each time).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Mapping

import urllib3
from answers import ForwardFailed, NotConfigured
from configuration import IntercomTarget, Route
from events import JamEvent, idempotency_key, intercom_body
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, ProtocolError, ReadTimeoutError

CONNECT_TIMEOUT_SECONDS = 3.0
MAX_INTERCOM_ANSWER_BYTES = 64 * 1024
MAX_IDLE_CONNECTIONS_PER_HOST = 16
USER_AGENT = "jam-fin-relay/0.1 (+Jam to Intercom Fin relay)"
JSON_TYPE = "application/json"
# What a kept-alive connection the peer closed while idle looks like on the next request
# (urllib3 wraps them in ProtocolError, "Connection aborted.").
_STALE_ERRORS = (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError)


class _Watch:
    """One forward: its connection, shut down if the deadline passes before ``stop()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: HTTPConnection | None = None
        self.reused = False  # whether the last request went out on a kept-alive connection
        self.stopped = False
        self._fired = False

    def attach(self, conn: HTTPConnection, reused: bool) -> None:
        with self._lock:
            self._conn, self.reused = conn, reused
            fired = self._fired
        if fired:  # the deadline passed while urllib3 was still connecting
            self._shut(conn)

    def fire(self) -> None:
        with self._lock:  # held while shutting down: stop() then close() cannot race it
            if self.stopped:
                return
            self._fired = True
            if self._conn is not None:
                self._shut(self._conn)

    @staticmethod
    def _shut(conn: HTTPConnection) -> None:
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                # The plain-socket shutdown wakes a blocked read or write, TLS or not.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def stop(self) -> bool:
        """Disarm; True if the deadline passed (the socket, if any, was shut down)."""
        with self._lock:
            self.stopped = True
            return self._fired


class _Watchdog:
    """Fires each forward's ``_Watch`` at its deadline, from one shared daemon thread."""

    def __init__(self) -> None:
        self._wakeup = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._sequence = itertools.count()  # ties on the deadline never compare two _Watch
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float) -> _Watch:
        watch = _Watch()
        with self._wakeup:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="forward-watchdog")
                self._thread.daemon = True
                self._thread.start()
            heapq.heappush(self._heap, (deadline, next(self._sequence), watch))
            if self._heap[0][2] is watch:  # earlier than what the thread sleeps towards
                self._wakeup.notify()
        return watch

    def _run(self) -> None:
        with self._wakeup:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0][2].stopped or self._heap[0][0] <= now):
                    heapq.heappop(self._heap)[2].fire()  # a no-op once stopped
                self._wakeup.wait(self._heap[0][0] - now if self._heap else None)


WATCHDOG = _Watchdog()
_current = threading.local()  # the forward this request thread is making: its _Watch


class _Watched:
    """Mixed into urllib3's connection classes: hands each request's connection to its watch.

    ``request()`` is urllib3's public per-request call, made for fresh and reused connections
    alike; ``connect()`` marks the start of a new socket, so a reuse is told from a fresh one.
    """

    sock: socket.socket | None
    _sent_on_socket = 0

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._sent_on_socket = 0

    def request(self, *args: object, **kwargs: object) -> None:
        watch: _Watch | None = getattr(_current, "watch", None)
        if watch is not None:
            assert isinstance(self, HTTPConnection)
            watch.attach(self, reused=self.sock is not None and self._sent_on_socket > 0)
        super().request(*args, **kwargs)  # type: ignore[misc]
        self._sent_on_socket += 1
        _quick_ack(self.sock)


def _quick_ack(sock: socket.socket | None) -> None:
    """ACK Intercom's answer at once instead of delaying the ACK (Linux; not sticky: per answer).

    A server that writes its status line and body as separate small segments (Nagle on its
    side) waits for our ACK of the first; a delayed ACK stalls every answer on a kept-alive
    connection ~40 ms (bench/keepalive.py: p50 44 ms without this, 1.5 ms with it).
    """
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is not None and sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    # create_default_context honours SSL_CERT_FILE/SSL_CERT_DIR; RELAY_CA_BUNDLE adds a CA
    # (a self-signed Intercom stand-in in benchmarks) on top of the system ones.
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


class Forwarder:
    """A urllib3 PoolManager built on first use (loading CAs costs time), shared by all threads."""

    def __init__(self, ca_bundle: str | None = None) -> None:
        self._ca_bundle = ca_bundle
        self._lock = threading.Lock()
        self._manager: urllib3.PoolManager | None = None

    def _pools(self) -> urllib3.PoolManager:
        with self._lock:
            if self._manager is None:
                try:
                    context = _ssl_context(self._ca_bundle)
                except (OSError, ValueError) as error:  # e.g. the CA file went away
                    raise ForwardFailed(f"TLS set-up failed ({type(error).__name__})") from None
                manager = urllib3.PoolManager(
                    num_pools=64,
                    maxsize=MAX_IDLE_CONNECTIONS_PER_HOST,
                    retries=False,  # the one resend worth making is below
                    ssl_context=context,
                )
                manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
                self._manager = manager
            return self._manager

    def post(
        self,
        target: IntercomTarget,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float,
    ) -> int:
        """POST once (plus one resend if a reused connection failed unanswered); the status."""
        deadline = time.monotonic() + timeout
        for attempt in (1, 2):
            watch = WATCHDOG.watch(deadline)
            _current.watch = watch
            failure: Exception | None = None
            try:
                status = self._exchange(target, path, body, headers, deadline)
            # ValueError: UnicodeError from IDNA-encoding a host, or a URL urllib3 rejects.
            except (OSError, urllib3.exceptions.HTTPError, ValueError) as error:
                failure = error
            finally:
                _current.watch = None
                deadline_passed = watch.stop()
            # First: the watchdog's shutdown looks like a peer close; it is a timeout, never
            # a stale connection to resend on.
            if deadline_passed or isinstance(
                failure, TimeoutError | ReadTimeoutError | ConnectTimeoutError
            ):
                raise ForwardFailed("Intercom did not answer in time")
            if failure is None:
                return status
            cause = _cause(failure)
            if attempt == 1 and watch.reused and isinstance(cause, _STALE_ERRORS):
                if deadline - time.monotonic() > 0:
                    continue  # Intercom closed it while idle: resend (same Idempotency-Key)
                raise ForwardFailed("Intercom did not answer in time")
            # The class name only: messages can carry the host name.
            raise ForwardFailed(f"Intercom unreachable ({type(cause).__name__})")
        raise AssertionError("unreachable: the loop returns or raises")

    def _exchange(
        self,
        target: IntercomTarget,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        deadline: float,
    ) -> int:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        pool = self._pools().connection_from_host(target.host, target.port, target.scheme)
        timeouts = urllib3.Timeout(connect=min(CONNECT_TIMEOUT_SECONDS, remaining), read=remaining)
        answer = pool.urlopen(
            "POST",
            path,
            body=body,
            headers=dict(headers),
            timeout=timeouts,
            redirect=False,
            preload_content=False,
            release_conn=False,
        )
        try:
            answer.read(MAX_INTERCOM_ANSWER_BYTES)
        except (OSError, urllib3.exceptions.HTTPError):
            # Intercom answered; only its body was cut short: the status stands, unless the
            # deadline passed, which post() checks first.
            answer.close()
        finally:
            # Back to the pool. Had Intercom sent more than we read, the socket is readable
            # and urllib3's check before the next reuse drops it.
            answer.release_conn()
        return answer.status


def _cause(error: Exception) -> BaseException:
    """The socket-level error under urllib3's wrapping (ProtocolError's second argument)."""
    if isinstance(error, ProtocolError) and len(error.args) > 1:
        inner = error.args[1]
        if isinstance(inner, BaseException):
            return inner
    return error.__cause__ or error


def forward(
    forwarder: Forwarder, route: Route, event: JamEvent, message_id: str, timeout: float
) -> int:
    """POST the event to the route's Intercom URL; Intercom's status, or ForwardFailed."""
    if route.target is None or event.conversation_id is None:  # callers check; belt and braces
        raise NotConfigured("route has no usable Intercom URL")
    headers = {
        "Content-Type": JSON_TYPE,
        "User-Agent": USER_AGENT,
        "Idempotency-Key": idempotency_key(route.workflow_id, message_id),
    }
    path = f"{route.target.base_path}/{event.conversation_id}"
    return forwarder.post(route.target, path, intercom_body(event), headers, timeout)

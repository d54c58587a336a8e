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
  socket option bounds a whole exchange; so, without a timer thread, the answer is read
  through a reader that gives each read of the socket only the time left (http.client's
  ``response_class``, on urllib3's connection classes). A TLS handshake is bounded by the
  connect timeout per read only.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any

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


class _Forward:
    """The forward a request thread is making: its deadline, and what its connection did."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.reused = False  # whether the request went out on a kept-alive connection
        self.expired = False  # whether the deadline stopped a send or a read

    def remaining(self) -> float:
        """Seconds left; TimeoutError (urllib3 reports it as a read timeout) when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.expired = True
            raise TimeoutError("the forward's deadline passed")
        return left


_current = threading.local()  # .forward: the _Forward this request thread is making


class _DeadlineReader(io.RawIOBase):
    """The socket as http.client reads an answer, each read bounded by the time left."""

    def __init__(self, sock: socket.socket, forward: _Forward) -> None:
        self._sock, self._forward = sock, forward

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(self._forward.remaining())
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:  # this read waited for all the time that was left
            self._forward.expired = True
            raise


class _DeadlineResponse(http.client.HTTPResponse):
    """http.client's answer, read through a ``_DeadlineReader`` during a forward."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        forward: _Forward | None = getattr(_current, "forward", None)
        if forward is not None:
            self.fp.close()  # only its hold on the socket: the connection stays open
            self.fp = io.BufferedReader(_DeadlineReader(sock, forward))


class _Deadlined:
    """Mixed into urllib3's connection classes (its ``ConnectionCls`` extension point): each
    request is bounded by its forward's deadline, and a reuse is told from a fresh socket.

    ``request()`` is urllib3's public per-request call, made for fresh and reused connections
    alike; ``connect()`` marks the start of a new socket.
    """

    sock: socket.socket | None
    response_class: type[http.client.HTTPResponse] = _DeadlineResponse
    _sent_on_socket = 0

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._sent_on_socket = 0

    def request(self, *args: object, **kwargs: object) -> None:
        forward: _Forward | None = getattr(_current, "forward", None)
        if forward is not None:
            forward.reused = self.sock is not None and self._sent_on_socket > 0
            if self.sock is not None:  # a kept-alive (or just TLS-connected) socket
                self.sock.settimeout(forward.remaining())
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


class _DeadlinedHTTPConnection(_Deadlined, HTTPConnection):
    pass


class _DeadlinedHTTPSConnection(_Deadlined, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _DeadlinedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlinedHTTPSConnection


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
        forward = _Forward(time.monotonic() + timeout)
        for attempt in (1, 2):
            _current.forward = forward
            failure: Exception | None = None
            try:
                status = self._exchange(target, path, body, headers, forward)
            # ValueError: UnicodeError from IDNA-encoding a host, or a URL urllib3 rejects.
            except (OSError, urllib3.exceptions.HTTPError, ValueError) as error:
                failure = error
            finally:
                _current.forward = None
            # First: a read the deadline stopped is a timeout, never a stale connection to
            # resend on, whatever urllib3 wrapped it in.
            if forward.expired or isinstance(
                failure, TimeoutError | ReadTimeoutError | ConnectTimeoutError
            ):
                raise ForwardFailed("Intercom did not answer in time")
            if failure is None:
                return status
            cause = _cause(failure)
            if attempt == 1 and forward.reused and isinstance(cause, _STALE_ERRORS):
                # Intercom closed it while idle: resend (same Idempotency-Key); with no time
                # left, _exchange's first call to remaining() makes it a timeout.
                continue
            # The class name only: messages can carry the host name.
            raise ForwardFailed(f"Intercom unreachable ({type(cause).__name__})")
        raise AssertionError("unreachable: the loop returns or raises")

    def _exchange(
        self,
        target: IntercomTarget,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        forward: _Forward,
    ) -> int:
        remaining = forward.remaining()
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
            # deadline stopped it, which post() checks first.
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

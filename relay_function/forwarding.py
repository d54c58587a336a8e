"""Forwarding to Intercom over urllib3's keep-alive pool, under one whole-forward deadline.

urllib3 does the pooling (per scheme/host/port), TLS, keep-alive, the check that an idle
connection is still open before reuse, and per-operation timeouts. Every forward is sent once:
a connection Intercom closed without answering is a 502, and Jam's own retry (at once, then
5 s, 5 min, ...) sends the event again. The relay cannot tell a request Intercom never read
from one it read and dropped (both end in the same unanswered close; bench/stale.py), and a
resend of the second delivers twice. Two things urllib3 lacks are kept here, small:

- **Interim answers skipped.** http.client skips only ``100 Continue``; any other 1xx (``103
  Early Hints``) would be taken as Intercom's answer. RFC 9110, 15.2: a client must be able to
  read 1xx answers before the final one and may ignore them.
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
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

CONNECT_TIMEOUT_SECONDS = 3.0
MAX_INTERCOM_ANSWER_BYTES = 64 * 1024
MAX_IDLE_CONNECTIONS_PER_HOST = 16
USER_AGENT = "jam-fin-relay/0.1 (+Jam to Intercom Fin relay)"
JSON_TYPE = "application/json"


class _Forward:
    """The forward a request thread is making: its deadline, and whether it stopped a read."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
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
    """http.client's answer, read through a ``_DeadlineReader`` during a forward, and past
    any interim (1xx) answers."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        forward: _Forward | None = getattr(_current, "forward", None)
        if forward is not None:
            self.fp.close()  # only its hold on the socket: the connection stays open
            self.fp = io.BufferedReader(_DeadlineReader(sock, forward))

    def _read_status(self) -> tuple[str, int, str]:
        # begin() loops past 100 Continue only (reading and dropping its header fields); an
        # interim answer is passed to it as one. 101 Switching Protocols is not interim here
        # (the relay never asks to upgrade): it stays an answer, and a 502.
        version, status, reason = super()._read_status()  # type: ignore[misc]
        if 100 <= status < 200 and status != 101:
            return version, http.client.CONTINUE, reason
        return version, status, reason


class _Deadlined:
    """Mixed into urllib3's connection classes (its ``ConnectionCls`` extension point): each
    answer is read within its forward's deadline, and ACKed at once.

    The send needs nothing of ours: urllib3's ``request()`` sets the socket's timeout to the
    connect timeout, which ``_exchange`` makes min(3 s, time left), and ``sendall`` keeps one
    timeout for the whole body (socket docs, since 3.5).
    """

    sock: socket.socket | None
    response_class: type[http.client.HTTPResponse] = _DeadlineResponse

    def request(self, *args: object, **kwargs: object) -> None:
        super().request(*args, **kwargs)  # type: ignore[misc]
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
                    retries=False,  # Jam retries: a resend here could deliver twice
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
        """POST once; Intercom's status, or ForwardFailed."""
        forward = _Forward(time.monotonic() + timeout)
        _current.forward = forward
        try:
            return self._exchange(target, path, body, headers, forward)
        # ValueError: UnicodeError from IDNA-encoding a host, or a URL urllib3 rejects.
        except (OSError, urllib3.exceptions.HTTPError, ValueError) as failure:
            # First: a send or read the deadline stopped is a timeout, whatever urllib3 wrapped
            # it in (a stalled send comes as ProtocolError("Connection aborted.", TimeoutError)).
            # Not a refused connection or an unknown host: urllib3 2's NewConnectionError is a
            # ConnectTimeoutError (kept for backward compatibility), and raised only for those.
            cause = _cause(failure)
            timed_out = isinstance(
                failure, TimeoutError | ReadTimeoutError | ConnectTimeoutError
            ) or isinstance(cause, TimeoutError)
            if forward.expired or (timed_out and not isinstance(failure, NewConnectionError)):
                raise ForwardFailed("Intercom did not answer in time") from None
            # The class name only: messages can carry the host name.
            raise ForwardFailed(f"Intercom unreachable ({type(cause).__name__})") from None
        finally:
            _current.forward = None

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
            # deadline stopped it: then post() answers "did not answer in time".
            answer.close()
            if forward.expired:
                raise
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

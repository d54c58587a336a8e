"""Jam -> Intercom Fin relay: a Cloud Functions (2nd gen) HTTP function, target ``relay``.

``POST /workflows/<id>``: verify the Jam delivery (Standard Webhooks, over the raw body), parse
the event, and forward ``{"event": <type>, "payload": {...}}`` to the workflow's Intercom
"Wait for webhook" URL + ``/<conversationId>``. ``GET /healthz`` answers 200.

Configuration is read once, at import (no network). A broken route is reported once in the log
with its fix and answers 503; it never stops the other routes. The answer table, the env vars and
the log fields are documented in docs/relay.md.

Only the standard library beyond Flask (which functions-framework already loads): the import stays
cheap for cold starts.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import heapq
import hmac
import http.client
import ipaddress
import itertools
import json
import os
import re
import select
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import flask
from naming import (
    DEFAULT_EVENTS,
    HEALTH_PATH,
    JAM_CREATED,
    KNOWN_EVENTS,
    ROUTE_PREFIX,
    ROUTES_ENV,
    intercom_url_env,
    is_valid_host,
    is_valid_workflow_id,
    signing_secret_env,
)

MAX_BODY_ENV = "RELAY_MAX_BODY_BYTES"
FORWARD_TIMEOUT_ENV = "RELAY_FORWARD_TIMEOUT_SECONDS"
CA_BUNDLE_ENV = "RELAY_CA_BUNDLE"
DEFAULT_MAX_BODY_BYTES = 64 * 1024
# Jam gives up after 15 s; the whole forward (connect, TLS, one retry, response) fits in this.
DEFAULT_FORWARD_TIMEOUT_SECONDS = 8.0
CONNECT_TIMEOUT_SECONDS = 3.0
TIMESTAMP_TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
USER_AGENT = "jam-fin-relay/0.1 (+Jam to Intercom Fin relay)"
# Fixed namespace: Idempotency-Key = uuid5(namespace, "<workflow id>:<Jam message id>").
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f2b5d1e-3c4a-5b8e-9d7f-1a2b3c4d5e6f")
CONVERSATION_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # explicit ASCII class, not \w
MESSAGE_ID_RE = re.compile(r"[!-~]{1,256}")  # printable ASCII, no spaces
TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")
MAX_INTERCOM_ANSWER_BYTES = 64 * 1024
# Jam events nest a few levels. Parsing and re-serialising recurse once per level, so a deeper
# body (possible well within the size limit) is refused as a bad request before either can
# hit Python's recursion limit (a RecursionError in json.dumps answered 500 at depth 975).
MAX_JSON_DEPTH = 64
MAX_IDLE_CONNECTIONS_PER_HOST = 16
JSON_TYPE = "application/json"


# --------------------------------------------------------------------------------------------
# Outcomes: one exception hierarchy, one status and log outcome per class.


class RelayAnswer(Exception):  # noqa: N818 (an answer, not an error)
    """An answer that ends a request early. ``str()`` is safe to log and to send back."""

    status = 500
    outcome = "error"
    severity = "WARNING"


class UnknownRoute(RelayAnswer):
    status, outcome = 404, "unknown_route"


class MethodNotAllowed(RelayAnswer):
    status, outcome = 405, "method_not_allowed"


class NotConfigured(RelayAnswer):
    status, outcome, severity = 503, "not_configured", "ERROR"


class TooLarge(RelayAnswer):
    status, outcome = 413, "too_large"


class SignatureRejected(RelayAnswer):
    status, outcome = 401, "signature_rejected"


class BadRequest(RelayAnswer):
    """Signed, but the body is not a JSON object."""

    status, outcome = 400, "bad_request"


class InvalidEvent(BadRequest):
    """Signed JSON object that is not a valid Jam event (``type``, ``data``, conversation id)."""

    status = 422


class ForwardFailed(RelayAnswer):
    """Intercom unreachable, timed out, 5xx, 408 or 429: Jam should retry."""

    status, outcome, severity = 502, "failed", "ERROR"

    def __init__(self, message: str, intercom_status: int | None = None) -> None:
        super().__init__(message)
        self.intercom_status = intercom_status


# --------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class IntercomTarget:
    """Where a workflow's events go. Never logged, never in an exception message."""

    scheme: str
    host: str
    port: int
    base_path: str  # without trailing slash

    def __repr__(self) -> str:
        return "IntercomTarget(<redacted>)"


@dataclass(frozen=True)
class Route:
    workflow_id: str
    events: frozenset[str]
    target: IntercomTarget | None = field(repr=False)
    keys: tuple[bytes, ...] = field(repr=False)


@dataclass(frozen=True)
class ConfigProblem:
    workflow_id: str | None
    message: str  # says the fix; never contains the value


@dataclass(frozen=True)
class Config:
    routes: Mapping[str, Route]
    max_body_bytes: int
    forward_timeout: float
    problems: tuple[ConfigProblem, ...]
    ca_bundle: str | None = None  # checked at start-up; None: system CAs only


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_intercom_url(url: str) -> IntercomTarget:
    """Raise ValueError (with a value-free message) unless ``url`` is a usable base URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError("is not a valid URL") from None
    host = parts.hostname or ""
    if not host:
        raise ValueError("has no host")
    if not is_valid_host(host):
        # Else the IDNA encoding at connect time fails on every forward (e.g. "a..b").
        raise ValueError("has an invalid host name (empty label, or a label over 63 characters)")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValueError("must use https (plain http is allowed only for loopback hosts)")
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an https:// URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must not carry a query, fragment or credentials")
    if any(ch.isspace() or ord(ch) < 0x21 or ord(ch) > 0x7E for ch in parts.path):
        raise ValueError("has spaces or non-ASCII characters in its path")
    default_port = 443 if parts.scheme == "https" else 80
    return IntercomTarget(parts.scheme, host, port or default_port, parts.path.rstrip("/"))


def parse_signing_secrets(value: str) -> tuple[bytes, ...]:
    """``whsec_<base64>`` secrets, space-separated; ValueError names the position, not the value."""
    keys = []
    for position, secret in enumerate(value.split(), start=1):
        if not secret.startswith(SECRET_PREFIX):
            raise ValueError(f"secret #{position} does not start with {SECRET_PREFIX}")
        try:
            key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"secret #{position} is not base64 after {SECRET_PREFIX}") from None
        if not key:
            raise ValueError(f"secret #{position} is empty")
        keys.append(key)
    if not keys:
        raise ValueError("is empty")
    return tuple(keys)


def _parse_routes_json(raw: str | None, problems: list[ConfigProblem]) -> dict[str, list[str]]:
    fix = f"set {ROUTES_ENV} to a JSON object: workflow id -> {{'events': [...]}}"
    if raw is None or not raw.strip():
        problems.append(ConfigProblem(None, f"{ROUTES_ENV} is not set; no route is served: {fix}"))
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError:
        problems.append(ConfigProblem(None, f"{ROUTES_ENV} is not valid JSON: {fix}"))
        return {}
    if not isinstance(decoded, dict):
        problems.append(ConfigProblem(None, f"{ROUTES_ENV} is not a JSON object: {fix}"))
        return {}
    routes: dict[str, list[str]] = {}
    for workflow_id, spec in decoded.items():
        if not is_valid_workflow_id(workflow_id):
            problems.append(
                ConfigProblem(
                    None,
                    f"{ROUTES_ENV} has an invalid workflow id (want [a-z][a-z0-9-]*, at most 40 "
                    "characters, no trailing hyphen); that route is skipped",
                )
            )
            continue
        events = spec.get("events", list(DEFAULT_EVENTS)) if isinstance(spec, dict) else None
        if (
            not isinstance(events, list)
            or not events
            or not all(isinstance(e, str) and e in KNOWN_EVENTS for e in events)
        ):
            problems.append(
                ConfigProblem(
                    workflow_id,
                    f"{ROUTES_ENV} entry needs 'events': a non-empty list from "
                    f"{', '.join(KNOWN_EVENTS)}; using the default {', '.join(DEFAULT_EVENTS)}",
                )
            )
            events = list(DEFAULT_EVENTS)
        routes[workflow_id] = events
    return routes


def _positive_number(
    env: Mapping[str, str], name: str, default: float, problems: list[ConfigProblem]
) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        problems.append(ConfigProblem(None, f"{name} must be a positive number; using {default}"))
        return default
    return value


def _ca_bundle(env: Mapping[str, str], problems: list[ConfigProblem]) -> str | None:
    """RELAY_CA_BUNDLE if it is a readable file of PEM certificates; else None, said once."""
    path = env.get(CA_BUNDLE_ENV, "").strip()
    if not path:
        return None
    try:
        # A bare context: loads only this file, not the system store (cheap at import).
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except (OSError, ValueError):  # ssl.SSLError is an OSError
        problems.append(
            ConfigProblem(
                None,
                f"{CA_BUNDLE_ENV} is not a readable file of PEM CA certificates: fix or unset "
                "it; until then only the system CAs are trusted",
            )
        )
        return None
    return path


def load_config(env: Mapping[str, str]) -> Config:
    """Read the whole configuration; every problem is collected, none raises."""
    problems: list[ConfigProblem] = []
    routes: dict[str, Route] = {}
    for workflow_id, events in _parse_routes_json(env.get(ROUTES_ENV), problems).items():
        target: IntercomTarget | None = None
        url_name = intercom_url_env(workflow_id)
        url = env.get(url_name, "")
        if not url.strip():
            problems.append(
                ConfigProblem(workflow_id, f"{url_name} is not set: set it to the Intercom URL")
            )
        else:
            try:
                target = parse_intercom_url(url)
            except ValueError as why:
                problems.append(
                    ConfigProblem(workflow_id, f"{url_name} {why}: set it to the workflow's URL")
                )
        keys: tuple[bytes, ...] = ()
        secret_name = signing_secret_env(workflow_id)
        secrets = env.get(secret_name, "")
        if not secrets.strip():
            problems.append(
                ConfigProblem(
                    workflow_id,
                    f"{secret_name} is not set: store the signing secret Jam shows for this "
                    "endpoint (whsec_...); until then the route answers 503",
                )
            )
        else:
            try:
                keys = parse_signing_secrets(secrets)
            except ValueError as why:
                problems.append(
                    ConfigProblem(
                        workflow_id,
                        f"{secret_name} {why}: copy the secret exactly as Jam shows it "
                        "(whsec_..., space-separated); until then the route answers 503",
                    )
                )
        routes[workflow_id] = Route(workflow_id, frozenset(events), target, keys)
    max_body = _positive_number(env, MAX_BODY_ENV, DEFAULT_MAX_BODY_BYTES, problems)
    timeout = _positive_number(env, FORWARD_TIMEOUT_ENV, DEFAULT_FORWARD_TIMEOUT_SECONDS, problems)
    ca_bundle = _ca_bundle(env, problems)
    return Config(routes, int(max_body), timeout, tuple(problems), ca_bundle)


# --------------------------------------------------------------------------------------------
# Logging: one JSON object per line on stdout (Cloud Logging reads `severity` and `message`).

_log_lock = threading.Lock()


def log(severity: str, message: str, **fields: object) -> None:
    record: dict[str, object] = {"severity": severity, "message": message}
    record.update({k: v for k, v in fields.items() if v is not None})
    line = json.dumps(record, ensure_ascii=True, separators=(",", ":"), default=str)
    with _log_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


# --------------------------------------------------------------------------------------------
# Pure helpers: route, verify, parse


def _known_workflow_id(config: Config, path: str) -> str | None:
    workflow_id = path.removeprefix(ROUTE_PREFIX) if path.startswith(ROUTE_PREFIX) else None
    return workflow_id if workflow_id in config.routes else None


def route_for(config: Config, path: str, method: str) -> Route:
    """The route ``path`` names, or UnknownRoute / MethodNotAllowed."""
    workflow_id = _known_workflow_id(config, path)
    route = config.routes.get(workflow_id) if workflow_id is not None else None
    if route is None:
        raise UnknownRoute("no such route")
    if method != "POST":
        raise MethodNotAllowed("use POST")
    return route


class HeaderLookup(Protocol):
    """Case-insensitive header access (werkzeug's Headers, or a dict in unit use)."""

    def get(self, key: str) -> str | None: ...


def _header_set(headers: HeaderLookup) -> tuple[str, str, str]:
    """(id, timestamp, signature) from one complete header set: ``svix-*`` or ``webhook-*``."""
    for prefix in ("svix", "webhook"):
        values = [headers.get(f"{prefix}-{name}") for name in ("id", "timestamp", "signature")]
        if all(values):
            return values[0] or "", values[1] or "", values[2] or ""
    raise SignatureRejected("missing signature headers (svix-* or webhook-* set)")


def _candidate_signatures(header: str) -> list[bytes]:
    """The decodable ``v1,<base64>`` entries of a space-separated signature header."""
    candidates = []
    for entry in header.split(" "):
        version, comma, encoded = entry.partition(",")
        if version != "v1" or not comma:
            continue
        try:
            candidates.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return candidates


def verify(headers: HeaderLookup, body: bytes, keys: Sequence[bytes], now: float) -> str:
    """Check a Standard Webhooks signature over the raw body; return the verified message id."""
    message_id, timestamp, signature_header = _header_set(headers)
    if MESSAGE_ID_RE.fullmatch(message_id) is None:
        raise SignatureRejected("malformed message id")
    if TIMESTAMP_RE.fullmatch(timestamp) is None:
        raise SignatureRejected("malformed timestamp")
    if abs(now - int(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS:
        raise SignatureRejected("timestamp outside the 5-minute tolerance")
    candidates = _candidate_signatures(signature_header)
    if not candidates:
        raise SignatureRejected("malformed signature header (want 'v1,<base64>')")
    signed_content = b"%s.%s.%s" % (message_id.encode("ascii"), timestamp.encode("ascii"), body)
    matched = False
    for key in keys:
        expected = hmac.new(key, signed_content, hashlib.sha256).digest()
        for candidate in candidates:
            # No early exit: the work done does not depend on which entry matches.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureRejected("no signature matched")
    return message_id


@dataclass(frozen=True)
class JamEvent:
    event_id: str | None
    type: str
    data: dict[str, Any]
    conversation_id: str | None  # validated; None only when absent


def _conversation_id(value: object) -> str | None:
    if value is None or value == "":  # absent, null or empty: no conversation
        return None
    # bool is an int subclass; True must not become "True".
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidEvent("data.conversationId must be a string or an integer")
    text = str(value)
    if CONVERSATION_ID_RE.fullmatch(text) is None:
        raise InvalidEvent("data.conversationId must be 1-64 characters from [A-Za-z0-9_-]")
    return text


def valid_conversation_id(document: Mapping[str, Any]) -> str | None:
    """``data.conversationId`` if the event has a valid one, else None (never raises)."""
    data = document.get("data")
    if not isinstance(data, dict):
        return None
    try:
        return _conversation_id(data.get("conversationId"))
    except InvalidEvent:
        return None


def _finite_float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):  # 1e999 parses to inf
        raise BadRequest("body has a non-finite number (NaN or Infinity are not JSON)")
    return value


def _reject_constant(name: str) -> float:
    raise BadRequest("body has a non-finite number (NaN or Infinity are not JSON)")


def decode_object(body: bytes) -> dict[str, Any]:
    """The verified body as a JSON object of finite numbers, or BadRequest."""
    too_deep = f"body nests JSON deeper than {MAX_JSON_DEPTH} levels"
    try:
        decoded = json.loads(
            body.decode("utf-8"), parse_float=_finite_float, parse_constant=_reject_constant
        )
    except RecursionError:
        raise BadRequest(too_deep) from None
    except ValueError:
        raise BadRequest("body is not UTF-8 JSON") from None
    if not isinstance(decoded, dict):
        raise BadRequest("body is not a JSON object")
    if not _nests_at_most(decoded, MAX_JSON_DEPTH):
        raise BadRequest(too_deep)
    return decoded


def _nests_at_most(document: object, limit: int) -> bool:
    """Whether objects and arrays nest at most ``limit`` levels (iterative: no recursion)."""
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return False
        children = value.values() if isinstance(value, dict) else value
        assert isinstance(children, Iterable)  # only dicts and lists are pushed
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def event_type_of(document: Mapping[str, Any]) -> str:
    event_type = document.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidEvent("'type' must be a non-empty string")
    return event_type


def event_from(document: Mapping[str, Any], event_type: str) -> JamEvent:
    """The rest of the event (``data``, ``id``, conversation id), or InvalidEvent."""
    data = document.get("data")
    if not isinstance(data, dict):
        raise InvalidEvent("'data' must be an object")
    event_id = document.get("id")
    if event_id is not None and not isinstance(event_id, str):
        raise InvalidEvent("'id' must be a string")
    return JamEvent(event_id, event_type, data, _conversation_id(data.get("conversationId")))


def parse(body: bytes) -> JamEvent:
    """A Jam event from a verified body, or BadRequest / InvalidEvent."""
    document = decode_object(body)
    return event_from(document, event_type_of(document))


def intercom_body(event: JamEvent) -> bytes:
    """What Fin's "Wait for webhook" step receives: the Jam data plus the Jam event id."""
    payload = dict(event.data)
    payload["jamEventId"] = event.event_id
    document = {"event": event.type, "payload": payload}
    # allow_nan=False: parsing already refused non-finite numbers; never send invalid JSON.
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


def idempotency_key(workflow_id: str, message_id: str) -> str:
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{workflow_id}:{message_id}"))


# --------------------------------------------------------------------------------------------
# Forwarding: a small keep-alive pool over http.client (already loaded by the framework).


def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    # create_default_context honours SSL_CERT_FILE/SSL_CERT_DIR; RELAY_CA_BUNDLE adds a CA
    # (a self-signed Intercom stand-in in benchmarks) on top of the system ones.
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


class _Watch:
    """One forward's connection, shut down if its deadline passes before ``stop()``."""

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self.stopped = False
        self._fired = False

    def fire(self) -> None:
        with self._lock:  # held while shutting down: stop() then close() cannot race it
            if self.stopped:
                return
            self._fired = True
            sock = self._conn.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    # The plain-socket shutdown wakes a blocked read or write, TLS or not.
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def stop(self) -> bool:
        """Disarm; True if the deadline passed and the socket was shut down."""
        with self._lock:
            self.stopped = True
            return self._fired


class _Watchdog:
    """Enforces whole-forward deadlines from one daemon thread.

    Socket timeouts restart with every byte received, so without this an Intercom that drips
    its answer could hold the forward (and Jam's delivery) far past the deadline. One shared
    thread, started on first use, costs a heap push per forward instead of a thread start.
    """

    def __init__(self) -> None:
        self._wakeup = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._sequence = itertools.count()  # ties on the deadline never compare two _Watch
        self._thread: threading.Thread | None = None

    def watch(self, conn: http.client.HTTPConnection, deadline: float) -> _Watch:
        watch = _Watch(conn)
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


class ConnectionPool:
    """Idle keep-alive connections per (scheme, host, port), shared by all request threads."""

    def __init__(self, ca_bundle: str | None = None) -> None:
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self._ca_bundle = ca_bundle

    def _new(self, target: IntercomTarget, timeout: float) -> http.client.HTTPConnection:
        if target.scheme == "https":
            with self._lock:
                if self._context is None:  # built lazily: loading CAs costs import time
                    try:
                        self._context = _ssl_context(self._ca_bundle)
                    except (OSError, ValueError) as error:  # e.g. the CA file went away
                        raise ForwardFailed(f"TLS set-up failed ({type(error).__name__})") from None
                context = self._context
            return http.client.HTTPSConnection(
                target.host, target.port, timeout=timeout, context=context
            )
        return http.client.HTTPConnection(target.host, target.port, timeout=timeout)

    def take(self, target: IntercomTarget) -> http.client.HTTPConnection | None:
        key = (target.scheme, target.host, target.port)
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                return None
            if _still_open(conn):
                return conn
            conn.close()

    def give_back(self, target: IntercomTarget, conn: http.client.HTTPConnection) -> None:
        key = (target.scheme, target.host, target.port)
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE_CONNECTIONS_PER_HOST:
                idle.append(conn)
                return
        conn.close()

    def post(
        self,
        target: IntercomTarget,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float,
    ) -> int:
        """POST once (plus one retry if a reused connection turns out stale); return the status."""
        deadline = time.monotonic() + timeout
        conn = self.take(target)
        if conn is not None:
            try:
                return self._exchange(target, conn, path, body, headers, deadline)
            except _StaleConnectionError:
                pass  # Intercom closed it while idle; resend (same Idempotency-Key) on a fresh one
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ForwardFailed("Intercom did not answer in time")
        fresh = self._new(target, min(CONNECT_TIMEOUT_SECONDS, remaining))
        try:
            return self._exchange(target, fresh, path, body, headers, deadline)
        except _StaleConnectionError:
            raise ForwardFailed("Intercom closed the connection without answering") from None

    def _exchange(
        self,
        target: IntercomTarget,
        conn: http.client.HTTPConnection,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        deadline: float,
    ) -> int:
        reused = conn.sock is not None
        answer: http.client.HTTPResponse | None = None
        failure: Exception | None = None
        watch = WATCHDOG.watch(conn, deadline)
        try:
            if not reused:
                conn.connect()  # conn.timeout is the connect timeout
            _set_timeout(conn, deadline)
            # http.client sets TCP_NODELAY: our request's segments leave at once.
            conn.request("POST", path, body=body, headers=dict(headers))
            _set_timeout(conn, deadline)
            _quick_ack(conn)
            answer = conn.getresponse()
            _set_timeout(conn, deadline)
            answer.read(MAX_INTERCOM_ANSWER_BYTES)
        # ValueError: UnicodeError from IDNA-encoding a host, or anything http.client rejects.
        except (OSError, http.client.HTTPException, ValueError) as error:
            failure = error
        finally:
            deadline_passed = watch.stop()
        # First: the watchdog's shutdown looks like a peer close (or, to a body read without
        # a length, like the end of the answer); it is a timeout, never a stale retry.
        if deadline_passed or isinstance(failure, TimeoutError):
            conn.close()
            raise ForwardFailed("Intercom did not answer in time") from None
        if failure is None and answer is not None:
            if answer.will_close or not answer.isclosed():
                conn.close()  # server wants to close, or sent more than we read
            else:
                self.give_back(target, conn)
            return answer.status
        conn.close()
        if answer is not None:
            return answer.status  # Intercom answered; only its body was cut short
        if reused and isinstance(failure, _STALE_ERRORS):
            raise _StaleConnectionError() from None
        # The class name only: messages can carry the host name.
        raise ForwardFailed(f"Intercom unreachable ({type(failure).__name__})") from None


# What a kept-alive connection the peer closed while idle looks like on the next request.
_STALE_ERRORS = (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError)


class _StaleConnectionError(Exception):
    """A reused keep-alive connection failed before any answer: safe to resend once."""


def _quick_ack(conn: http.client.HTTPConnection) -> None:
    """ACK Intercom's answer at once instead of delaying the ACK (Linux).

    A server that writes its status line and body in separate small segments (Nagle on its
    side) waits for our ACK of the first; a delayed ACK stalls each answer on a kept-alive
    connection by ~40 ms. Quick-ACK mode is not sticky, so it is set before every answer.
    """
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is not None and conn.sock is not None:
        with contextlib.suppress(OSError):
            conn.sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)


def _set_timeout(conn: http.client.HTTPConnection, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    if conn.sock is not None:
        conn.sock.settimeout(remaining)


def _still_open(conn: http.client.HTTPConnection) -> bool:
    """An idle connection the peer has closed (or written to) is readable: do not reuse it."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def forward(route: Route, event: JamEvent, message_id: str, timeout: float) -> int:
    """POST the event to Intercom; return Intercom's status or raise ForwardFailed."""
    if route.target is None or event.conversation_id is None:  # callers check; belt and braces
        raise NotConfigured("route has no usable Intercom URL")
    headers = {
        "Content-Type": JSON_TYPE,
        "User-Agent": USER_AGENT,
        "Idempotency-Key": idempotency_key(route.workflow_id, message_id),
    }
    path = f"{route.target.base_path}/{event.conversation_id}"
    return POOL.post(route.target, path, intercom_body(event), headers, timeout)


# --------------------------------------------------------------------------------------------
# The handler


def read_body(request: flask.Request, limit: int) -> bytes:
    """The raw body, reading at most limit + 1 bytes; TooLarge above the limit."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise TooLarge(f"body over {limit} bytes")
    stream = request.stream
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        try:
            chunk = stream.read(limit + 1 - size)
        # The server's own classes, which the relay does not import: gunicorn raises
        # InvalidChunkSize / NoMoreData (OSError) or a ParseException (bad trailer), werkzeug
        # ClientDisconnected. Any of them is the client's framing, never a relay bug (500).
        except Exception:
            raise BadRequest("body could not be read (broken framing, or ended early)") from None
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise TooLarge(f"body over {limit} bytes")
    return b"".join(chunks)


@dataclass
class Outcome:
    """What the handler decided; becomes the answer and the request's one log line."""

    status: int
    outcome: str
    message: str
    severity: str = "INFO"
    workflow_id: str | None = None
    jam_message_id: str | None = None
    event_type: str | None = None
    intercom_status: int | None = None
    conversation_id: str | None = None  # validated by the same rule as the forward's URL


def handle(config: Config, request: flask.Request, now: Callable[[], float]) -> Outcome:
    route = route_for(config, request.path, request.method)
    context: dict[str, Any] = {"workflow_id": route.workflow_id}
    try:
        if not route.keys:
            raise NotConfigured(
                "this route's signing secret is not configured: store the secret Jam shows for "
                "this endpoint in the workflow's jam_signing_secret config key, then deploy again"
            )
        body = read_body(request, config.max_body_bytes)
        message_id = verify(request.headers, body, route.keys, now())
        context["jam_message_id"] = message_id
        document = decode_object(body)
        event_type = event_type_of(document)
        context["event_type"] = event_type
        # On every later line, even for an event refused or ignored for another reason: support
        # traces a conversation by it (issue 12). Only an id the forward itself would accept.
        context["conversation_id"] = valid_conversation_id(document)
        # Filter before validating the rest: Jam must not retry events this route never takes.
        if event_type not in route.events:
            return Outcome(200, "ignored", "event type not subscribed on this route", **context)
        event = event_from(document, event_type)
        if event.conversation_id is None:
            if event.type == JAM_CREATED:
                return Outcome(200, "ignored", "jam.created without a conversation", **context)
            raise InvalidEvent("data.conversationId is required")
        if route.target is None:
            raise NotConfigured(
                "this route's Intercom URL is missing or invalid: store the workflow's Wait for "
                "webhook URL in its intercom_webhook_url config key, then deploy again"
            )
        status = forward(route, event, message_id, config.forward_timeout)
        context["intercom_status"] = status
        if 200 <= status < 300:
            return Outcome(200, "delivered", "delivered to Intercom", **context)
        if status in (408, 429) or status >= 500 or status < 400:
            raise ForwardFailed(f"Intercom answered {status}", status)
        return Outcome(
            200,
            "refused_by_intercom",
            f"Intercom refused the event permanently ({status}); not retried",
            severity="ERROR",
            **context,
        )
    except RelayAnswer as answer:
        if isinstance(answer, ForwardFailed):
            context["intercom_status"] = answer.intercom_status
        return Outcome(
            answer.status, answer.outcome, str(answer), severity=answer.severity, **context
        )


CONFIG = load_config(os.environ)
for _problem in CONFIG.problems:
    log("ERROR", _problem.message, workflow_id=_problem.workflow_id, outcome="config_error")
POOL = ConnectionPool(CONFIG.ca_bundle)
WATCHDOG = _Watchdog()


def _json_response(status: int, document: Mapping[str, object]) -> flask.Response:
    """The answer, as a streamed body (an iterator) with its Content-Length.

    functions-framework registers an ``after_request`` hook (``read_request``) that calls
    ``request.get_data()``, reading the whole request body into memory, unless the response
    ``is_streamed``: a refused body of any size would be buffered before its 413 left. A
    streamed body is Flask's public way to answer without that hook (its docstring names the
    case); removing the hook from the app would reach into the framework's internals. The
    bytes on the wire are the same; the pinned server discards whatever body is left unread.
    """
    payload = json.dumps(document).encode()
    response = flask.Response(iter((payload,)), status=status, mimetype=JSON_TYPE)
    response.headers["Content-Length"] = str(len(payload))
    return response


def relay(request: flask.Request) -> flask.Response:
    """The Cloud Function entry point (target ``relay``)."""
    if request.path == HEALTH_PATH:
        if request.method not in ("GET", "HEAD"):
            return _json_response(405, {"outcome": "method_not_allowed", "message": "use GET"})
        return _json_response(200, {"status": "ok", "routes": len(CONFIG.routes)})
    started = time.perf_counter()
    try:
        result = handle(CONFIG, request, time.time)
    except RelayAnswer as answer:  # before a route is known
        result = Outcome(answer.status, answer.outcome, str(answer), severity=answer.severity)
    except Exception as error:  # a bug, not bad input: still one log line, never the details
        result = Outcome(
            500,
            "error",
            f"internal error ({type(error).__name__})",
            "ERROR",
            workflow_id=_known_workflow_id(CONFIG, request.path),
        )
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    log(
        result.severity,
        result.message,
        workflow_id=result.workflow_id,
        jam_message_id=result.jam_message_id,
        event_type=result.event_type,
        conversation_id=result.conversation_id,
        outcome=result.outcome,
        intercom_status=result.intercom_status,
        latency_ms=latency_ms,
    )
    response = _json_response(result.status, {"outcome": result.outcome, "message": result.message})
    if result.status == 405:
        response.headers["Allow"] = "POST"
    return response

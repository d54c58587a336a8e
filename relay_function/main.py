"""Jam -> Intercom Fin relay: a Cloud Run function (functions-framework), target ``relay``.

``POST /workflows/<id>``: verify the Jam delivery (``verification``), parse the event
(``events``), and forward ``{"event": <type>, "payload": {...}}`` to the workflow's Intercom
"Wait for webhook" URL + ``/<conversationId>`` (``forwarding``). ``GET /health`` answers 200.
Both also answer under ``/<K_SERVICE>/`` (``naming.served_path``).
Configuration (``configuration``) is read once, at import; each early answer is an exception
class in ``answers``; ``serving`` adapts the server's handling of client connections. This
module is the handler: it routes, runs the checks in the order of the answer table, and writes
one log line per request. The answer table, the env vars and the log fields are documented in
docs/relay.md and docs/CONTRACTS.md.

The folder deploys on its own, so its modules import each other top-level (``import naming``).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import flask
import functions_framework
import serving
from answers import (
    BadRequest,
    ForwardFailed,
    InvalidEvent,
    MethodNotAllowed,
    NotConfigured,
    RelayAnswer,
    TooLarge,
    UnknownRoute,
)
from configuration import Config, Route, load_config
from events import decode_object, event_from, event_type_of, valid_conversation_id
from forwarding import JSON_TYPE, Forwarder, forward
from naming import HEALTH_PATH, JAM_CREATED, ROUTE_PREFIX, served_path
from verification import verify
from werkzeug.exceptions import NotFound

# One JSON object per line on stdout (Cloud Logging reads `severity` and `message`).

_log_lock = threading.Lock()


def log(severity: str, message: str, **fields: object) -> None:
    record: dict[str, object] = {"severity": severity, "message": message}
    record.update({k: v for k, v in fields.items() if v is not None})
    line = json.dumps(record, ensure_ascii=True, separators=(",", ":"), default=str)
    with _log_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _known_workflow_id(config: Config, path: str) -> str | None:
    workflow_id = path.removeprefix(ROUTE_PREFIX) if path.startswith(ROUTE_PREFIX) else None
    return workflow_id if workflow_id in config.routes else None


def route_for(config: Config, path: str, method: str) -> Route:
    """The route ``path`` (``served_path``'s) names, or UnknownRoute / MethodNotAllowed."""
    workflow_id = _known_workflow_id(config, path)
    route = config.routes.get(workflow_id) if workflow_id is not None else None
    if route is None:
        raise UnknownRoute("no such route")
    if method != "POST":
        raise MethodNotAllowed("use POST")
    return route


_UNREADABLE = "body could not be read (broken framing, or ended early)"


def read_body(request: flask.Request, limit: int) -> bytes:
    """The raw body, reading at most limit + 1 bytes; TooLarge above the limit."""
    codings = request.headers.get("Transfer-Encoding")
    if codings is not None and serving.disguised_transfer_encoding(codings):
        # The server read it as chunked, a reader in front of it may not; `serving` also
        # closes the connection after this answer.
        raise BadRequest("Transfer-Encoding is not a plain list of codings")
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
            raise BadRequest(_UNREADABLE) from None
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise TooLarge(f"body over {limit} bytes")
    if declared is not None and size < declared:
        # The server ends a body that stops coming at its read deadline (serving) as if the
        # client had hung up: a short body, which would otherwise fail as a bad signature.
        raise BadRequest(_UNREADABLE)
    return b"".join(chunks)


class Outcome(NamedTuple):  # a NamedTuple: cheaper to create at import (configuration.py)
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


def handle(config: Config, request: flask.Request, path: str, now: Callable[[], float]) -> Outcome:
    route = route_for(config, path, request.method)
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
        status = forward(FORWARDER, route, event, message_id, config.forward_timeout)
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
if (_server_problem := serving.install()) is not None:
    log("ERROR", _server_problem, outcome="config_error")
FORWARDER = Forwarder(CONFIG.ca_bundle)


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
    path = served_path(request.path, CONFIG.service_name)
    if path == HEALTH_PATH:
        if request.method not in ("GET", "HEAD"):
            return _json_response(405, {"outcome": "method_not_allowed", "message": "use GET"})
        return _json_response(200, {"status": "ok", "routes": len(CONFIG.routes)})
    started = time.perf_counter()
    try:
        result = handle(CONFIG, request, path, time.time)
    except RelayAnswer as answer:  # before a route is known
        result = Outcome(answer.status, answer.outcome, str(answer), severity=answer.severity)
    except Exception as error:  # a bug, not bad input: still one log line, never the details
        result = Outcome(
            500,
            "error",
            f"internal error ({type(error).__name__})",
            "ERROR",
            workflow_id=_known_workflow_id(CONFIG, path),
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


def _framework_not_found(_error: NotFound) -> flask.Response:
    """functions-framework routes /robots.txt and /favicon.ico past the function, to an HTML
    404 of its own with no log line; its documented error handler ("Quickstart: Error
    handling" in its README) sends them through the relay, which answers them as every
    unknown path: JSON 404 ``unknown_route`` and one log line."""
    return relay(flask.request)


# Outside functions-framework's create_app (an import in tests) this is a no-op stand-in.
functions_framework.errorhandler(NotFound)(_framework_not_found)

"""A second stand-in for the five Google calls ``relayctl preflight`` makes, written apart from
relayctl/fake_google.py (without reading it) from Google's REST references only:

- the discovery documents bundled with google-api-python-client (cloudresourcemanager.v3
  ``projects.get`` / ``projects.testIamPermissions``, cloudbilling.v1
  ``projects.getBillingInfo``, orgpolicy.v2 ``projects.policies.getEffectivePolicy``,
  serviceusage.v1 ``services.list``): paths, field names, enums, paging;
- Google's error model (https://cloud.google.com/apis/design/errors): ``{"error": {"code",
  "message", "status", "details": [...]}}`` with ``google.rpc.ErrorInfo`` details, as in the
  SERVICE_DISABLED answers quoted in google-gemini/gemini-cli #1343 (consumer by project id)
  and google-gemini/deprecated-generative-ai-android #148 (consumer by project number);
- the proto3 JSON mapping (https://protobuf.dev/programming-guides/json/): fields at their
  default (false, empty list, empty message) are left out, field order carries no meaning,
  and a reader ignores fields it does not know.

It varies, per scenario, what an honest server may vary: omitted defaults, field order, extra
unknown fields, page sizes and opaque page tokens, ``Content-Type`` with a charset, chunked
transfer, gzip when the client asks for it, slow answers, closed connections. It records every
request so a test can hold preflight to exactly the five read-only calls.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# Every constraint preflight could ask about is a real one; the fake answers any name, as
# getEffectivePolicy does for a constraint with no policy set.
LIST_DEFAULT_ALLOW = {"allowAll": True}
BOOLEAN_DEFAULT = {"enforce": False}


@dataclass
class Fault:
    """How one route misbehaves instead of answering its document."""

    status: int = 0  # an HTTP error answer with ``body`` (0: no error answer)
    body: Any = None
    delay: float = 0.0  # seconds before the headers
    close: bool = False  # drop the connection without an answer
    truncate: bool = False  # promise a body, send part of it, drop the connection
    garbage: bool = False  # 200 with a body that is not JSON
    stall_body: float = 0.0  # headers and half the body at once, the rest this much later


@dataclass
class Style:
    """How answers are put on the wire: all honest, all different from a naive server."""

    chunked: bool = False
    gzip_when_asked: bool = False
    charset: bool = True  # "application/json; charset=UTF-8", as Google sends it
    reverse_keys: bool = False
    unknown_fields: bool = False
    omit_defaults: bool = True  # proto3 JSON: false / empty left out
    delay: float = 0.0


@dataclass
class Scenario:
    project_id: str = "demo-project"
    project_number: str = "318493027561"
    parent: str = "organizations/584920174413"
    name_by_id: bool = False  # Project.name as projects/ID (the reference says the number)
    state: str = "ACTIVE"
    billing_account: str = "billingAccounts/01A2B3-C4D5E6-F7A8B9"
    billing_enabled: bool = True
    # None: every permission asked for is held; else the ones held.
    granted: frozenset[str] | None = None
    # constraint -> effective policy ``spec`` (None: no policy set anywhere)
    specs: dict[str, Any] = field(default_factory=dict)
    # how "no policy" looks: "absent" (no spec), "empty" ({}), "default" (explicit default rule)
    no_policy: str = "absent"
    boolean_constraints: frozenset[str] = frozenset()
    # constraint -> more Policy fields (dryRunSpec, alternate...) beside ``spec``
    policy_extras: dict[str, dict[str, Any]] = field(default_factory=dict)
    enabled_services: Sequence[str] = ()
    page_size: int = 50  # Service Usage's default page size
    faults: dict[str, Fault] = field(default_factory=dict)  # route key -> fault
    style: Style = field(default_factory=Style)
    token: str = "ya29.independent-fake-token"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    route: str  # the route key, or "" for a call that is none of the five


class _Server(ThreadingHTTPServer):
    # Google's front end takes every parallel connection; socketserver's default backlog of 5
    # would drop the rest of preflight's concurrent connects (a fake's limit, not Google's).
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout, or a test's closed connection) is no fake error.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class IndependentGoogle:
    """Serve ``scenario`` on loopback; ``base`` is what RELAYCTL_GOOGLE_API_BASE gets."""

    def __init__(self, scenario: Scenario, host: str = "127.0.0.1") -> None:
        self.scenario = scenario
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        handler = _handler_for(self)
        server_class: type[ThreadingHTTPServer] = _Server
        if host == "::1":
            import socket

            class _V6(_Server):
                address_family = socket.AF_INET6

            server_class = _V6
        self._server = server_class((host, 0), handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> IndependentGoogle:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def routes(self) -> list[str]:
        with self._lock:
            return [r.route for r in self.requests]


# --- documents, as the discovery documents define them -------------------------------------


def project_document(s: Scenario) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": f"projects/{s.project_id if s.name_by_id else s.project_number}",
        "parent": s.parent,
        "projectId": s.project_id,
        "state": s.state,
        "displayName": "Demo Project",
        "createTime": "2025-03-14T09:26:53.589Z",
        "updateTime": "2025-03-14T09:26:55.121Z",
        "etag": 'W/"5c1e4b7a2f0d9e83"',
        "labels": {"team": "support"},
    }
    if s.state == "DELETE_REQUESTED":
        doc["deleteTime"] = "2026-01-02T03:04:05.678Z"
    return doc


def billing_document(s: Scenario) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": f"projects/{s.project_id}/billingInfo",
        "projectId": s.project_id,
        "billingAccountName": s.billing_account,
        "billingEnabled": s.billing_enabled,
    }
    return doc


def permissions_document(s: Scenario, asked: Sequence[str]) -> dict[str, Any]:
    held = [p for p in asked if s.granted is None or p in s.granted]
    # Google's order is its own: not the order asked.
    return {"permissions": sorted(held, reverse=True)}


def policy_document(s: Scenario, constraint: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": f"projects/{s.project_number}/policies/{constraint}"}
    doc.update(s.policy_extras.get(constraint, {}))
    spec = s.specs.get(constraint)
    if spec is not None:
        doc["spec"] = spec
        return doc
    if s.no_policy == "empty":
        doc["spec"] = {}
    elif s.no_policy == "default":
        rule = BOOLEAN_DEFAULT if constraint in s.boolean_constraints else LIST_DEFAULT_ALLOW
        doc["spec"] = {"rules": [dict(rule)]}
    elif s.no_policy == "reset":
        doc["spec"] = {"reset": True}
    return doc


def services_page(s: Scenario, page_token: str, page_size: int) -> dict[str, Any]:
    start = _decode_token(page_token) if page_token else 0
    chunk = list(s.enabled_services)[start : start + page_size]
    services = [
        {
            "name": f"projects/{s.project_number}/services/{name}",
            "config": {
                "name": name,
                "title": name.split(".")[0].title() + " API",
                "documentation": {},
                "quota": {},
                "authentication": {},
                "usage": {"requirements": ["serviceusage.googleapis.com/tos/cloud"]},
                "monitoring": {},
            },
            "state": "ENABLED",
            "parent": f"projects/{s.project_number}",
        }
        for name in chunk
    ]
    doc: dict[str, Any] = {"services": services}
    if start + page_size < len(s.enabled_services):
        doc["nextPageToken"] = _encode_token(start + page_size)
    return doc


def _encode_token(offset: int) -> str:
    # Opaque, standard base64 (with "+", "/" and "="), as many Google page tokens are.
    raw = b"\xfb\xff\xbe" + f"offset={offset};".encode() + b"\xfe"
    return base64.b64encode(raw).decode()


def _decode_token(token: str) -> int:
    raw = base64.b64decode(token, validate=True)
    return int(raw[3:-1].decode().removeprefix("offset=").rstrip(";"))


# --- Google's error model -------------------------------------------------------------------


def google_error(
    code: int, status: str, message: str, *details: Mapping[str, Any]
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return {"error": error}


def error_info(reason: str, domain: str, **metadata: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": domain,
        "metadata": dict(metadata),
    }


def service_disabled(service: str, title: str, consumer: str, with_details: bool = True) -> Fault:
    """403 SERVICE_DISABLED as Google sends it: ErrorInfo, LocalizedMessage and Help (or, as
    older answers and some front ends do, the message alone)."""
    container = consumer.removeprefix("projects/")
    url = f"https://console.developers.google.com/apis/api/{service}/overview?project={container}"
    message = (
        f"{title} has not been used in project {container} before or it is disabled. Enable it "
        f"by visiting {url} then retry. If you enabled this API recently, wait a few minutes for "
        "the action to propagate to our systems and retry."
    )
    body = google_error(
        403,
        "PERMISSION_DENIED",
        message,
        error_info(
            "SERVICE_DISABLED",
            "googleapis.com",
            service=service,
            consumer=consumer,
            activationUrl=url,
            containerInfo=container,
            serviceTitle=title,
        ),
        {
            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
            "locale": "en-US",
            "message": message,
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{"description": "Google developers console API activation", "url": url}],
        },
    )
    if not with_details:
        body["error"].pop("details")
    return Fault(status=403, body=body)


def permission_denied(permission: str, resource: str, with_details: bool = True) -> Fault:
    message = (
        f"Permission '{permission}' denied on resource '//cloudresourcemanager.googleapis.com/"
        f"{resource}' (or it may not exist)."
    )
    details = (
        [
            error_info(
                "IAM_PERMISSION_DENIED",
                "cloudresourcemanager.googleapis.com",
                permission=permission,
                resource=resource,
            )
        ]
        if with_details
        else []
    )
    return Fault(status=403, body=google_error(403, "PERMISSION_DENIED", message, *details))


def unauthenticated() -> Fault:
    return Fault(
        status=401,
        body=google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential.",
            error_info("ACCESS_TOKEN_TYPE_UNSUPPORTED", "googleapis.com", method="x"),
        ),
    )


def plain_error(code: int, status: str, message: str) -> Fault:
    return Fault(status=code, body=google_error(code, status, message))


# --- the server -----------------------------------------------------------------------------


def _route(method: str, path: str, project: str) -> str:
    """The route key of one of the five calls, or ''."""
    prefix_v3 = f"/v3/projects/{project}"
    if method == "GET" and path == prefix_v3:
        return "project"
    if method == "POST" and path == f"{prefix_v3}:testIamPermissions":
        return "permissions"
    if method == "GET" and path == f"/v1/projects/{project}/billingInfo":
        return "billing"
    if method == "GET" and path == f"/v1/projects/{project}/services":
        return "services"
    policies = f"/v2/projects/{project}/policies/"
    if method == "GET" and path.startswith(policies) and path.endswith(":getEffectivePolicy"):
        constraint = path.removeprefix(policies).removesuffix(":getEffectivePolicy")
        if constraint and "/" not in constraint:
            return f"policy:{constraint}"
    return ""


# Fields whose value is a map or a free-form Struct, not a message: no unknown field goes in.
MAP_FIELDS = ("labels", "metadata", "parameters", "error")


def _reorder(value: Any, reverse: bool, extra: bool) -> Any:
    if isinstance(value, dict):
        items = [(k, _reorder(v, reverse, extra and k not in MAP_FIELDS)) for k, v in value.items()]
        if reverse:
            items.reverse()
        out = dict(items)
        if extra:
            out["independentFakeUnknownField"] = {"note": "a field this reader does not know"}
        return out
    if isinstance(value, list):
        return [_reorder(v, reverse, extra) for v in value]
    return value


def _drop_defaults(value: Any) -> Any:
    """proto3 JSON: a field at its default (false, "", [], {}) is left out."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = _drop_defaults(v)
            if v is False or v == "" or v == [] or (v == {} and k not in ("spec",)):
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        return [_drop_defaults(v) for v in value]
    return value


def _handler_for(fake: IndependentGoogle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ESF"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            s = fake.scenario
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            route = _route(method, path, s.project_id)
            if not route:
                # Google accepts the project number too: record it as a call with no route,
                # so a test sees the id was not used.
                route = ""
            fake.record(
                Request(
                    method,
                    path,
                    query,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    route,
                )
            )
            if not route:
                self._send(404, google_error(404, "NOT_FOUND", "Requested entity was not found."))
                return
            if self.headers.get("Authorization") != f"Bearer {s.token}":
                refusal = unauthenticated()
                self._send(refusal.status, refusal.body)
                return
            fault = s.faults.get(route) or (
                s.faults.get("policy:*") if route.startswith("policy:") else None
            )
            delay = (fault.delay if fault else 0.0) or s.style.delay
            if delay:
                time.sleep(delay)
            if fault and fault.close:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault and fault.garbage:
                self._send_raw(200, b"<html><body>Service Unavailable</body></html>", "text/html")
                return
            if fault and fault.status:
                self._send(fault.status, fault.body)
                return
            document = self._document(route, query, body)
            if document is None:
                self._send(400, google_error(400, "INVALID_ARGUMENT", "Invalid request."))
                return
            if fault and fault.stall_body:
                raw = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw[: len(raw) // 2])
                self.wfile.flush()
                time.sleep(fault.stall_body)
                self.wfile.write(raw[len(raw) // 2 :])
                self.wfile.flush()
                return
            if fault and fault.truncate:
                raw = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw[: len(raw) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self._send(200, document)

        def _document(self, route: str, query: Mapping[str, list[str]], body: bytes) -> Any:
            s = fake.scenario
            if route == "project":
                return project_document(s)
            if route == "billing":
                return billing_document(s)
            if route == "permissions":
                try:
                    asked = json.loads(body)["permissions"]
                except (ValueError, KeyError, TypeError):
                    return None
                if not isinstance(asked, list):
                    return None
                return permissions_document(s, asked)
            if route == "services":
                if query.get("filter") != ["state:ENABLED"]:
                    return None
                size = int(query.get("pageSize", [str(s.page_size)])[0] or s.page_size)
                size = min(size, s.page_size, 200)
                token = query.get("pageToken", [""])[0]
                try:
                    return services_page(s, token, size)
                except ValueError:
                    return None
            if route.startswith("policy:"):
                return policy_document(s, route.removeprefix("policy:"))
            return None

        def _send(self, status: int, document: Any) -> None:
            style = fake.scenario.style
            if style.omit_defaults:
                document = _drop_defaults(document)
            document = _reorder(document, style.reverse_keys, style.unknown_fields)
            raw = json.dumps(document, indent=2).encode()
            content_type = (
                "application/json; charset=UTF-8" if style.charset else "application/json"
            )
            self._send_raw(status, raw, content_type)

        def _send_raw(self, status: int, raw: bytes, content_type: str) -> None:
            style = fake.scenario.style
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Vary", "Origin, X-Origin, Referer")
            if status == 401:
                self.send_header("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"')
            if style.gzip_when_asked and "gzip" in self.headers.get("Accept-Encoding", ""):
                raw = gzip.compress(raw)
                self.send_header("Content-Encoding", "gzip")
            if style.chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for piece in _pieces(raw, 7):
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            self.wfile.flush()

    return Handler


def _pieces(raw: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(raw), size):
        yield raw[start : start + size]

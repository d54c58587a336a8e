"""A local stand-in for the five Google calls ``relayctl preflight`` makes (tests and bench only).

A threaded HTTP/1.1 server on loopback that answers, for one ``Scenario``, the way Google's REST
reference says each method answers, and records every request it gets (method, path, query,
headers, body), so a test can assert that nothing else was called. Point preflight at it with
``RELAYCTL_GOOGLE_API_BASE=http://127.0.0.1:PORT`` and ``RELAYCTL_GOOGLE_ACCESS_TOKEN`` set to
``scenario.token``.

The answers follow the discovery documents bundled with google-api-python-client 2.202.0
(googleapiclient/discovery_cache/documents/):

- ``GET /v3/projects/{id}``: ``Project`` of cloudresourcemanager.v3.json (revision 20261107):
  ``name`` is ``projects/NUMBER``, ``parent``, ``projectId``, ``state`` (ACTIVE or
  DELETE_REQUESTED), ``displayName``, ``createTime``, ``etag``. A project that does not exist or
  that the caller cannot see is a 403 PERMISSION_DENIED, as Resource Manager answers both.
- ``POST /v3/projects/{id}:testIamPermissions``: ``TestIamPermissionsResponse`` (same
  document): the subset of the asked permissions the caller holds; none held, no field
  (proto3 JSON leaves empty fields out).
- ``GET /v1/projects/{id}/billingInfo``: ``ProjectBillingInfo`` of cloudbilling.v1.json
  (revision 20260901): ``name``, ``projectId``, ``billingAccountName``, ``billingEnabled``
  (left out when false).
- ``GET /v2/projects/{id}/policies/{constraint}:getEffectivePolicy``:
  ``GoogleCloudOrgpolicyV2Policy`` of orgpolicy.v2.json (revision 20260723): ``name`` with the
  project number ("responses will return the name using the equivalent project number"),
  ``spec.rules`` (``allowAll``, ``denyAll``, ``values``, ``enforce``, ``parameters``); no
  ``etag``, no ``condition`` (an effective policy has them evaluated). With no policy set the
  spec has no rules (the constraint's default; the exact empty shape is not documented).
- ``GET /v1/projects/{id}/services?filter=state:ENABLED``: ``ListServicesResponse`` of
  serviceusage.v1.json (revision 20260921): ``services`` (``name`` projects/NUMBER/services/X,
  ``parent``, ``config.name``, ``config.title``, ``state``) and ``nextPageToken``, 50 a page
  by default.

Errors follow Google's error model (https://cloud.google.com/apis/design/errors): ``error``
with ``code``, ``message``, ``status`` and ``details``; a disabled API is a 403 whose
``google.rpc.ErrorInfo`` has reason ``SERVICE_DISABLED`` and metadata ``service``,
``consumer``, ``activationUrl`` (as quoted in google-gemini/gemini-cli #1343).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BODY_BYTES = 1 << 20
PROJECT_ID = "acme-relay-dev"
PROJECT_NUMBER = "428913057716"
ORGANIZATION = "organizations/615304972144"
BILLING_ACCOUNT = "billingAccounts/01A2B3-C4D5E6-F7A8B9"
TOKEN = "ya29.a0AfB_fake-preflight-access-token"  # noqa: S105 (the stand-in's own token)
# Enabled in every new project (what `gcloud services list --enabled` shows on a fresh one).
NEW_PROJECT_SERVICES = (
    "bigquery.googleapis.com",
    "bigquerystorage.googleapis.com",
    "cloudapis.googleapis.com",
    "cloudtrace.googleapis.com",
    "datastore.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "servicemanagement.googleapis.com",
    "serviceusage.googleapis.com",
    "sql-component.googleapis.com",
    "storage-api.googleapis.com",
    "storage-component.googleapis.com",
    "storage.googleapis.com",
)
SERVICE_TITLES = {
    "cloudresourcemanager.googleapis.com": "Cloud Resource Manager API",
    "cloudbilling.googleapis.com": "Cloud Billing API",
    "orgpolicy.googleapis.com": "Organization Policy API",
    "serviceusage.googleapis.com": "Service Usage API",
}

# The calls preflight may make: (method, path pattern) -> the key of its answer.
ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(r"/v3/projects/(?P<project>[^/:]+)"), "project"),
    ("POST", re.compile(r"/v3/projects/(?P<project>[^/:]+):testIamPermissions"), "permissions"),
    ("GET", re.compile(r"/v1/projects/(?P<project>[^/:]+)/billingInfo"), "billing"),
    (
        "GET",
        re.compile(
            r"/v2/projects/(?P<project>[^/:]+)/policies/(?P<constraint>[^/:]+):getEffectivePolicy"
        ),
        "policy",
    ),
    ("GET", re.compile(r"/v1/projects/(?P<project>[^/:]+)/services"), "services"),
)


@dataclass(frozen=True)
class Failure:
    """An error answer in Google's error model."""

    code: int
    status: str
    message: str
    reason: str = ""
    metadata: tuple[tuple[str, str], ...] = ()

    def body(self) -> dict[str, Any]:
        details: list[dict[str, Any]] = []
        if self.reason:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": self.reason,
                    "domain": "googleapis.com",
                    "metadata": dict(self.metadata),
                }
            )
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "status": self.status,
                "details": details,
            }
        }


def permission_denied(message: str = "The caller does not have permission") -> Failure:
    return Failure(403, "PERMISSION_DENIED", message, reason="IAM_PERMISSION_DENIED")


def service_disabled(service: str, consumer_number: str = PROJECT_NUMBER) -> Failure:
    title = SERVICE_TITLES.get(service, service)
    url = f"https://console.developers.google.com/apis/api/{service}/overview?project={consumer_number}"
    return Failure(
        403,
        "PERMISSION_DENIED",
        f"{title} has not been used in project {consumer_number} before or it is disabled. "
        f"Enable it by visiting {url} then retry. If you enabled this API recently, wait a few "
        "minutes for the action to propagate to our systems and retry.",
        reason="SERVICE_DISABLED",
        metadata=(
            ("activationUrl", url),
            ("consumer", f"projects/{consumer_number}"),
            ("containerInfo", consumer_number),
            ("service", service),
            ("serviceTitle", title),
        ),
    )


def unavailable() -> Failure:
    return Failure(503, "UNAVAILABLE", "The service is currently unavailable.")


@dataclass
class Scenario:
    """One project as Google would describe it; every field has an all-clear default."""

    project_id: str = PROJECT_ID
    project_number: str = PROJECT_NUMBER
    parent: str = ORGANIZATION
    state: str = "ACTIVE"
    visible: bool = True  # False: 403 as for a project that does not exist or is hidden
    billing_account: str = BILLING_ACCOUNT  # "" for none
    billing_enabled: bool = True
    # constraint (without "constraints/") -> its effective spec rules; absent: no policy set
    policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    granted: frozenset[str] | None = None  # None: every permission asked for
    enabled_services: tuple[str, ...] = NEW_PROJECT_SERVICES
    # "project", "permissions", "billing", "services" or "policy:<constraint>" -> error answer
    failures: dict[str, Failure] = field(default_factory=dict)
    latency_seconds: float = 0.0
    token: str = TOKEN
    page_size: int = 50


@dataclass(frozen=True)
class Received:
    """One request as it reached the stand-in."""

    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    route: str  # the call it matched, or "" for none

    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], fake: FakeGoogle) -> None:
        super().__init__(address, _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, MAX_BODY_BYTES))
        parts = urlsplit(self.path)
        route, groups = _route(method, parts.path)
        received = Received(
            method,
            parts.path,
            parse_qs(parts.query),
            dict(self.headers.items()),
            body,
            route,
        )
        fake.record(received)
        scenario = fake.scenario
        if scenario.latency_seconds:
            time.sleep(scenario.latency_seconds)
        status, document = fake.answer(received, groups)
        self._send(status, document)

    def _send(self, status: int, document: Any) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read the recorded requests instead


def _route(method: str, path: str) -> tuple[str, dict[str, str]]:
    for route_method, pattern, key in ROUTES:
        match = pattern.fullmatch(path)
        if match and route_method == method:
            return key, match.groupdict()
    return "", {}


class FakeGoogle:
    """``with FakeGoogle(scenario) as google: ... google.base ... google.received``."""

    def __init__(self, scenario: Scenario | None = None, host: str = "127.0.0.1") -> None:
        self.scenario = scenario or Scenario()
        self._server = _Server((host, 0), self)
        port = self._server.server_address[1]
        self.base = f"http://{'[::1]' if ':' in host else host}:{port}"
        self._lock = threading.Lock()
        self._received: list[Received] = []
        # A short poll: stop() returns within it (the default half second adds up in tests).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)

    def env(self) -> dict[str, str]:
        """The seam's variables, pointing preflight here."""
        return {
            "RELAYCTL_GOOGLE_API_BASE": self.base,
            "RELAYCTL_GOOGLE_ACCESS_TOKEN": self.scenario.token,
        }

    # --- answers -------------------------------------------------------------------------

    def answer(self, received: Received, groups: dict[str, str]) -> tuple[int, Any]:
        scenario = self.scenario
        if not received.route:
            return 404, Failure(404, "NOT_FOUND", f"No such call: {received.path}").body()
        if received.headers.get("Authorization") != f"Bearer {scenario.token}":
            return 401, Failure(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
                reason="ACCESS_TOKEN_TYPE_UNSUPPORTED",
            ).body()
        key = received.route
        if key == "policy":
            key = f"policy:{groups['constraint']}"
        failure = scenario.failures.get(key)
        if failure is not None:
            return failure.code, failure.body()
        if groups["project"] != scenario.project_id or not scenario.visible:
            # Resource Manager and the others answer alike for a missing or hidden project.
            return 403, permission_denied(
                f"Permission denied on resource project {groups['project']}."
            ).body()
        return 200, self._document(received, groups)

    def _document(self, received: Received, groups: dict[str, str]) -> Any:
        scenario = self.scenario
        number = scenario.project_number
        if received.route == "project":
            return {
                "name": f"projects/{number}",
                "parent": scenario.parent,
                "projectId": scenario.project_id,
                "state": scenario.state,
                "displayName": scenario.project_id,
                "createTime": "2026-03-02T09:14:27.311Z",
                "updateTime": "2026-03-02T09:14:29.087Z",
                "etag": 'W/"a3b0c44298fc1c14"',
            }
        if received.route == "permissions":
            asked = received.json().get("permissions", [])
            held = [p for p in asked if scenario.granted is None or p in scenario.granted]
            return {"permissions": held} if held else {}
        if received.route == "billing":
            document: dict[str, Any] = {
                "name": f"projects/{scenario.project_id}/billingInfo",
                "projectId": scenario.project_id,
            }
            if scenario.billing_account:
                document["billingAccountName"] = scenario.billing_account
            if scenario.billing_enabled:
                document["billingEnabled"] = True
            return document
        if received.route == "policy":
            constraint = groups["constraint"]
            rules = scenario.policies.get(constraint)
            spec: dict[str, Any] = {"rules": rules} if rules else {}
            return {"name": f"projects/{number}/policies/{constraint}", "spec": spec}
        return self._services(received)

    def _services(self, received: Received) -> Any:
        scenario = self.scenario
        if received.query.get("filter") != ["state:ENABLED"]:
            return {}  # preflight only ever asks for the enabled ones
        start = int((received.query.get("pageToken") or ["0"])[0] or 0)
        names = sorted(scenario.enabled_services)
        page = names[start : start + scenario.page_size]
        number = scenario.project_number
        document: dict[str, Any] = {}
        if page:
            document["services"] = [
                {
                    "name": f"projects/{number}/services/{name}",
                    "config": {"name": name, "title": SERVICE_TITLES.get(name, name)},
                    "state": "ENABLED",
                    "parent": f"projects/{number}",
                }
                for name in page
            ]
        if start + scenario.page_size < len(names):
            document["nextPageToken"] = str(start + scenario.page_size)
        return document

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeGoogle:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeGoogle:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

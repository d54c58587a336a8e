"""Google's REST APIs as ``relayctl preflight`` reads them: where, as whom, and what came back.

Read-only by construction: the only methods here are ``GET`` and the one ``POST`` that
``testIamPermissions`` is (it changes nothing). The calls, with the project id in the path:

- ``GET  /v3/projects/{id}``                   Resource Manager (cloudresourcemanager)
- ``POST /v3/projects/{id}:testIamPermissions`` Resource Manager
- ``GET  /v1/projects/{id}/billingInfo``        Cloud Billing (cloudbilling)
- ``GET  /v2/projects/{id}/policies/{constraint}:getEffectivePolicy``  Org Policy (orgpolicy)
- ``GET  /v1/projects/{id}/services?filter=state:ENABLED``            Service Usage (serviceusage)

The test seam: ``RELAYCTL_GOOGLE_API_BASE`` (``http://127.0.0.1:PORT``, ``http://[::1]:PORT`` or
``http://localhost:PORT``, nothing else) replaces ``https://SERVICE.googleapis.com`` for every
call, and the bearer token then comes from ``RELAYCTL_GOOGLE_ACCESS_TOKEN``: Application Default
Credentials are never loaded. Errors follow Google's error model (``google.rpc.Status`` with an
``ErrorInfo`` detail; https://cloud.google.com/apis/design/errors), whose ``reason`` tells a
disabled API (``SERVICE_DISABLED``, with the ``service`` and the ``consumer`` project) from a
refusal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from relayctl.common import CommandError, usage_error

BASE_ENV = "RELAYCTL_GOOGLE_API_BASE"
TOKEN_ENV = "RELAYCTL_GOOGLE_ACCESS_TOKEN"  # noqa: S105 (a variable's name)
GOOGLE_BASE = "https://{service}.googleapis.com"
LOOPBACK_HOSTS = ("127.0.0.1", "[::1]", "localhost")
# What the calls need, and what gcloud's user credentials carry: asking an authorized_user
# refresh token for narrower (read-only) scopes it was never granted fails with invalid_scope.
# Read-only is kept by this module's methods instead.
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
MAX_BODY_BYTES = 4 << 20  # a page of enabled services is the largest answer, far below this
MAX_WORKERS = 32
# The project behind gcloud's own OAuth client: a call billed to it means "no quota project".
GCLOUD_CLIENT_PROJECT = "764086051850"
# Google's words for a disabled API, unchanged for years, for an answer that carries no
# ErrorInfo detail: "Cloud Build API has not been used in project 599705029636 before or it is
# disabled. Enable it by visiting https://console.developers.google.com/apis/api/
# cloudbuild.googleapis.com/overview?project=599705029636 then retry." (quoted in
# terraform-google-modules/terraform-google-project-factory #753, google-gemini/gemini-cli #1343)
DISABLED_MESSAGE_RE = re.compile(
    r"has not been used in project (?P<project>[a-z0-9.:-]+) before or it is disabled"
    r"(?:.*?/apis/api/(?P<service>[a-z0-9.-]+)/)?",
    re.DOTALL,
)


@dataclass(frozen=True)
class Endpoint:
    """Where the calls go: Google (``base`` None) or the loopback stand-in the seam names."""

    base: str | None = None

    def url(self, service: str, path: str) -> str:
        return (self.base or GOOGLE_BASE.format(service=service)) + path

    def describe(self) -> str:
        if self.base is None:
            return GOOGLE_BASE.format(service="SERVICE")
        return self.base


def endpoint_from_env(environ: Mapping[str, str]) -> tuple[Endpoint, list[str]]:
    """The endpoint, and warnings to print; a usage error (exit 2) for a refused base."""
    warnings: list[str] = []
    raw = environ.get(BASE_ENV)
    if raw is None:
        if environ.get(TOKEN_ENV) is not None:
            warnings.append(
                f"warning: {TOKEN_ENV} is set without {BASE_ENV}: ignored. preflight calls "
                "Google with your Application Default Credentials."
            )
        return Endpoint(None), warnings
    return Endpoint(loopback_base(raw)), warnings


def loopback_base(raw: str) -> str:
    """``raw`` as a base URL if it is exactly ``http://HOST:PORT`` on loopback, else exit 2."""
    refusal = usage_error(
        f"{BASE_ENV} must be http://127.0.0.1:PORT, http://[::1]:PORT or http://localhost:PORT "
        f"(a local stand-in for Google's APIs, for tests only); got {raw!r}. Unset it to call "
        "Google."
    )
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        raise refusal from None
    if parts.scheme != "http" or port is None or not 1 <= port <= 65535:
        raise refusal
    if parts.query or parts.fragment or parts.path not in ("", "/") or "@" in parts.netloc:
        raise refusal
    if parts.netloc not in {f"{host}:{port}" for host in LOOPBACK_HOSTS}:
        raise refusal  # also refuses 0-padded ports, upper case and trailing dots
    return f"http://{parts.netloc}"


@dataclass(frozen=True)
class Caller:
    """Who the calls are made as: request headers, and words for the output."""

    headers: Mapping[str, str]
    description: str


def caller(endpoint: Endpoint, environ: Mapping[str, str]) -> Caller:
    """The seam's token, or Application Default Credentials (loaded only without the seam)."""
    if endpoint.base is not None:
        token = environ.get(TOKEN_ENV, "")
        if not token.strip():
            raise usage_error(
                f"{BASE_ENV} is set, so preflight loads no Google credentials: set {TOKEN_ENV} "
                "to the token the stand-in expects."
            )
        return Caller({"Authorization": f"Bearer {token.strip()}"}, f"the token in {TOKEN_ENV}")
    return _application_default()


def _application_default() -> Caller:
    import google.auth
    import google.auth.exceptions
    import google.auth.transport.requests

    try:
        credentials, _ = google.auth.default(scopes=list(SCOPES))
    except google.auth.exceptions.DefaultCredentialsError:
        raise CommandError(
            "no Google credentials found. Fix: gcloud auth application-default login (or, in "
            "CI, google-github-actions/auth before this step)."
        ) from None
    try:
        credentials.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]
    except google.auth.exceptions.TransportError as exc:
        raise CommandError(
            f"Google cannot be reached: getting an access token failed ({_short(str(exc))})."
        ) from None
    except google.auth.exceptions.RefreshError as exc:
        raise CommandError(
            f"your Google credentials were refused ({_short(str(exc))}). Fix: gcloud auth "
            "application-default login"
        ) from None
    headers: dict[str, str] = {}
    # Authorization, and x-goog-user-project when a quota project is set.
    credentials.apply(headers)  # type: ignore[no-untyped-call]
    kind = f"{type(credentials).__module__}.{type(credentials).__name__}"
    account = getattr(credentials, "service_account_email", None)
    who = f", {account}" if isinstance(account, str) and "@" in account else ""
    quota = headers.get("x-goog-user-project")
    billed = f", quota project {quota}" if quota else ""
    return Caller(headers, f"Application Default Credentials ({kind}{who}{billed})")


@dataclass(frozen=True)
class Call:
    """One request: a key for the result, the service, method, path and JSON body."""

    key: str
    service: str
    method: str  # GET, or POST for testIamPermissions only
    path: str
    body: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Answer:
    """What came back: ``status`` None when there was no HTTP answer at all."""

    status: int | None
    document: Any = None
    problem: str = ""  # no answer: why (refused, timed out, ...)

    @property
    def ok(self) -> bool:
        return self.status == 200 and isinstance(self.document, dict)

    @property
    def reached(self) -> bool:
        return self.status is not None

    def _error(self) -> Mapping[str, Any]:
        error = self.document.get("error") if isinstance(self.document, dict) else None
        return error if isinstance(error, dict) else {}

    def _error_info(self) -> Mapping[str, Any]:
        details = self._error().get("details")
        for detail in details if isinstance(details, list) else ():
            if isinstance(detail, dict) and str(detail.get("@type", "")).endswith(
                "google.rpc.ErrorInfo"
            ):
                return detail
        return {}

    @property
    def error_status(self) -> str:
        """Google's canonical status name (PERMISSION_DENIED, NOT_FOUND...), or ''."""
        value = self._error().get("status")
        return value if isinstance(value, str) else ""

    @property
    def message(self) -> str:
        value = self._error().get("message")
        return _short(value) if isinstance(value, str) else ""

    @property
    def reason(self) -> str:
        value = self._error_info().get("reason")
        return value if isinstance(value, str) else ""

    def metadata(self, key: str) -> str:
        metadata = self._error_info().get("metadata")
        value = metadata.get(key) if isinstance(metadata, dict) else None
        return value if isinstance(value, str) else ""

    def _disabled_text(self) -> re.Match[str] | None:
        value = self._error().get("message")
        return DISABLED_MESSAGE_RE.search(value) if isinstance(value, str) else None

    @property
    def service_disabled(self) -> bool:
        if self.status != 403:
            return False
        if self.reason:
            return self.reason == "SERVICE_DISABLED"
        return self._disabled_text() is not None  # an answer without ErrorInfo details

    def disabled_service(self) -> tuple[str, str]:
        """(service, consumer) of a SERVICE_DISABLED answer: ErrorInfo metadata, else the
        message's own words; '' for what neither says."""
        service, consumer = self.metadata("service"), self.metadata("consumer")
        found = self._disabled_text()
        if found is not None:
            service = service or found["service"] or ""
            consumer = consumer or f"projects/{found['project']}"
        return service, consumer.removeprefix("projects/")


def _short(text: str, limit: int = 240) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def send(endpoint: Endpoint, who: Caller, call: Call, timeout: float) -> Answer:
    """Make one call; never raises for a network or HTTP failure."""
    import requests

    if call.method not in ("GET", "POST") or (
        call.method == "POST" and not call.path.endswith(":testIamPermissions")
    ):
        raise ValueError(f"preflight is read-only; refusing {call.method} {call.path}")
    import urllib3.exceptions

    headers = {**who.headers, "Accept": "application/json"}
    if call.body is not None:
        headers["Content-Type"] = "application/json"
    try:
        with requests.Session() as session:
            # The seam's loopback stand-in is never behind a proxy: HTTP_PROXY (or a .netrc
            # entry, which would replace the bearer token) on a CI runner must not divert it.
            session.trust_env = endpoint.base is None
            with session.request(
                call.method,
                endpoint.url(call.service, call.path),
                headers=headers,
                data=json.dumps(call.body).encode() if call.body is not None else None,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            ) as response:
                raw = response.raw.read(MAX_BODY_BYTES + 1, decode_content=True)
                status = response.status_code
    except requests.RequestException as exc:
        return Answer(None, problem=_transport_problem(exc))
    except urllib3.exceptions.HTTPError as exc:
        # Reading the body straight from urllib3 raises its own errors, not requests': a
        # connection closed mid-answer (ProtocolError), a body slower than the timeout
        # (ReadTimeoutError), a body that does not decode (DecodeError).
        return Answer(None, problem=_body_problem(exc))
    if len(raw) > MAX_BODY_BYTES:
        return Answer(status, problem="answer too large")
    try:
        document = json.loads(raw) if raw else {}
    except ValueError:
        document = None
    return Answer(status, document)


def _transport_problem(exc: Exception) -> str:
    import requests

    text = str(exc).lower()
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failed"
    if isinstance(exc, requests.ConnectionError) and "refused" in text:
        return "connection refused"
    if isinstance(exc, requests.ConnectionError) and (
        "aborted" in text or "remotedisconnected" in text or "reset by peer" in text
    ):
        return "the connection closed without an answer"  # connected: not a network setting
    if isinstance(exc, requests.ConnectionError) and (
        "name or service not known" in text or "nodename" in text or "resolve" in text
    ):
        return "name not resolved"
    if isinstance(exc, requests.ConnectionError):
        return "cannot connect"
    return exc.__class__.__name__


def _body_problem(exc: Exception) -> str:
    import urllib3.exceptions

    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return "the answer stalled past the timeout"
    if isinstance(exc, urllib3.exceptions.DecodeError):
        return "the answer could not be decoded"
    return "the connection closed before the answer was complete"


def send_all(
    endpoint: Endpoint,
    who: Caller,
    calls: Sequence[Call],
    timeout: float,
    sender: Callable[[Endpoint, Caller, Call, float], Answer] = send,
) -> dict[str, Answer]:
    """Every call at once (threads: the calls wait on the network, not the CPU)."""
    if not calls:
        return {}
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(calls))) as pool:
        futures = {call.key: pool.submit(sender, endpoint, who, call, timeout) for call in calls}
        return {key: future.result() for key, future in futures.items()}

"""``relayctl check``: is each workflow deployed to a stack ready for Jam? Nothing reaches Intercom.

With ``--stack`` the relay URL is computed from the stack file (infra/urls.py, the URL the
program exports and ``relayctl endpoints`` prints), so the probes go to exactly the Endpoint
URLs registered in Jam; ``--url`` probes another relay, such as a local ``relayctl serve``.

The probes rest on the relay's answer table (docs/relay.md, "Routes and answers"), so each
answer has one meaning:

- ``GET /health`` answers 200 ``{"status": "ok", "routes": N}``: the relay is up, with N routes.
- An unsigned ``POST /workflows/<id>`` is never forwarded. The relay answers 401
  ``signature_rejected`` when the route exists and its signing secret is set (ready), 503
  ``not_configured`` when the secret is missing, and 404 ``unknown_route`` when the deployed
  relay has no such route.
- The relay never answers 403, and every answer of its own is a JSON object with an
  ``outcome``. A 403 without one comes from Google's front end: the caller is not allowed to
  invoke the service (no public invoker grant, or one the organisation refused). A 5xx
  without one is the platform's too: no instance could start or answer, so the relay is down.

An unsigned probe cannot tell whether a route's Intercom URL is set (the signature is checked
first, so unsigned callers learn nothing). In the cloud ``pulumi up`` refuses a stack without
one; for a local relay, check looks where ``relayctl serve`` does by default and warns.

Each probe is one request; a relay with an alert on ``signature_rejected`` sees one per
workflow per check (the alert groups by workflow and fires above 5 in 5 minutes by default).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from relay_function.naming import (
    HEALTH_PATH,
    ROUTE_PREFIX,
    intercom_url_env,
    is_loopback_host,
    signing_secret_env,
)
from relayctl.common import (
    DEFAULT_SECRETS_FILE,
    DEFAULT_WORKFLOWS_FILE,
    EXIT_FAILED,
    EXIT_OK,
    load_or_fail,
    usage_error,
)

if TYPE_CHECKING:  # relayctl builds its parser from this module for every command: keep it light
    import requests

    from infra.workflows import Workflow

DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_ANSWER_BYTES = 65536  # the relay's answers are small JSON objects
PUBLIC_ACCESS_DOC = "docs/deploy.md#public-access"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this subcommand's arguments."""
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help="check the workflows deployed to NAME; without --url, at the relay URL computed "
        "from Pulumi.NAME.yaml (gcp:project, gcp:region, functionName; no Pulumi CLI needed)",
    )
    parser.add_argument(
        "--url",
        metavar="RELAY_URL",
        help="probe this relay instead (its relay URL or an Endpoint URL), such as a local "
        "`relayctl serve` at http://127.0.0.1:8080",
    )
    parser.add_argument(
        "--file",
        metavar="F",
        default=None,
        help=f"the workflows file (default: {DEFAULT_WORKFLOWS_FILE} of the project you are in)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help=f"seconds to wait for each answer (default {DEFAULT_TIMEOUT_SECONDS:g})",
    )


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: its status, and the relay's ``outcome`` if the relay wrote it."""

    status: int
    outcome: str | None  # None: not a JSON object with an outcome, so not the relay's answer
    routes: int | None = None  # /health only


@dataclass(frozen=True)
class Verdict:
    workflow_id: str
    ready: bool
    reason: str

    def line(self) -> str:
        return f"{self.workflow_id}: {self.reason}"


class UnreachableError(Exception):
    """No HTTP answer at all (refused, timed out, TLS or DNS failure)."""


def probe(method: str, url: str, timeout: float) -> Answer:
    """One request without credentials or signature; the answer's status and outcome."""
    import requests

    try:
        response = requests.request(
            method,
            url,
            data=b"{}" if method == "POST" else None,
            headers={"Content-Type": "application/json"} if method == "POST" else None,
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise UnreachableError(_reason(exc)) from None
    return read_answer(response.status_code, response.content[:MAX_ANSWER_BYTES])


def read_answer(status: int, body: bytes) -> Answer:
    """The relay's outcome (``healthy`` for its health answer) when the body is its JSON."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return Answer(status, None)
    outcome = document.get("outcome")
    routes = document.get("routes")
    healthy = document.get("status") == "ok"
    return Answer(
        status,
        outcome if isinstance(outcome, str) else ("healthy" if healthy else None),
        routes if isinstance(routes, int) and not isinstance(routes, bool) else None,
    )


def _reason(exc: requests.RequestException) -> str:
    import requests

    if isinstance(exc, requests.ConnectionError) and "refused" in str(exc).lower():
        return "connection refused"
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failed"
    if isinstance(exc, requests.ConnectionError):
        return "cannot connect"
    return exc.__class__.__name__


class CloudAdvice:
    """Fixes for a deployed stack: `pulumi config set`, `pulumi up`, the invoker grant."""

    def __init__(self, stack: str | None) -> None:
        self.stack = stack or "STACK"

    def signing_secret(self, workflow: Workflow) -> str:
        from infra.workflows import set_secret_command

        key = workflow.jam_signing_secret.key if workflow.jam_signing_secret else None
        if key is None:
            how = (
                "add `jam_signing_secret: {config: KEY}` to this workflow in the workflows "
                f"file, then run `{set_secret_command('KEY', self.stack)}`"
            )
        else:
            how = f"run `{set_secret_command(key, self.stack)}`"
        return (
            "signing secret not set (or not a valid whsec_ secret): "
            f"{how}, paste the secret Jam shows for this endpoint, then "
            f"`pulumi up --stack {self.stack}`"
        )

    def route_missing(self) -> str:
        return (
            "route missing: the deployed relay has no such workflow (the deploy that adds it "
            f"has not been applied): run `pulumi up --stack {self.stack}`"
        )

    def routes_differ(self) -> str:
        return f"the last deploy is not the file's; run `pulumi up --stack {self.stack}`"

    def forbidden(self) -> str:
        return (
            "not public: Google's front end refused the call (403), so Jam cannot reach it. "
            f"Fix: `pulumi config set publicAccess allUsers --stack {self.stack}` and "
            f"`pulumi up --stack {self.stack}`; if the organisation's policy refuses the "
            "allUsers grant (domain-restricted sharing), use `publicAccess "
            f"allUsersWithPolicyException` instead, see {PUBLIC_ACCESS_DOC}"
        )

    def server_failure(self, status: int) -> str:
        # The relay's own 5xx answers carry its JSON; a bare one is the platform's (no instance
        # could start or answer), so the relay is down for Jam too.
        return (
            f"relay down: HTTP {status} from Google's front end, not from the relay (it is not "
            "starting or not answering): see the service's logs and its latest revision"
        )

    def not_the_relay(self, status: int) -> str:
        return (
            f"not the relay: HTTP {status} without the relay's answer; is the relay URL right "
            f"(`relayctl endpoints --stack {self.stack}` prints it)?"
        )

    def unreachable(self) -> str:
        return f"is the stack deployed (`pulumi up --stack {self.stack}`)?"


class LocalAdvice(CloudAdvice):
    """Fixes for a relay on this machine (`relayctl serve`): its secrets file and a restart."""

    WHERE = (
        f"in {DEFAULT_SECRETS_FILE} (or the --secrets-file `relayctl serve` was given) or in "
        "its environment, then restart `relayctl serve`"
    )

    def __init__(self) -> None:
        super().__init__(None)

    def signing_secret(self, workflow: Workflow) -> str:
        names = _names(signing_secret_env(workflow.id), workflow.jam_signing_secret)
        return (
            f"signing secret not set on this local relay: set {names} to the whsec_ secret "
            f"{self.WHERE}"
        )

    def route_missing(self) -> str:
        return (
            "route missing: the local relay was started without this workflow: restart "
            "`relayctl serve` with the workflows file that has it"
        )

    def routes_differ(self) -> str:
        return "restart `relayctl serve` with this workflows file"

    def forbidden(self) -> str:
        return self.not_the_relay(403)

    def server_failure(self, status: int) -> str:
        return self.not_the_relay(status)

    def not_the_relay(self, status: int) -> str:
        return (
            f"not the relay: HTTP {status} without the relay's answer; is `relayctl serve` "
            "running at that URL (it prints its URL when it starts)?"
        )

    def unreachable(self) -> str:
        return "is `relayctl serve` running on that port?"


def _names(env_name: str, ref: object) -> str:
    key = getattr(ref, "key", None)
    return f"{env_name} (or {key})" if key else env_name


def classify(workflow: Workflow, answer: Answer, advice: CloudAdvice) -> Verdict:
    """What one unsigned POST's answer says about one workflow's endpoint."""
    wid = workflow.id
    if answer.status == 401 and answer.outcome == "signature_rejected":
        return Verdict(wid, True, "ready")
    if answer.status == 503 and answer.outcome == "not_configured":
        return Verdict(wid, False, advice.signing_secret(workflow))
    if answer.status == 404 and answer.outcome == "unknown_route":
        return Verdict(wid, False, advice.route_missing())
    if answer.status == 403 and answer.outcome is None:
        return Verdict(wid, False, advice.forbidden())
    if answer.outcome is None and answer.status >= 500:
        return Verdict(wid, False, advice.server_failure(answer.status))
    if answer.outcome is None:
        return Verdict(wid, False, advice.not_the_relay(answer.status))
    return Verdict(
        wid, False, f"unexpected answer: HTTP {answer.status} ({answer.outcome}); not ready"
    )


def relay_base(url: str) -> str:
    """The relay URL from what was given: the relay URL, an Endpoint URL or the health URL."""
    try:
        parts = urlsplit(url.strip())
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid or parts.query or parts.fragment:
        raise usage_error(
            "the relay URL must look like https://HOST/PATH (`relayctl endpoints` prints it), "
            "without a query"
        )
    path = parts.path.rstrip("/")
    head, is_route, workflow_id = path.rpartition(ROUTE_PREFIX)
    if is_route and workflow_id and "/" not in workflow_id:
        path = head
    elif path.endswith(HEALTH_PATH):
        path = path[: -len(HEALTH_PATH)]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def is_local(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname)


def _target(args: argparse.Namespace) -> tuple[str, Path]:
    """The relay URL and the workflows file: --url as given, else the stack file's URL and
    the workflows file the stack deploys."""
    if args.url:
        return relay_base(args.url), Path(args.file or DEFAULT_WORKFLOWS_FILE)
    from relayctl.endpoints import stack_workflows_file
    from relayctl.stack_config import read_stack

    stack = read_stack(Path(args.file).resolve().parent, args.stack)
    return stack.relay_url(), stack_workflows_file(args, stack)


def _missing_local_urls(workflows: tuple[Workflow, ...]) -> list[str]:
    """Workflows whose Intercom URL is neither in this environment nor in the default secrets
    file, the places `relayctl serve` reads by default (values are only tested for presence)."""
    from relayctl.secrets_file import SecretSource

    secrets_file = Path(DEFAULT_SECRETS_FILE)
    source = SecretSource.load(secrets_file if secrets_file.is_file() else None)
    return [w.id for w in workflows if source.intercom_url(w) is None]


def run(args: argparse.Namespace) -> int:
    if not args.url and not args.stack:
        raise usage_error(
            "say which relay: --stack STACK (the relay URL computed from Pulumi.STACK.yaml) "
            "or --url RELAY_URL"
        )
    base, path = _target(args)
    workflows_file = load_or_fail(path)
    workflows = workflows_file.for_stack(args.stack) if args.stack else workflows_file.workflows
    from infra.urls import endpoint_url, health_url

    advice = LocalAdvice() if is_local(base) else CloudAdvice(args.stack)
    where = f"stack '{args.stack}'" if args.stack else "the workflows file"
    print(f"Relay: {base} ({len(workflows)} workflows deployed to {where})")
    problems = 0

    try:
        health = probe("GET", health_url(base), args.timeout)
    except UnreachableError as exc:
        for workflow in workflows:
            print(f"{workflow.id}: relay down or unreachable ({exc}) at {base}")
        print(f"failed: the relay at {base} is down or unreachable ({exc}); {advice.unreachable()}")
        return EXIT_FAILED
    if health.status == 200 and health.routes is not None:
        if health.routes != len(workflows):
            problems += 1
            print(
                f"routes: the relay serves {health.routes} routes, the workflows file deploys "
                f"{len(workflows)} to {where}: {advice.routes_differ()}"
            )
    elif health.status == 403 and health.outcome is None:
        pass  # every route below says why, with the fix
    elif health.status >= 500 and health.outcome is None:
        problems += 1
        print(f"health: {advice.server_failure(health.status)}")
    else:
        problems += 1
        print(f"health: HTTP {health.status} without the relay's answer; is {base} the relay?")

    ready = 0
    for workflow in workflows:
        try:
            answer = probe("POST", endpoint_url(base, workflow.id), args.timeout)
        except UnreachableError as exc:
            verdict = Verdict(workflow.id, False, f"relay down or unreachable ({exc})")
        else:
            verdict = classify(workflow, answer, advice)
        print(verdict.line())
        ready += verdict.ready
    if isinstance(advice, LocalAdvice):
        for workflow_id in _missing_local_urls(workflows):
            print(
                f"warning: {workflow_id}: no Intercom URL ({intercom_url_env(workflow_id)}) in "
                f"this shell's environment or {DEFAULT_SECRETS_FILE}; unless `relayctl serve` "
                "got it elsewhere, the relay answers 503 to every signed event on this route"
            )
    problems += len(workflows) - ready
    if problems:
        print(f"failed: {ready} of {len(workflows)} workflows ready.")
        return EXIT_FAILED
    print(f"ok: all {len(workflows)} workflows ready.")
    return EXIT_OK

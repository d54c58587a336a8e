"""``relayctl check``: is each workflow deployed to a stack ready for Jam? Nothing reaches Intercom.

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

Each probe is one request; a relay with an alert on ``signature_rejected`` sees one per
workflow per check (the alert groups by workflow and fires above 5 in 5 minutes by default).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from relay_function.naming import HEALTH_PATH, route_path
from relayctl.common import (
    DEFAULT_WORKFLOWS_FILE,
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    load_or_fail,
    usage_error,
)

if TYPE_CHECKING:  # relayctl builds its parser from this module for every command: keep it light
    import requests

    from infra.workflows import Workflow

DEFAULT_TIMEOUT_SECONDS = 10.0
PUBLIC_ACCESS_DOC = "docs/deploy.md#public-access"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this subcommand's arguments."""
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help="check the workflows deployed to NAME; without --url, read the relay URL from "
        "NAME's outputs (`pulumi stack output`, needs the Pulumi CLI)",
    )
    parser.add_argument(
        "--url",
        metavar="RELAY_URL",
        help="the relay URL (the relay_url output); no Pulumi needed",
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
    try:
        document = json.loads(response.content[:65536])
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return Answer(response.status_code, None)
    outcome = document.get("outcome")
    routes = document.get("routes")
    status_ok = document.get("status") == "ok"
    return Answer(
        response.status_code,
        outcome if isinstance(outcome, str) else ("healthy" if status_ok else None),
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


def classify(workflow: Workflow, answer: Answer, stack: str | None) -> Verdict:
    """What one unsigned POST's answer says about one workflow's endpoint."""
    wid = workflow.id
    on_stack = stack or "STACK"
    if answer.status == 401 and answer.outcome == "signature_rejected":
        return Verdict(wid, True, "ready")
    if answer.status == 503 and answer.outcome == "not_configured":
        key = workflow.jam_signing_secret.key if workflow.jam_signing_secret else None
        if key is None:
            how = (
                "add `jam_signing_secret: {config: KEY}` to this workflow in the workflows "
                f"file, then run `pulumi config set --secret KEY --stack {on_stack}`"
            )
        else:
            how = f"run `pulumi config set --secret {key} --stack {on_stack}`"
        return Verdict(
            wid,
            False,
            "signing secret not set (or not a valid whsec_ secret): "
            f"{how}, paste the secret Jam shows for this endpoint, then "
            f"`pulumi up --stack {on_stack}`",
        )
    if answer.status == 404 and answer.outcome == "unknown_route":
        return Verdict(
            wid,
            False,
            "route missing: the deployed relay has no such workflow (the deploy that adds it "
            f"has not been applied): run `pulumi up --stack {on_stack}`",
        )
    if answer.status == 403 and answer.outcome is None:
        return Verdict(
            wid,
            False,
            "not public: Google's front end refused the call (403), so Jam cannot reach it. "
            f"Fix: `pulumi config set publicAccess allUsers --stack {on_stack}` and "
            f"`pulumi up --stack {on_stack}`; if the organisation's policy refuses the allUsers "
            "grant (domain-restricted sharing), use `publicAccess allUsersWithPolicyException` "
            f"instead, see {PUBLIC_ACCESS_DOC}",
        )
    if answer.outcome is None and answer.status >= 500:
        return Verdict(wid, False, _front_end_failure(answer.status))
    if answer.outcome is None:
        return Verdict(
            wid,
            False,
            f"not the relay: HTTP {answer.status} without the relay's answer; is the relay "
            "URL right (the relay_url output)?",
        )
    return Verdict(
        wid, False, f"unexpected answer: HTTP {answer.status} ({answer.outcome}); not ready"
    )


def _front_end_failure(status: int) -> str:
    # The relay's own 5xx answers carry its JSON; a bare one is the platform's (no instance
    # could start or answer), so the relay is down for Jam too.
    return (
        f"relay down: HTTP {status} from Google's front end, not from the relay (it is not "
        "starting or not answering): see the service's logs and its latest revision"
    )


def _relay_url(args: argparse.Namespace) -> str:
    if args.url:
        url: str = args.url
    else:
        from relayctl.endpoints import read_outputs  # needs the Pulumi CLI only on this path

        outputs = read_outputs(args.stack)
        if isinstance(outputs, str):
            raise CommandError(f"{outputs} Or give the relay URL with --url.")
        found = outputs.get("relay_url")
        if not isinstance(found, str) or not found:
            raise CommandError(
                f"stack '{args.stack}' exports no relay_url. Has `pulumi up --stack "
                f"{args.stack}` run?"
            )
        url = found
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise usage_error(
            "the relay URL must look like https://HOST (the relay_url output), "
            "without a workflow path"
        )
    base = url.rstrip("/")
    if "/workflows/" in f"{parts.path}/":
        base = base[: base.index("/workflows")]
    return base


def _workflows(args: argparse.Namespace) -> tuple[Workflow, ...]:
    path = Path(args.file or DEFAULT_WORKFLOWS_FILE)
    workflows_file = load_or_fail(path)
    if args.stack:
        return workflows_file.for_stack(args.stack)
    return workflows_file.workflows


def run(args: argparse.Namespace) -> int:
    if not args.url and not args.stack:
        raise usage_error(
            "say which relay: --stack STACK (its relay_url output, through the Pulumi CLI) "
            "or --url RELAY_URL"
        )
    workflows = _workflows(args)
    base = _relay_url(args)
    where = f"stack '{args.stack}'" if args.stack else "the workflows file"
    print(f"Relay: {base} ({len(workflows)} workflows deployed to {where})")
    problems = 0

    try:
        health = probe("GET", base + HEALTH_PATH, args.timeout)
    except UnreachableError as exc:
        for workflow in workflows:
            print(f"{workflow.id}: relay down or unreachable ({exc}) at {base}")
        print(f"failed: the relay at {base} is down or unreachable ({exc}).")
        return EXIT_FAILED
    if health.status == 200 and health.routes is not None:
        if health.routes != len(workflows):
            problems += 1
            print(
                f"routes: the relay serves {health.routes} routes, the workflows file deploys "
                f"{len(workflows)} to {where}: the last deploy is not the file's; run "
                f"`pulumi up --stack {args.stack or 'STACK'}`"
            )
    elif health.status == 403 and health.outcome is None:
        pass  # every route below says "not public", with the fix
    elif health.status >= 500 and health.outcome is None:
        problems += 1
        print(f"health: {_front_end_failure(health.status)}")
    else:
        problems += 1
        print(f"health: HTTP {health.status} without the relay's answer; is {base} the relay?")

    ready = 0
    for workflow in workflows:
        try:
            answer = probe("POST", base + route_path(workflow.id), args.timeout)
        except UnreachableError as exc:
            verdict = Verdict(workflow.id, False, f"relay down or unreachable ({exc})")
        else:
            verdict = classify(workflow, answer, args.stack)
        print(verdict.line())
        ready += verdict.ready
    problems += len(workflows) - ready
    if problems:
        print(f"failed: {ready} of {len(workflows)} workflows ready.")
        return EXIT_FAILED
    print(f"ok: all {len(workflows)} workflows ready.")
    return EXIT_OK

"""``relayctl send-test-event``: sign a Jam-shaped event like Jam does and post it to a relay."""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import requests

from infra.workflows import Workflow, WorkflowsFileError, load_workflows
from relay_function.naming import (
    ROUTE_PREFIX,
    intercom_url_env,
    is_loopback_host,
    route_path,
    signing_secret_env,
)
from relayctl import jam_events
from relayctl.common import DEFAULT_SECRETS_FILE, EXIT_FAILED, EXIT_OK, err, usage_error
from relayctl.secrets_file import SecretSource

TIMEOUT_SECONDS = 20.0  # above the relay's own forward timeout, so we see its answer
MAX_BODY_SHOWN = 600


def is_local(url: str) -> bool:
    """A relay on this machine (`relayctl serve`): its fixes are files, not `pulumi config`."""
    try:
        return is_loopback_host(urlsplit(url).hostname)
    except ValueError:
        return False


def local_hint(status: int, body: str, workflow_id: str) -> str | None:
    """The fix for a `relayctl serve` relay, where the stack config plays no part."""
    secret_env = signing_secret_env(workflow_id)
    where = (
        f"in the secrets file `relayctl serve` reads ({DEFAULT_SECRETS_FILE} unless you passed "
        "--secrets-file) or in its environment, then restart it"
    )
    if status == 401:
        return (
            "Signature rejected: the secret you signed with is not one this local relay holds "
            "for the workflow (or your clock is more than 5 minutes off). Sign with the value "
            f"`relayctl serve` has as {secret_env}, or set it {where}."
        )
    if status == 404:
        return (
            "No such route on this local relay: check the workflow id, and that `relayctl "
            "serve` runs with the workflows file that has it."
        )
    if status == 503 and (_outcome(body) == "not_configured" or "not configured" in body.lower()):
        return (
            "This route is not fully configured on the local relay (its answer above says which "
            f"secret is missing): set {intercom_url_env(workflow_id)} and {secret_env} {where}."
        )
    return None


def endpoint_url(endpoint: str, workflow_id: str) -> str:
    """Accept the relay URL or the full Endpoint URL; return the route's URL."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise usage_error(f"ENDPOINT {endpoint!r}: expected an http(s) URL.")
    _, is_route, named = parts.path.rstrip("/").rpartition(ROUTE_PREFIX)
    if is_route:
        if named != workflow_id:
            raise usage_error(
                f"ENDPOINT names workflow {named!r} but --workflow is {workflow_id!r}; "
                "pass the relay URL or the matching Endpoint URL."
            )
        return endpoint.rstrip("/")
    return endpoint.rstrip("/") + route_path(workflow_id)


def find_signing_secret(args: argparse.Namespace, workflow: Workflow | None) -> str:
    """--secret-env VAR, else the relay's env name, else the secrets file (env or config key)."""
    if args.secret_env:
        value = os.environ.get(args.secret_env, "").strip()
        if not value:
            raise usage_error(f"--secret-env {args.secret_env}: that variable is not set.")
        return value
    secrets_path = Path(args.secrets_file) if args.secrets_file else Path(DEFAULT_SECRETS_FILE)
    if args.secrets_file and not secrets_path.is_file():
        raise usage_error(f"--secrets-file {secrets_path}: no such file.")
    source = SecretSource.load(secrets_path if secrets_path.is_file() else None)
    ref = workflow.jam_signing_secret if workflow is not None else None
    found = source.signing_secret(args.workflow, ref)
    if found is None:
        raise usage_error(
            f"no signing secret for workflow '{args.workflow}': set "
            f"{signing_secret_env(args.workflow)} in the environment or in {secrets_path}, "
            "or pass --secret-env VAR. Use the whsec_... secret Jam shows for this endpoint."
        )
    return found


def file_workflow(file: str | None, workflow_id: str) -> Workflow | None:
    """The workflow as the workflows file has it (its signing-secret key, its events), if the
    file is at hand and valid: it is not needed to send, and `validate` reports its problems."""
    if file is None or not Path(file).is_file():
        return None
    workflows_path = Path(file)
    try:
        workflows_file = load_workflows(workflows_path)
    except WorkflowsFileError:
        return None
    for workflow in workflows_file.workflows:
        if workflow.id == workflow_id:
            return workflow
    err(f"warning: {workflows_path} has no workflow '{workflow_id}'; the relay may answer 404.")
    return None


def ignored_hint(event_type: str, workflow: Workflow | None) -> str:
    """Which events the route takes, and the --event that sends one, when the file says."""
    if workflow is None:
        return (
            f"Accepted but ignored: this route does not subscribe to {event_type}; its "
            "`events:` in the workflows file list the ones it takes."
        )
    aliases = {name: alias for alias, name in jam_events.EVENT_ALIASES.items()}
    takes = ", ".join(
        f"{name} (--event {aliases[name]})" if name in aliases else name for name in workflow.events
    )
    return (
        f"Accepted but ignored: workflow '{workflow.id}' does not subscribe to {event_type}; "
        f"it takes {takes}."
    )


def check_secrets(secrets: list[str]) -> None:
    for index, secret in enumerate(secrets, start=1):
        try:
            ok = secret.startswith(jam_events.SECRET_PREFIX) and bool(
                base64.b64decode(secret.removeprefix(jam_events.SECRET_PREFIX), validate=True)
            )
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            raise usage_error(
                f"signing secret #{index} is not a whsec_<base64> secret (value not shown)."
            )


def signed_request(secrets: list[str], body: bytes) -> dict[str, str]:
    """Headers as Svix sends them; during rotation it signs with every active secret."""
    headers = jam_events.signed_headers(secrets[0], body)
    message_id, timestamp = headers["svix-id"], int(headers["svix-timestamp"])
    headers["svix-signature"] = " ".join(
        jam_events.signature(secret, message_id, timestamp, body) for secret in secrets
    )
    return headers


def hint(status: int, body: str) -> str:
    outcome = _outcome(body)
    if 200 <= status < 300:
        if outcome == "ignored" or "ignored" in body.lower():
            return "Accepted but ignored: this route does not subscribe to that event type."
        if outcome == "refused_by_intercom" or "refused" in body.lower():
            return (
                "Intercom refused it for good (4xx). Check the conversation ID is one waiting on "
                "the workflow's Wait for webhook step, and that the Intercom URL secret is the "
                "step's URL without /<Conversation ID>."
            )
        return "Delivered: the relay verified the event and Intercom accepted it."
    hints = {
        400: "The relay could not read the event (not JSON, no type, bad conversationId).",
        401: (
            "Signature rejected: the secret you signed with is not one the relay holds for this "
            "workflow (or your clock is more than 5 minutes off). Store Jam's signing secret with "
            "`pulumi config set --secret KEY` and run `pulumi up`."
        ),
        404: (
            "No such route: check the workflow id, that its `stacks:` include this stack, and "
            "that `pulumi up` ran after the workflow was added."
        ),
        405: "The relay only accepts POST on a route.",
        413: "The body is over the relay's size limit.",
        422: "The relay could not use the event (e.g. a bad or missing conversationId).",
        502: (
            "Intercom was unreachable or failed (5xx, 408, 429); Jam would retry. Check the "
            "Intercom URL secret and Intercom's status."
        ),
    }
    if status == 503:
        if outcome == "not_configured" or "not configured" in body.lower():
            return (
                "This route is not fully configured on the relay (its answer above says which "
                "secret is missing): store it with `pulumi config set --secret KEY` and run "
                "`pulumi up`."
            )
        return hints[502]
    return hints.get(status, "Unexpected answer; see the relay's logs for this request.")


def _outcome(body: str) -> str | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    outcome = parsed.get("outcome") if isinstance(parsed, dict) else None
    return outcome if isinstance(outcome, str) else None


def run(args: argparse.Namespace) -> int:
    url = endpoint_url(args.endpoint, args.workflow)
    local = is_local(url)
    workflow = file_workflow(args.file, args.workflow)
    secrets = find_signing_secret(args, workflow).split()
    check_secrets(secrets)
    event_type = jam_events.EVENT_ALIASES[args.event]
    event = jam_events.sample_event(event_type, args.conversation)
    body = jam_events.encode(event)
    headers = signed_request(secrets, body)
    print(f"POST {url}")
    print(f"  event {event_type}, conversation {args.conversation}, message {headers['svix-id']}")
    try:
        response = requests.post(url, data=body, headers=headers, timeout=args.timeout)
    except requests.RequestException as exc:
        print(f"failed: could not reach {url} ({exc.__class__.__name__}).")
        if local:
            print("  Is `relayctl serve` running, on that port? It prints its URL when it starts.")
        else:
            print(
                "  Is the URL right and the relay deployed? `relayctl endpoints` "
                "prints the deployed Endpoint URLs."
            )
        return EXIT_FAILED
    text = response.text[:MAX_BODY_SHOWN]
    print(f"relay answered {response.status_code} {response.reason}: {text.strip()}")
    advice = local_hint(response.status_code, response.text, args.workflow) if local else None
    if 200 <= response.status_code < 300 and _outcome(response.text) == "ignored":
        advice = ignored_hint(event_type, workflow)
    print(f"  {advice or hint(response.status_code, response.text)}")
    # Only a delivery proves the chain end to end: "ignored" and "refused by Intercom" are 2xx
    # answers to Jam (so it stops retrying) but the workflow did not resume.
    delivered = 200 <= response.status_code < 300 and _outcome(response.text) == "delivered"
    return EXIT_OK if delivered else EXIT_FAILED

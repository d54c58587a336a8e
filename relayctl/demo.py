"""``relayctl demo``: watch a signed Jam event travel through the relay to a stand-in Intercom.

Everything runs on 127.0.0.1 with throwaway secrets: no Pulumi CLI, no cloud account.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import Any

import requests

from infra.workflows import Workflow
from relay_function.naming import OPTED_OUT, RECORDED
from relayctl import jam_events
from relayctl.common import EXIT_FAILED, EXIT_OK, load_or_fail
from relayctl.fake_intercom import FakeIntercom, Received
from relayctl.local_relay import LocalRelay, RelayStartError, relay_env

DEMO_CONVERSATION_ID = "215470686832743"
REQUEST_TIMEOUT_SECONDS = 15.0


def step(title: str) -> None:
    print(f"\n==> {title}")


def show(label: str, value: Any, depth: int = 1) -> None:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True)
    print("  " * (depth + 1) + f"{label}:")
    print(textwrap.indent(text, "  " * (depth + 2)))


def show_log_line(relay: LocalRelay) -> None:
    """The relay's structured log line for the request just answered (what Cloud Logging sees)."""
    records = relay.log_records()
    if records:
        fields = ("severity", "outcome", "intercom_status", "latency_ms")
        last = records[-1]
        print("    relay logged: " + ", ".join(f"{f}={last[f]}" for f in fields if f in last))


def demo_event_type(workflow: Workflow, index: int) -> str:
    """Alternate the two Fin branches across workflows (recorded, opted out, recorded...)."""
    branches = [e for e in (RECORDED, OPTED_OUT) if e in workflow.events] or list(workflow.events)
    return branches[index % len(branches)]


def post_signed(url: str, secret: str, event: dict[str, Any]) -> requests.Response:
    body = jam_events.encode(event)
    headers = jam_events.signed_headers(secret, body)
    return requests.post(url, data=body, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)


def arrived_since(intercom: FakeIntercom, count_before: int) -> list[Received]:
    return intercom.snapshot()[count_before:]


def deliver_one(
    relay: LocalRelay, intercom: FakeIntercom, workflow: Workflow, secret: str, index: int
) -> bool:
    event_type = demo_event_type(workflow, index)
    step(f"Workflow '{workflow.id}': Jam sends {event_type}")
    event = jam_events.sample_event(event_type, DEMO_CONVERSATION_ID)
    url = relay.url + workflow.route_path
    before = len(intercom.snapshot())
    print(f"    POST {url}  (signed with this endpoint's demo whsec_ secret)")
    show("event", event)
    response = post_signed(url, secret, event)
    print(f"    relay answered: {response.status_code} {response.text.strip()}")
    show_log_line(relay)
    arrived = arrived_since(intercom, before)
    expected_path = f"/hooks/{workflow.id}/{DEMO_CONVERSATION_ID}"
    for request in arrived:
        print(f"    Intercom received: POST {request.path}")
        print(f"      Idempotency-Key: {request.headers.get('Idempotency-Key', '(missing)')}")
        show("JSON body", request.json(), depth=2)
    ok = response.status_code == 200 and [r.path for r in arrived] == [expected_path]
    print("    ok: delivered once" if ok else f"    FAILED: expected one POST to {expected_path}")
    return ok


def reject_forgery(relay: LocalRelay, intercom: FakeIntercom, workflow: Workflow) -> bool:
    step(f"A forged event for '{workflow.id}', signed with the wrong secret")
    url = relay.url + workflow.route_path
    before = len(intercom.snapshot())
    response = post_signed(url, jam_events.new_signing_secret(), jam_events.sample_event())
    forwarded = arrived_since(intercom, before)
    print(f"    relay answered: {response.status_code} {response.text.strip()}")
    show_log_line(relay)
    print(f"    Intercom received: {len(forwarded)} request(s)")
    ok = response.status_code == 401 and not forwarded
    print("    ok: rejected, nothing forwarded" if ok else "    FAILED: expected 401, no forward")
    return ok


def run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    workflows = load_or_fail(path).workflows
    step(f"Loaded {path}: {', '.join(w.id for w in workflows) or 'no workflows'}")
    if not workflows:
        print("    Nothing to demonstrate: add a workflow to the file.")
        return EXIT_FAILED
    # Fresh throwaway secrets each run, the kind Jam shows after an endpoint is registered.
    secrets = {w.id: jam_events.new_signing_secret() for w in workflows}
    results: list[bool] = []
    with FakeIntercom() as intercom:
        step(f"Stand-in for Intercom listening on {intercom.url}")
        env = relay_env(
            {w.id: w.events for w in workflows},
            {w.id: intercom.url_for(w.id) for w in workflows},
            secrets,
        )
        try:
            relay = LocalRelay(env).start()
        except RelayStartError as exc:
            print(f"    FAILED: the relay did not start.\n{exc}")
            return EXIT_FAILED
        try:
            step(f"Relay running locally at {relay.url} (functions-framework)")
            results += [
                deliver_one(relay, intercom, w, secrets[w.id], i) for i, w in enumerate(workflows)
            ]
            results.append(reject_forgery(relay, intercom, workflows[0]))
        except requests.RequestException as exc:
            print(f"    FAILED: could not talk to the local relay ({exc.__class__.__name__}).")
            results.append(False)
        finally:
            relay.stop()
    step("Endpoint URLs to register in Jam (known before any deploy)")
    for workflow in workflows:
        print(f"    {workflow.id}: <relay URL>{workflow.route_path}")
    print(
        "    For your own stack, `relayctl endpoints --stack STACK` prints each one in full from "
        "Pulumi.STACK.yaml, and `relayctl add ID --stack STACK` adds a workflow."
    )
    step("Shut down the relay and the stand-in Intercom")
    if all(results):
        print("\nDemo passed. Next: `make test`, then README.md, 'Path to production'.")
        return EXIT_OK
    print(f"\nDemo FAILED: {results.count(False)} step(s) went wrong (see above).")
    return EXIT_FAILED

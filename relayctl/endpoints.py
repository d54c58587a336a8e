"""``relayctl endpoints``: each workflow's Endpoint URL and Jam setup, from the stack file.

No Pulumi CLI, no deploy and no network: the relay URL is Google's deterministic function URL,
computed from ``gcp:project``, ``gcp:region`` and ``functionName`` by infra/urls.py, the same
code the program's ``relay_url`` and ``endpoints`` outputs come from. So the URL printed before
the first ``pulumi up`` is the one the deployed stack reports.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from infra.urls import endpoint_url
from infra.workflows import ConfigRef, LiteralUrl, Workflow, set_secret_command
from relayctl.common import EXIT_OK, load_or_fail
from relayctl.stack_config import StackConfig, default_stack, read_stack


def run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    project_dir = path.resolve().parent
    stack = read_stack(project_dir, default_stack(project_dir, args.stack))
    base = stack.relay_url()
    path = stack_workflows_file(args, stack)
    workflows = load_or_fail(path).for_stack(stack.stack)
    print(f"Stack '{stack.stack}' ({stack.path.name}, {path}): relay URL {base}")
    if not workflows:
        print(
            f"\nNo workflow is deployed to stack '{stack.stack}' yet. Add one with "
            f"`relayctl add ID --stack {stack.stack}`."
        )
        return EXIT_OK
    for workflow in workflows:
        print()
        print("\n".join(setup_block(workflow, stack, endpoint_url(base, workflow.id))))
    print(
        "\nThese URLs are known before any deploy: register them in Jam now, store each "
        f"signing secret, then run `pulumi up --stack {stack.stack}` once."
    )
    return EXIT_OK


def stack_workflows_file(args: argparse.Namespace, stack: StackConfig) -> Path:
    """``--file`` when given, else the file the stack deploys (its ``workflowsFile``)."""
    if getattr(args, "file_given", True):
        return Path(args.file)
    settings = stack.usable_settings()
    return Path(args.file).parent / settings.workflows_file


def setup_block(workflow: Workflow, stack: StackConfig, url: str) -> list[str]:
    """The Jam setup for one workflow, in words a person follows."""
    stored = stack.present_keys()
    lines = [
        f"{workflow.id}",
        f"  Endpoint URL:   {url}",
        f"  Subscribe to:   {', '.join(workflow.events)}",
    ]
    intercom = workflow.intercom_webhook_url
    if isinstance(intercom, LiteralUrl):
        lines.append("  Intercom URL:   written in the workflows file (not shown)")
    else:
        lines.append(f"  Intercom URL:   {_state(stored.get(intercom.key), intercom, stack)}")
    secret = workflow.jam_signing_secret
    if secret is None:
        lines.append(
            "  Signing secret: no key in the workflows file yet; "
            f"`relayctl add {workflow.id} --stack {stack.stack}` adds one and stores it"
        )
    else:
        state = _state(stored.get(secret.key), secret, stack)
        lines.append(f"  Signing secret: {state}")
        if stored.get(secret.key) is not True:
            lines.append(
                "    once Jam shows it for this endpoint: "
                f"`relayctl add {workflow.id} --stack {stack.stack}`"
            )
    return lines


def _state(secure: bool | None, ref: ConfigRef, stack: StackConfig) -> str:
    if secure is True:
        return f"stored ({ref.key}, encrypted)"
    command = set_secret_command(ref.key, stack.stack)
    if secure is False:
        return f"in plain text in {stack.path.name} ({ref.key}): store it again with `{command}`"
    return f"not stored yet ({ref.key})"

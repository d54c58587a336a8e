"""``relayctl endpoints``: the Jam setup table, from the stack's outputs (needs the Pulumi CLI)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from typing import Any

from relayctl.common import EXIT_FAILED, EXIT_OK

PULUMI_TIMEOUT_SECONDS = 120
INSTALL_HINT = (
    "The Pulumi CLI is not on PATH. Install it (https://www.pulumi.com/docs/install/, e.g. "
    "`curl -fsSL https://get.pulumi.com | sh`), log in with `pulumi login`, then run this again."
)


def read_outputs(stack: str | None) -> dict[str, Any] | str:
    """The stack's outputs, or a message saying why they could not be read."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        return INSTALL_HINT
    command = [pulumi, "stack", "output", "--json"] + (["--stack", stack] if stack else [])
    try:
        done = subprocess.run(  # noqa: S603 (fixed argv, no shell)
            command, capture_output=True, text=True, timeout=PULUMI_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`pulumi stack output` did not run ({exc.__class__.__name__})."
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1:] or ["no error text"]
        return f"`pulumi stack output` failed (exit {done.returncode}): {detail[0]}"
    try:
        outputs = json.loads(done.stdout)
    except ValueError:
        return "`pulumi stack output --json` did not print JSON."
    if not isinstance(outputs, dict):
        return "`pulumi stack output --json` did not print a JSON object."
    return outputs


def render(outputs: dict[str, Any]) -> str | None:
    """The table, or None when the stack has not exported endpoints (not deployed yet)."""
    endpoints = outputs.get("endpoints")
    if not isinstance(endpoints, dict) or not endpoints:
        return None
    width = max(len("workflow"), *(len(str(k)) for k in endpoints))
    lines = [f"Relay URL: {outputs.get('relay_url', '(not exported)')}", ""]
    lines.append(f"{'workflow'.ljust(width)}  Endpoint URL (paste into Jam)")
    lines += [f"{str(wid).ljust(width)}  {url}" for wid, url in sorted(endpoints.items())]
    setup = outputs.get("jam_setup")
    if setup:
        lines += ["", "Jam setup:", _describe(setup, indent=2)]
    return "\n".join(lines)


def _describe(value: Any, indent: int) -> str:
    """Readable text for whatever shape the setup output has (text, lists, nested objects)."""
    pad = " " * indent
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                parts.append(f"{pad}{key}:\n{_describe(item, indent + 2)}")
            else:
                parts.append(f"{pad}{key}: {item}")
        return "\n".join(parts)
    if isinstance(value, list):
        return "\n".join(f"{pad}- {item}" for item in value)
    return "\n".join(pad + line for line in str(value).splitlines())


def run(args: argparse.Namespace) -> int:
    outputs = read_outputs(args.stack)
    if isinstance(outputs, str):
        print(f"failed: {outputs}")
        return EXIT_FAILED
    table = render(outputs)
    if table is None:
        print("failed: the stack exports no `endpoints`. Has `pulumi up` run on it?")
        return EXIT_FAILED
    print(table)
    return EXIT_OK

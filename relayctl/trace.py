"""relayctl trace: one conversation's relay log lines, and where to look in Jam's delivery log.

Prints the exact Cloud Logging query (from infra/monitoring.py, the filters the metrics use),
then runs it through ``gcloud logging read`` when gcloud is installed and logged in. The
conversation id is checked with the relay's own rule before it goes near a query, and gcloud
is run with an argument list (no shell), so nothing can be injected.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import monitoring as m
from infra.secret_patterns import redact
from infra.settings import default_function_name
from relay_function.naming import CONVERSATION_ID_RE
from relayctl.common import (
    EXIT_FAILED,
    EXIT_OK,
    NO_PROJECT,
    CommandError,
    find_project,
    usage_error,
)
from relayctl.stack_config import read_stack, stack_file

GCLOUD = "gcloud"
GCLOUD_TIMEOUT_SECONDS = 120
DEFAULT_FRESHNESS = "7d"  # Jam retries for about a day; a week covers the whole story
DEFAULT_LIMIT = 100
# Project ids: 6-30 of [a-z0-9-]; older domain-scoped ids have "example.com:" in front.
PROJECT_ID_RE = re.compile(r"(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
FRESHNESS_RE = re.compile(r"[1-9][0-9]{0,3}[smhd]")
JAM_PORTAL_HINT = (
    "In Jam: open the Webhook Portal (Settings > Integrations > Webhooks), pick the endpoint of "
    "the workflow above and find the message id(s) listed here: the portal shows each delivery "
    "attempt and the relay's answer, and can resend a failed message (docs/operations.md, "
    "Recovering events that failed)."
)


@dataclass(frozen=True)
class Target:
    project: str | None
    service: str | None
    stack: str | None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this subcommand's arguments."""
    parser.add_argument(
        "--conversation",
        required=True,
        metavar="ID",
        help="the Intercom conversation id (1-64 letters, digits, '_' or '-')",
    )
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help="read gcp:project and functionName from Pulumi.NAME.yaml, so the query names "
        "that stack's service (default: every relay service the project's logs hold)",
    )
    parser.add_argument(
        "--project",
        metavar="ID",
        help="Google Cloud project to read logs from (default: the stack's gcp:project, else "
        "gcloud's configured project)",
    )
    parser.add_argument(
        "--freshness",
        default=DEFAULT_FRESHNESS,
        metavar="AGE",
        help=f"how far back to look, like 1d or 12h (default {DEFAULT_FRESHNESS})",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N lines (default {DEFAULT_LIMIT})",
    )


def _stack_target(project_dir: Path, stack: str) -> Target:
    path = stack_file(project_dir, stack)
    if not path.is_file():
        raise usage_error(f"{path}: no such stack file. Pass --project, or run from the project.")
    config = read_stack(project_dir, stack)
    project, function = config.get("gcp:project"), config.get(f"{config.project}:functionName")
    return Target(
        project.value if project and isinstance(project.value, str) else None,
        function.value
        if function and isinstance(function.value, str) and function.value
        else default_function_name(stack),
        stack,
    )


def _target(args: argparse.Namespace) -> Target:
    target = Target(None, None, None)
    if args.stack:
        project_dir = find_project()
        if project_dir is None:
            raise usage_error(f"{NO_PROJECT} Or pass --project ID instead of --stack.")
        target = _stack_target(project_dir, args.stack)
    project = args.project or target.project
    if project is not None and not PROJECT_ID_RE.fullmatch(project):
        raise usage_error(f"{project!r} is not a Google Cloud project id.")
    return Target(project, target.service, target.stack)


def _gcloud_command(query: str, project: str | None, freshness: str, limit: int) -> list[str]:
    command = [GCLOUD, "logging", "read", query, "--format=json", "--order=asc"]
    command += [f"--freshness={freshness}", f"--limit={limit}"]
    if project:
        command.append(f"--project={project}")
    return command


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 (argument list, validated values, no shell)
            command,
            capture_output=True,
            text=True,
            timeout=GCLOUD_TIMEOUT_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise CommandError(f"gcloud did not answer within {GCLOUD_TIMEOUT_SECONDS}s.") from None


def _logged_in(gcloud: str) -> bool:
    answer = _run([gcloud, "auth", "list", "--filter=status:ACTIVE", "--format=value(account)"])
    return answer.returncode == 0 and bool(answer.stdout.strip())


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def format_entries(entries: list[dict[str, Any]]) -> list[str]:
    """One row per log line: time, workflow, outcome, Intercom status, Jam message id."""
    header = ("time", "workflow", "outcome", "intercom", "jam message id")
    rows = [header]
    for entry in entries:
        payload = entry.get("jsonPayload")
        payload = payload if isinstance(payload, dict) else {}
        rows.append(
            (
                _cell(entry.get("timestamp")),
                _cell(payload.get(m.FIELD_WORKFLOW)),
                _cell(payload.get(m.FIELD_OUTCOME)),
                _cell(payload.get(m.FIELD_INTERCOM_STATUS)),
                _cell(payload.get(m.FIELD_MESSAGE_ID)),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def run(args: argparse.Namespace) -> int:
    if not CONVERSATION_ID_RE.fullmatch(args.conversation):
        raise usage_error(
            "--conversation must be 1-64 letters, digits, '_' or '-' (the id in the "
            "conversation's Intercom URL)"
        )
    if not FRESHNESS_RE.fullmatch(args.freshness):
        raise usage_error("--freshness must look like 30m, 12h or 7d")
    if not 1 <= args.limit <= 1000:
        raise usage_error("--limit must be from 1 to 1000")
    target = _target(args)
    query = m.conversation_lines(args.conversation, target.service)  # the id is checked above
    command = _gcloud_command(query, target.project, args.freshness, args.limit)

    where = f" (stack {target.stack}, service {target.service})" if target.stack else ""
    print(f"Cloud Logging query for conversation {args.conversation}{where}:\n")
    print(f"  {query}\n")
    print(f"Run it yourself:\n  {shlex.join(command)}")
    if target.project:
        print(f"Logs Explorer:\n  {m.logs_explorer_url(target.project, query)}")
    print()

    gcloud = shutil.which(GCLOUD)
    # Without gcloud, or logged out, no log line was read: that is not a success (exit 1), even
    # though the query above lets the reader run it themselves.
    not_run = None
    if gcloud is None:
        not_run = (
            "gcloud is not installed here, so the query was not run: paste it into the Logs "
            "Explorer link above, or install the Google Cloud CLI "
            "(https://cloud.google.com/sdk/docs/install) and run this again."
        )
    elif not _logged_in(gcloud):
        not_run = (
            "gcloud is installed but not logged in, so the query was not run: run "
            "`gcloud auth login`, then this again."
        )
    else:
        _show(_run([gcloud, *command[1:]]), args.conversation)
    print()
    print(JAM_PORTAL_HINT)
    if not_run is not None:
        print(f"\nfailed: {not_run}")
        return EXIT_FAILED
    return EXIT_OK


def _show(answer: subprocess.CompletedProcess[str], conversation: str) -> None:
    if answer.returncode != 0:
        detail = redact(answer.stderr.strip().splitlines()[-1] if answer.stderr.strip() else "")
        raise CommandError(f"gcloud logging read failed (exit {answer.returncode}): {detail}")
    try:
        entries = json.loads(answer.stdout or "[]")
    except ValueError:
        raise CommandError("gcloud logging read did not print JSON.") from None
    if not isinstance(entries, list):
        raise CommandError("gcloud logging read did not print a list of log entries.")
    entries = [e for e in entries if isinstance(e, dict)]
    if not entries:
        print(
            f"No relay line for conversation {conversation} in that window. If Fin is still "
            "waiting, the event never reached the relay: look for it in Jam's Webhook Portal."
        )
        return
    print(f"{len(entries)} relay line(s):")
    for line in format_entries(entries):
        print(f"  {line}")

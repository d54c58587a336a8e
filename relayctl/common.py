"""Pieces every subcommand shares: exit codes, loading the workflows file, reporting problems."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from infra.workflows import Problem, WorkflowsFile, WorkflowsFileError, load_workflows

EXIT_OK = 0
EXIT_FAILED = 1  # the checked thing is wrong: an invalid file, a failed delivery
EXIT_USAGE = 2  # the command was asked for something it cannot do (argparse uses 2 too)

DEFAULT_WORKFLOWS_FILE = "workflows.yaml"
DEFAULT_SECRETS_FILE = ".relay-secrets.env"


class CommandError(Exception):
    """A failure the user can act on; main() prints the message and exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def usage_error(message: str) -> CommandError:
    return CommandError(message, EXIT_USAGE)


def err(line: str) -> None:
    print(line, file=sys.stderr)


def report_problem(problem: Problem, *, severity: str) -> None:
    """One line per problem (file:line:col first), plus a GitHub annotation when in Actions."""
    print(f"{severity}: {problem}")
    if os.environ.get("GITHUB_ACTIONS") == "true":
        level = "error" if severity == "error" else "warning"
        # Annotations put the message on the PR diff, at the line it is about.
        text = str(problem).replace("%", "%25").replace("\n", "%0A")
        print(f"::{level} file={problem.file},line={problem.line},col={problem.column}::{text}")


def load_or_fail(path: str | Path) -> WorkflowsFile:
    """Load a workflows file, printing every problem; raise CommandError if it is unusable."""
    if not Path(path).is_file():
        raise usage_error(f"{path}: no such file. Run from the project root or pass --file PATH.")
    try:
        workflows_file = load_workflows(path)
    except WorkflowsFileError as exc:
        for problem in exc.problems:
            report_problem(problem, severity="error")
        noun = "problem" if len(exc.problems) == 1 else "problems"
        raise CommandError(f"{path}: {len(exc.problems)} {noun}.") from None
    for warning in workflows_file.warnings:
        report_problem(warning, severity="warning")
    return workflows_file

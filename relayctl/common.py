"""Pieces every subcommand shares: exit codes, loading the workflows file, reporting problems."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from infra.secret_patterns import redact

if TYPE_CHECKING:  # the loader (jsonschema) is imported when a file is loaded, not for --help
    from infra.workflows import Problem, WorkflowsFile

EXIT_OK = 0
EXIT_FAILED = 1  # the checked thing is wrong: an invalid file, a failed delivery
EXIT_USAGE = 2  # the command was asked for something it cannot do (argparse uses 2 too)

DEFAULT_WORKFLOWS_FILE = "workflows.yaml"
DEFAULT_SECRETS_FILE = ".relay-secrets.env"
# A project folder holds both; the checkout this package was installed from is the fallback.
PROJECT_FILES = ("Pulumi.yaml", DEFAULT_WORKFLOWS_FILE)
OWN_CHECKOUT = Path(__file__).resolve().parents[1]


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
    """One line per problem (file:line:col first), plus a GitHub annotation when in Actions.

    The loader never quotes a secret; redacting here as well keeps a slip out of CI logs.
    """
    shown = redact(str(problem))
    print(f"{severity}: {shown}")
    if os.environ.get("GITHUB_ACTIONS") == "true":
        level = "error" if severity == "error" else "warning"
        # Annotations put the message on the PR diff, at the line it is about.
        text = shown.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        print(f"::{level} file={problem.file},line={problem.line},col={problem.column}::{text}")


def is_project(folder: Path) -> bool:
    return all((folder / name).is_file() for name in PROJECT_FILES)


def find_workflows_file(cwd: Path | None = None) -> Path:
    """The workflows file of the project you are in, so commands work from any subfolder.

    The nearest folder from ``cwd`` upwards holding Pulumi.yaml and workflows.yaml; else the
    checkout relayctl runs from (an installed ``relayctl`` called from elsewhere). The path is
    relative when the file is in ``cwd`` itself, absolute otherwise, so output names it plainly.
    """
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_project(folder):
            return (
                Path(DEFAULT_WORKFLOWS_FILE) if folder == here else folder / DEFAULT_WORKFLOWS_FILE
            )
    if is_project(OWN_CHECKOUT):
        return OWN_CHECKOUT / DEFAULT_WORKFLOWS_FILE
    return Path(DEFAULT_WORKFLOWS_FILE)  # reported as missing by load_or_fail


def load_or_fail(path: str | Path) -> WorkflowsFile:
    """Load a workflows file, printing every problem; raise CommandError if it is unusable."""
    if not Path(path).is_file():
        raise usage_error(f"{path}: no such file. Run from the project folder or pass --file PATH.")
    from infra.workflows import WorkflowsFileError, load_workflows

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

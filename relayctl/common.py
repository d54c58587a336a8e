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
# A project folder holds both.
PROJECT_FILES = ("Pulumi.yaml", DEFAULT_WORKFLOWS_FILE)
OWN_CHECKOUT = Path(__file__).resolve().parents[1]
# The example workflows `relayctl demo` runs (the checkout's own workflows.yaml starts empty).
EXAMPLE_WORKFLOWS_FILE = OWN_CHECKOUT / "examples" / DEFAULT_WORKFLOWS_FILE
NO_PROJECT = (
    "no project here: neither this folder nor any folder above it holds Pulumi.yaml and "
    f"{DEFAULT_WORKFLOWS_FILE}. Run relayctl from your project folder, or pass --file PATH."
)


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


def find_project(cwd: Path | None = None) -> Path | None:
    """The nearest folder from ``cwd`` upwards holding Pulumi.yaml and workflows.yaml."""
    here = (cwd or Path.cwd()).resolve()
    return next((folder for folder in (here, *here.parents) if is_project(folder)), None)


def find_workflows_file(cwd: Path | None = None) -> Path | None:
    """The workflows file of the project you are in, so commands work from any subfolder; None
    outside any project (never relayctl's own checkout: checking that instead of the user's
    file would answer a question nobody asked). The path is relative when the file is in
    ``cwd`` itself, absolute otherwise, so output names it plainly."""
    here = (cwd or Path.cwd()).resolve()
    folder = find_project(here)
    if folder is None:
        return None
    return Path(DEFAULT_WORKFLOWS_FILE) if folder == here else folder / DEFAULT_WORKFLOWS_FILE


def workflows_path(file: str | None) -> Path:
    """``--file`` as given, else the project's file; a usage error outside any project."""
    if file is not None:
        return Path(file)
    found = find_workflows_file()
    if found is None:
        raise usage_error(NO_PROJECT)
    return found


def file_problem(path: Path, what: str = "file") -> str | None:
    """Why ``path`` cannot be read as a file, with the fix; None when it is a file."""
    if path.is_file():
        return None
    if path.is_dir():
        inside = path / DEFAULT_WORKFLOWS_FILE
        hint = f" (did you mean {inside}?)" if what == "file" and inside.is_file() else ""
        return f"{path}: a folder, not a {what}: pass the {what} itself{hint}."
    if path.exists():
        return f"{path}: not a regular {what}."
    return f"{path}: no such {what}. Run from the project folder or pass --file PATH."


def load_or_fail(path: str | Path) -> WorkflowsFile:
    """Load a workflows file, printing every problem; raise CommandError if it is unusable."""
    if (unusable := file_problem(Path(path))) is not None:
        raise usage_error(unusable)
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

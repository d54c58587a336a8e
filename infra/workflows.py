"""Load and validate ``workflows.yaml`` (version 1).

Deliberately free of Pulumi imports: the CLI, the tests and the Pulumi program all use it, and
a bad file must fail before any resource is declared.

PUBLIC API (stable; other modules are written against it):

    load_workflows(path) -> WorkflowsFile          # raises WorkflowsFileError
    parse_workflows(text, filename) -> WorkflowsFile
    missing_config_problems(workflows_file, stack, present_keys) -> tuple[Problem, ...]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from relay_function.naming import DEFAULT_EVENTS, env_suffix, route_path

__all__ = [
    "DEFAULT_EVENTS",
    "ConfigRef",
    "LiteralUrl",
    "Problem",
    "Workflow",
    "WorkflowsFile",
    "WorkflowsFileError",
    "load_workflows",
    "missing_config_problems",
    "parse_workflows",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file, located and with its fix."""

    file: str
    line: int  # 1-based
    column: int  # 1-based
    workflow_id: str | None
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        who = f" workflow '{self.workflow_id}':" if self.workflow_id else ""
        return f"{where}:{who} {self.message} Fix: {self.fix}"


class WorkflowsFileError(Exception):
    """Every problem found in one file (not just the first)."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class ConfigRef:
    """``{config: KEY}``: a value read from the stack's Pulumi config (set as a secret)."""

    key: str
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class LiteralUrl:
    """A literal ``https://`` Intercom URL committed in the file (allowed, warned)."""

    url: str


@dataclass(frozen=True)
class Workflow:
    id: str
    description: str
    intercom_webhook_url: ConfigRef | LiteralUrl
    jam_signing_secret: ConfigRef | None
    events: tuple[str, ...] = DEFAULT_EVENTS
    stacks: tuple[str, ...] | None = None  # None: every stack
    line: int = field(default=0, compare=False)

    def applies_to(self, stack: str) -> bool:
        return self.stacks is None or stack in self.stacks

    @property
    def env_suffix(self) -> str:
        return env_suffix(self.id)

    @property
    def route_path(self) -> str:
        return route_path(self.id)


@dataclass(frozen=True)
class WorkflowsFile:
    path: str
    version: int
    workflows: tuple[Workflow, ...]
    warnings: tuple[Problem, ...] = ()  # e.g. a literal URL, a normalised trailing slash

    def for_stack(self, stack: str) -> tuple[Workflow, ...]:
        return tuple(w for w in self.workflows if w.applies_to(stack))


def load_workflows(path: str | Path) -> WorkflowsFile:
    """Read and validate a file; raise WorkflowsFileError with every problem found."""
    raise NotImplementedError


def parse_workflows(text: str, filename: str = "workflows.yaml") -> WorkflowsFile:
    raise NotImplementedError


def missing_config_problems(
    workflows_file: WorkflowsFile, stack: str, present_keys: Mapping[str, bool]
) -> tuple[Problem, ...]:
    """Problems for config keys the stack's workflows reference but the stack lacks.

    ``present_keys`` maps each config key set on the stack (without the project prefix) to
    whether it is stored as a secret. A missing Intercom URL key is a problem; a missing Jam
    signing secret is not (it is optional until the Jam endpoint exists). A key present but not
    secret is a problem. Each message names the key and the exact
    ``pulumi config set --secret KEY --stack STACK`` command that fixes it.
    """
    raise NotImplementedError

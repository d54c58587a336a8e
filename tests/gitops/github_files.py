"""Reading the repository's GitHub Actions files, and running their shell steps as bash would.

Workflows are parsed with PyYAML, which reads the bare key `on` as the boolean True (YAML 1.1).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
ACTIONS = REPO / ".github" / "actions"
EXPRESSION_RE = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)
LOCAL_ACTION = "./.github/actions/"
LOCAL_WORKFLOW = "./.github/workflows/"

GOOGLE_AUTH = "google-github-actions/auth@"
PULUMI_AUTH = "pulumi/auth-actions@"
PULUMI_ACTION = "pulumi/actions@"


def load(path: Path) -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load(path.read_text())
    return document


def workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yaml"), *WORKFLOWS.glob("*.yml")])


def action_files() -> list[Path]:
    return sorted([*ACTIONS.glob("*/action.yml"), *ACTIONS.glob("*/action.yaml")])


def triggers(workflow: dict[Any, Any]) -> set[str]:
    on = workflow[True]
    if isinstance(on, str):
        return {on}
    return set(on)


def local_action(uses: str) -> dict[Any, Any]:
    return load(REPO / uses.removeprefix("./") / "action.yml")


def expanded_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps with each local composite action replaced by its own steps (recursively)."""
    result: list[dict[str, Any]] = []
    for step in steps:
        uses = step.get("uses", "")
        if uses.startswith(LOCAL_ACTION):
            result.extend(expanded_steps(local_action(uses)["runs"]["steps"]))
        else:
            result.append(step)
    return result


@dataclass(frozen=True)
class Job:
    workflow: str  # file name
    job_id: str
    spec: dict[str, Any]

    @property
    def steps(self) -> list[dict[str, Any]]:
        return expanded_steps(self.spec.get("steps", []))

    @property
    def called(self) -> list[Job]:
        """The jobs of the reusable workflow this job calls, if it calls one."""
        uses = self.spec.get("uses", "")
        if not uses.startswith(LOCAL_WORKFLOW):
            return []
        path = REPO / uses.removeprefix("./")
        return [Job(path.name, job_id, spec) for job_id, spec in load(path)["jobs"].items()]

    def authenticates(self) -> bool:
        """Exchanges GitHub's OIDC token, itself or through the workflow it calls."""
        own = any(s.get("uses", "").startswith((GOOGLE_AUTH, PULUMI_AUTH)) for s in self.steps)
        return own or any(job.authenticates() for job in self.called)


def jobs(path: Path) -> list[Job]:
    return [Job(path.name, job_id, spec) for job_id, spec in load(path)["jobs"].items()]


def all_jobs() -> list[Job]:
    return [job for path in workflow_files() for job in jobs(path)]


def pull_request_jobs() -> list[Job]:
    """Every job a pull-request event runs, with the jobs of the workflows they call."""
    found: list[Job] = []
    for path in workflow_files():
        if triggers(load(path)) & {"pull_request", "pull_request_target"}:
            for job in jobs(path):
                found += [job, *job.called]
    return found


def run_scripts() -> list[tuple[str, str]]:
    """(where, script) for every bash `run:` in the workflows and the local actions."""
    scripts: list[tuple[str, str]] = []
    for job in all_jobs():
        for index, step in enumerate(job.spec.get("steps", [])):
            if "run" in step:
                scripts.append((f"{job.workflow}:{job.job_id}:{index}", step["run"]))
    for path in action_files():
        for index, step in enumerate(load(path)["runs"]["steps"]):
            if "run" in step:
                scripts.append((f"{path.parent.name}/action.yml:{index}", step["run"]))
    return scripts


def find_step(steps: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(s for s in steps if s.get("name") == name or s.get("id") == name)


@dataclass
class StepRun:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    env_file: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def run_step(
    script: str, cwd: Path, env: dict[str, str], tmp_path: Path, command: str = "bash -e"
) -> StepRun:
    """Run a step's script the way the runner does (`bash -e {0}` by default), with the
    GITHUB_OUTPUT, GITHUB_ENV and GITHUB_STEP_SUMMARY files it provides."""
    assert "${{" not in script, "expressions belong in env:, not inside scripts"
    files = {name: tmp_path / name.lower() for name in ("GITHUB_OUTPUT", "GITHUB_ENV")}
    files["GITHUB_STEP_SUMMARY"] = tmp_path / "summary.md"
    for path in files.values():
        path.write_text("")
    script_file = tmp_path / "step.sh"
    script_file.write_text(script)
    result = subprocess.run(
        [*command.split(), str(script_file)],
        cwd=cwd,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            **{k: str(v) for k, v in files.items()},
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    outputs = dict(
        line.split("=", 1) for line in files["GITHUB_OUTPUT"].read_text().splitlines() if line
    )
    return StepRun(
        result.returncode, result.stdout, result.stderr, outputs, files["GITHUB_ENV"].read_text()
    )


def placeholder_script(script: str) -> str:
    """A run block as a standalone bash file, each `${{ … }}` replaced by a plain word."""
    return "#!/usr/bin/env bash\n" + EXPRESSION_RE.sub("GITHUB_EXPRESSION", script)

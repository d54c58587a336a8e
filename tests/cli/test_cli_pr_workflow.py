"""The pull-request workflow runs the checks the team relies on (its structure; no Actions here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "pull-request.yaml"


def load() -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return document


def run_lines(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_triggers_on_pull_requests():
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    assert "pull_request" in load()[True]


def test_runs_make_test():
    assert "make test" in run_lines(load()["jobs"]["test"])


def test_validates_every_stack_file_and_plans_against_the_base():
    job = load()["jobs"]["routes"]
    script = run_lines(job)
    assert "for stack_file in Pulumi.*.yaml" in script
    assert 'relayctl validate --stack "$stack"' in script
    assert "relayctl plan --base" in script
    assert "--format markdown" in script
    plan_env = next(s for s in job["steps"] if "relayctl plan" in s.get("run", ""))["env"]
    assert plan_env["BASE_REF"] == "origin/${{ github.base_ref }}"
    assert any("github-script" in s.get("uses", "") for s in job["steps"])


def test_preview_runs_only_with_credentials():
    steps = load()["jobs"]["preview"]["steps"]
    preview = next(s for s in steps if s.get("uses", "").startswith("pulumi/actions@"))
    assert preview["with"]["command"] == "preview"
    assert preview["if"] == "steps.credentials.outputs.present == 'true'"
    assert "::notice" in steps[0]["run"]

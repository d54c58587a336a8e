"""The pull-request workflow: its structure, and its validate script run as bash would run it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "pull-request.yaml"


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


def test_preview_waits_for_its_safety_check_and_previews_dev():
    job = load()["jobs"]["preview"]
    steps = job["steps"]
    preview = next(s for s in steps if s.get("uses", "").startswith("pulumi/actions@"))
    assert preview["with"]["command"] == "preview"
    assert preview["if"] == "steps.stack.outputs.ready == 'true'"
    assert job["env"]["STACK"] == "dev"
    assert "::notice" in steps[0]["run"]


def validate_step_script() -> str:
    steps = load()["jobs"]["routes"]["steps"]
    script: str = next(s for s in steps if "relayctl validate" in s.get("run", ""))["run"]
    return script


def run_validate_step(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The workflow's own validate script, run by bash in a project folder like the checkout."""
    (project / ".venv").symlink_to(REPO / ".venv")
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", validate_step_script()],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_validate_step_passes_set_up_stacks_and_skips_ones_without_secrets(project, child_env):
    (project / "Pulumi.staging.yaml").write_text("config:\n  gcp:project: staging-project\n")
    result = run_validate_step(project, child_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--- stack dev" in result.stdout
    assert "::notice title=stack staging not set up::" in result.stdout


def test_validate_step_fails_on_a_set_up_stack_missing_a_key(project, child_env):
    # prod has a secret, so it is set up, but lacks bug-report-triage's Intercom URL.
    (project / "Pulumi.prod.yaml").write_text(
        "config:\n  jam-fin-relay:billingHandoffIntercomUrl:\n    secure: v1:AAAA:BBBB\n"
    )
    result = run_validate_step(project, child_env)
    assert result.returncode == 1
    assert "bugReportTriageIntercomUrl" in result.stdout + result.stderr

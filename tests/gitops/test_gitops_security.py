"""Every workflow file: minimal permissions, no keys, pull requests kept away from prod, and
every shell step clean under shellcheck."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.gitops.github_files import (
    GOOGLE_AUTH,
    PULUMI_ACTION,
    REPO,
    all_jobs,
    load,
    placeholder_script,
    pull_request_jobs,
    run_scripts,
    workflow_files,
)

READ_ONLY_SCOPES = {"contents": "read"}


def test_there_are_deploy_and_pull_request_workflows():
    names = {path.name for path in workflow_files()}
    assert {"deploy.yaml", "pull-request.yaml", "pulumi-up.yaml"} <= names


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_workflow_grants_nothing_by_default(path):
    # Each job states what it needs; a job that forgets gets no token rights at all.
    assert load(path).get("permissions") == {}


@pytest.mark.parametrize("job", all_jobs(), ids=lambda j: f"{j.workflow}:{j.job_id}")
def test_every_job_states_its_permissions(job):
    assert isinstance(job.spec.get("permissions"), dict)


@pytest.mark.parametrize("job", all_jobs(), ids=lambda j: f"{j.workflow}:{j.job_id}")
def test_id_token_write_only_where_a_job_authenticates(job):
    has_id_token = job.spec["permissions"].get("id-token") == "write"
    assert has_id_token == job.authenticates()


@pytest.mark.parametrize("job", all_jobs(), ids=lambda j: f"{j.workflow}:{j.job_id}")
def test_jobs_that_do_not_authenticate_only_read_contents(job):
    if job.authenticates():
        return
    extra = {k: v for k, v in job.spec["permissions"].items() if k not in READ_ONLY_SCOPES}
    # The one exception: posting the plan as a pull-request comment.
    assert extra in ({}, {"pull-requests": "write"})


def github_text() -> str:
    return "\n".join(p.read_text() for p in sorted((REPO / ".github").rglob("*")) if p.is_file())


def test_no_service_account_key_anywhere():
    text = github_text()
    assert "credentials_json" not in text
    assert "GOOGLE_CREDENTIALS" not in text
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in text


def test_google_auth_is_workload_identity_federation_only():
    steps = [
        s for job in all_jobs() for s in job.steps if s.get("uses", "").startswith(GOOGLE_AUTH)
    ]
    steps += [
        s
        for job in all_jobs()
        for called in job.called
        for s in called.steps
        if s.get("uses", "").startswith(GOOGLE_AUTH)
    ]
    assert steps
    for step in steps:
        assert set(step["with"]) == {"workload_identity_provider", "service_account"}


def test_no_workflow_runs_on_pull_request_target():
    # pull_request_target runs with the base repository's secrets on a fork's code.
    for path in workflow_files():
        assert "pull_request_target" not in load(path)[True], path.name


def pr_text(job) -> str:
    return yaml.safe_dump(job.spec) + yaml.safe_dump(job.steps)


def test_pull_request_jobs_never_name_prod_or_its_identity():
    for job in pull_request_jobs():
        text = pr_text(job)
        assert not re.search(r"\bprod\b", text), job.job_id
        assert "GCP_DEPLOY_SERVICE_ACCOUNTS" not in text, job.job_id
        assert "PULUMI_ACCESS_TOKEN }}" not in text, job.job_id  # the deployers' token
        assert "environment" not in job.spec, job.job_id


def test_pull_request_jobs_never_run_pulumi_up():
    for job in pull_request_jobs():
        for step in job.steps:
            if step.get("uses", "").startswith(PULUMI_ACTION) and "with" in step:
                assert step["with"]["command"] == "preview"
            commands = [
                line
                for line in step.get("run", "").splitlines()
                if not line.lstrip().startswith("#")
            ]
            assert not any(re.search(r"\bpulumi\s+up\b", line) for line in commands)


def test_pull_request_preview_is_of_dev_as_the_previewer():
    [preview] = [j for j in pull_request_jobs() if j.job_id == "preview"]
    assert preview.spec["env"]["STACK"] == "dev"
    steps = preview.steps
    pulumi = next(s for s in steps if s.get("uses", "").startswith(PULUMI_ACTION) and "with" in s)
    assert pulumi["with"]["stack-name"] == "${{ env.STACK }}"
    auth = next(s for s in steps if s.get("uses", "").startswith(GOOGLE_AUTH))
    assert auth["with"]["service_account"] == "${{ vars.GCP_PREVIEW_SERVICE_ACCOUNT }}"


def test_cloud_steps_of_the_preview_wait_for_the_safety_check():
    [preview] = [j for j in pull_request_jobs() if j.job_id == "preview"]
    first = preview.spec["steps"][0]
    assert first["id"] == "settings"
    for step in preview.spec["steps"][1:]:
        assert "steps.settings.outputs.run == 'true'" in step.get("if", "") or (
            "steps.stack.outputs.ready == 'true'" in step.get("if", "")
        ), step


@pytest.mark.parametrize(("where", "script"), run_scripts(), ids=[w for w, _ in run_scripts()])
def test_scripts_take_expressions_through_env_only(where, script):
    # ${{ }} inside a script is pasted in before bash parses it: a branch name or title
    # could run as code. Through env: it is only ever a value.
    assert "${{" not in script, where


@pytest.mark.parametrize(("where", "script"), run_scripts(), ids=[w for w, _ in run_scripts()])
def test_every_run_script_passes_shellcheck(where, script, tmp_path: Path):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (.ci/run installs Debian's shellcheck package)")
    path = tmp_path / "step.sh"
    path.write_text(placeholder_script(script))
    result = subprocess.run(
        [shellcheck, "--shell=bash", "--severity=style", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{where}\n{result.stdout}"


def test_shellcheck_finds_a_known_problem(tmp_path: Path):
    # Proves the check above can fail: an unquoted variable is SC2086.
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (.ci/run installs Debian's shellcheck package)")
    path = tmp_path / "step.sh"
    path.write_text(placeholder_script("echo $HOME ${{ github.sha }}\n"))
    result = subprocess.run(
        [shellcheck, "--shell=bash", str(path)], capture_output=True, text=True, check=False
    )
    assert "SC2086" in result.stdout
    assert "GITHUB_EXPRESSION" in path.read_text()

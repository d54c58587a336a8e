"""deploy.yaml and the workflow it calls: order, gates, concurrency; their scripts run by bash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.gitops.github_files import (
    GOOGLE_AUTH,
    PULUMI_ACTION,
    WORKFLOWS,
    Job,
    all_jobs,
    find_step,
    jobs,
    load,
    run_step,
)

DEPLOY = WORKFLOWS / "deploy.yaml"
UP = WORKFLOWS / "pulumi-up.yaml"
SECRET = "    secure: v1:AAAA:BBBB\n"


def deploy_job(job_id: str) -> Job:
    return next(j for j in jobs(DEPLOY) if j.job_id == job_id)


def up_job() -> Job:
    [job] = jobs(UP)
    return job


def test_deploys_on_push_to_main_touching_the_deploy_and_on_dispatch():
    on = load(DEPLOY)[True]
    assert on["push"]["branches"] == ["main"]
    for path in ("workflows.yaml", "Pulumi.*.yaml", "infra/**", "relay_function/**"):
        assert path in on["push"]["paths"]
    assert "workflow_dispatch" in on


def test_dev_deploys_first_and_prod_only_after_dev():
    dev, prod = deploy_job("dev"), deploy_job("prod")
    assert dev.spec["needs"] == "plan"
    assert "dev" in prod.spec["needs"]
    assert dev.spec["with"]["stack"] == "dev"
    assert prod.spec["with"]["stack"] == "prod"


def test_other_stacks_deploy_after_dev_too():
    others = deploy_job("others")
    assert "dev" in others.spec["needs"]
    assert others.spec["with"]["stack"] == "${{ matrix.stack }}"


def test_each_stack_runs_in_the_environment_of_its_name():
    # prod's job therefore runs in the environment `prod` (its reviewers gate it), and only
    # a job there can act as prod's deployer (bootstrap: subject ...:environment:prod).
    assert up_job().spec["environment"] == "${{ inputs.stack }}"
    for job_id in ("dev", "prod", "others"):
        assert deploy_job(job_id).spec["uses"] == "./.github/workflows/pulumi-up.yaml"


def test_prod_job_runs_in_the_prod_environment():
    called = up_job().spec["environment"]
    resolved = called.replace("${{ inputs.stack }}", deploy_job("prod").spec["with"]["stack"])
    assert resolved == "prod"


def test_one_concurrency_group_per_stack_that_never_cancels():
    concurrency = up_job().spec["concurrency"]
    assert concurrency["group"] == "pulumi-up-${{ inputs.stack }}"
    assert concurrency["cancel-in-progress"] is False
    assert "concurrency" not in load(DEPLOY)
    assert "concurrency" not in load(UP)


def up_steps(job: Job) -> list[tuple[int, dict[str, Any]]]:
    return [
        (i, s)
        for i, s in enumerate(job.steps)
        if s.get("uses", "").startswith(PULUMI_ACTION) and s.get("with", {}).get("command") == "up"
    ]


def test_relayctl_check_runs_after_every_up():
    found = 0
    for job in [*all_jobs(), *(c for j in all_jobs() for c in j.called)]:
        for index, step in up_steps(job):
            found += 1
            later = [s.get("run", "") for s in job.steps[index + 1 :]]
            assert any('relayctl check --stack "$STACK"' in run for run in later), job.job_id
            assert job.spec["env"]["STACK"] == step["with"]["stack-name"]
    assert found >= 1


def test_deploy_authenticates_as_the_stacks_deployer_before_pulumi():
    steps = up_job().steps
    names = [s.get("uses", s.get("name", "")) for s in steps]
    auth = next(i for i, n in enumerate(names) if n.startswith(GOOGLE_AUTH))
    assert auth < min(i for i, _ in up_steps(up_job()))
    assert steps[auth]["with"]["service_account"] == (
        "${{ steps.deployer.outputs.service_account }}"
    )


# --- the plan job's script, run by bash in a folder like the checkout -------------------------


def plan_script() -> str:
    script: str = find_step(deploy_job("plan").spec["steps"], "stacks")["run"]
    return script


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    folder = tmp_path / "checkout"
    folder.mkdir()
    (folder / "Pulumi.dev.yaml").write_text("config:\n  gcp:project: p\n  a:b:\n" + SECRET)
    (folder / "Pulumi.prod.yaml").write_text("config:\n  gcp:project: p\n  a:b:\n" + SECRET)
    return folder


PROVIDER = "projects/1/locations/global/workloadIdentityPools/p/providers/g"
SET_UP = {
    "GCP_WORKLOAD_IDENTITY_PROVIDER": PROVIDER,
    "GCP_DEPLOY_SERVICE_ACCOUNTS": '{"dev": "d@x", "prod": "p@x"}',
    "EVENT_NAME": "push",
    "ACTOR": "octocat",
    "REF": "refs/heads/main",
}


def test_plan_not_set_up_deploys_nothing_and_says_why(checkout, tmp_path):
    env = {"EVENT_NAME": "push", "REF": "refs/heads/main"}
    result = run_step(plan_script(), checkout, env, tmp_path)
    assert result.returncode == 0
    assert "::notice title=deploy not set up::" in result.stdout
    assert "GCP_WORKLOAD_IDENTITY_PROVIDER" in result.stdout
    assert result.outputs == {"dev": "false", "prod": "false", "others": "[]"}


def test_plan_refuses_a_manual_run_on_another_branch(checkout, tmp_path):
    env = SET_UP | {"EVENT_NAME": "workflow_dispatch", "REF": "refs/heads/feature"}
    result = run_step(plan_script(), checkout, env, tmp_path)
    assert result.returncode == 1
    assert "::error title=deploys run from main only::" in result.stdout
    assert result.outputs == {}


def test_plan_set_up_without_service_accounts_fails_naming_them(checkout, tmp_path):
    env = SET_UP | {"GCP_DEPLOY_SERVICE_ACCOUNTS": ""}
    result = run_step(plan_script(), checkout, env, tmp_path)
    assert result.returncode == 1
    assert "::error title=GCP_DEPLOY_SERVICE_ACCOUNTS missing::" in result.stdout


def test_plan_finds_dev_prod_and_other_set_up_stacks(checkout, tmp_path):
    (checkout / "Pulumi.staging.yaml").write_text("config:\n  a:b:\n" + SECRET)
    result = run_step(plan_script(), checkout, SET_UP, tmp_path)
    assert result.returncode == 0, result.text
    assert result.outputs["dev"] == "true"
    assert result.outputs["prod"] == "true"
    assert json.loads(result.outputs["others"]) == ["staging"]


def test_plan_skips_a_stack_without_secrets_with_a_notice(checkout, tmp_path):
    (checkout / "Pulumi.prod.yaml").write_text("config:\n  gcp:project: p\n")
    result = run_step(plan_script(), checkout, SET_UP, tmp_path)
    assert result.returncode == 0
    assert result.outputs["prod"] == "false"
    assert "::notice title=stack prod not set up::" in result.stdout


def test_plan_says_nothing_deploys_while_dev_is_not_set_up(checkout, tmp_path):
    (checkout / "Pulumi.dev.yaml").unlink()
    result = run_step(plan_script(), checkout, SET_UP, tmp_path)
    assert result.returncode == 0
    assert "::notice title=dev not set up::" in result.stdout


def test_dispatch_mode_holds_prod_on_push(checkout, tmp_path):
    env = SET_UP | {"PROD_DEPLOY": "dispatch", "PROD_DEPLOYERS": "octocat"}
    result = run_step(plan_script(), checkout, env, tmp_path)
    assert result.returncode == 0
    assert result.outputs["prod"] == "false"
    assert result.outputs["dev"] == "true"
    assert "::notice title=prod waits for a manual run::" in result.stdout


def test_dispatch_mode_deploys_prod_for_a_listed_deployer(checkout, tmp_path):
    env = SET_UP | {
        "PROD_DEPLOY": "dispatch",
        "PROD_DEPLOYERS": "hubot, octocat",
        "EVENT_NAME": "workflow_dispatch",
    }
    result = run_step(plan_script(), checkout, env, tmp_path)
    assert result.returncode == 0, result.text
    assert result.outputs["prod"] == "true"


def test_dispatch_mode_refuses_an_unlisted_actor(checkout, tmp_path):
    env = SET_UP | {
        "PROD_DEPLOY": "dispatch",
        "PROD_DEPLOYERS": "octocat",
        "EVENT_NAME": "workflow_dispatch",
        "ACTOR": "octo",  # a part of a listed name is not a listed name
    }
    result = run_step(plan_script(), checkout, env, tmp_path)
    assert result.returncode == 1
    assert "::error title=not a prod deployer::octo " in result.stdout


# --- pulumi-up.yaml: choosing the stack's deployer ---------------------------------------------


def deployer_script() -> str:
    script: str = find_step(up_job().spec["steps"], "deployer")["run"]
    return script


def test_deployer_is_the_stacks_entry(tmp_path):
    env = {"DEPLOY_SERVICE_ACCOUNTS": '{"dev": "d@x", "prod": "p@x"}', "STACK": "prod"}
    result = run_step(deployer_script(), tmp_path, env, tmp_path)
    assert result.returncode == 0
    assert result.outputs == {"service_account": "p@x"}


def test_a_stack_without_a_deployer_fails_naming_it(tmp_path):
    env = {"DEPLOY_SERVICE_ACCOUNTS": '{"dev": "d@x"}', "STACK": "staging"}
    result = run_step(deployer_script(), tmp_path, env, tmp_path)
    assert result.returncode == 1
    assert "::error title=No deployer for stack staging::" in result.stdout


def test_deployer_variable_that_is_not_json_fails_saying_so(tmp_path):
    env = {"DEPLOY_SERVICE_ACCOUNTS": "d@x", "STACK": "dev"}
    result = run_step(deployer_script(), tmp_path, env, tmp_path)
    assert result.returncode == 1
    assert "is not the JSON object the bootstrap outputs" in result.stdout

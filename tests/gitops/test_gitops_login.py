"""The pulumi-login action's choice of backend, run by bash: GCS, Pulumi Cloud by OIDC, or a
stored token, and a failure naming what to set when none is configured."""

from __future__ import annotations

from tests.gitops.github_files import ACTIONS, find_step, load, run_step

SHELL_BASH = "bash --noprofile --norc -eo pipefail"  # how the runner runs `shell: bash`

ACTION = ACTIONS / "pulumi-login" / "action.yml"


def choose(tmp_path, **env: str):
    script = find_step(load(ACTION)["runs"]["steps"], "backend")["run"]
    defaults = {"TOKEN_TYPE": "organization"}
    return run_step(script, tmp_path, defaults | env, tmp_path, command=SHELL_BASH)


def test_gcs_backend_is_exported_for_every_later_step(tmp_path):
    result = choose(tmp_path, BACKEND_URL="gs://acme-state-5e2c1a7")
    assert result.returncode == 0
    assert result.outputs == {"mode": "gcs"}
    assert "PULUMI_BACKEND_URL=gs://acme-state-5e2c1a7" in result.env_file


def test_a_backend_url_that_is_not_gcs_is_refused(tmp_path):
    result = choose(tmp_path, BACKEND_URL="s3://elsewhere")
    assert result.returncode == 1
    assert "::error title=PULUMI_BACKEND_URL::" in result.stdout


def test_an_organization_means_pulumi_cloud_by_oidc(tmp_path):
    result = choose(tmp_path, ORGANIZATION="acme")
    assert result.returncode == 0
    assert result.outputs == {"mode": "oidc"}


def test_a_team_token_without_a_scope_is_refused(tmp_path):
    result = choose(tmp_path, ORGANIZATION="acme", TOKEN_TYPE="team")
    assert result.returncode == 1
    assert "needs a scope" in result.stdout


def test_a_stored_token_is_the_fallback(tmp_path):
    result = choose(tmp_path, ACCESS_TOKEN="pul-0123")
    assert result.returncode == 0
    assert result.outputs == {"mode": "token"}
    assert "pul-0123" not in result.env_file  # exported by its own step, not this one


def test_no_backend_fails_naming_every_way_to_set_one(tmp_path):
    result = choose(tmp_path)
    assert result.returncode == 1
    for name in ("PULUMI_BACKEND_URL", "PULUMI_ORGANIZATION", "PULUMI_ACCESS_TOKEN"):
        assert name in result.stdout


def test_oidc_exchange_runs_only_in_oidc_mode():
    steps = load(ACTION)["runs"]["steps"]
    exchange = next(s for s in steps if s.get("uses", "").startswith("pulumi/auth-actions@"))
    assert exchange["if"] == "steps.backend.outputs.mode == 'oidc'"
    assert exchange["with"]["requested-token-type"] == (
        "urn:pulumi:token-type:access_token:${{ inputs.token-type }}"
    )

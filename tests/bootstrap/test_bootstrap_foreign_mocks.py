"""The bootstrap program under mocks another team would write (tests/pulumi/foreign_mocks.py).

Issue 19: independent checks run the programs under their own mocks. Under a mock that computes
nothing, bootstrap declared every deployer grant for ``serviceAccount:None`` and exported
``{"dev": null, ...}`` as the deployers' emails. The identities the program creates are now
Google's answer or, without one, the documented form (infra/service_accounts.py).

Left to the teammate rewriting the OIDC binding (branch ``oidc``, not on main when this was
written): the attribute condition and mapping, and the IAM conditions' CEL. What still needs
Google's answer here: the pool's name carries the project *number*, so the federated
principals and GCP_WORKLOAD_IDENTITY_PROVIDER are only right under an answer that gives it; the
state bucket's name comes from Pulumi's auto-naming, which mocks do not run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bootstrap.access import account_id
from tests.pulumi.foreign_mocks import (
    BareMocks,
    ForeignRun,
    GoogleLikeMocks,
    MinimalAnswerMocks,
    Registration,
    no_credentials,
    run,
)

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "bootstrap" / "__main__.py"
PROJECT = "jam-fin-relay-bootstrap"
GCP_PROJECT = "northwind-ci"
PROJECT_NUMBER = "135792468013"
REPOSITORY = "northwind/jam-relay"
ACCOUNT = "gcp:serviceaccount/account:Account"
ACCOUNT_GRANT = "gcp:serviceaccount/iAMMember:IAMMember"
PROJECT_GRANT = "gcp:projects/iAMMember:IAMMember"
BUCKET_GRANT = "gcp:storage/bucketIAMMember:BucketIAMMember"
KEY_GRANT = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
POOL = "gcp:iam/workloadIdentityPool:WorkloadIdentityPool"

MOCKS: dict[str, Callable[[], BareMocks]] = {
    "bare": BareMocks,
    "minimal": lambda: MinimalAnswerMocks(None, GCP_PROJECT, PROJECT_NUMBER, "us-central1"),
    "google": lambda: GoogleLikeMocks(None, GCP_PROJECT, PROJECT_NUMBER, "us-central1"),
}
SETUPS: dict[str, dict[str, str]] = {
    "default": {},
    "gcs-backend": {"stateBackend": "gcs", "location": "europe-west1"},
    "own-projects": {"stackProjects": "dev=northwind-relay-dev,prod=northwind-relay"},
    "one-stack": {"stacks": json.dumps(["dev"])},
}
CASES = [(m, s) for m in MOCKS for s in SETUPS]


@pytest.fixture(scope="module")
def bootstrap_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], ForeignRun]:
    home = tmp_path_factory.mktemp("home")
    done: dict[tuple[str, str], ForeignRun] = {}

    def get(mocks: str, setup: str) -> ForeignRun:
        if (mocks, setup) not in done:
            config = {
                "gcp:project": GCP_PROJECT,
                "githubRepository": REPOSITORY,
                # GitHub's numeric ids, as `gh api repos/OWNER/NAME --jq '.owner.id, .id'` prints
                "githubOwnerId": "90412367",
                "githubRepositoryId": "812345678",
                **SETUPS[setup],
            }
            with no_credentials(home):
                done[mocks, setup] = run(
                    MAIN, project=PROJECT, stack="github", mocks=MOCKS[mocks](), config=config
                )
        return done[mocks, setup]

    return get


def _ok(result: ForeignRun) -> ForeignRun:
    assert result.error is None, repr(result.error)
    return result


def _email(account: Registration) -> str:
    """Google's answer, else the documented form an outside checker knows."""
    inputs = account.inputs
    answered = account.state.get("email")
    return answered or f"{inputs['accountId']}@{inputs['project']}.iam.gserviceaccount.com"


def _stacks(setup: str) -> list[str]:
    stacks: list[str] = json.loads(SETUPS[setup].get("stacks", '["dev", "prod"]'))
    return stacks


@pytest.mark.parametrize(("mocks", "setup"), CASES)
def test_bootstrap_runs_to_the_end(bootstrap_run, mocks, setup):
    assert _ok(bootstrap_run(mocks, setup)).of_type(ACCOUNT)


@pytest.mark.parametrize(("mocks", "setup"), CASES)
def test_every_grant_names_an_account_the_program_created(bootstrap_run, mocks, setup):
    """No `serviceAccount:None`: each project, bucket and key grant names one of the deployer
    or previewer accounts, by its email."""
    result = _ok(bootstrap_run(mocks, setup))
    members = {f"serviceAccount:{_email(a)}" for a in result.of_type(ACCOUNT)}
    grants = [*result.of_type(PROJECT_GRANT), *result.of_type(BUCKET_GRANT)]
    grants += result.of_type(KEY_GRANT)
    assert grants
    for grant in grants:
        assert grant.inputs["member"] in members, grant.name


@pytest.mark.parametrize(("mocks", "setup"), CASES)
def test_each_account_is_federated_on_its_own_resource_name(bootstrap_run, mocks, setup):
    result = _ok(bootstrap_run(mocks, setup))
    accounts = result.of_type(ACCOUNT)
    federated = {g.inputs["serviceAccountId"] for g in result.of_type(ACCOUNT_GRANT)}
    assert federated == {
        f"projects/{a.inputs['project']}/serviceAccounts/{_email(a)}" for a in accounts
    }
    roles = {g.inputs["role"] for g in result.of_type(ACCOUNT_GRANT)}
    assert roles == {"roles/iam.workloadIdentityUser"}


@pytest.mark.parametrize(("mocks", "setup"), CASES)
def test_the_deployer_emails_output_names_each_stacks_deployer(bootstrap_run, mocks, setup):
    """README: the outputs are pasted into the repository's Actions variables, so a null there
    is a broken deploy."""
    result = _ok(bootstrap_run(mocks, setup))
    variables = result.outputs["repository_variables"]
    emails = {_email(a) for a in result.of_type(ACCOUNT)}
    deployers = json.loads(variables["GCP_DEPLOY_SERVICE_ACCOUNTS"])
    assert list(deployers) == _stacks(setup)
    assert {*deployers.values(), variables["GCP_PREVIEW_SERVICE_ACCOUNT"]} == emails
    for stack, email in deployers.items():
        assert email.startswith(account_id(stack) + "@")


@pytest.mark.parametrize(("mocks", "setup"), CASES)
def test_project_iam_admin_is_never_granted_without_its_condition(bootstrap_run, mocks, setup):
    result = _ok(bootstrap_run(mocks, setup))
    admins = [
        g
        for g in result.of_type(PROJECT_GRANT)
        if g.inputs["role"] == "roles/resourcemanager.projectIamAdmin"
    ]
    assert len(admins) == len(_stacks(setup))
    assert all(g.inputs["condition"]["expression"] for g in admins)


@pytest.mark.parametrize("setup", list(SETUPS))
def test_under_googles_answer_principals_name_the_pool_by_project_number(bootstrap_run, setup):
    """The pool's name (projects/NUMBER/locations/global/workloadIdentityPools/ID) is Google's
    answer: only a mock that gives it can show the principals and the provider output right."""
    result = _ok(bootstrap_run("google", setup))
    pool = result.one(POOL).state["name"]
    assert pool.startswith(f"projects/{PROJECT_NUMBER}/")
    for grant in result.of_type(ACCOUNT_GRANT):
        assert grant.inputs["member"].startswith(f"principal://iam.googleapis.com/{pool}/subject/")
    provider = result.outputs["repository_variables"]["GCP_WORKLOAD_IDENTITY_PROVIDER"]
    assert provider.startswith(pool + "/providers/")


def test_a_missing_repository_fails_with_a_run_error_before_any_resource(tmp_path):
    with no_credentials(tmp_path):
        result = run(
            MAIN,
            project=PROJECT,
            stack="github",
            mocks=BareMocks(),
            config={"gcp:project": GCP_PROJECT},
        )
    assert type(result.error).__name__ == "RunError"
    assert "githubOwnerId" in str(result.error)
    assert "githubRepositoryId" in str(result.error)
    assert result.registrations == []

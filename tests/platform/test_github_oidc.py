"""bootstrap's Workload Identity provider and bindings, evaluated on GitHub's tokens.

The attribute mapping, the provider's attribute condition and each service account's member are
taken from a run of the real bootstrap program under mocks, and evaluated with a CEL
interpreter (tests/cel_eval.py) on the claims GitHub documents (tests/platform/github_tokens.py),
in both `sub` formats. Sources:

* GitHub, OpenID Connect reference (https://docs.github.com/en/actions/reference/security/oidc):
  the claims, "Example subject claims", "Immutable subject claims" (repositories created,
  renamed or transferred since 2026-07-15 get repo:OWNER@OWNER_ID/REPO@REPO_ID:...).
* GitHub's example token (https://docs.github.com/en/actions/concepts/security/openid-connect):
  every id a JSON string.
* Google, IAM API, WorkloadIdentityPoolProvider (attributeMapping: google.subject "Cannot exceed
  127 bytes"; attributeCondition: may read assertion, google, attribute; at most 4096
  characters; a mapping expression at most 2048).
* Google, principal identifiers (https://cloud.google.com/iam/docs/principal-identifiers).
"""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass
from typing import Any

import pytest

from bootstrap.access import (
    CONDITION_MAX_CHARS,
    MAPPING_MAX_CHARS,
    SUBJECT_MAX_BYTES,
    BootstrapSettings,
    attribute_condition,
    deployer_subject,
    previewer_subject,
)
from tests.bootstrap.conftest import BootstrapRun, execute
from tests.cel_eval import (
    GOOGLE_SUBJECT_MAX_BYTES,
    CelError,
    Federated,
    exchange,
    map_attributes,
    member_matches,
)
from tests.platform.github_tokens import (
    FORK,
    IMMUTABLE,
    LEGACY,
    MAIN,
    OURS,
    PULL_REQUEST_REF,
    RECREATED,
    SAME_NAME_OTHER_OWNER,
    SIBLING,
    SUB_FORMATS,
    TRANSFERRED,
    Repository,
    claims,
)
from tests.pulumi_mocks import between_runs

PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
DEV, PROD, PREVIEW = "relay-deploy-dev", "relay-deploy-prod", "relay-preview"


@dataclass(frozen=True)
class Federation:
    """What bootstrap declared: the provider's mapping and condition, and who each account
    trusts (account id -> its workloadIdentityUser members)."""

    mapping: dict[str, str]
    condition: str
    pool: str
    members: dict[str, list[str]]

    def accounts_for(self, token: dict[str, Any]) -> set[str]:
        """The accounts a job with this token can act as: exchanged, then bound."""
        identity = exchange(self.mapping, self.condition, token)
        if identity is None:
            return set()
        return self.bound(identity.subject)

    def bound(self, subject: str) -> set[str]:
        """The accounts whose member names this google.subject, whatever the condition says."""
        federated = Federated(subject)
        return {
            account
            for account, members in self.members.items()
            if any(member_matches(m, self.pool, federated) for m in members)
        }


def federation_of(run: BootstrapRun) -> Federation:
    assert run.error is None, run.error
    provider = run.one(PROVIDER)
    pool = run.outputs["repository_variables"]["GCP_WORKLOAD_IDENTITY_PROVIDER"]
    pool = pool.removesuffix("/providers/github")
    accounts = {
        _email(d.inputs): d.inputs["accountId"]
        for d in run.of_type("gcp:serviceaccount/account:Account")
    }
    members: dict[str, list[str]] = {}
    for binding in run.of_type(SA_MEMBER):
        assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
        email = binding.inputs["serviceAccountId"].rsplit("/", 1)[1]
        members.setdefault(accounts[email], []).append(binding.inputs["member"])
    return Federation(
        provider.inputs["attributeMapping"], provider.inputs["attributeCondition"], pool, members
    )


def _email(inputs: dict[str, Any]) -> str:
    return f"{inputs['accountId']}@{inputs['project']}.iam.gserviceaccount.com"


def _config(repository: Repository = OURS, **extra: str) -> dict[str, str]:
    return {
        "gcp:project": "acme-ci",
        "githubRepository": repository.full_name,
        "githubOwnerId": repository.owner_id,
        "githubRepositoryId": repository.repository_id,
    } | extra


@pytest.fixture(scope="module")
def federation() -> Federation:
    thresholds = gc.get_threshold()
    run = execute(_config())
    between_runs(thresholds)
    return federation_of(run)


# The jobs: (what it is, its token's shape, whether the provider accepts it, which accounts'
# members name its mapped subject). Accepted and bound together give what it may act as.
@dataclass(frozen=True)
class Job:
    event_name: str
    ref: str
    environment: str | None = None
    repository: Repository = OURS
    accepted: bool = False
    bound: frozenset[str] = frozenset()

    def token(self, sub_format: str) -> dict[str, Any]:
        return claims(
            sub_format,
            event_name=self.event_name,
            ref=self.ref,
            environment=self.environment,
            repository=self.repository,
        )


JOBS: dict[str, Job] = {
    # What CI does (.github/workflows/deploy.yaml, pulumi-up.yaml, pull-request.yaml).
    "dev deploy on a merge": Job("push", MAIN, "dev", accepted=True, bound=frozenset({DEV})),
    "prod deploy on a merge": Job("push", MAIN, "prod", accepted=True, bound=frozenset({PROD})),
    "prod deploy run by hand": Job(
        "workflow_dispatch", MAIN, "prod", accepted=True, bound=frozenset({PROD})
    ),
    "pull-request preview": Job(
        "pull_request", PULL_REQUEST_REF, accepted=True, bound=frozenset({PREVIEW})
    ),
    # Other repositories: refused by the condition, and no member names their subject.
    "a fork's pull request, run in the fork": Job(
        "pull_request", PULL_REQUEST_REF, repository=FORK
    ),
    "a fork's own dev deploy": Job("push", MAIN, "dev", repository=FORK),
    "another repository of the same owner, dev deploy": Job(
        "push", MAIN, "dev", repository=SIBLING
    ),
    "another repository of the same owner, pull request": Job(
        "pull_request", PULL_REQUEST_REF, repository=SIBLING
    ),
    "the same name under another owner, prod deploy": Job(
        "push", MAIN, "prod", repository=SAME_NAME_OTHER_OWNER
    ),
    "the same name under another owner, pull request": Job(
        "pull_request", PULL_REQUEST_REF, repository=SAME_NAME_OTHER_OWNER
    ),
    "our name recreated by the same owner, prod deploy": Job(
        "push", MAIN, "prod", repository=RECREATED
    ),
    # Trust was given to the repository under its owner: after a transfer, bootstrap runs again
    # with the new owner's id (docs/gitops.md).
    "our repository transferred to another owner, prod deploy": Job(
        "push", MAIN, "prod", repository=TRANSFERRED
    ),
    # Our repository, but not a deploy or a preview.
    "dev environment on another branch": Job("push", "refs/heads/fix-billing-copy", "dev"),
    "prod environment on a tag": Job("push", "refs/tags/v1.4.0", "prod"),
    "prod environment run by hand on another branch": Job(
        "workflow_dispatch", "refs/heads/fix-billing-copy", "prod"
    ),
    "push to main without an environment": Job("push", MAIN),
    "run by hand on main without an environment": Job("workflow_dispatch", MAIN),
    "pull-request job naming the dev environment": Job("pull_request", PULL_REQUEST_REF, "dev"),
    "pull_request_target without an environment": Job("pull_request_target", MAIN),
    "an environment that is no stack, on main": Job("push", MAIN, "staging"),
    # Only the condition refuses these: the member names the environment on main, not events.
    "dev environment on main, on a schedule": Job("schedule", MAIN, "dev", bound=frozenset({DEV})),
    "prod environment on main, from pull_request_target": Job(
        "pull_request_target", MAIN, "prod", bound=frozenset({PROD})
    ),
}


@pytest.mark.parametrize("sub_format", SUB_FORMATS)
@pytest.mark.parametrize("name", JOBS)
def test_the_provider_accepts_only_deploys_and_previews_of_this_repository(
    federation: Federation, name: str, sub_format: str
) -> None:
    """GitHub OIDC reference (claims; both `sub` formats) and the IAM API's attributeCondition:
    the condition, evaluated on the token, accepts exactly CI's deploy and preview jobs. The
    ids are JSON strings in GitHub's example token, and CEL does not equate '74' and 74, so
    a condition comparing numbers would refuse every deploy here."""
    job = JOBS[name]
    identity = exchange(federation.mapping, federation.condition, job.token(sub_format))
    assert (identity is not None) is job.accepted


@pytest.mark.parametrize("name", JOBS)
def test_each_member_names_only_its_own_jobs(federation: Federation, name: str) -> None:
    """principal-identifiers: principal://…/subject/SUBJECT is one google.subject. The members
    alone, without the condition, name only the deploy of their stack on main or the preview,
    so each account is bound twice."""
    job = JOBS[name]
    (subject,) = map_attributes(federation.mapping, job.token(LEGACY)).values()
    assert federation.bound(subject) == job.bound


@pytest.mark.parametrize("sub_format", SUB_FORMATS)
@pytest.mark.parametrize("name", JOBS)
def test_each_job_can_act_as_exactly_its_account(
    federation: Federation, name: str, sub_format: str
) -> None:
    """Token exchange then binding (IAM API providers; principal-identifiers), in the legacy
    and the immutable `sub` format: a dev deploy is the dev deployer, a prod deploy the prod
    deployer, a preview the previewer, anything else nobody."""
    job = JOBS[name]
    expected = job.bound if job.accepted else frozenset()
    assert federation.accounts_for(job.token(sub_format)) == expected


@pytest.mark.parametrize("name", JOBS)
def test_sub_is_never_read(federation: Federation, name: str) -> None:
    """GitHub OIDC reference: repositories can customise `sub`, and its default shape changed
    in July 2026. A token with no `sub` at all gets the same answer: nothing reads it (reading
    a missing claim is an error)."""
    job = JOBS[name]
    token = job.token(IMMUTABLE)
    del token["sub"]
    expected = job.bound if job.accepted else frozenset()
    assert federation.accounts_for(token) == expected


def test_the_same_name_under_another_owner_has_our_legacy_sub() -> None:
    """GitHub OIDC reference, "Immutable subject claims": in the previous format "a different
    owner could create the same subject value". The recreated repository's legacy `sub` is
    ours exactly, which is why nothing binds on it."""
    ours = JOBS["prod deploy on a merge"].token(LEGACY)
    theirs = JOBS["the same name under another owner, prod deploy"].token(LEGACY)
    assert theirs["sub"] == ours["sub"] == "repo:acme/jam-fin-relay:environment:prod"
    assert theirs["repository_id"] != ours["repository_id"]


def test_the_mapped_subjects_are_the_ones_bootstrap_binds(federation: Federation) -> None:
    """IAM API attributeMapping: google.subject is what principal:// members name."""
    settings = _settings()
    deploy = JOBS["prod deploy on a merge"].token(IMMUTABLE)
    preview = JOBS["pull-request preview"].token(IMMUTABLE)
    assert map_attributes(federation.mapping, deploy) == {
        "google.subject": deployer_subject(settings, "prod")
    }
    assert map_attributes(federation.mapping, preview) == {
        "google.subject": previewer_subject(settings)
    }
    assert deployer_subject(settings, "prod") == (
        "owner_id:90412367:repository_id:812345678:environment:prod:ref:refs/heads/main"
    )
    assert previewer_subject(settings) == (
        "owner_id:90412367:repository_id:812345678:event_name:pull_request"
    )


def test_each_account_has_exactly_one_member(federation: Federation) -> None:
    assert {account: len(m) for account, m in federation.members.items()} == {
        DEV: 1,
        PROD: 1,
        PREVIEW: 1,
    }


def _settings(stacks: tuple[str, ...] = ("dev", "prod"), **ids: str) -> BootstrapSettings:
    return BootstrapSettings(
        project="acme-ci",
        repository=OURS.full_name,
        owner_id=ids.get("owner_id", OURS.owner_id),
        repository_id=ids.get("repository_id", OURS.repository_id),
        stack_projects=dict.fromkeys(stacks, "acme-ci"),
    )


def test_the_longest_accepted_subject_fits_googles_limit() -> None:
    """IAM API: google.subject "Cannot exceed 127 bytes". The longest ids bootstrap accepts
    (20 digits) and the longest stack name (16 characters) give 113 bytes."""
    widest = _settings(("dev", "p" * 16), owner_id="9" * 20, repository_id="9" * 20)
    assert len(deployer_subject(widest, "p" * 16).encode()) == 113
    assert SUBJECT_MAX_BYTES == GOOGLE_SUBJECT_MAX_BYTES == 127


def test_a_subject_over_127_bytes_is_refused_at_exchange(federation: Federation) -> None:
    """IAM API: google.subject "Cannot exceed 127 bytes" (GitLab MR 114147 quotes the error,
    "The size of mapped attribute exceeds the 127 bytes limit"). A token the condition refuses
    anyway, an environment job on a long branch, maps past it and is refused there."""
    job = Job("push", "refs/heads/" + "b" * 120, "dev")
    (subject,) = map_attributes(federation.mapping, job.token(LEGACY)).values()
    assert len(subject.encode()) > GOOGLE_SUBJECT_MAX_BYTES
    assert exchange(federation.mapping, "true", job.token(LEGACY)) is None


def test_expressions_are_within_googles_lengths(federation: Federation) -> None:
    """IAM API: "The maximum length of the attribute condition expression is 4096 characters";
    "The maximum length of an attribute mapping expression is 2048 characters"."""
    assert len(federation.condition) <= CONDITION_MAX_CHARS == 4096
    assert all(len(e) <= MAPPING_MAX_CHARS == 2048 for e in federation.mapping.values())


def test_a_stack_added_in_config_deploys_from_its_own_environment() -> None:
    """GitHub OIDC reference (environment claim): a third stack's environment job on main is
    its own deployer, and still no other stack's."""
    thresholds = gc.get_threshold()
    run = execute(_config(stacks=json.dumps(["dev", "staging", "prod"])))
    between_runs(thresholds)
    federation = federation_of(run)
    staging = Job("push", MAIN, "staging").token(IMMUTABLE)
    assert federation.accounts_for(staging) == {"relay-deploy-staging"}
    assert federation.accounts_for(JOBS["dev deploy on a merge"].token(IMMUTABLE)) == {DEV}


def test_a_condition_that_reads_a_missing_claim_is_an_error() -> None:
    """The helper's strictness, which `has(assertion.environment)` exists for: GitHub adds
    `environment` only to jobs that reference one, and reading it on a preview's token is an
    error, not a quiet false."""
    token = JOBS["pull-request preview"].token(LEGACY)
    with pytest.raises(CelError):
        exchange({"google.subject": "assertion.environment"}, "true", token)


def test_the_condition_names_every_stack_and_event_as_a_list() -> None:
    """Standard CEL's `in` over list literals, one entry per stack and per deploy event."""
    condition = attribute_condition(_settings(("dev", "qa", "prod")))
    assert "assertion.environment in ['dev', 'qa', 'prod']" in condition
    assert "assertion.event_name in ['push', 'workflow_dispatch']" in condition

"""The claims of GitHub Actions OIDC tokens, as GitHub documents them, for the tests that
evaluate bootstrap's provider and bindings.

Claim set and types follow GitHub's example token (every claim a JSON string: "repository_id":
"74", "repository_owner_id": "65"; https://docs.github.com/en/actions/concepts/security/openid-connect).
`environment` is present only when the job references an environment, and `sub` is built
as GitHub builds it (https://docs.github.com/en/actions/reference/security/oidc, "Example
subject claims" and "Immutable subject claims"):

* a job with an environment: ``repo:OWNER/REPO:environment:NAME``;
* a pull_request job without one: ``repo:OWNER/REPO:pull_request``;
* any other job: ``repo:OWNER/REPO:ref:REF``;
* in the immutable format (repositories created, renamed or transferred since 2026-07-15, or
  opted in), ``OWNER@OWNER_ID/REPO@REPO_ID`` in place of ``OWNER/REPO``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

LEGACY = "legacy"
IMMUTABLE = "immutable"
SUB_FORMATS = (LEGACY, IMMUTABLE)
MAIN = "refs/heads/main"
PULL_REQUEST_REF = "refs/pull/42/merge"  # what a pull_request run checks out


@dataclass(frozen=True)
class Repository:
    owner: str
    owner_id: str
    name: str
    repository_id: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


# Ours: the ids bootstrap is configured with.
OURS = Repository("acme", "90412367", "jam-fin-relay", "812345678")
# The same owner's other repository.
SIBLING = replace(OURS, name="billing-tools", repository_id="812349901")
# A fork of ours, under a contributor's account.
FORK = Repository("octocat", "583231", "jam-fin-relay", "915550123")
# `acme` deleted or renamed, and the name taken by another account that creates a repository
# of the same name: the legacy `sub` is exactly ours, the ids are not.
SAME_NAME_OTHER_OWNER = replace(OURS, owner_id="130077215", repository_id="987654321")
# Our repository deleted and recreated under the same name by the same owner.
RECREATED = replace(OURS, repository_id="998877665")
# Our repository transferred to another account: GitHub keeps a repository's id on transfer,
# only the owner (and its id) changes.
TRANSFERRED = replace(OURS, owner="acme-archive", owner_id="130077300")


def subject(repository: Repository, sub_format: str, context: str) -> str:
    if sub_format == IMMUTABLE:
        path = (
            f"{repository.owner}@{repository.owner_id}/{repository.name}@{repository.repository_id}"
        )
    else:
        path = repository.full_name
    return f"repo:{path}:{context}"


def claims(
    sub_format: str,
    *,
    event_name: str,
    ref: str,
    environment: str | None = None,
    repository: Repository = OURS,
) -> dict[str, Any]:
    """One job's token, shaped like GitHub's example (its key order, string-valued ids)."""
    if environment is not None:
        context = f"environment:{environment}"
    elif event_name == "pull_request":
        context = "pull_request"
    else:
        context = f"ref:{ref}"
    pull_request = ref.startswith("refs/pull/")
    token: dict[str, Any] = {
        "jti": "3a5e9d2c-7b41-4f0e-9a35-0c8e4b1d2f67",
        "sub": subject(repository, sub_format, context),
    }
    if environment is not None:
        token["environment"] = environment
    token |= {
        "aud": f"https://github.com/{repository.owner}",
        "ref": ref,
        "sha": "c040cae0f0dc81641728557b80f09cfa23b83fe5",
        "repository": repository.full_name,
        "repository_owner": repository.owner,
        "actor_id": "1342004",
        "repository_visibility": "private",
        "repository_id": repository.repository_id,
        "repository_owner_id": repository.owner_id,
        "run_id": "22259804324",
        "run_number": "42",
        "run_attempt": "1",
        "runner_environment": "github-hosted",
        "actor": "octocat",
        "workflow": "deploy",
        "head_ref": "fix-billing-copy" if pull_request else "",
        "base_ref": "main" if pull_request else "",
        "event_name": event_name,
        "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
        "job_workflow_ref": (
            f"{repository.full_name}/.github/workflows/pulumi-up.yaml@{ref}"
            if environment is not None
            else f"{repository.full_name}/.github/workflows/pull-request.yaml@{ref}"
        ),
        "iss": "https://token.actions.githubusercontent.com",
        "nbf": 1632492967,
        "exp": 1632493867,
        "iat": 1632493567,
    }
    return token

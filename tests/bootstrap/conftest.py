"""Run the real ``bootstrap/__main__.py`` under Pulumi's mocks (tests/pulumi_mocks.py).

``bootstrap.run`` sets the bootstrap project's required keys, plus any overrides, the way
``pulumi up`` would, and returns a ``BootstrapRun``: every resource declared and the outputs.
"""

from __future__ import annotations

import gc
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pulumi_mocks import Declared, GoogleCloudMocks, MockRun, between_runs, run_program

REPO = Path(__file__).resolve().parents[2]
PROJECT = "jam-fin-relay-bootstrap"
MAIN = REPO / "bootstrap" / "__main__.py"
GCP_PROJECT = "acme-ci"
PROJECT_NUMBER = "987654321098"
REPOSITORY = "acme/jam-fin-relay"
# GitHub's ids of acme and of acme/jam-fin-relay (`gh api repos/acme/jam-fin-relay --jq
# '.owner.id, .id'`), strings as the token carries them.
OWNER_ID = "90412367"
REPOSITORY_ID = "812345678"
REQUIRED = {
    "gcp:project": GCP_PROJECT,
    "githubRepository": REPOSITORY,
    "githubOwnerId": OWNER_ID,
    "githubRepositoryId": REPOSITORY_ID,
}


class BootstrapRun(MockRun):
    """One run of the bootstrap program."""

    def account(self, account_id: str) -> Declared:
        return next(
            d
            for d in self.of_type("gcp:serviceaccount/account:Account")
            if d.inputs["accountId"] == account_id
        )

    def project_roles(self, email: str) -> dict[tuple[str, str], Declared]:
        """(project, role) -> grant, for one service account's project-level grants."""
        return {
            (d.inputs["project"], d.inputs["role"]): d
            for d in self.of_type("gcp:projects/iAMMember:IAMMember")
            if d.inputs["member"] == f"serviceAccount:{email}"
        }


def execute(config: dict[str, str], stack: str = "github") -> BootstrapRun:
    """Run the bootstrap program; un-prefixed keys belong to the bootstrap project."""
    mocks = GoogleCloudMocks(PROJECT_NUMBER)
    return run_program(BootstrapRun, MAIN, project=PROJECT, stack=stack, mocks=mocks, config=config)


@pytest.fixture
def bootstrap() -> Iterator[Any]:
    """Runs the bootstrap with the required keys set, plus any overrides (None leaves a key
    out)."""
    thresholds = gc.get_threshold()

    def run(**overrides: str | None) -> BootstrapRun:
        config = REQUIRED | overrides
        return execute({k: v for k, v in config.items() if v is not None})

    yield types.SimpleNamespace(
        run=run,
        project=GCP_PROJECT,
        repository=REPOSITORY,
        owner_id=OWNER_ID,
        repository_id=REPOSITORY_ID,
        number=PROJECT_NUMBER,
        between_runs=lambda: between_runs(thresholds),
    )
    between_runs(thresholds)

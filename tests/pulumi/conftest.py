"""Run the real ``__main__.py`` under Pulumi's mocks (tests/pulumi_mocks.py) for the tests.

``kit.run`` sets the relay project's stack and config the way ``pulumi up`` would, with the
secrets given as Pulumi secrets, and returns a ``ProgramRun``: every resource declared, the
stack outputs, which outputs are secret, and what the program logged.
"""

from __future__ import annotations

import gc
import sys
import types
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/pulumi_eval.py loads this file by path, outside pytest
    sys.path.insert(0, str(REPO))

from infra.credentials import READ_ENVS  # noqa: E402 (needs REPO on sys.path)
from tests.pulumi_mocks import (  # noqa: E402
    DEFAULT_CALLER,
    Declared,
    GoogleCloudMocks,
    MockRun,
    between_runs,
    run_program,
)

PROJECT = "jam-fin-relay"
MAIN = REPO / "__main__.py"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
GCP_PROJECT = "acme-support-dev"
PROJECT_NUMBER = "123456789012"
REGION = "europe-west1"

# Secret values the tests set; none of them may ever show up in an output.
INTERCOM_URL = "https://api.intercom.io/fin/workflows/webhooks/tok_{}_s3cr3t"
JAM_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw{}"


class ProgramRun(MockRun):
    """One run of the relay program."""

    def by_urn(self, urn: str) -> Declared:
        return next(d for d in self.declared if d.urn == urn)

    def count_by_type(self) -> Counter[str]:
        return Counter(d.type for d in self.declared)

    def names(self) -> set[tuple[str, str]]:
        return {(d.type, d.name) for d in self.declared}


def default_config(workflows_file: Path) -> dict[str, str]:
    return {"gcp:project": GCP_PROJECT, "gcp:region": REGION, "workflowsFile": str(workflows_file)}


def execute(
    stack: str,
    workflows_file: Path,
    config: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    caller: str = DEFAULT_CALLER,
) -> ProgramRun:
    """Run ``__main__.py`` for ``stack``; plain ``config`` and ``secrets`` are un-prefixed keys
    of this project unless they contain ':'. ``caller`` is who the credentials name."""
    return run_program(
        ProgramRun,
        MAIN,
        project=PROJECT,
        stack=stack,
        mocks=GoogleCloudMocks(PROJECT_NUMBER, caller=caller),
        config=default_config(workflows_file) | (config or {}),
        secrets=secrets,
    )


def standard_secrets(*workflow_keys: str, signing: tuple[str, ...] = ()) -> dict[str, str]:
    """Intercom URLs for ``workflow_keys`` and Jam secrets for ``signing`` (config key names)."""
    values = {key: INTERCOM_URL.format(i) for i, key in enumerate(workflow_keys)}
    values |= {key: JAM_SECRET.format(i) for i, key in enumerate(signing)}
    return values


def camel(workflow_id: str, suffix: str) -> str:
    head, *rest = workflow_id.split("-")
    return head + "".join(p.capitalize() for p in rest) + suffix


@pytest.fixture(autouse=True)
def no_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """An empty HOME and no credential variables, so a developer's own gcloud login never changes
    a test's outcome; returns that HOME."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for name in READ_ENVS:
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def kit() -> Iterator[Any]:
    """Helpers and constants for the tests."""
    thresholds = gc.get_threshold()
    yield types.SimpleNamespace(
        run=execute,
        secrets=standard_secrets,
        camel=camel,
        fixtures=FIXTURES,
        repo=REPO,
        gcp_project=GCP_PROJECT,
        region=REGION,
        project_number=PROJECT_NUMBER,
        caller=DEFAULT_CALLER,
        intercom_url=INTERCOM_URL,
        jam_secret=JAM_SECRET,
        between_runs=lambda: between_runs(thresholds),
    )
    between_runs(thresholds)

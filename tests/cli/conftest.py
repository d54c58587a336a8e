"""Run ``python -m relayctl`` as a user would: a subprocess, real files in a temporary project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # pytest's rootdir is not importable by default here
    sys.path.insert(0, str(REPO))

from relayctl.fake_intercom import FakeIntercom  # noqa: E402

COMMAND_TIMEOUT_SECONDS = 90

WORKFLOWS = textwrap.dedent(
    """\
    version: 1
    workflows:
      - id: billing-handoff
        description: Ask for a recording before billing questions go to a person
        intercom_webhook_url:
          config: billingHandoffIntercomUrl
        jam_signing_secret:
          config: billingHandoffJamSecret
      - id: bug-report-triage
        description: Collect a recording before Fin triages a bug
        intercom_webhook_url:
          config: bugReportTriageIntercomUrl
        events: [intercom.recorder.recorded]
        stacks: [prod]
    """
)

STACK_DEV = textwrap.dedent(
    """\
    config:
      gcp:project: demo-project
      jam-fin-relay:billingHandoffIntercomUrl:
        secure: v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBBBBBBBBBBBBBB
      jam-fin-relay:billingHandoffJamSecret:
        secure: v1:CCCCCCCCCCCCCCCC:DDDDDDDDDDDDDDDDDDDDDDDDDDDD
    """
)

Runner = Callable[..., subprocess.CompletedProcess[str]]


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment minus relay secrets, with the checkout importable."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INTERCOM_WEBHOOK_URL__", "JAM_SIGNING_SECRET__", "RELAY_"))
        and k != "GITHUB_ACTIONS"
    }
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


@pytest.fixture
def child_env() -> dict[str, str]:
    return cli_env()


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder like the checkout's root: Pulumi.yaml, workflows.yaml, a dev stack."""
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "workflows.yaml").write_text(WORKFLOWS)
    (tmp_path / "Pulumi.dev.yaml").write_text(STACK_DEV)
    return tmp_path


@pytest.fixture
def relayctl(project: Path) -> Runner:
    """``relayctl(*args, cwd=project, env_extra=None, timeout=...)`` -> CompletedProcess."""

    def run(
        *args: str,
        cwd: Path = project,
        env_extra: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        timeout: float = COMMAND_TIMEOUT_SECONDS,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "relayctl", *args],
            cwd=cwd,
            env=env if env is not None else cli_env(env_extra),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def intercom() -> Iterator[FakeIntercom]:
    with FakeIntercom() as fake:
        yield fake

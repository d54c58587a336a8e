"""pulumi-up.yaml runs preflight before `pulumi up`: the job stops on exit 1 (and 2), warns on
3, and refuses to run with the test seam's base set. The step's script runs under bash with a
stand-in `relayctl` that exits as told."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.gitops.github_files import PULUMI_ACTION, WORKFLOWS, jobs, run_step

UP = WORKFLOWS / "pulumi-up.yaml"
STEP = "Pre-flight the stack's project"


def _steps() -> list[dict[str, Any]]:
    [job] = jobs(UP)
    return job.steps


def _script() -> str:
    step = next(s for s in _steps() if s.get("name") == STEP)
    script = step["run"]
    assert isinstance(script, str)
    return script


def test_preflight_runs_after_google_auth_and_before_up():
    names = [str(s.get("name") or s.get("uses", "")) for s in _steps()]
    preflight = names.index(STEP)
    auth = next(i for i, n in enumerate(names) if n.startswith("google-github-actions/auth@"))
    up = next(
        i
        for i, s in enumerate(_steps())
        if str(s.get("uses", "")).startswith(PULUMI_ACTION)
        and s.get("with", {}).get("command") == "up"
    )
    assert auth < preflight < up


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A folder with a `.venv/bin/relayctl` that records its arguments and exits $STUB_EXIT."""
    folder = tmp_path / "checkout"
    bin_dir = folder / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    stub = bin_dir / "relayctl"
    stub.write_text('#!/usr/bin/env bash\necho "relayctl $*" > called.txt\nexit "$STUB_EXIT"\n')
    stub.chmod(0o755)
    return folder


def _run(checkout: Path, tmp_path: Path, code: int, **env: str):
    return run_step(_script(), checkout, {"STACK": "prod", "STUB_EXIT": str(code), **env}, tmp_path)


def test_all_ok_continues(checkout, tmp_path):
    result = _run(checkout, tmp_path, 0)
    assert result.returncode == 0
    assert (checkout / "called.txt").read_text().strip() == "relayctl preflight --stack prod"


@pytest.mark.parametrize("code", [1, 2])
def test_something_will_fail_stops_the_job(checkout, tmp_path, code):
    result = _run(checkout, tmp_path, code)
    assert result.returncode == code
    assert "::error title=preflight failed::" in result.stdout


def test_could_not_tell_warns_and_continues(checkout, tmp_path):
    result = _run(checkout, tmp_path, 3)
    assert result.returncode == 0
    assert "::warning title=preflight could not tell::" in result.stdout


@pytest.mark.parametrize("value", ["http://127.0.0.1:8080", ""])
def test_the_seams_base_set_fails_before_preflight_runs(checkout, tmp_path, value):
    result = _run(checkout, tmp_path, 0, RELAYCTL_GOOGLE_API_BASE=value)
    assert result.returncode == 1
    assert "::error title=RELAYCTL_GOOGLE_API_BASE is set::" in result.stdout
    assert not (checkout / "called.txt").exists()

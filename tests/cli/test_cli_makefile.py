"""The Makefile's interpreter check, run by make in a temporary copy with stub interpreters.

A stub prints what the check's one-line probe prints ("MAJOR.MINOR ok|old EXECUTABLE"), so the
tests need no old Python installed and never reach pip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def stub_python(path: Path, version: str, ok: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "{version} {"ok" if ok else "old"} {path}"\n')
    path.chmod(0o755)
    return path


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    return tmp_path


def make(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Run as a top-level make even under `make test`: no inherited level or flags.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_old_python_gets_one_line_saying_what_is_needed(checkout, tmp_path):
    old = stub_python(tmp_path / "bin" / "python3.9", "3.9", ok=False)
    result = make(checkout, "demo", f"PYTHON={old}")
    assert result.returncode != 0
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if not re.match(r"make(\[\d+\])?: ", line)]
    assert lines == [
        f"Python 3.11 or newer is needed; found 3.9 at {old}. Install one and set PYTHON, "
        "e.g. make demo PYTHON=python3.12"
    ]
    assert not (checkout / ".venv").exists()


def test_a_missing_interpreter_is_named(checkout):
    result = make(checkout, "install", "PYTHON=no-such-python3")
    assert result.returncode != 0
    assert "Python 3.11 or newer is needed; 'no-such-python3' does not run." in result.stderr


def test_a_venv_built_by_an_old_python_is_removed_for_recreation(checkout):
    stub_python(checkout / ".venv" / "bin" / "python", "3.9", ok=False)
    result = make(checkout, "venv-check", f"PYTHON={sys.executable}")
    assert result.returncode == 0, result.stderr
    assert "note: .venv was built by Python 3.9; recreating it with" in result.stdout
    assert not (checkout / ".venv").exists()


def test_a_venv_whose_interpreter_no_longer_runs_is_removed(checkout):
    (checkout / ".venv" / "bin").mkdir(parents=True)
    (checkout / ".venv" / "bin" / "python").symlink_to(checkout / "gone" / "python3.11")
    result = make(checkout, "venv-check", f"PYTHON={sys.executable}")
    assert result.returncode == 0, result.stderr
    assert "an interpreter that no longer runs" in result.stdout
    assert not (checkout / ".venv").exists()


def test_a_venv_of_the_same_version_is_kept(checkout):
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub_python(checkout / ".venv" / "bin" / "python", version, ok=True)
    result = make(checkout, "venv-check", f"PYTHON={sys.executable}")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert (checkout / ".venv" / "bin" / "python").exists()


def test_a_working_venv_is_used_even_when_the_python_is_old(checkout, tmp_path):
    # Someone who built .venv with PYTHON=python3.12 need not repeat it on every command.
    stub_python(checkout / ".venv" / "bin" / "python", "3.12", ok=True)
    old = stub_python(tmp_path / "bin" / "python3.9", "3.9", ok=False)
    result = make(checkout, "venv-check", f"PYTHON={old}")
    assert result.returncode == 0, result.stderr
    assert (checkout / ".venv" / "bin" / "python").exists()


# --- `make demo` installs only what the demo runs (issue 21) ----------------------------------

DEMO_REQUIREMENTS = REPO / "requirements-demo.txt"


def _ranges(path: Path) -> dict[str, str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {re.split(r"[~=<>!]", line, maxsplit=1)[0]: line for line in lines if line}


def test_the_demo_requirements_are_the_full_sets_own_ranges():
    demo, full = _ranges(DEMO_REQUIREMENTS), _ranges(REPO / "requirements.txt")
    assert demo.pop("-r relay_function/requirements.txt") == "-r relay_function/requirements.txt"
    assert demo, "requirements-demo.txt lists nothing of its own"
    for name, line in demo.items():
        assert full.get(name) == line, f"{name}: {line!r} vs requirements.txt {full.get(name)!r}"


def test_the_demo_installs_neither_pulumi_nor_the_test_tools():
    demo = set(_ranges(DEMO_REQUIREMENTS))
    assert not demo & {"pulumi", "pulumi-gcp", "pytest", "mypy", "ruff", "hypothesis", "shtab"}


def test_make_demo_does_not_run_the_full_install():
    makefile = (REPO / "Makefile").read_text()
    (recipe,) = re.findall(r"^demo: (.*)$", makefile, re.MULTILINE)
    assert recipe.split() == ["demo-install"]
    assert "-r requirements-demo.txt" in makefile


# Modules only the full set installs: the demo must run without any of them.
NOT_FOR_THE_DEMO = (
    "pulumi",
    "pulumi_gcp",
    "pulumiverse_time",
    "shtab",
    "pytest",
    "_pytest",
    "hypothesis",
    "mypy",
    "pytest_httpserver",
    "google",
)
BLOCKER = f"""
import sys, runpy
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {NOT_FOR_THE_DEMO!r}:
            raise ImportError("not in requirements-demo.txt: " + name)
sys.meta_path.insert(0, Block())
sys.argv = ["relayctl", "demo"]
runpy.run_module("relayctl", run_name="__main__")
"""


def test_the_demo_runs_with_only_the_demo_requirements(child_env):
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER],
        cwd=REPO,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Demo passed" in result.stdout

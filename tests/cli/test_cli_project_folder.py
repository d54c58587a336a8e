"""relayctl works from any folder of a project and names the workflows file it used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from relayctl.common import OWN_CHECKOUT, find_workflows_file

REPO = Path(__file__).resolve().parents[2]
CONSOLE_SCRIPT = Path(sys.executable).parent / "relayctl"


def test_from_a_subfolder_it_uses_the_projects_file_and_names_it(relayctl, project):
    (project / "docs" / "notes").mkdir(parents=True)
    result = relayctl("validate", cwd=project / "docs" / "notes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == f"ok: {project.resolve() / 'workflows.yaml'}: 2 workflows valid.\n"


def test_in_the_project_folder_the_name_stays_short(relayctl):
    result = relayctl("plan")
    assert result.returncode == 0, result.stderr
    assert "(workflows.yaml, 2)" in result.stdout


def test_an_explicit_file_is_taken_as_given(relayctl, project):
    (project / "sub").mkdir()
    result = relayctl("validate", "--file", "workflows.yaml", cwd=project / "sub")
    assert result.returncode == 2
    assert "workflows.yaml: no such file" in result.stderr


def test_outside_any_project_there_is_no_workflows_file(tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("not-a-project")
    assert find_workflows_file(elsewhere) is None


def test_outside_any_project_validate_says_so_instead_of_checking_its_own_checkout(
    relayctl, tmp_path_factory
):
    """Issue 21: it used to check relayctl's own checkout, silently, and say "ok"."""
    elsewhere = tmp_path_factory.mktemp("not-a-project")
    result = relayctl("validate", cwd=elsewhere)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "no project here: neither this folder nor any folder above it holds Pulumi.yaml" in (
        result.stderr
    )
    assert str(OWN_CHECKOUT) not in result.stderr


@pytest.mark.parametrize("command", ["plan", "serve", "endpoints", "add x", "check --url http://h"])
def test_outside_any_project_every_file_command_says_so(relayctl, tmp_path_factory, command):
    result = relayctl(*command.split(), cwd=tmp_path_factory.mktemp("not-a-project"))
    assert result.returncode == 2
    assert "no project here" in result.stderr


def test_a_folder_given_as_the_file_is_named_a_folder(relayctl, project, tmp_path):
    """Issue 21: `--file /tmp` said "no such file"."""
    result = relayctl("validate", "--file", str(tmp_path))
    assert result.returncode == 2
    assert f"{tmp_path}: a folder, not a file: pass the file itself" in result.stderr
    assert "no such file" not in result.stderr


def test_a_folder_holding_a_workflows_file_is_suggested(relayctl, project):
    result = relayctl("validate", "--file", str(project))
    assert result.returncode == 2
    assert f"(did you mean {project / 'workflows.yaml'}?)" in result.stderr


def test_a_folder_with_only_pulumi_yaml_is_not_the_project(project):
    # bootstrap/ holds its own Pulumi.yaml but no workflows.yaml: keep walking up.
    (project / "bootstrap").mkdir()
    (project / "bootstrap" / "Pulumi.yaml").write_text("name: bootstrap\nruntime: python\n")
    assert find_workflows_file(project / "bootstrap") == project.resolve() / "workflows.yaml"


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="`make install` has not run")
@pytest.mark.parametrize("folder", [".", "tests"])
def test_the_console_script_validates_from_the_root_and_from_tests(folder, child_env):
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "validate"],
        cwd=REPO / folder,
        env={k: v for k, v in child_env.items() if k != "PYTHONPATH"},  # as a user runs it
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    named = "workflows.yaml" if folder == "." else str(REPO / "workflows.yaml")
    assert result.stdout.startswith(f"ok: {named}: ")

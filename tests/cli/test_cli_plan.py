"""``relayctl plan``: routes and the diff against a base file or git ref, offline."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def test_routes_with_paths_events_and_secrets(relayctl):
    result = relayctl("plan")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "<relay URL>/workflows/billing-handoff" in out
    assert "<relay URL>/workflows/bug-report-triage" in out
    assert "billingHandoffIntercomUrl -> INTERCOM_WEBHOOK_URL__BILLING_HANDOFF" in out
    assert "billingHandoffJamSecret -> JAM_SIGNING_SECRET__BILLING_HANDOFF" in out
    assert "(not configured yet) -> JAM_SIGNING_SECRET__BUG_REPORT_TRIAGE" in out


def test_stack_keeps_only_the_workflows_deployed_there(relayctl):
    result = relayctl("plan", "--stack", "dev")
    assert result.returncode == 0
    assert "billing-handoff" in result.stdout
    assert "bug-report-triage" not in result.stdout


def test_stack_without_a_stack_file_gets_a_note(relayctl):
    result = relayctl("plan", "--stack", "prdo")
    assert result.returncode == 0  # a plan for a stack not created yet is still useful
    assert "note: no Pulumi.prdo.yaml next to workflows.yaml; is 'prdo' the stack's name?" in (
        result.stderr
    )
    assert "note:" not in relayctl("plan", "--stack", "dev").stderr


def _edit_head(project: Path) -> Path:
    """Base: the fixture file. Head: one added, one removed, one changed."""
    base = project / "base.yaml"
    shutil.copy(project / "workflows.yaml", base)
    text = (project / "workflows.yaml").read_text()
    head = text.split("  - id: bug-report-triage")[0]  # remove bug-report-triage
    head = head.replace(
        "config: billingHandoffJamSecret",
        "config: billingHandoffJamSecret\n    events: [intercom.recorder.recorded]\n"
        "    stacks: [dev]",
    )
    head += (
        "  - id: refund-check\n"
        "    description: New flow\n"
        "    intercom_webhook_url:\n"
        "      config: refundCheckIntercomUrl\n"
    )
    (project / "workflows.yaml").write_text(head)
    return base


def test_diff_against_a_base_file(relayctl, project):
    base = _edit_head(project)
    result = relayctl("plan", "--base", str(base))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "+ added    refund-check (/workflows/refund-check)" in out
    assert "- removed  bug-report-triage" in out
    assert "~ changed  billing-handoff" in out
    assert (
        "events: intercom.recorder.recorded, intercom.recorder.opted_out -> "
        "intercom.recorder.recorded" in out
    )
    assert "stacks: every stack -> dev" in out


def test_markdown_for_a_pull_request_comment(relayctl, project):
    base = _edit_head(project)
    result = relayctl("plan", "--base", str(base), "--format", "markdown")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("<!-- jam-fin-relay:plan -->\n")
    assert "**1 added, 1 removed, 1 changed**" in out
    assert "| **added** | `refund-check` | `/workflows/refund-check` |" in out
    assert "| **removed** | `bug-report-triage` |" in out
    assert "- `billing-handoff`: events:" in out


def test_literal_url_is_never_printed(relayctl, project):
    url = "https://intercom.example/hooks/secret-capability-7"
    base = _edit_head(project)
    text = (
        (project / "workflows.yaml")
        .read_text()
        .replace(
            "intercom_webhook_url:\n      config: billingHandoffIntercomUrl",
            f"intercom_webhook_url: {url}",
        )
    )
    (project / "workflows.yaml").write_text(text)
    for fmt in ("text", "markdown"):
        result = relayctl("plan", "--base", str(base), "--format", fmt)
        assert result.returncode == 0
        assert "(literal URL in the file)" in result.stdout
        assert url not in result.stdout + result.stderr


def test_invalid_head_file_fails(relayctl, project):
    (project / "workflows.yaml").write_text("version: 1\nworkflows:\n  - id: Bad_Id\n")
    result = relayctl("plan")
    assert result.returncode == 1
    assert "error: workflows.yaml:" in result.stdout


def test_invalid_base_gives_routes_without_a_diff(relayctl, project):
    (project / "base.yaml").write_text("version: 7\n")
    result = relayctl("plan", "--base", "base.yaml")
    assert result.returncode == 0
    assert "is not valid" in result.stderr
    assert "Changes against" not in result.stdout
    assert "billing-handoff" in result.stdout


def test_base_that_is_neither_file_nor_ref_is_a_usage_error(relayctl):
    result = relayctl("plan", "--base", "no-such-ref-or-file")
    assert result.returncode == 2
    assert "neither a file nor a git commit" in result.stderr


def test_unknown_base_ref_names_the_repository_without_a_stray_dot(relayctl, project):
    result = relayctl("plan", "--base", "origin/nosuch")
    assert result.returncode == 2
    assert f"in the repository at {project.resolve()}. Check the name" in result.stderr
    assert ".." not in result.stderr


INVALID = "version: 1\nworkflows:\n  - id: Bad_Id\n    events: [intercom.recorder.recordd]\n"


def test_markdown_for_an_invalid_file_lists_each_problem_with_its_fix(relayctl, project):
    (project / "workflows.yaml").write_text(INVALID)
    result = relayctl("plan", "--format", "markdown", env_extra={"GITHUB_ACTIONS": "true"})
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "<!-- jam-fin-relay:plan -->"
    assert lines[1].startswith("### `workflows.yaml` is invalid: ")
    bullets = [line for line in lines if line.startswith("- ")]
    assert len(bullets) >= 2  # the id and the misspelt event, at least
    assert any(b.startswith("- `workflows.yaml:3:9` workflow `Bad_Id`: ") for b in bullets)
    assert all("**Fix:** " in b for b in bullets)
    assert "error:" not in result.stdout
    assert "::error" not in result.stdout


def test_markdown_for_a_valid_file_starts_with_the_marker_then_the_plan(relayctl):
    result = relayctl("plan", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "<!-- jam-fin-relay:plan -->"
    assert lines[1].startswith("### Jam → Intercom routes for every stack")


def test_markdown_lists_the_files_warnings(relayctl, project):
    url = "https://api.intercom.io/hooks/capability-token-7"
    text = (project / "workflows.yaml").read_text()
    (project / "workflows.yaml").write_text(
        text.replace(
            "intercom_webhook_url:\n      config: billingHandoffIntercomUrl",
            f"intercom_webhook_url: {url}",
        )
    )
    result = relayctl("plan", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    assert "**Warnings**" in result.stdout
    assert "warning:" not in result.stdout
    assert "capability-token-7" not in result.stdout + result.stderr


@pytest.fixture
def git_project(project):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=project,
            check=True,
            capture_output=True,
            timeout=30,
        )

    git("init", "-q", "-b", "main")
    git("add", "Pulumi.yaml")
    git("commit", "-q", "-m", "no workflows yet")
    git("add", "workflows.yaml")
    git("commit", "-q", "-m", "workflows")
    return project


def test_diff_against_a_git_ref(relayctl, git_project):
    _edit_head(git_project)
    result = relayctl("plan", "--base", "main")
    assert result.returncode == 0, result.stderr
    assert "Changes against main:workflows.yaml:" in result.stdout
    assert "+ added    refund-check" in result.stdout
    assert "- removed  bug-report-triage" in result.stdout


def test_file_new_since_the_ref_is_all_added(relayctl, git_project):
    result = relayctl("plan", "--base", "HEAD~1")
    assert result.returncode == 0, result.stderr
    assert "every workflow is new" in result.stderr
    assert "+ added    billing-handoff" in result.stdout
    assert "+ added    bug-report-triage" in result.stdout

"""``relayctl demo`` (what `make demo` runs): the relay locally, end to end, exit 0."""

from __future__ import annotations

import re


def test_demo_on_the_example_file_passes(relayctl, repo):
    result = relayctl("demo", cwd=repo)
    out = result.stdout
    assert f"Loaded {repo / 'examples' / 'workflows.yaml'}: billing-handoff" in out
    assert result.returncode == 0, out + result.stderr
    for workflow_id in ("billing-handoff", "bug-report-triage"):
        assert f"Intercom received: POST /hooks/{workflow_id}/215470686832743" in out
        assert f"{workflow_id}: <relay URL>/workflows/{workflow_id}" in out
    assert len(re.findall(r"Idempotency-Key: [0-9a-f-]{36}", out)) == 2
    # Both Fin branches are shown: the first workflow records, the second opts out.
    assert '"event": "intercom.recorder.recorded"' in out
    assert '"event": "intercom.recorder.opted_out"' in out
    assert "ok: rejected, nothing forwarded" in out
    assert "relay answered: 401" in out
    assert "Demo passed" in out
    assert "whsec_" not in out.replace("demo whsec_ secret", "")  # secrets are never printed


def test_the_demo_runs_its_examples_from_a_users_project(relayctl, project, repo):
    """A user's own workflows.yaml (empty, as shipped) does not stop the demo."""
    (project / "workflows.yaml").write_text("version: 1\nworkflows: []\n")
    result = relayctl("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Loaded {repo / 'examples' / 'workflows.yaml'}: billing-handoff" in result.stdout


def test_demo_with_an_invalid_file_fails_before_starting_anything(relayctl, project):
    (project / "workflows.yaml").write_text("version: 1\nworkflows: 3\n")
    result = relayctl("demo", "--file", "workflows.yaml")
    assert result.returncode == 1
    assert "error: workflows.yaml:" in result.stdout
    assert "Relay running" not in result.stdout


def test_demo_with_a_missing_file_is_a_usage_error(relayctl, project):
    result = relayctl("demo", "--file", "missing.yaml")
    assert result.returncode == 2
    assert "missing.yaml: no such file" in result.stderr

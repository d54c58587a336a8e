"""``relayctl endpoints``: the Jam setup table from `pulumi stack output --json`.

A fake ``pulumi`` script on PATH prints canned outputs: a test double for the CLI, not a deployment.
"""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

OUTPUTS = {
    "relay_url": "https://relay-abc123-ew.a.run.app",
    "endpoints": {
        "billing-handoff": "https://relay-abc123-ew.a.run.app/workflows/billing-handoff",
        "bug-report-triage": "https://relay-abc123-ew.a.run.app/workflows/bug-report-triage",
    },
    "jam_setup": {
        "billing-handoff": {
            "endpoint_url": "https://relay-abc123-ew.a.run.app/workflows/billing-handoff",
            "events": ["intercom.recorder.recorded", "intercom.recorder.opted_out"],
            "store_signing_secret": "pulumi config set --secret billingHandoffJamSecret",
        }
    },
}


def fake_pulumi(bin_dir, stdout: str, exit_code: int = 0, stderr: str = ""):
    """Write a ``pulumi`` that logs its argv to ``argv.json`` and prints canned output."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "pulumi"
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            f"""\
            import json, pathlib, sys
            pathlib.Path({str(bin_dir / "argv.json")!r}).write_text(json.dumps(sys.argv[1:]))
            sys.stdout.write({stdout!r})
            sys.stderr.write({stderr!r})
            sys.exit({exit_code})
            """
        )
    )
    script.chmod(0o755)
    return bin_dir


@pytest.fixture
def path_with(tmp_path):
    def make(stdout: str, exit_code: int = 0, stderr: str = ""):
        return {"PATH": str(fake_pulumi(tmp_path / "bin", stdout, exit_code, stderr))}

    return make


def test_prints_the_jam_setup_table(relayctl, path_with, tmp_path):
    result = relayctl("endpoints", "--stack", "dev", env_extra=path_with(json.dumps(OUTPUTS)))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Relay URL: https://relay-abc123-ew.a.run.app" in out
    assert "billing-handoff    https://relay-abc123-ew.a.run.app/workflows/billing-handoff" in out
    assert "bug-report-triage  https://relay-abc123-ew.a.run.app/workflows/bug-report-triage" in out
    assert "pulumi config set --secret billingHandoffJamSecret" in out
    argv = json.loads((tmp_path / "bin" / "argv.json").read_text())
    assert argv == ["stack", "output", "--json", "--stack", "dev"]


def test_without_pulumi_says_what_to_install(relayctl, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = relayctl("endpoints", env_extra={"PATH": str(empty)})
    assert result.returncode == 1
    assert "Pulumi CLI is not on PATH" in result.stdout
    assert "https://www.pulumi.com/docs/install/" in result.stdout


def test_pulumi_failure_is_reported(relayctl, path_with):
    env = path_with("", exit_code=255, stderr="error: no stack named 'nope' found\n")
    result = relayctl("endpoints", "--stack", "nope", env_extra=env)
    assert result.returncode == 1
    assert "no stack named 'nope' found" in result.stdout


def test_stack_not_deployed_yet(relayctl, path_with):
    result = relayctl("endpoints", env_extra=path_with("{}"))
    assert result.returncode == 1
    assert "Has `pulumi up` run" in result.stdout


def test_output_that_is_not_json(relayctl, path_with):
    result = relayctl("endpoints", env_extra=path_with("Current stack outputs (0):"))
    assert result.returncode == 1
    assert "did not print JSON" in result.stdout

"""``relayctl add``: one workflow in one sitting, with and without a terminal, never a secret shown.

A fake ``pulumi`` on PATH records its argv and stdin (a test double for the CLI: nothing is
deployed or stored anywhere). The terminal case runs under a real pseudo-terminal, so getpass
turns echo off as it does for a person, and the test reads everything the terminal showed.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from infra.urls import endpoint_url, relay_url
from infra.workflows import ConfigRef, load_workflows
from relayctl import jam_events
from tests.cli.conftest import COMMAND_TIMEOUT_SECONDS, cli_env

URL = "https://api.intercom.io/hooks/wf_8f3a2c/resume"
SECRET = jam_events.new_signing_secret()
BASE = relay_url("demo-project", "us-central1", "jam-fin-relay-dev")
PROMPT = b"(typing is hidden): "
# Each command pulumi was run with, as `pulumi config set` receives it.
FAKE_PULUMI = """\
import json, os, pathlib, sys
log = pathlib.Path(os.environ["FAKE_PULUMI_LOG"])
with log.open("a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "stdin": sys.stdin.read(), "cwd": os.getcwd()}))
    f.write("\\n")
sys.stderr.write(os.environ.get("FAKE_PULUMI_STDERR", ""))
sys.exit(int(os.environ.get("FAKE_PULUMI_EXIT", "0")))
"""


@pytest.fixture
def pulumi_bin(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "pulumi"
    script.write_text(f"#!{sys.executable}\n{FAKE_PULUMI}")
    script.chmod(0o755)
    return folder


@pytest.fixture
def calls_log(tmp_path: Path) -> Path:
    return tmp_path / "pulumi-calls.jsonl"


def calls(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def add(project: Path, pulumi_bin: Path, calls_log: Path):
    """``add(*args, stdin=..., pulumi=True, env=...)``: relayctl add without a terminal."""

    def run(*args: str, stdin: str = "", pulumi: bool = True, **env: str):
        path = str(pulumi_bin) if pulumi else str(pulumi_bin.parent / "empty")
        extra = {"PATH": path, "FAKE_PULUMI_LOG": str(calls_log), **env}
        return subprocess.run(
            [sys.executable, "-m", "relayctl", "add", *args],
            cwd=project,
            env=cli_env(extra),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )

    return run


def set_config(argv_key: str) -> list[str]:
    return ["config", "set", "--secret", argv_key, "--stack", "dev"]


# --- Without a terminal (scripts) ----------------------------------------------------------


def test_a_new_workflow_stores_its_url_through_stdin_and_prints_its_endpoint(
    add, project, calls_log
):
    before = (project / "workflows.yaml").read_text()
    result = add("release-notes", stdin=URL + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    (call,) = calls(calls_log)
    assert call["argv"] == set_config("releaseNotesIntercomUrl")
    assert call["stdin"] == URL
    assert call["cwd"] == str(project)
    assert f"Endpoint URL (paste into Jam): {endpoint_url(BASE, 'release-notes')}" in result.stdout
    after = (project / "workflows.yaml").read_text()
    assert after.startswith(before)  # every earlier byte kept
    assert after[len(before) :] == textwrap.indent(
        "- id: release-notes\n"
        "  intercom_webhook_url:\n"
        "    config: releaseNotesIntercomUrl\n"
        "  jam_signing_secret:\n"
        "    config: releaseNotesJamSecret\n",
        "  ",
    )


def test_the_url_and_secret_in_any_order_are_both_stored(add, calls_log):
    result = add("release-notes", stdin=f"{SECRET}\n{URL}\n")
    assert result.returncode == 0, result.stderr
    stored = {c["argv"][3]: c["stdin"] for c in calls(calls_log)}
    assert stored == {"releaseNotesIntercomUrl": URL, "releaseNotesJamSecret": SECRET}
    assert "Next: `pulumi up --stack dev`, then `relayctl check --stack dev`." in result.stdout


def test_no_value_is_ever_in_argv_or_in_the_output(add, calls_log):
    result = add("release-notes", stdin=f"{URL}\n{SECRET}\n")
    for call in calls(calls_log):
        assert URL not in " ".join(call["argv"])
        assert SECRET not in " ".join(call["argv"])
    output = result.stdout + result.stderr
    assert URL not in output
    assert SECRET not in output
    assert "intercom.io" not in output


@pytest.mark.parametrize(
    ("given", "words"),
    [
        (URL + "/<Conversation ID>", "Remove the trailing '/<Conversation ID>'"),
        (URL.replace("https", "http"), "it must use https://"),
        (URL + "/", "trailing slash"),
    ],
)
def test_a_bad_intercom_url_is_refused_before_anything_is_stored(
    add, project, calls_log, given, words
):
    before = (project / "workflows.yaml").read_text()
    result = add("release-notes", stdin=given + "\n" + SECRET + "\n")
    assert result.returncode == 1
    assert "Intercom URL refused (nothing was stored)" in result.stderr
    assert words in result.stderr
    assert calls(calls_log) == []
    assert (project / "workflows.yaml").read_text() == before
    assert "api.intercom.io" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("whsec_not*base64", "is not base64 after whsec_"),
        ("WHSEC_" + SECRET.removeprefix("whsec_"), "does not start with whsec_"),
    ],
    ids=["not-base64", "upper-case-prefix"],  # the secret is random: ids must not show it
)
def test_a_bad_signing_secret_is_refused_before_anything_is_stored(
    add, project, calls_log, given, words
):
    before = (project / "workflows.yaml").read_text()
    result = add("release-notes", stdin=f"{URL}\n{given}\n")
    assert result.returncode == 1
    assert "signing secret refused (nothing was stored)" in result.stderr
    assert words in result.stderr
    assert "Fix: copy it again from Jam" in result.stderr
    assert calls(calls_log) == []
    assert (project / "workflows.yaml").read_text() == before
    assert given not in result.stdout + result.stderr


def test_a_line_that_is_neither_is_refused_without_quoting_it(add, calls_log):
    bare = SECRET.removeprefix("whsec_")  # the secret pasted without its prefix
    result = add("release-notes", stdin=f"{URL}\n{bare}\n")
    assert result.returncode == 2
    assert "stdin line 2 is neither a URL nor a signing secret" in result.stderr
    assert "starts with whsec_" in result.stderr
    assert bare not in result.stderr
    assert calls(calls_log) == []


def test_two_urls_on_stdin_are_refused(add, calls_log):
    result = add("release-notes", stdin=f"{URL}\n{URL}2\n")
    assert result.returncode == 2
    assert "give at most one of each" in result.stderr
    assert calls(calls_log) == []


def test_a_new_workflow_needs_its_intercom_url(add, project, calls_log):
    before = (project / "workflows.yaml").read_text()
    result = add("release-notes", stdin=SECRET + "\n")
    assert result.returncode == 2
    assert "no Intercom URL on stdin" in result.stderr
    assert calls(calls_log) == []
    assert (project / "workflows.yaml").read_text() == before


def test_running_again_stores_the_signing_secret_once_jam_shows_it(add, project, calls_log):
    # billing-handoff's Intercom URL is stored (conftest's Pulumi.dev.yaml); the secret comes.
    (project / "Pulumi.dev.yaml").write_text(
        "config:\n  gcp:project: demo-project\n"
        "  jam-fin-relay:billingHandoffIntercomUrl:\n    secure: v1:AAAA:BBBB\n"
    )
    before = (project / "workflows.yaml").read_text()
    result = add("billing-handoff", stdin=SECRET + "\n")
    assert result.returncode == 0, result.stderr
    (call,) = calls(calls_log)
    assert call["argv"] == set_config("billingHandoffJamSecret")
    assert call["stdin"] == SECRET
    assert (project / "workflows.yaml").read_text() == before  # the entry is there already


def test_an_entry_without_a_signing_secret_key_gains_one_in_place(add, project, calls_log):
    text = (project / "workflows.yaml").read_text()
    (project / "Pulumi.prod.yaml").write_text("config:\n  gcp:project: demo-project\n")
    result = add("bug-report-triage", "--stack", "prod", stdin=f"{URL}\n{SECRET}\n")
    assert result.returncode == 0, result.stderr
    after = (project / "workflows.yaml").read_text()
    assert after == text.replace(
        "      config: bugReportTriageIntercomUrl\n",
        "      config: bugReportTriageIntercomUrl\n"
        "    jam_signing_secret:\n"
        "      config: bugReportTriageJamSecret\n",
    )
    keys = [c["argv"][3] for c in calls(calls_log)]
    assert keys == ["bugReportTriageIntercomUrl", "bugReportTriageJamSecret"]
    (triage,) = [w for w in load_workflows(project / "workflows.yaml").workflows if w.stacks]
    assert triage.jam_signing_secret == ConfigRef("bugReportTriageJamSecret")


def test_a_workflow_not_deployed_to_the_stack_is_refused(add, calls_log):
    result = add("bug-report-triage", "--stack", "dev", stdin=URL + "\n")
    assert result.returncode == 1
    assert "workflow 'bug-report-triage' is not deployed to stack 'dev'" in result.stderr
    assert calls(calls_log) == []


def test_the_shipped_placeholder_project_is_refused_before_anything(add, project, calls_log):
    (project / "Pulumi.dev.yaml").write_text("config:\n  gcp:project: my-gcp-project-id\n")
    before = (project / "workflows.yaml").read_text()
    result = add("release-notes", stdin=URL + "\n")
    assert result.returncode == 1
    assert "pulumi config set gcp:project YOUR_PROJECT_ID --stack dev" in result.stderr
    assert calls(calls_log) == []
    assert (project / "workflows.yaml").read_text() == before


def test_an_invalid_id_gets_the_loaders_words_and_nothing_changes(add, project, calls_log):
    before = (project / "workflows.yaml").read_text()
    result = add("Release_Notes", stdin=URL + "\n")
    assert result.returncode == 1
    assert "would make" in result.stderr
    assert "Workflow id 'Release_Notes' is not valid" in result.stderr
    assert calls(calls_log) == []
    assert (project / "workflows.yaml").read_text() == before


def test_when_pulumi_fails_its_reason_is_said_and_the_file_is_unchanged(add, project, calls_log):
    before = (project / "workflows.yaml").read_text()
    result = add(
        "release-notes",
        stdin=URL + "\n",
        FAKE_PULUMI_EXIT="255",
        FAKE_PULUMI_STDERR="error: no stack named 'dev' found\n",
    )
    assert result.returncode == 1
    assert (
        "`pulumi config set --secret releaseNotesIntercomUrl --stack dev` failed (exit 255): "
        "error: no stack named 'dev' found"
    ) in result.stderr
    assert (project / "workflows.yaml").read_text() == before


# --- Without the Pulumi CLI ------------------------------------------------------------------


def test_without_pulumi_it_writes_the_entry_and_prints_commands_with_no_secret(add, project):
    result = add("release-notes", pulumi=False)
    assert result.returncode == 0, result.stderr
    assert "nothing was stored" in result.stdout
    commands = [line.strip() for line in result.stdout.splitlines() if "pulumi config" in line]
    assert commands == [
        "pulumi config set --secret releaseNotesIntercomUrl --stack dev",
        "pulumi config set --secret releaseNotesJamSecret --stack dev",
    ]
    assert "id: release-notes" in (project / "workflows.yaml").read_text()
    assert endpoint_url(BASE, "release-notes") in result.stdout


def test_without_pulumi_values_on_stdin_are_refused_and_nothing_changes(add, project):
    before = (project / "workflows.yaml").read_text()
    result = add("release-notes", stdin=URL + "\n", pulumi=False)
    assert result.returncode == 1
    assert "the Pulumi CLI is not on PATH, so they cannot be stored" in result.stderr
    assert (project / "workflows.yaml").read_text() == before
    assert URL not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("given", "words"),
    [
        (URL + "/<Conversation ID>", "Remove the trailing '/<Conversation ID>'"),
        ("whsec_not*base64", "is not base64 after whsec_"),
    ],
)
def test_without_pulumi_a_bad_value_is_still_refused_with_its_fix(add, project, given, words):
    """Issue 21.2: values are checked with the loader's rules before anything else, the Pulumi
    CLI or not: a script learns what to fix, not only that nothing could be stored."""
    before = (project / "workflows.yaml").read_text()
    result = add("release-notes", stdin=given + "\n", pulumi=False)
    assert result.returncode == 1
    assert "refused (nothing was stored)" in result.stderr
    assert words in result.stderr
    assert "Pulumi CLI" not in result.stderr
    assert (project / "workflows.yaml").read_text() == before
    assert given not in result.stdout + result.stderr


# --- On a terminal -------------------------------------------------------------------------


def on_terminal(
    project: Path, pulumi_bin: Path, calls_log: Path, answers: list[str], *args: str
) -> tuple[int, str]:
    """Run relayctl add under a pseudo-terminal, typing each answer at each hidden prompt."""
    env = cli_env({"PATH": str(pulumi_bin), "FAKE_PULUMI_LOG": str(calls_log)})
    pid, fd = pty.fork()
    if pid == 0:  # the child: relayctl, its stdin, stdout and stderr the terminal
        os.chdir(project)
        os.execve(sys.executable, [sys.executable, "-m", "relayctl", "add", *args], env)  # noqa: S606
    shown, typed, pending = b"", 0, list(answers)
    deadline = time.monotonic() + COMMAND_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal: it has exited
            break
        if not chunk:
            break
        shown += chunk
        if pending and shown.count(PROMPT) > typed:
            typed += 1
            os.write(fd, pending.pop(0).encode() + b"\r")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_on_a_terminal_it_asks_without_echo_and_stores_both(project, pulumi_bin, calls_log):
    code, shown = on_terminal(project, pulumi_bin, calls_log, [URL, SECRET], "release-notes")
    assert code == 0, shown
    assert URL not in shown  # typed, never echoed
    assert SECRET not in shown
    # The Endpoint URL comes before the signing secret is asked for: Jam needs it first.
    endpoint = shown.index(endpoint_url(BASE, "release-notes"))
    assert endpoint < shown.index("Jam's signing secret for that endpoint")
    stored = {c["argv"][3]: c["stdin"] for c in calls(calls_log)}
    assert stored == {"releaseNotesIntercomUrl": URL, "releaseNotesJamSecret": SECRET}


def test_on_a_terminal_a_refused_value_is_asked_again(project, pulumi_bin, calls_log):
    placeholder = URL + "/<Conversation ID>"
    answers = [placeholder, URL, "not-a-secret", ""]
    code, shown = on_terminal(project, pulumi_bin, calls_log, answers, "release-notes")
    assert code == 0, shown
    assert "refused: the URL ends with the placeholder '/<Conversation ID>'" in shown
    assert "refused: secret #1 does not start with whsec_" in shown
    assert "not-a-secret" not in shown
    # Enter left the secret for later: only the URL is stored, and the next step says so.
    assert [c["argv"][3] for c in calls(calls_log)] == ["releaseNotesIntercomUrl"]
    assert "Run `relayctl add release-notes --stack dev` again to store it" in shown


def test_on_a_terminal_a_stored_value_is_kept_with_enter(project, pulumi_bin, calls_log):
    (project / "Pulumi.dev.yaml").write_text(
        "config:\n  gcp:project: demo-project\n"
        "  jam-fin-relay:billingHandoffIntercomUrl:\n    secure: v1:AAAA:BBBB\n"
    )
    code, shown = on_terminal(project, pulumi_bin, calls_log, ["", SECRET], "billing-handoff")
    assert code == 0, shown
    assert "[stored; Enter keeps it]" in shown
    assert [c["argv"][3] for c in calls(calls_log)] == ["billingHandoffJamSecret"]


def test_on_a_terminal_three_refusals_store_nothing(project, pulumi_bin, calls_log):
    before = (project / "workflows.yaml").read_text()
    answers = ["http://x.example/a", "", "ftp://x"]
    code, shown = on_terminal(project, pulumi_bin, calls_log, answers, "release-notes")
    assert code == 1
    assert "no usable value after 3 tries; nothing was stored." in shown
    assert calls(calls_log) == []
    assert (project / "workflows.yaml").read_text() == before

"""relayctl trace: the query it prints, and a stand-in `gcloud` on PATH (logged in, not, absent)."""

from __future__ import annotations

import json
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from infra import monitoring as m

CONVERSATION = "215470686832743"
QUERY = (
    'resource.type="cloud_run_revision" AND resource.labels.service_name="jam-fin-relay-dev" '
    f'AND jsonPayload.conversation_id="{CONVERSATION}"'
)
ACCOUNT = "ops@acme.example"  # what `gcloud auth list` prints when someone is logged in
ENTRIES = [
    {
        "timestamp": "2026-11-26T10:00:01.5Z",
        "severity": "ERROR",
        "jsonPayload": {
            "outcome": "failed",
            "workflow_id": "billing-handoff",
            "intercom_status": 503,
            "jam_message_id": "msg_2aBcD",
            "conversation_id": CONVERSATION,
        },
    },
    {
        "timestamp": "2026-11-26T10:05:07.2Z",
        "severity": "INFO",
        "jsonPayload": {
            "outcome": "delivered",
            "workflow_id": "billing-handoff",
            "intercom_status": 200,
            "jam_message_id": "msg_2aBcD",
            "conversation_id": CONVERSATION,
        },
    },
]

# The stand-in: `auth list` prints $FAKE_ACCOUNT; `logging read` records its argv and prints
# $FAKE_ENTRIES (or fails with $FAKE_FAIL).
STAND_IN = textwrap.dedent(
    """\
    #!{python}
    import json, os, sys
    args = sys.argv[1:]
    with open(os.environ["FAKE_ARGV_LOG"], "a") as log:
        log.write(json.dumps(args) + "\\n")
    if args[:2] == ["auth", "list"]:
        print(os.environ.get("FAKE_ACCOUNT", ""))
    elif args[:2] == ["logging", "read"]:
        if os.environ.get("FAKE_FAIL"):
            sys.stderr.write("ERROR: (gcloud.logging.read) PERMISSION_DENIED: denied\\n")
            sys.exit(1)
        print(os.environ.get("FAKE_ENTRIES", "[]"))
    else:
        sys.exit(2)
    """
)


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    return folder


@pytest.fixture
def gcloud(bin_dir: Path) -> Path:
    script = bin_dir / "gcloud"
    script.write_text(STAND_IN.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def _env(bin_dir: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    # PATH holds only the stand-in's folder: the real gcloud (if any) is never reached.
    return {"PATH": str(bin_dir), "FAKE_ARGV_LOG": str(tmp_path / "argv.log"), **extra}


@pytest.fixture
def trace(relayctl, bin_dir: Path, tmp_path: Path):
    """``relayctl trace ARGS`` with only ``bin_dir`` on PATH; keywords set the stand-in's
    FAKE_* variables."""

    def run(*args: str, **fake: str):
        return relayctl("trace", *args, env_extra=_env(bin_dir, tmp_path, **fake))

    return run


def _calls(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "argv.log"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_the_printed_query_is_the_filter_module_s(trace):
    result = trace("--conversation", CONVERSATION, "--stack", "dev")
    assert result.returncode == 1, result.stderr  # printed, not run: no gcloud here
    assert m.conversation_lines(CONVERSATION, "jam-fin-relay-dev") == QUERY
    assert f"  {QUERY}\n" in result.stdout


def test_without_gcloud_it_prints_the_query_and_fails(trace):
    """No log line was read, so not exit 0 (issue 21): a script must not take it for one."""
    result = trace("--conversation", CONVERSATION, "--stack", "dev")
    assert result.returncode == 1, result.stderr
    assert (
        result.stdout.rstrip()
        .splitlines()[-1]
        .startswith("failed: gcloud is not installed here, so the query was not run")
    )
    assert "gcloud logging read" in result.stdout  # the command to run it yourself
    assert "--project=demo-project" in result.stdout
    assert "Webhook Portal" in result.stdout


def test_not_logged_in_it_asks_for_login_and_reads_nothing(trace, gcloud, tmp_path):
    result = trace("--conversation", CONVERSATION, "--stack", "dev", FAKE_ACCOUNT="")
    assert result.returncode == 1, result.stderr
    assert "failed: gcloud is installed but not logged in" in result.stdout
    assert "gcloud auth login" in result.stdout
    assert [call[:2] for call in _calls(tmp_path)] == [["auth", "list"]]


def test_logged_in_it_runs_the_query_and_shows_each_line(trace, gcloud, tmp_path):
    logged_in = {"FAKE_ACCOUNT": ACCOUNT, "FAKE_ENTRIES": json.dumps(ENTRIES)}
    result = trace("--conversation", CONVERSATION, "--stack", "dev", **logged_in)
    assert result.returncode == 0, result.stderr
    read = [call for call in _calls(tmp_path) if call[:2] == ["logging", "read"]]
    assert len(read) == 1
    assert read[0][2] == QUERY  # the exact query, one argument, no shell
    assert "--project=demo-project" in read[0]
    rows = [line.split() for line in result.stdout.splitlines() if "billing-handoff" in line]
    assert rows == [
        ["2026-11-26T10:00:01.5Z", "billing-handoff", "failed", "503", "msg_2aBcD"],
        ["2026-11-26T10:05:07.2Z", "billing-handoff", "delivered", "200", "msg_2aBcD"],
    ]


def test_logged_in_with_no_lines_it_points_to_jam(trace, gcloud, tmp_path):
    result = trace("--conversation", CONVERSATION, FAKE_ACCOUNT=ACCOUNT, FAKE_ENTRIES="[]")
    assert result.returncode == 0, result.stderr
    assert "never reached the relay" in result.stdout
    read = next(call for call in _calls(tmp_path) if call[:2] == ["logging", "read"])
    # Without --stack: every relay service, in gcloud's configured project.
    assert read[2] == m.conversation_lines(CONVERSATION)
    assert not any(arg.startswith("--project") for arg in read)


def test_a_gcloud_failure_is_reported_with_exit_1(trace, gcloud):
    result = trace(
        "--conversation", CONVERSATION, "--stack", "dev", FAKE_ACCOUNT=ACCOUNT, FAKE_FAIL="1"
    )
    assert result.returncode == 1
    assert "PERMISSION_DENIED" in result.stderr


@pytest.mark.parametrize(
    "bad",
    [
        '1" OR resource.type:*',
        "a b",
        "x" * 65,
        "",
        "conv\nid",
        "ünïcode",
    ],
)
def test_a_conversation_id_the_relay_would_refuse_is_a_usage_error(trace, gcloud, tmp_path, bad):
    result = trace("--conversation", bad, "--stack", "dev", FAKE_ACCOUNT=ACCOUNT)
    assert result.returncode == 2
    assert "--conversation" in result.stderr
    assert _calls(tmp_path) == []  # gcloud never ran


def test_a_functionname_setting_names_the_service(trace, project):
    stack = project / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text() + "  jam-fin-relay:functionName: support-relay\n")
    result = trace("--conversation", CONVERSATION, "--stack", "dev")
    assert 'resource.labels.service_name="support-relay"' in result.stdout


def test_an_unknown_stack_is_a_usage_error(trace):
    result = trace("--conversation", CONVERSATION, "--stack", "nope")
    assert result.returncode == 2
    assert "Pulumi.nope.yaml" in result.stderr

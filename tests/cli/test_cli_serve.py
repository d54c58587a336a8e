"""``relayctl serve``: the relay for the file's workflows, secrets from a file, until Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import requests

from relayctl import jam_events
from relayctl.local_relay import free_port

SECRET = jam_events.new_signing_secret()
START_TIMEOUT_SECONDS = 30
READY_LINE = "Ctrl-C stops"


def wait_healthy(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    pytest.fail("serve did not answer /health in time")


def wait_for_line(process: subprocess.Popen[str], marker: str) -> str:
    """What the process printed up to and including the first line containing ``marker``."""
    assert process.stdout is not None
    lines: list[str] = []
    while True:
        line = process.stdout.readline()
        assert line, "serve exited before printing: " + "".join(lines)
        lines.append(line)
        if marker in line:
            return "".join(lines)


def start_serve(project: Path, env: dict[str, str], port: int) -> subprocess.Popen[str]:
    """``relayctl serve`` on ``port`` in ``project``; stdout and stderr read as one stream."""
    return subprocess.Popen(
        [sys.executable, "-m", "relayctl", "serve", "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(process: subprocess.Popen[str]) -> str:
    """Stop `serve` the way a service manager would (SIGTERM), so it stops its relay too.

    SIGKILL would leave the relay process it started running; it is only the last resort.
    """
    if process.poll() is None:
        process.terminate()
    try:
        rest, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        rest, _ = process.communicate(timeout=10)
    return rest


@pytest.fixture
def serve(project, intercom, child_env):
    """Start `serve` with a secrets file using both key styles; stop it with SIGINT."""
    (project / ".relay-secrets.env").write_text(
        "# env names and config keys both work\n"
        f"INTERCOM_WEBHOOK_URL__BILLING_HANDOFF={intercom.url_for('billing-handoff')}\n"
        f"export billingHandoffJamSecret='{SECRET}'\n"
    )
    port = free_port()
    process = start_serve(project, child_env, port)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        # The relay answers before `serve` has printed its routes and armed its Ctrl-C
        # handling: wait for the line that says so, as a person would.
        printed = wait_for_line(process, READY_LINE)
        yield process, f"http://127.0.0.1:{port}", printed
    finally:
        stop(process)


def test_serves_the_routes_and_stops_on_ctrl_c(serve, intercom):
    process, url, printed = serve
    body = jam_events.encode(jam_events.sample_event(conversation_id="777"))
    answer = requests.post(
        url + "/workflows/billing-handoff",
        data=body,
        headers=jam_events.signed_headers(SECRET, body),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert [r.path for r in intercom.snapshot()] == ["/hooks/billing-handoff/777"]

    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=30)
    out = printed + rest
    assert process.returncode == 0, out
    assert f"POST {url}/workflows/billing-handoff" in out
    assert f"POST {url}/workflows/bug-report-triage" in out
    # The prod-only workflow has no secrets in the file: serve says what to set.
    assert "missing Intercom URL: set INTERCOM_WEBHOOK_URL__BUG_REPORT_TRIAGE" in out
    assert "missing signing secret: set JAM_SIGNING_SECRET__BUG_REPORT_TRIAGE" in out
    assert "stopping the relay" in out
    assert SECRET not in out
    assert intercom.url not in out  # the Intercom URL is a secret, even a local one


def test_missing_secrets_file_is_a_usage_error(relayctl):
    result = relayctl("serve", "--secrets-file", "nope.env", "--port", str(free_port()))
    assert result.returncode == 2
    assert "nope.env: no such file" in result.stderr


def test_malformed_secrets_file_names_the_line_not_the_value(relayctl, project):
    (project / "bad.env").write_text("GOOD=1\nthis line has whsec_leaky and no equals\n")
    result = relayctl("serve", "--secrets-file", "bad.env", "--port", str(free_port()))
    assert result.returncode == 2
    assert "bad.env:2: expected KEY=VALUE" in result.stderr
    assert "leaky" not in result.stdout + result.stderr


def test_invalid_workflows_file_fails(relayctl, project):
    (project / "workflows.yaml").write_text("version: 1\n")
    result = relayctl("serve", "--port", str(free_port()))
    assert result.returncode == 1
    assert "error: workflows.yaml:" in result.stdout


def test_port_in_use_fails_clearly(relayctl):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = relayctl("serve", "--port", str(port), timeout=60)
    assert result.returncode == 1
    assert f"is port {port} free?" in result.stdout


def test_an_unusable_intercom_url_gets_the_loaders_message_in_the_summary(project, child_env):
    # The step's URL copied with Intercom's placeholder still on the end.
    token = "Zk9xQw3hV7pL"
    (project / ".relay-secrets.env").write_text(
        f"INTERCOM_WEBHOOK_URL__BILLING_HANDOFF=https://api.intercom.io/hooks/{token}"
        "/<Conversation ID>\n"
        f"billingHandoffJamSecret={SECRET}\n"
    )
    port = free_port()
    process = start_serve(project, child_env, port)
    try:
        printed = wait_for_line(process, READY_LINE)
    finally:
        rest = stop(process)
    summary = printed.split("  bug-report-triage:")[0]
    assert (
        "Intercom URL (INTERCOM_WEBHOOK_URL__BILLING_HANDOFF or billingHandoffIntercomUrl) is not "
        "usable: the URL ends with the placeholder '/<Conversation ID>'" in summary
    )
    assert "Remove the trailing '/<Conversation ID>'" in summary
    assert token not in printed + rest


def test_a_local_http_intercom_url_is_not_flagged(serve):
    _, _, printed = serve
    assert "is not usable" not in printed


def test_names_the_workflows_file_it_serves(serve):
    _, _, printed = serve
    assert printed.startswith("workflows from: workflows.yaml\n")

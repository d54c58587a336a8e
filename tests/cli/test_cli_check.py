"""``relayctl check`` over real HTTP: the local relay, a 403 front end, a refused port, a stack.

The project's workflows.yaml (tests/cli/conftest.py) deploys billing-handoff to every stack
(its signing secret key is billingHandoffJamSecret) and bug-report-triage to prod only (no
signing secret key yet).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from relayctl import jam_events
from relayctl.local_relay import LocalRelay, free_port, relay_env

SECRET = jam_events.new_signing_secret()
BOTH_EVENTS = ["intercom.recorder.recorded", "intercom.recorder.opted_out"]
PROD_ROUTES = {"billing-handoff": BOTH_EVENTS, "bug-report-triage": ["intercom.recorder.recorded"]}


def _relay(intercom, routes: dict[str, list[str]], signed: tuple[str, ...]) -> LocalRelay:
    env = relay_env(
        routes,
        {wid: intercom.url_for(wid) for wid in routes},
        dict.fromkeys(signed, SECRET),
    )
    return LocalRelay(env)


@pytest.fixture
def dev_relay(intercom) -> Iterator[LocalRelay]:
    """What `pulumi up --stack dev` deploys: billing-handoff, its signing secret set."""
    with _relay(intercom, {"billing-handoff": BOTH_EVENTS}, ("billing-handoff",)) as relay:
        yield relay


@pytest.fixture
def prod_relay(intercom) -> Iterator[LocalRelay]:
    """prod: both routes, bug-report-triage still without a signing secret."""
    with _relay(intercom, PROD_ROUTES, ("billing-handoff",)) as relay:
        yield relay


class _FrontEnd(BaseHTTPRequestHandler):
    """Answers like Google's front end, in HTML: 403 to a caller without run.routes.invoke."""

    status = 403

    def _deny(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b"<html><body><h1>Error</h1>Your client does not have permission</body>"
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._deny()

    def do_POST(self) -> None:
        self._deny()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Unavailable(_FrontEnd):
    """The front end when no instance of the service can start."""

    status = 503


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def front_end_403() -> Iterator[str]:
    yield from _serve(_FrontEnd)


@pytest.fixture
def front_end_503() -> Iterator[str]:
    yield from _serve(_Unavailable)


def _lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return result.stdout.splitlines()


def test_every_deployed_workflow_ready_exits_0(relayctl, dev_relay, intercom):
    result = relayctl("check", "--url", dev_relay.url, "--stack", "dev")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "billing-handoff: ready" in _lines(result)
    assert "bug-report-triage" not in result.stdout  # not deployed to dev
    assert "ok: all 1 workflows ready." in result.stdout


def test_no_probe_reaches_intercom(relayctl, prod_relay, intercom):
    relayctl("check", "--url", prod_relay.url, "--stack", "prod")
    assert intercom.snapshot() == []
    outcomes = {r.get("outcome") for r in prod_relay.log_records()}
    assert "delivered" not in outcomes


def test_a_missing_signing_secret_prints_the_command_that_sets_it(relayctl, prod_relay):
    result = relayctl("check", "--url", prod_relay.url, "--stack", "prod")
    assert result.returncode == 1
    lines = _lines(result)
    assert "billing-handoff: ready" in lines
    (line,) = [x for x in lines if x.startswith("bug-report-triage:")]
    assert line.startswith("bug-report-triage: signing secret not set")
    # No key is named in the file yet, so the line says how to add one, then set it.
    assert "jam_signing_secret: {config: KEY}" in line
    assert "pulumi config set --secret KEY --stack prod" in line
    assert "failed: 1 of 2 workflows ready." in result.stdout


def test_a_missing_secret_with_a_key_names_that_key(relayctl, intercom):
    with _relay(intercom, {"billing-handoff": BOTH_EVENTS}, ()) as relay:
        result = relayctl("check", "--url", relay.url, "--stack", "dev")
    assert result.returncode == 1
    assert (
        "billing-handoff: signing secret not set (or not a valid whsec_ secret): run "
        "`pulumi config set --secret billingHandoffJamSecret --stack dev`"
    ) in result.stdout


def test_a_route_the_relay_lacks_is_reported_missing_with_the_route_count(relayctl, dev_relay):
    # The dev relay serves one route; prod's file lists two: the prod deploy is not applied.
    result = relayctl("check", "--url", dev_relay.url, "--stack", "prod")
    assert result.returncode == 1
    lines = _lines(result)
    assert any(
        x.startswith("bug-report-triage: route missing") and "pulumi up --stack prod" in x
        for x in lines
    )
    assert any(
        x.startswith("routes: the relay serves 1 routes, the workflows file deploys 2")
        for x in lines
    )


def test_a_403_from_the_front_end_is_not_public_with_the_invoker_fix(relayctl, front_end_403):
    result = relayctl("check", "--url", front_end_403, "--stack", "prod")
    assert result.returncode == 1
    lines = [x for x in _lines(result) if x.startswith(("billing-handoff:", "bug-report-triage:"))]
    assert len(lines) == 2
    for line in lines:
        assert "not public" in line
        assert "pulumi config set publicAccess allUsers --stack prod" in line
        assert "publicAccess allUsersWithPolicyException" in line
        assert "docs/deploy.md#public-access" in line


def test_a_bare_503_from_the_front_end_is_relay_down(relayctl, front_end_503):
    result = relayctl("check", "--url", front_end_503, "--stack", "dev")
    assert result.returncode == 1
    assert any(x.startswith("health: relay down: HTTP 503") for x in _lines(result))
    assert any(x.startswith("billing-handoff: relay down: HTTP 503") for x in _lines(result))


def test_a_refused_connection_is_relay_down(relayctl):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = relayctl("check", "--url", url, "--stack", "prod", "--timeout", "3")
    assert result.returncode == 1
    lines = _lines(result)
    assert any(x.startswith("billing-handoff: relay down or unreachable") for x in lines)
    assert any(x.startswith("bug-report-triage: relay down or unreachable") for x in lines)
    assert "connection refused" in result.stdout


def test_no_secret_is_ever_printed(relayctl, prod_relay, intercom):
    result = relayctl("check", "--url", prod_relay.url, "--stack", "prod")
    output = result.stdout + result.stderr
    assert SECRET not in output
    assert "whsec_" not in output.replace("a valid whsec_ secret", "")
    assert intercom.url_for("billing-handoff") not in output


def test_an_endpoint_url_is_accepted_as_the_relay_url(relayctl, dev_relay):
    result = relayctl(
        "check", "--url", dev_relay.url + "/workflows/billing-handoff", "--stack", "dev"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _fake_pulumi(folder: Path, outputs: dict[str, Any]) -> dict[str, str]:
    """A `pulumi` on PATH that prints ``outputs`` for `pulumi stack output --json`."""
    script = folder / "pulumi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "assert sys.argv[1:4] == ['stack', 'output', '--json'], sys.argv\n"
        f"print(json.dumps({json.dumps(outputs)!s}))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_stack_reads_the_relay_url_from_its_outputs(relayctl, dev_relay, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = _fake_pulumi(bin_dir, {"relay_url": dev_relay.url, "endpoints": {}})
    result = relayctl("check", "--stack", "dev", env_extra=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Relay: {dev_relay.url}" in result.stdout


def test_a_stack_without_relay_url_says_to_deploy(relayctl, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    result = relayctl("check", "--stack", "dev", env_extra=_fake_pulumi(bin_dir, {}))
    assert result.returncode == 1
    assert "exports no relay_url" in result.stderr
    assert "pulumi up --stack dev" in result.stderr


def test_neither_url_nor_stack_is_a_usage_error(relayctl):
    result = relayctl("check")
    assert result.returncode == 2
    assert "--stack STACK" in result.stderr
    assert "--url RELAY_URL" in result.stderr

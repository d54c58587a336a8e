"""``relayctl check`` as a user runs it, over real HTTP: a local relay (`relayctl serve`'s
fixes), a 403 front end, a refused port, and a stack's computed URL. Every answer's meaning and
the cloud's fixes are pinned in process, in test_check_inprocess.py.

The project's workflows.yaml (tests/cli/conftest.py) deploys billing-handoff to every stack
(its signing secret key is billingHandoffJamSecret) and bug-report-triage to prod only (no
signing secret key yet).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


def test_a_local_relay_gets_local_fixes_not_the_clouds(relayctl, prod_relay):
    """`check --url` at `relayctl serve`: its secrets file and a restart, never `pulumi`."""
    result = relayctl("check", "--url", prod_relay.url, "--stack", "prod")
    assert result.returncode == 1
    lines = _lines(result)
    assert "billing-handoff: ready" in lines
    (line,) = [x for x in lines if x.startswith("bug-report-triage:")]
    assert line.startswith(
        "bug-report-triage: signing secret not set on this local relay: set "
        "JAM_SIGNING_SECRET__BUG_REPORT_TRIAGE to the whsec_ secret in .relay-secrets.env"
    )
    assert "pulumi" not in result.stdout
    assert "failed: 1 of 2 workflows ready." in result.stdout


def test_a_local_relay_missing_intercom_urls_are_mentioned(relayctl, dev_relay):
    result = relayctl("check", "--url", dev_relay.url, "--stack", "dev")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "warning: billing-handoff: no Intercom URL (INTERCOM_WEBHOOK_URL__BILLING_HANDOFF) in "
        "this shell's environment or .relay-secrets.env"
    ) in result.stdout


def test_a_route_the_local_relay_lacks_says_restart_serve(relayctl, dev_relay):
    result = relayctl("check", "--url", dev_relay.url, "--stack", "prod")
    assert result.returncode == 1
    lines = _lines(result)
    assert any(
        x.startswith("bug-report-triage: route missing: the local relay was started without")
        for x in lines
    )
    assert any(
        x.startswith("routes: the relay serves 1 routes, the workflows file deploys 2")
        and x.endswith("restart `relayctl serve` with this workflows file")
        for x in lines
    )


def test_a_bare_403_at_a_local_url_is_not_the_relay(relayctl, front_end_403):
    result = relayctl("check", "--url", front_end_403, "--stack", "prod")
    assert result.returncode == 1
    lines = [x for x in _lines(result) if x.startswith(("billing-handoff:", "bug-report-triage:"))]
    assert len(lines) == 2
    for line in lines:
        assert "not the relay: HTTP 403" in line
        assert "is `relayctl serve` running at that URL" in line
    assert "publicAccess" not in result.stdout


def test_a_refused_connection_is_relay_down(relayctl):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = relayctl("check", "--url", url, "--stack", "prod", "--timeout", "3")
    assert result.returncode == 1
    lines = _lines(result)
    assert any(x.startswith("billing-handoff: relay down or unreachable") for x in lines)
    assert any(x.startswith("bug-report-triage: relay down or unreachable") for x in lines)
    assert "connection refused" in result.stdout
    assert "is `relayctl serve` running on that port?" in result.stdout


def test_no_secret_is_ever_printed(relayctl, prod_relay, intercom, project):
    (project / ".relay-secrets.env").write_text(
        f"billingHandoffIntercomUrl={intercom.url_for('billing-handoff')}\n"
    )
    result = relayctl("check", "--url", prod_relay.url, "--stack", "prod")
    output = result.stdout + result.stderr
    assert SECRET not in output
    assert "whsec_" not in output.replace("the whsec_ secret", "")
    assert intercom.url_for("billing-handoff") not in output


def test_an_endpoint_url_is_accepted_as_the_relay_url(relayctl, dev_relay):
    result = relayctl(
        "check", "--url", dev_relay.url + "/workflows/billing-handoff", "--stack", "dev"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_stack_computes_the_url_without_any_pulumi(relayctl, project, tmp_path):
    """The relay URL comes from Pulumi.dev.yaml alone, with no `pulumi` on PATH. The probes go
    through a proxy address where nothing listens, so no test reaches the internet."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    closed = f"http://127.0.0.1:{free_port()}"
    env = {"PATH": str(empty), "HTTPS_PROXY": closed, "https_proxy": closed, "NO_PROXY": ""}
    env["no_proxy"] = ""
    result = relayctl("check", "--stack", "dev", "--timeout", "3", env_extra=env)
    base = "https://us-central1-demo-project.cloudfunctions.net/jam-fin-relay-dev"
    assert result.stdout.startswith(f"Relay: {base} (1 workflows deployed to stack 'dev')")
    assert result.returncode == 1
    assert "Pulumi CLI" not in result.stdout + result.stderr


def test_the_shipped_placeholder_project_is_refused_with_its_fix(relayctl, project):
    (project / "Pulumi.dev.yaml").write_text("config:\n  gcp:project: my-gcp-project-id\n")
    result = relayctl("check", "--stack", "dev")
    assert result.returncode == 1
    assert "still the example value 'my-gcp-project-id'" in result.stderr
    assert "pulumi config set gcp:project YOUR_PROJECT_ID --stack dev" in result.stderr


def test_neither_url_nor_stack_is_a_usage_error(relayctl):
    result = relayctl("check")
    assert result.returncode == 2
    assert "--stack STACK" in result.stderr
    assert "--url RELAY_URL" in result.stderr

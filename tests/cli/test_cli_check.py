"""``relayctl check``: every answer, every fix, every URL, over real local HTTP.

The relay's answer table (docs/relay.md) gives each probe's answer one meaning; these tests pin
that meaning and the words of each fix, so a plausible slip in relayctl/check.py (an inverted
test, a wrong status, a dropped fix, the other stack's advice) fails one of them. A scripted
HTTP server stands in where the answer must be exact (a bare 403 or 5xx from a front end, a
relay that answers with the wrong route count); the real relay (functions-framework) where the
relay's own answers matter.

The first part calls check's helpers in process (fast: `make mutate` runs this file with -x, so
most mutants of check.py die there); the last part runs ``relayctl check`` as a user does, a
subprocess against a local relay (`relayctl serve`'s fixes), a 403 front end, a refused port,
and a stack's computed URL. mutation/scope.py maps relayctl/check.py to this file.

The project's workflows.yaml (tests/cli/conftest.py) deploys billing-handoff to every stack
(its signing secret key is billingHandoffJamSecret) and bug-report-triage to prod only (no
signing secret key yet); ``bare_project`` holds the same two workflows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from infra.urls import relay_url
from infra.workflows import parse_workflows
from relayctl import check, jam_events
from relayctl.check import (
    Answer,
    CloudAdvice,
    LocalAdvice,
    UnreachableError,
    classify,
    probe,
    read_answer,
    relay_base,
)
from relayctl.common import EXIT_FAILED, EXIT_OK, CommandError
from relayctl.local_relay import LocalRelay, free_port, relay_env

SECRET = jam_events.new_signing_secret()
BOTH_EVENTS = ["intercom.recorder.recorded", "intercom.recorder.opted_out"]
PROD_ROUTES = {"billing-handoff": BOTH_EVENTS, "bug-report-triage": ["intercom.recorder.recorded"]}

WORKFLOWS = """\
version: 1
workflows:
  - id: billing-handoff
    intercom_webhook_url:
      config: billingHandoffIntercomUrl
    jam_signing_secret:
      config: billingHandoffJamSecret
  - id: bug-report-triage
    intercom_webhook_url:
      config: bugReportTriageIntercomUrl
    stacks: [prod]
"""
BILLING, TRIAGE = parse_workflows(WORKFLOWS).workflows
RELAY_JSON = "application/json"


# --- A front end whose answers are scripted, recording what it was asked -------------------


class Scripted(ThreadingHTTPServer):
    """path -> (status, body); anything else 404 with an HTML body (not the relay's)."""

    def __init__(self, answers: dict[str, tuple[int, Any]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers = answers
        self.seen: list[tuple[str, str]] = []
        self.body_lengths: list[int | None] = []  # each request's Content-Length, if it had one

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Scripted

    def _answer(self) -> None:
        length = self.headers.get("Content-Length")
        self.rfile.read(int(length or 0))
        self.server.seen.append((self.command, self.path))
        self.server.body_lengths.append(None if length is None else int(length))
        status, body = self.server.answers.get(self.path, (404, "<html>Not Found</html>"))
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        if status in (301, 302) and isinstance(body, str) and body.startswith("/"):
            self.send_header("Location", body)
        self.send_header("Content-Type", "text/html" if isinstance(body, str) else RELAY_JSON)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[Any]:
    servers: list[Scripted] = []

    def start(answers: dict[str, tuple[int, Any]]) -> Scripted:
        server = Scripted(answers)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def healthy(routes: int) -> tuple[int, Any]:
    return 200, {"status": "ok", "routes": routes}


READY = (401, {"outcome": "signature_rejected", "message": "..."})


@pytest.fixture
def bare_project(tmp_path: Path) -> Path:
    (tmp_path / "workflows.yaml").write_text(WORKFLOWS)
    (tmp_path / "Pulumi.yaml").write_text("name: jam-fin-relay\nruntime: python\n")
    return tmp_path


def args(bare_project: Path, **given: Any) -> argparse.Namespace:
    values = {
        "stack": None,
        "url": None,
        "file": str(bare_project / "workflows.yaml"),
        "timeout": 5.0,
    }
    values.update(given)
    return argparse.Namespace(file_given=True, **values)


def run(bare_project: Path, capsys: Any, **given: Any) -> tuple[int, list[str]]:
    code = check.run(args(bare_project, **given))
    return code, capsys.readouterr().out.splitlines()


@pytest.fixture
def as_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    """Treat the loopback stand-in as a deployed relay, to see the cloud's advice."""
    monkeypatch.setattr(check, "is_local", lambda url: False)


# --- read_answer: whose answer it is ---------------------------------------------------------


def test_a_relay_answer_keeps_its_outcome():
    assert read_answer(401, b'{"outcome": "signature_rejected"}') == Answer(
        401, "signature_rejected"
    )


def test_the_health_answer_is_healthy_with_its_route_count():
    assert read_answer(200, b'{"status": "ok", "routes": 2}') == Answer(200, "healthy", 2)


def test_a_status_other_than_ok_is_not_healthy():
    assert read_answer(200, b'{"status": "starting", "routes": 2}') == Answer(200, None, 2)


def test_an_outcome_wins_over_status():
    assert read_answer(405, b'{"outcome": "method_not_allowed", "status": "ok"}').outcome == (
        "method_not_allowed"
    )


@pytest.mark.parametrize("routes", ["2", True, 2.0, None])
def test_a_route_count_must_be_an_integer(routes):
    body = json.dumps({"status": "ok", "routes": routes}).encode()
    assert read_answer(200, body).routes is None


def test_an_answer_is_read_up_to_64_kib(scripted):
    """The relay's answers are small: a body past 64 KiB is cut there, so no longer JSON."""
    document = {"outcome": "signature_rejected", "pad": ""}
    room = 64 * 1024 - len(json.dumps(document))
    server = scripted(
        {
            "/fits": (401, {**document, "pad": "x" * room}),
            "/over": (401, {**document, "pad": "x" * (room + 1)}),
        }
    )
    assert probe("POST", server.url + "/fits", 5) == Answer(401, "signature_rejected")
    assert probe("POST", server.url + "/over", 5) == Answer(401, None)


@pytest.mark.parametrize(
    "body", [b"<html>403 Forbidden</html>", b"[1, 2]", b'"text"', b"", b'{"outcome": 7}']
)
def test_anything_but_a_json_object_with_an_outcome_is_not_the_relay(body):
    assert read_answer(403, body) == Answer(403, None)


# --- classify: one meaning per answer --------------------------------------------------------


def test_401_signature_rejected_is_ready():
    assert classify(BILLING, Answer(401, "signature_rejected"), CloudAdvice("dev")).ready


@pytest.mark.parametrize(
    "answer",
    [
        Answer(401, None),  # a bare 401: an identity-aware proxy, not the relay
        Answer(401, "not_configured"),
        Answer(200, "signature_rejected"),
        Answer(200, "ignored"),
    ],
)
def test_only_the_relays_401_signature_rejected_is_ready(answer):
    verdict = classify(BILLING, answer, CloudAdvice("dev"))
    assert not verdict.ready


def test_a_bare_401_is_not_the_relay():
    verdict = classify(BILLING, Answer(401, None), CloudAdvice("dev"))
    assert verdict.reason.startswith("not the relay: HTTP 401 without the relay's answer")
    assert "relayctl endpoints --stack dev" in verdict.reason


@pytest.mark.parametrize(
    "answer",
    [
        Answer(503, "not_configured"),
        Answer(404, "unknown_route"),
        Answer(403, None),
        Answer(503, None),
        Answer(404, None),
        Answer(200, "ignored"),
    ],
)
@pytest.mark.parametrize("advice", [CloudAdvice("dev"), LocalAdvice()], ids=["cloud", "local"])
def test_every_other_answer_is_not_ready(answer, advice):
    assert classify(BILLING, answer, advice).ready is False


def test_a_relay_answer_out_of_the_table_is_unexpected():
    verdict = classify(BILLING, Answer(200, "ignored"), CloudAdvice("dev"))
    assert verdict.reason == "unexpected answer: HTTP 200 (ignored); not ready"


def test_503_not_configured_names_the_key_and_the_stack():
    verdict = classify(BILLING, Answer(503, "not_configured"), CloudAdvice("prod"))
    assert verdict.line() == (
        "billing-handoff: signing secret not set (or not a valid whsec_ secret): run "
        "`pulumi config set --secret billingHandoffJamSecret --stack prod`, paste the secret Jam "
        "shows for this endpoint, then `pulumi up --stack prod`"
    )


def test_503_not_configured_without_a_key_says_how_to_add_one():
    reason = classify(TRIAGE, Answer(503, "not_configured"), CloudAdvice("prod")).reason
    assert "add `jam_signing_secret: {config: KEY}` to this workflow" in reason
    assert "`pulumi config set --secret KEY --stack prod`" in reason


def test_a_bare_503_is_the_platform_not_the_relays_not_configured():
    reason = classify(BILLING, Answer(503, None), CloudAdvice("dev")).reason
    assert reason.startswith("relay down: HTTP 503 from Google's front end, not from the relay")


@pytest.mark.parametrize("status", [500, 502, 504])
def test_any_bare_5xx_is_relay_down(status):
    reason = classify(BILLING, Answer(status, None), CloudAdvice("dev")).reason
    assert reason.startswith(f"relay down: HTTP {status} ")


def test_a_bare_499_is_not_relay_down():
    reason = classify(BILLING, Answer(499, None), CloudAdvice("dev")).reason
    assert reason.startswith("not the relay: HTTP 499")


def test_404_unknown_route_is_route_missing_with_the_deploy():
    reason = classify(BILLING, Answer(404, "unknown_route"), CloudAdvice("prod")).reason
    assert reason == (
        "route missing: the deployed relay has no such workflow (the deploy that adds it has "
        "not been applied): run `pulumi up --stack prod`"
    )


def test_a_bare_404_is_not_the_relay():
    assert classify(BILLING, Answer(404, None), CloudAdvice("dev")).reason.startswith(
        "not the relay: HTTP 404"
    )


def test_a_bare_403_is_not_public_with_both_fixes():
    reason = classify(BILLING, Answer(403, None), CloudAdvice("prod")).reason
    assert reason.startswith("not public: Google's front end refused the call (403)")
    assert "`pulumi config set publicAccess allUsers --stack prod`" in reason
    assert "`publicAccess allUsersWithPolicyException`" in reason
    assert reason.endswith("instead, see docs/deploy.md#public-access")


def test_a_403_with_the_relays_json_is_not_the_front_end():
    reason = classify(BILLING, Answer(403, "forbidden"), CloudAdvice("prod")).reason
    assert reason == "unexpected answer: HTTP 403 (forbidden); not ready"


def test_without_a_stack_the_fix_says_stack():
    reason = classify(BILLING, Answer(404, "unknown_route"), CloudAdvice(None)).reason
    assert reason.endswith("`pulumi up --stack STACK`")


# --- Local advice: `relayctl serve`, never the cloud's ---------------------------------------


def test_local_missing_secret_names_the_env_variable_and_key_and_a_restart():
    reason = classify(BILLING, Answer(503, "not_configured"), LocalAdvice()).reason
    assert reason.startswith(
        "signing secret not set on this local relay: set JAM_SIGNING_SECRET__BILLING_HANDOFF "
        "(or billingHandoffJamSecret) to the whsec_ secret in .relay-secrets.env"
    )
    assert reason.endswith("then restart `relayctl serve`")


def test_local_missing_secret_without_a_key_names_the_variable_alone():
    reason = classify(TRIAGE, Answer(503, "not_configured"), LocalAdvice()).reason
    assert "set JAM_SIGNING_SECRET__BUG_REPORT_TRIAGE to the whsec_ secret" in reason


@pytest.mark.parametrize(
    "answer",
    [
        Answer(503, "not_configured"),
        Answer(404, "unknown_route"),
        Answer(403, None),
        Answer(502, None),
        Answer(404, None),
    ],
)
def test_local_advice_never_sends_to_the_cloud(answer):
    reason = classify(BILLING, answer, LocalAdvice()).reason
    assert "pulumi" not in reason
    assert "Google" not in reason


def test_local_route_missing_says_restart_serve_with_the_file():
    reason = classify(BILLING, Answer(404, "unknown_route"), LocalAdvice()).reason
    assert "restart `relayctl serve` with the workflows file that has it" in reason


def test_local_bare_answers_ask_whether_serve_runs_there():
    reason = classify(BILLING, Answer(403, None), LocalAdvice()).reason
    assert reason.startswith("not the relay: HTTP 403 without the relay's answer")
    assert "is `relayctl serve` running at that URL" in reason


# --- relay_base: what --url may be -----------------------------------------------------------

FUNCTION = "https://us-central1-acme-relay.cloudfunctions.net/jam-fin-relay-dev"


@pytest.mark.parametrize(
    ("given", "base"),
    [
        (FUNCTION, FUNCTION),
        (FUNCTION + "/", FUNCTION),
        (FUNCTION + "/workflows/billing-handoff", FUNCTION),
        (FUNCTION + "/workflows/billing-handoff/", FUNCTION),
        (FUNCTION + "/health", FUNCTION),
        ("https://relay-abc123-uc.a.run.app", "https://relay-abc123-uc.a.run.app"),
        ("https://relay-abc123-uc.a.run.app/workflows/x", "https://relay-abc123-uc.a.run.app"),
        # A function named "workflows": only the last /workflows/<id> is the route.
        ("https://h.example/workflows/workflows/a", "https://h.example/workflows"),
        ("  http://127.0.0.1:8080  ", "http://127.0.0.1:8080"),
        # Only slashes are trimmed: a path may end in any character a URL allows.
        ("http://127.0.0.1:8080/X/", "http://127.0.0.1:8080/X"),
    ],
)
def test_the_relay_url_is_taken_from_any_of_its_urls(given, base):
    assert relay_base(given) == base


def test_a_path_that_only_contains_workflows_is_kept():
    assert relay_base("https://h.example/workflows/a/b") == "https://h.example/workflows/a/b"


@pytest.mark.parametrize(
    "given",
    ["relay.example", "ftp://h.example", "https://", "https://h.example/?x=1", "https://h#f"],
)
def test_what_is_not_a_relay_url_is_a_usage_error(given):
    with pytest.raises(CommandError) as raised:
        relay_base(given)
    assert raised.value.exit_code == 2
    assert str(raised.value) == (
        "the relay URL must look like https://HOST/PATH (`relayctl endpoints` prints it), "
        "without a query"
    )


def test_a_url_python_cannot_split_is_a_usage_error_too():
    with pytest.raises(CommandError, match="must look like"):
        relay_base("https://[::1/relay")  # an unclosed IPv6 bracket: urlsplit raises


# --- run(): the whole check over HTTP ------------------------------------------------------


def test_probes_go_to_the_health_and_endpoint_urls_under_the_function_path(
    bare_project, scripted, capsys
):
    server = scripted(
        {
            "/jam-fin-relay-dev/health": healthy(1),
            "/jam-fin-relay-dev/workflows/billing-handoff": READY,
        }
    )
    code, lines = run(bare_project, capsys, url=server.url + "/jam-fin-relay-dev", stack="dev")
    assert code == EXIT_OK, lines
    assert server.seen == [
        ("GET", "/jam-fin-relay-dev/health"),
        ("POST", "/jam-fin-relay-dev/workflows/billing-handoff"),
    ]
    assert lines[-1] == "ok: all 1 workflows ready."


def test_without_a_stack_every_workflow_is_probed(bare_project, scripted, capsys):
    ready = {f"/workflows/{w.id}": READY for w in (BILLING, TRIAGE)}
    server = scripted({"/health": healthy(2), **ready})
    code, lines = run(bare_project, capsys, url=server.url)
    assert code == EXIT_OK, lines
    assert lines[0] == f"Relay: {server.url} (2 workflows deployed to the workflows file)"
    assert "billing-handoff: ready" in lines
    assert "bug-report-triage: ready" in lines


def test_a_route_count_that_differs_fails_even_when_every_route_is_ready(
    bare_project, scripted, capsys, as_cloud
):
    server = scripted({"/health": healthy(3), "/workflows/billing-handoff": READY})
    code, lines = run(bare_project, capsys, url=server.url, stack="dev")
    assert code == EXIT_FAILED
    assert (
        "routes: the relay serves 3 routes, the workflows file deploys 1 to stack 'dev': the "
        "last deploy is not the file's; run `pulumi up --stack dev`"
    ) in lines
    assert lines[-1] == "failed: 1 of 1 workflows ready."


def test_a_health_answer_without_a_route_count_is_not_the_relays(bare_project, scripted, capsys):
    # The relay's health answer always counts its routes (relay_function/main.py).
    server = scripted({"/health": (200, {"status": "ok"}), "/workflows/billing-handoff": READY})
    code, lines = run(bare_project, capsys, url=server.url, stack="dev")
    assert code == EXIT_FAILED
    assert lines[1] == f"health: HTTP 200 without the relay's answer; is {server.url} the relay?"


def test_a_bare_500_health_is_relay_down_too(bare_project, scripted, capsys, as_cloud):
    server = scripted({"/health": (500, "<html>Internal Server Error</html>")})
    _, lines = run(bare_project, capsys, url=server.url, stack="dev")
    assert lines[1].startswith("health: relay down: HTTP 500 from Google's front end")


def test_a_health_problem_and_a_route_problem_both_count(bare_project, scripted, capsys):
    """Two problems never cancel out into an "ok"."""
    server = scripted({"/workflows/billing-handoff": (503, {"outcome": "not_configured"})})
    code, lines = run(bare_project, capsys, url=server.url, stack="dev")
    assert code == EXIT_FAILED
    assert lines[-1] == "failed: 0 of 1 workflows ready."


def test_a_bare_5xx_health_is_relay_down(bare_project, scripted, capsys, as_cloud):
    server = scripted({"/health": (503, "<html>Service Unavailable</html>")})
    code, lines = run(bare_project, capsys, url=server.url, stack="dev")
    assert code == EXIT_FAILED
    assert lines[1].startswith("health: relay down: HTTP 503 from Google's front end")


def test_a_health_answer_that_is_not_the_relays_is_said(bare_project, scripted, capsys):
    server = scripted({"/workflows/billing-handoff": READY})  # /health: an HTML 404
    code, lines = run(bare_project, capsys, url=server.url, stack="dev")
    assert code == EXIT_FAILED
    assert f"health: HTTP 404 without the relay's answer; is {server.url} the relay?" in lines
    assert lines[-1] == "failed: 1 of 1 workflows ready."  # one problem: health


def test_a_bare_403_health_leaves_the_explaining_to_each_route(
    bare_project, scripted, capsys, as_cloud
):
    server = scripted({"/health": (403, "<html>Forbidden</html>")})
    server.answers["/workflows/billing-handoff"] = (403, "<html>Forbidden</html>")
    code, lines = run(bare_project, capsys, url=server.url, stack="dev")
    assert code == EXIT_FAILED
    assert not any(line.startswith("health:") for line in lines)
    assert lines[1].startswith("billing-handoff: not public")


def test_a_relay_with_503_health_json_is_not_relay_down(bare_project, scripted, capsys):
    server = scripted({"/health": (503, {"outcome": "x"}), "/workflows/billing-handoff": READY})
    code, lines = run(bare_project, capsys, url=server.url, stack="dev")
    assert code == EXIT_FAILED
    assert lines[1] == f"health: HTTP 503 without the relay's answer; is {server.url} the relay?"


def test_each_route_is_judged_on_its_own(bare_project, scripted, capsys, as_cloud):
    server = scripted(
        {
            "/health": healthy(2),
            "/workflows/billing-handoff": READY,
            "/workflows/bug-report-triage": (503, {"outcome": "not_configured"}),
        }
    )
    code, lines = run(bare_project, capsys, url=server.url, stack="prod")
    assert code == EXIT_FAILED
    assert "billing-handoff: ready" in lines
    assert lines[2].startswith("bug-report-triage: signing secret not set")
    assert lines[-1] == "failed: 1 of 2 workflows ready."


def test_nothing_listening_is_relay_down_for_every_route(bare_project, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    code, lines = run(bare_project, capsys, url=url, stack="prod")
    assert code == EXIT_FAILED
    assert f"billing-handoff: relay down or unreachable (connection refused) at {url}" in lines
    assert f"bug-report-triage: relay down or unreachable (connection refused) at {url}" in lines
    assert lines[-1] == (
        f"failed: the relay at {url} is down or unreachable (connection refused); is "
        "`relayctl serve` running on that port?"
    )


def test_a_route_that_stops_answering_is_unreachable_on_its_line(
    bare_project, scripted, capsys, monkeypatch
):
    server = scripted({"/health": healthy(1)})
    original = check.probe

    def route_refused(method: str, url: str, timeout: float) -> Answer:
        if method == "POST":
            raise UnreachableError("connection refused")
        return original(method, url, timeout)

    monkeypatch.setattr(check, "probe", route_refused)
    code, lines = run(bare_project, capsys, url=server.url, stack="dev")
    assert code == EXIT_FAILED
    assert "billing-handoff: relay down or unreachable (connection refused)" in lines


def test_cloud_unreachable_asks_whether_the_stack_is_deployed(bare_project, capsys, as_cloud):
    code, lines = run(bare_project, capsys, url=f"http://127.0.0.1:{free_port()}", stack="dev")
    assert code == EXIT_FAILED
    assert lines[-1].endswith("is the stack deployed (`pulumi up --stack dev`)?")


def test_neither_url_nor_stack_is_a_usage_error_in_its_words(bare_project):
    with pytest.raises(CommandError) as raised:
        check.run(args(bare_project))
    assert raised.value.exit_code == 2
    assert str(raised.value) == (
        "say which relay: --stack STACK (the relay URL computed from Pulumi.STACK.yaml) or "
        "--url RELAY_URL"
    )


# --- --stack: the URL from the stack file, no Pulumi CLI --------------------------------------


def test_the_stack_file_gives_the_function_url(bare_project, monkeypatch, capsys):
    (bare_project / "Pulumi.dev.yaml").write_text(
        "config:\n  gcp:project: acme-relay\n  gcp:region: europe-west1\n"
    )
    asked: list[str] = []

    def refuse(method: str, url: str, timeout: float) -> Answer:
        asked.append(url)
        raise UnreachableError("cannot connect")

    monkeypatch.setattr(check, "probe", refuse)
    monkeypatch.setenv("PATH", str(bare_project))  # no pulumi, no gcloud
    code, lines = run(bare_project, capsys, stack="dev")
    base = relay_url("acme-relay", "europe-west1", "jam-fin-relay-dev")
    assert base == "https://europe-west1-acme-relay.cloudfunctions.net/jam-fin-relay-dev"
    assert asked == [base + "/health"]
    assert lines[0].startswith(f"Relay: {base} ")
    assert code == EXIT_FAILED


def test_the_stack_files_function_name_is_used(bare_project, monkeypatch):
    (bare_project / "Pulumi.dev.yaml").write_text(
        "config:\n  gcp:project: acme-relay\n  jam-fin-relay:functionName: support-relay\n"
    )
    base, _ = check._target(args(bare_project, stack="dev"))
    assert base == "https://us-central1-acme-relay.cloudfunctions.net/support-relay"


def test_the_placeholder_project_fails_before_any_probe(bare_project, monkeypatch):
    (bare_project / "Pulumi.dev.yaml").write_text("config:\n  gcp:project: my-gcp-project-id\n")
    monkeypatch.setattr(check, "probe", pytest.fail)
    with pytest.raises(CommandError) as raised:
        check.run(args(bare_project, stack="dev"))
    assert "still the example value 'my-gcp-project-id'" in str(raised.value)
    assert "pulumi config set gcp:project YOUR_PROJECT_ID --stack dev" in str(raised.value)


def test_a_missing_stack_file_says_how_to_create_it(bare_project):
    with pytest.raises(CommandError) as raised:
        check.run(args(bare_project, stack="prod"))
    assert "Pulumi.prod.yaml: no such stack file" in str(raised.value)
    assert "pulumi stack init prod" in str(raised.value)


def test_the_stacks_own_workflows_file_is_checked(bare_project, monkeypatch, capsys):
    (bare_project / "other.yaml").write_text("version: 1\nworkflows: []\n")
    (bare_project / "Pulumi.dev.yaml").write_text(
        "config:\n  gcp:project: acme-relay\n  jam-fin-relay:workflowsFile: other.yaml\n"
    )
    monkeypatch.setattr(check, "probe", lambda m, u, t: Answer(200, "healthy", 0))
    code = check.run(
        argparse.Namespace(**{**vars(args(bare_project, stack="dev")), "file_given": False})
    )
    out = capsys.readouterr().out
    assert code == EXIT_OK, out
    assert "(0 workflows deployed to stack 'dev')" in out


# --- A local relay: its own fixes, and the Intercom URL an unsigned probe cannot see -------


@pytest.fixture(scope="module")
def local_relay() -> Iterator[LocalRelay]:
    """`relayctl serve` as started with billing-handoff's signing secret but no Intercom URL."""
    env = relay_env({"billing-handoff": BOTH_EVENTS}, {}, {"billing-handoff": SECRET})
    with LocalRelay(env) as relay:
        yield relay


def test_a_local_relay_without_an_intercom_url_is_ready_with_a_warning(
    bare_project, local_relay, capsys, monkeypatch
):
    monkeypatch.chdir(bare_project)  # no .relay-secrets.env here
    monkeypatch.delenv("INTERCOM_WEBHOOK_URL__BILLING_HANDOFF", raising=False)
    code, lines = run(bare_project, capsys, url=local_relay.url, stack="dev")
    assert "billing-handoff: ready" in lines
    assert (
        "warning: billing-handoff: no Intercom URL (INTERCOM_WEBHOOK_URL__BILLING_HANDOFF) in "
        "this shell's environment or .relay-secrets.env; unless `relayctl serve` got it "
        "elsewhere, the relay answers 503 to every signed event on this route"
    ) in lines
    assert code == EXIT_OK  # a warning: serve may have been given another secrets file


@pytest.mark.parametrize("where", ["environment", "secrets file"])
def test_an_intercom_url_where_serve_reads_it_raises_no_warning(
    bare_project, local_relay, capsys, monkeypatch, where
):
    monkeypatch.chdir(bare_project)
    url = "https://api.intercom.io/hooks/wf_1"
    if where == "environment":
        monkeypatch.setenv("INTERCOM_WEBHOOK_URL__BILLING_HANDOFF", url)
    else:
        monkeypatch.delenv("INTERCOM_WEBHOOK_URL__BILLING_HANDOFF", raising=False)
        (bare_project / ".relay-secrets.env").write_text(f"billingHandoffIntercomUrl={url}\n")
    _, lines = run(bare_project, capsys, url=local_relay.url, stack="dev")
    assert not any(line.startswith("warning:") for line in lines)
    assert not any(url in line for line in lines)


def test_no_warning_about_intercom_urls_for_a_deployed_relay(
    bare_project, local_relay, capsys, monkeypatch, as_cloud
):
    monkeypatch.chdir(bare_project)
    _, lines = run(bare_project, capsys, url=local_relay.url, stack="dev")
    assert not any(line.startswith("warning:") for line in lines)


def test_the_real_relays_answers_read_as_the_table_says(local_relay):
    assert probe("GET", local_relay.url + "/health", 5) == Answer(200, "healthy", 1)
    ready = probe("POST", local_relay.url + "/workflows/billing-handoff", 5)
    assert ready == Answer(401, "signature_rejected")
    missing = probe("POST", local_relay.url + "/workflows/nope", 5)
    assert missing == Answer(404, "unknown_route")


def test_a_local_relays_missing_route_says_restart_serve(bare_project, local_relay, capsys):
    code, lines = run(bare_project, capsys, url=local_relay.url, stack="prod")
    assert code == EXIT_FAILED
    assert lines[1] == (
        "routes: the relay serves 1 routes, the workflows file deploys 2 to stack 'prod': "
        "restart `relayctl serve` with this workflows file"
    )
    assert lines[3].startswith("bug-report-triage: route missing: the local relay was started")


# --- Why a probe got no answer ----------------------------------------------------------------


def test_a_timeout_is_no_answer_in_time():
    import socket

    listener = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    try:
        with pytest.raises(UnreachableError, match=r"^no answer in time$"):
            probe("GET", f"http://127.0.0.1:{listener.getsockname()[1]}/health", 0.3)
    finally:
        listener.close()


def test_tls_to_a_plain_http_server_is_tls_failed(scripted):
    server = scripted({})
    with pytest.raises(UnreachableError, match=r"^TLS failed$"):
        probe("GET", server.url.replace("http://", "https://") + "/health", 5)


def test_a_connection_closed_without_an_answer_cannot_connect():
    import socket

    listener = socket.create_server(("127.0.0.1", 0))

    def hang_up() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        with pytest.raises(UnreachableError, match=r"^cannot connect$"):
            probe("GET", f"http://127.0.0.1:{listener.getsockname()[1]}/health", 5)
    finally:
        thread.join(5)
        listener.close()


def test_probes_carry_no_signature_and_an_empty_json_object(scripted):
    seen: list[dict[str, str]] = []

    class Recording(_Handler):
        def do_POST(self) -> None:
            seen.append({**dict(self.headers), "body": self.rfile.read(2).decode()})
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        probe("POST", f"http://127.0.0.1:{server.server_address[1]}/workflows/a", 5)
    finally:
        server.shutdown()
        server.server_close()
    (headers,) = seen
    assert headers["body"] == "{}"
    assert headers["Content-Type"] == "application/json"
    assert not any(name.lower().startswith(("svix-", "webhook-")) for name in headers)


def test_a_redirect_is_not_followed(scripted):
    # A sign-in page or a moved service answers for the relay; following it would hide that.
    server = scripted({"/health": (302, "/elsewhere"), "/elsewhere": healthy(1)})
    assert probe("GET", server.url + "/health", 5) == Answer(302, None)
    assert server.seen == [("GET", "/health")]


def test_check_help_says_what_each_option_is_for():
    parser = argparse.ArgumentParser(prog="relayctl check")
    check.add_arguments(parser)
    options = {a.option_strings[-1]: (a.metavar, a.help) for a in parser._actions}
    assert options["--stack"] == (
        "NAME",
        "check the workflows deployed to NAME; without --url, at the relay URL computed from "
        "Pulumi.NAME.yaml (gcp:project, gcp:region, functionName; no Pulumi CLI needed)",
    )
    assert options["--url"] == (
        "RELAY_URL",
        "probe this relay instead (its relay URL or an Endpoint URL), such as a local "
        "`relayctl serve` at http://127.0.0.1:8080",
    )
    assert options["--file"] == (
        "F",
        "the workflows file (default: workflows.yaml of the project you are in)",
    )
    assert options["--timeout"] == (None, "seconds to wait for each answer (default 10)")


def test_answers_and_verdicts_cannot_be_changed_after_the_fact():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        Answer(401, "signature_rejected").status = 200  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        classify(BILLING, Answer(404, None), CloudAdvice("dev")).ready = True  # type: ignore[misc]


# --- `relayctl check` as a user runs it: a subprocess -----------------------------------


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


def test_the_health_probe_is_a_get_without_a_body_and_each_route_a_post_of_an_empty_object(
    bare_project, scripted, capsys
):
    """A GET with a body is one a front end may refuse (RFC 9110, 9.3.1: content in a GET has
    no defined meaning); the route probe is an unsigned `{}` the relay answers 401."""
    server = scripted({"/health": healthy(1), "/workflows/billing-handoff": READY})
    code, _ = run(bare_project, capsys, url=server.url, stack="dev")
    assert code == EXIT_OK
    assert list(zip(server.seen, server.body_lengths, strict=True)) == [
        (("GET", "/health"), None),
        (("POST", "/workflows/billing-handoff"), 2),
    ]


def test_a_route_answered_by_something_else_is_named_by_its_workflow(
    bare_project, scripted, capsys, as_cloud
):
    server = scripted({"/health": healthy(1)})  # the route: an HTML 404, not the relay's
    code, lines = run(bare_project, capsys, url=server.url, stack="dev")
    assert code == EXIT_FAILED
    assert (
        "billing-handoff: not the relay: HTTP 404 without the relay's answer; is the relay URL "
        "right (`relayctl endpoints --stack dev` prints it)?"
    ) in lines

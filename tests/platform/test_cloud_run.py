"""Rules Cloud Run's front end enforces, each test naming its source.

Reserved URL paths. Google, "Cloud Run known issues", Reserved URL paths
(https://cloud.google.com/run/docs/issues): "/eventlog", paths starting with "/_ah/", and
"some paths ending with z" cannot be used; Google recommends avoiding every path ending in z.
Field reports of /healthz never reaching the container: funkyhq/funky #30,
kkdai/linebot-file #5.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from infra.workflows import parse_workflows
from relay_function.naming import (
    HEALTH_PATH,
    ROUTE_PREFIX,
    reserved_by_front_end,
    route_path,
)

REPO = Path(__file__).resolve().parents[2]
# Where the relay's paths are written: the relay, everything that probes it, and the docs.
CALLER_TREES = ("relay_function", "relayctl", "infra", "bench", "bootstrap", "docs", ".github")
CALLER_FILES = ("README.md", "Pulumi.yaml", "__main__.py")
# A quoted or code-spanned path ending in z ("/healthz", `/x/healthz`).
PATH_ENDING_IN_Z = re.compile(r"""["'`](/[A-Za-z0-9_./-]*z)["'`?]""")


@pytest.mark.parametrize(
    ("path", "reserved"),
    [
        ("/eventlog", True),
        ("/_ah/health", True),
        ("/_ah/start", True),
        ("/healthz", True),  # the path Google's front end swallowed (funkyhq/funky #30)
        ("/workflows/quiz", True),
        ("/health", False),
        ("/workflows/billing-handoff", False),
        ("/eventlogs", False),
        ("/ah/x", False),
    ],
)
def test_reserved_path_rule_follows_cloud_runs_known_issues(path: str, reserved: bool) -> None:
    """https://cloud.google.com/run/docs/issues, Reserved URL paths."""
    assert reserved_by_front_end(path) is reserved


def test_the_relays_fixed_paths_reach_the_relay() -> None:
    """https://cloud.google.com/run/docs/issues, Reserved URL paths: the health path and the
    route prefix are not answered by the front end."""
    assert not reserved_by_front_end(HEALTH_PATH)
    assert not reserved_by_front_end(ROUTE_PREFIX.rstrip("/"))
    assert not reserved_by_front_end(route_path("billing-handoff"))


def test_no_file_names_a_reserved_path() -> None:
    """https://cloud.google.com/run/docs/issues, Reserved URL paths: no caller, doc or workflow
    probes or documents a path the front end may answer itself (the old /healthz)."""
    files = [REPO / name for name in CALLER_FILES]
    for tree in CALLER_TREES:
        files += [p for p in (REPO / tree).rglob("*") if p.is_file() and p.suffix != ".pyc"]
    found = []
    for path in files:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        found += [
            f"{path.relative_to(REPO)}: {match}"
            for match in PATH_ENDING_IN_Z.findall(text)
            if reserved_by_front_end(match)
        ]
    assert found == []


WORKFLOWS = """\
version: 1
workflows:
  - id: billing-handoff
    intercom_webhook_url: {config: billingHandoffIntercomUrl}
  - id: bug-report-triage
    intercom_webhook_url: {config: bugReportTriageIntercomUrl}
"""


def test_every_path_relayctl_check_probes_reaches_the_relay(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    """https://cloud.google.com/run/docs/issues, Reserved URL paths: `relayctl check` probes
    only paths the front end passes on (health included), so a healthy relay is not reported
    as broken."""
    seen: list[str] = []

    def answer(request: Request) -> Response:
        seen.append(request.path)
        if request.path.endswith(HEALTH_PATH):
            document: dict[str, Any] = {"status": "ok", "routes": 2}
            return Response(json.dumps(document), 200, content_type="application/json")
        rejected = {"outcome": "signature_rejected", "message": "no signature"}
        return Response(json.dumps(rejected), 401, content_type="application/json")

    httpserver.expect_request(re.compile(".*")).respond_with_handler(answer)
    (tmp_path / "workflows.yaml").write_text(WORKFLOWS)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "relayctl",
            "check",
            "--url",
            httpserver.url_for("").rstrip("/"),
            "--file",
            str(tmp_path / "workflows.yaml"),
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(path.endswith(HEALTH_PATH) for path in seen)
    assert len(seen) == 3
    assert [path for path in seen if reserved_by_front_end(path)] == []


def test_a_workflow_id_ending_in_z_stays_valid_with_a_warning() -> None:
    """https://cloud.google.com/run/docs/issues, Reserved URL paths: only *some* paths ending
    in z are reserved, so such an id is allowed; the loader says why it may not be reached."""
    loaded = parse_workflows(
        "version: 1\nworkflows:\n  - id: quiz\n    intercom_webhook_url: {config: quizUrl}\n",
        "wf.yaml",
    )
    assert [w.id for w in loaded.workflows] == ["quiz"]
    (warning,) = loaded.warnings
    assert (warning.line, warning.column, warning.workflow_id) == (3, 9, "quiz")
    assert "/workflows/quiz" in warning.message
    assert "ends in 'z'" in warning.message
    assert "cloud.google.com/run/docs/issues" in warning.message
    assert "quiz-1" in warning.fix


def test_an_id_not_ending_in_z_gets_no_warning() -> None:
    """https://cloud.google.com/run/docs/issues: the warning is for ids ending in z only."""
    loaded = parse_workflows(
        "version: 1\nworkflows:\n  - id: zebra\n    intercom_webhook_url: {config: zebraUrl}\n",
        "wf.yaml",
    )
    assert loaded.warnings == ()

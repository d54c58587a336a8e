"""The relay's real log lines against the filters the metrics, alerts and dashboard use.

The relay runs as on Cloud Run (functions-framework, LocalRelay) and is driven over real HTTP
through every outcome. Each JSON line becomes the LogEntry Cloud Run would store (the object as
``jsonPayload``, ``severity`` lifted to the entry: https://cloud.google.com/run/docs/logging),
and the program's own filter strings from infra/monitoring.py are evaluated on it by a small
matcher for the subset of the Logging query language they use. The matcher refuses anything
outside that subset, so a filter cannot drift into syntax this test does not understand.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from infra import monitoring as m
from relay_function.naming import JAM_CREATED, RECORDED
from relayctl import jam_events
from relayctl.fake_intercom import FakeIntercom
from relayctl.local_relay import LocalRelay, free_port, relay_env

SERVICE = "jam-fin-relay-dev"
CONVERSATION = "215470686832743"
SECRET = jam_events.new_signing_secret()
OTHER_SECRET = jam_events.new_signing_secret()
MAIN = "billing-handoff"
NO_SECRET = "no-secret"
DOWN = "intercom-down"
HTTP_TIMEOUT = 15
SEVERITIES = ("DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT")


# ---- a matcher for the query subset (https://cloud.google.com/logging/docs/view/logging-query-language)

_EQUALS = re.compile(r'([A-Za-z_.]+)="([^"]*)"')
_ONE_OF = re.compile(r'([A-Za-z_.]+)=\(("[^"]*"(?: OR "[^"]*")*)\)')
_EXISTS = re.compile(r"([A-Za-z_.]+):\*")
_SEVERITY_AT_LEAST = re.compile(r'severity>="([A-Z]+)"')


def _lookup(entry: dict[str, Any], path: str) -> Any:
    value: Any = entry
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def matches(query: str, entry: dict[str, Any]) -> bool:
    """Terms joined by AND; each FIELD="v", FIELD=("a" OR "b"), FIELD:* or severity>="S"."""
    for term in query.split(" AND "):
        if found := _EQUALS.fullmatch(term):
            ok = str(_lookup(entry, found[1])) == found[2]
        elif found := _ONE_OF.fullmatch(term):
            ok = str(_lookup(entry, found[1])) in re.findall(r'"([^"]*)"', found[2])
        elif found := _EXISTS.fullmatch(term):
            ok = _lookup(entry, found[1]) is not None
        elif found := _SEVERITY_AT_LEAST.fullmatch(term):
            ok = SEVERITIES.index(entry["severity"]) >= SEVERITIES.index(found[1])
        else:
            raise AssertionError(f"filter term outside the tested subset: {term!r}")
        if not ok:
            return False
    return True


def test_matcher_rejects_terms_it_does_not_understand():
    with pytest.raises(AssertionError, match="outside the tested subset"):
        matches('jsonPayload.outcome!="failed"', {})


def test_matcher_needs_every_term():
    entry = {"resource": {"type": "cloud_run_revision"}, "jsonPayload": {"outcome": "failed"}}
    assert matches('resource.type="cloud_run_revision" AND jsonPayload.outcome:*', entry)
    assert not matches('resource.type="cloud_run_revision" AND jsonPayload.latency_ms:*', entry)


def as_log_entry(record: dict[str, Any]) -> dict[str, Any]:
    payload = dict(record)
    return {
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": SERVICE}},
        "severity": payload.pop("severity", "DEFAULT"),
        "jsonPayload": payload,
    }


# ---- the relay, driven through every outcome


@pytest.fixture(scope="module")
def entries() -> list[dict[str, Any]]:
    with FakeIntercom() as intercom:
        env = relay_env(
            {MAIN: [RECORDED], NO_SECRET: [RECORDED], DOWN: [RECORDED]},
            {
                MAIN: intercom.url_for(MAIN),
                NO_SECRET: intercom.url_for(NO_SECRET),
                # Nothing listens on a just-freed loopback port: Intercom unreachable.
                DOWN: f"http://127.0.0.1:{free_port()}/hooks/{DOWN}",
            },
            {MAIN: SECRET, DOWN: SECRET},
            max_body_bytes=4096,
        )
        env["RELAY_FORWARD_TIMEOUT_SECONDS"] = "2"
        with LocalRelay(env) as relay, requests.Session() as session:

            def post(workflow: str, body: bytes, secret: str | None = SECRET) -> int:
                headers = (
                    jam_events.signed_headers(secret, body)
                    if secret
                    else {"Content-Type": "application/json"}
                )
                answer = session.post(
                    f"{relay.url}/workflows/{workflow}",
                    data=body,
                    headers=headers,
                    timeout=HTTP_TIMEOUT,
                )
                return answer.status_code

            event = jam_events.encode(jam_events.sample_event(RECORDED, CONVERSATION))
            statuses = {
                "delivered": post(MAIN, event),
                "ignored": post(MAIN, jam_events.encode(jam_events.sample_event(JAM_CREATED))),
                "signature_rejected": post(MAIN, event, OTHER_SECRET),
                "bad_request": post(MAIN, b"not json"),
                "too_large": post(MAIN, b"x" * 8192),
                "not_configured": post(NO_SECRET, event, None),
                "failed_unreachable": post(DOWN, event),
                "unknown_route": post("nope", event),
            }
            intercom.answer_status = 404
            statuses["refused_by_intercom"] = post(MAIN, event)
            intercom.answer_status = 503
            statuses["failed_503"] = post(MAIN, event)
            method = session.get(f"{relay.url}/workflows/{MAIN}", timeout=HTTP_TIMEOUT)
            statuses["method_not_allowed"] = method.status_code
            # The request line is written after the answer; give it a bounded moment to land.
            deadline = time.monotonic() + 5
            while len(relay.log_records()) < len(statuses) and time.monotonic() < deadline:
                time.sleep(0.05)
            records = relay.log_records()
    assert statuses == {
        "delivered": 200,
        "ignored": 200,
        "signature_rejected": 401,
        "bad_request": 400,
        "too_large": 413,
        "not_configured": 503,
        "failed_unreachable": 502,
        "unknown_route": 404,
        "refused_by_intercom": 200,
        "failed_503": 502,
        "method_not_allowed": 405,
    }
    return [as_log_entry(r) for r in records]


def _with_outcome(entries: list[dict[str, Any]], outcome: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["jsonPayload"].get("outcome") == outcome]


def test_every_outcome_the_program_names_is_one_the_relay_logs(entries):
    logged = {e["jsonPayload"].get("outcome") for e in entries}
    named = {
        m.DELIVERED,
        m.IGNORED,
        m.REFUSED_BY_INTERCOM,
        m.FAILED,
        m.SIGNATURE_REJECTED,
        m.NOT_CONFIGURED,
        m.BAD_REQUEST,
        m.TOO_LARGE,
        m.UNKNOWN_ROUTE,
        m.METHOD_NOT_ALLOWED,
    }
    assert named <= logged


def test_the_outcome_metric_counts_every_request_line_with_its_labels(entries):
    request_lines = [e for e in entries if "latency_ms" in e["jsonPayload"]]
    assert len(request_lines) == 11
    for entry in request_lines:
        assert matches(m.outcome_lines(SERVICE), entry), entry
        assert _lookup(entry, m.payload(m.FIELD_OUTCOME)) is not None, entry


def test_the_outcome_metric_labels_each_dashboard_outcome_with_its_workflow(entries):
    for entry in entries:
        if entry["jsonPayload"].get("outcome") in m.DASHBOARD_OUTCOMES:
            assert entry["jsonPayload"].get(m.FIELD_WORKFLOW) in {MAIN, NO_SECRET, DOWN}, entry


# The outcomes infra/alerting.py alerts on (not imported here: it loads Pulumi).
ALERTED = (m.FAILED, m.SIGNATURE_REJECTED, m.NOT_CONFIGURED, m.REFUSED_BY_INTERCOM)


@pytest.mark.parametrize("outcome", sorted({*m.DASHBOARD_OUTCOMES, *ALERTED}))
def test_each_alert_and_dashboard_query_selects_exactly_its_outcome(entries, outcome):
    query = m.lines_with_outcome(SERVICE, outcome)
    selected = [e for e in entries if matches(query, e)]
    assert selected
    assert selected == _with_outcome(entries, outcome)


def test_the_latency_metric_takes_every_forward_and_nothing_else(entries):
    forwarded = [e for e in entries if matches(m.forwarded_lines(SERVICE), e)]
    outcomes = sorted(e["jsonPayload"]["outcome"] for e in forwarded)
    assert outcomes == ["delivered", "failed", "failed", "refused_by_intercom"]
    for entry in forwarded:
        value = entry["jsonPayload"][m.FIELD_LATENCY]  # what EXTRACT(jsonPayload.latency_ms) reads
        assert isinstance(value, (int, float))
        assert value >= 0


def test_the_intercom_status_metric_takes_every_answer_intercom_gave(entries):
    lines = [e for e in entries if matches(m.intercom_status_lines(SERVICE), e)]
    assert sorted(e["jsonPayload"][m.FIELD_INTERCOM_STATUS] for e in lines) == [200, 404, 503]
    unreachable = [
        e
        for e in _with_outcome(entries, m.FAILED)
        if m.FIELD_INTERCOM_STATUS not in e["jsonPayload"]
    ]
    assert len(unreachable) == 1  # a failed forward with no answer is not counted as a status


def test_no_filter_selects_another_services_lines(entries):
    elsewhere = {"type": "cloud_run_revision", "labels": {"service_name": "x"}}
    other = [dict(e, resource=elsewhere) for e in entries]
    for query in (m.outcome_lines(SERVICE), m.forwarded_lines(SERVICE)):
        assert not any(matches(query, e) for e in other)
    assert other


def test_the_dashboard_log_panel_shows_the_problem_lines(entries):
    panel = m.all_of(m.relay_lines(SERVICE), 'severity>="WARNING"')
    shown = {e["jsonPayload"]["outcome"] for e in entries if matches(panel, e)}
    assert {m.FAILED, m.NOT_CONFIGURED, m.REFUSED_BY_INTERCOM, m.SIGNATURE_REJECTED} <= shown
    assert m.DELIVERED not in shown


def test_the_trace_query_finds_the_conversations_forwarded_lines(entries):
    """Needs the relay's conversation_id field (issue 12; added to the relay by its owner)."""
    query = m.conversation_lines(CONVERSATION, SERVICE)
    found = {e["jsonPayload"]["outcome"] for e in entries if matches(query, e)}
    assert {m.DELIVERED, m.REFUSED_BY_INTERCOM, m.FAILED} <= found


RUNBOOK = Path(__file__).resolve().parents[1] / "docs" / "operations.md"


@pytest.mark.parametrize("outcome", ALERTED)
def test_the_runbook_quotes_each_alert_s_exact_query(outcome):
    assert m.lines_with_outcome("jam-fin-relay-dev", outcome) in RUNBOOK.read_text()


def test_the_runbook_quotes_the_relay_down_query():
    assert f"  {m.relay_lines('jam-fin-relay-dev')}\n" in RUNBOOK.read_text()

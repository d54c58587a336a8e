"""Rules Cloud Monitoring's uptime checks apply, run on what the relay really answers.

JSON-path content matching (Cloud Monitoring API, UptimeCheckConfig.ContentMatcher,
JsonPathMatcher): MATCHES_JSON_PATH reads the response as JSON, takes the value at
``json_path``, and with EXACT_MATCH compares it with ``content`` read as JSON. The provider's own
example writes a string quoted: ``content = "\\"example\\""`` with ``json_path = "$.path"`` and
``json_matcher = "EXACT_MATCH"`` (google_monitoring_uptime_check_config,
uptime_check_config_http; GoogleCloudPlatform/k8s-config-connector's generated sample).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from jsonpath_ng.jsonpath import JSONPath
from jsonpath_ng.parser import parse as _parse_json_path

from infra import urls
from infra.alerting import HEALTH_STATUS_CONTENT, HEALTH_STATUS_PATH, uptime_target
from relay_function.naming import HEALTH_PATH
from relayctl.local_relay import LocalRelay, relay_env


def json_path_exact_match(body: str, json_path: str, content: str) -> bool:
    """MATCHES_JSON_PATH with EXACT_MATCH: the JSON value at the path equals ``content`` as JSON.

    A body that is not JSON, a path that finds nothing, or content that is not JSON never
    matches.
    """
    try:
        document = json.loads(body)
        expected = json.loads(content)
    except ValueError:
        return False
    path: JSONPath = _parse_json_path(json_path)
    found = [match.value for match in path.find(document)]
    return len(found) == 1 and found[0] == expected and type(found[0]) is type(expected)


FUNCTION = "jam-fin-relay-dev"


@pytest.fixture(scope="module")
def health_answers() -> Iterator[dict[str, requests.Response]]:
    """The real relay's answers (functions-framework, loopback, K_SERVICE as Cloud Run sets it)
    on the health path and on the path the uptime check probes (infra.alerting.uptime_target)."""
    env = relay_env({"billing-handoff": ["intercom.recorder.recorded"]}, {}, {})
    relay_url = urls.relay_url("acme-relay", "us-central1", FUNCTION)
    _, uptime_path = uptime_target(relay_url)
    with LocalRelay(env, service_name=FUNCTION) as relay:
        yield {
            path: requests.get(relay.url + path, timeout=10) for path in (HEALTH_PATH, uptime_path)
        }


@pytest.fixture(scope="module")
def health_body(health_answers: dict[str, requests.Response]) -> str:
    answer = health_answers[HEALTH_PATH]
    assert answer.status_code == 200
    return answer.text


def test_the_uptime_check_s_path_reaches_the_relay(
    health_answers: dict[str, requests.Response],
) -> None:
    """Issue 21.1: the uptime check probes /FUNCTION/health on the function's deterministic
    URL; the relay answers it as its health path (K_SERVICE = the function's service name,
    https://cloud.google.com/run/docs/container-contract), so the matcher sees the same body."""
    (path,) = [p for p in health_answers if p != HEALTH_PATH]
    assert path == f"/{FUNCTION}{HEALTH_PATH}"
    answer = health_answers[path]
    assert answer.status_code == 200
    assert answer.text == health_answers[HEALTH_PATH].text
    assert json_path_exact_match(answer.text, HEALTH_STATUS_PATH, HEALTH_STATUS_CONTENT)


def test_the_uptime_matcher_matches_the_relay_s_real_health_answer(health_body: str) -> None:
    """JsonPathMatcher EXACT_MATCH on the relay's /health answer, as Monitoring evaluates it."""
    assert json_path_exact_match(health_body, HEALTH_STATUS_PATH, HEALTH_STATUS_CONTENT)


def test_an_unquoted_ok_never_matches_the_relay_s_health_answer(health_body: str) -> None:
    """The provider's example quotes strings: `ok` unquoted is not the JSON string "ok" (issue
    19.5, the matcher before the fix)."""
    assert json.loads(health_body)["status"] == "ok"
    assert not json_path_exact_match(health_body, HEALTH_STATUS_PATH, "ok")


@pytest.mark.parametrize(
    ("body", "content", "matches"),
    [
        ('{"status": "ok", "routes": 2}', '"ok"', True),
        ('{"status": "ok"}', '"OK"', False),  # exact: case matters
        ('{"status": "okay"}', '"ok"', False),  # exact: not a prefix
        ('{"routes": 2}', '"ok"', False),  # the path finds nothing
        ('{"status": 1}', "true", False),  # JSON types differ
        ("<html>ok</html>", '"ok"', False),  # not JSON
    ],
)
def test_the_matcher_semantics_used_above(body: str, content: str, matches: bool) -> None:
    """The evaluation above, on cases whose answer JsonPathMatcher's definition fixes."""
    assert json_path_exact_match(body, "$.status", content) is matches


def test_the_uptime_check_content_fits_monitoring_s_limit() -> None:
    """ContentMatcher.content: "String or regex content to match (max 1024 bytes)"."""
    content: Any = HEALTH_STATUS_CONTENT
    assert len(content.encode()) <= 1024

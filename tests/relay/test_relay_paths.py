"""Which paths reach the relay's routes, over real HTTP, and every other path's answer.

The Endpoint URL users register is ``https://REGION-PROJECT.cloudfunctions.net/FUNCTION/
workflows/<id>`` (infra/urls.py); no Google page says whether a 2nd-gen function receives that
path with or without ``/FUNCTION`` (1st gen strips it: functions-framework-python #54). So the
relay answers ``/workflows/<id>`` and ``/<K_SERVICE>/workflows/<id>``, and the health path both
ways, and nothing else. K_SERVICE is the Cloud Run service's name, set by Cloud Run in the
container ("Container runtime contract", https://cloud.google.com/run/docs/container-contract);
LocalRelay sets it as Cloud Run does (LOCAL_SERVICE_NAME).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

# relay_function/ is on sys.path (conftest), as in the cloud; mypy checks that folder on its own.
from relay_function.naming import (
    HEALTH_PATH,
    RECORDED,
    SERVICE_NAME_ENV,
    reserved_by_front_end,
    route_path,
    served_path,
)
from relayctl import jam_events
from relayctl.fake_intercom import FakeIntercom
from relayctl.local_relay import LOCAL_SERVICE_NAME, LocalRelay, relay_env
from tests.relay.harness import HTTP_TIMEOUT, MAIN, SECRET, Suite, new_event

SERVICE = LOCAL_SERVICE_NAME
UNKNOWN = {"outcome": "unknown_route", "message": "no such route"}


def _post(relay: LocalRelay, path: str) -> requests.Response:
    body = jam_events.encode(new_event())
    return requests.post(
        relay.url + path,
        data=body,
        headers=jam_events.signed_headers(SECRET, body),
        timeout=HTTP_TIMEOUT,
    )


def _new_lines(suite: Suite, before: int) -> list[dict[str, object]]:
    return suite.relay.log_records()[before:]


# The rule itself, in-process.


@pytest.mark.parametrize(
    ("path", "served"),
    [
        ("/workflows/a", "/workflows/a"),
        ("/fn/workflows/a", "/workflows/a"),
        ("/fn/health", "/health"),
        ("/fn/fn/workflows/a", "/fn/workflows/a"),  # one segment, once
        ("/fnx/workflows/a", "/fnx/workflows/a"),
        ("/f/workflows/a", "/f/workflows/a"),
        ("/fn", "/fn"),
        ("/fn/", "/"),
        ("fn/workflows/a", "fn/workflows/a"),
        ("/other/fn/workflows/a", "/other/fn/workflows/a"),
    ],
)
def test_served_path_removes_one_leading_service_segment(path: str, served: str) -> None:
    assert served_path(path, "fn") == served


@pytest.mark.parametrize("service_name", [None, ""])
def test_without_a_service_name_the_path_is_served_as_it_is(service_name: str | None) -> None:
    assert served_path("/fn/workflows/a", service_name) == "/fn/workflows/a"
    assert served_path("//workflows/a", service_name) == "//workflows/a"


def test_the_service_name_comes_from_k_service() -> None:
    """https://cloud.google.com/run/docs/container-contract: K_SERVICE, "The name of the Cloud
    Run service being run"."""
    assert SERVICE_NAME_ENV == "K_SERVICE"


def test_neither_form_of_a_fixed_path_is_one_the_front_end_answers() -> None:
    """https://cloud.google.com/run/docs/issues, Reserved URL paths."""
    for path in (HEALTH_PATH, route_path("billing-handoff")):
        assert not reserved_by_front_end(path)
        assert not reserved_by_front_end(f"/{SERVICE}{path}")


def test_local_relay_sets_k_service_as_cloud_run_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVICE_NAME_ENV, "inherited-from-the-shell")

    default = LocalRelay({})
    explicit = LocalRelay({SERVICE_NAME_ENV: "from-env"})
    unset = LocalRelay({}, service_name=None)

    assert (default.service_name, default._env[SERVICE_NAME_ENV]) == (SERVICE, SERVICE)
    assert SERVICE == "jam-fin-relay-local"
    assert (explicit.service_name, explicit._env[SERVICE_NAME_ENV]) == ("from-env", "from-env")
    assert unset.service_name is None
    assert SERVICE_NAME_ENV not in unset._env


# Over HTTP, on the suite's relay (K_SERVICE set).


@pytest.mark.parametrize("prefix", ["", f"/{SERVICE}"], ids=["bare", "function-name"])
def test_a_route_answers_with_and_without_the_function_name(suite: Suite, prefix: str) -> None:
    posts = suite.intercom.post_count

    answer = _post(suite.relay, prefix + route_path(MAIN))

    assert (answer.status_code, answer.json()["outcome"]) == (200, "delivered")
    assert suite.intercom.post_count == posts + 1


@pytest.mark.parametrize("prefix", ["", f"/{SERVICE}"], ids=["bare", "function-name"])
def test_the_health_path_answers_with_and_without_the_function_name(
    suite: Suite, prefix: str
) -> None:
    answer = requests.get(suite.relay.url + prefix + HEALTH_PATH, timeout=HTTP_TIMEOUT)

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "routes": len(suite.intercom_urls) + 1}


@pytest.mark.parametrize(
    "path",
    [
        f"/other{route_path(MAIN)}",
        f"/{SERVICE}/{SERVICE}{route_path(MAIN)}",
        f"/{SERVICE}x{route_path(MAIN)}",
        f"/{SERVICE}{route_path(MAIN)}/",
        f"/{SERVICE}/other{route_path(MAIN)}",
        f"/{SERVICE[:-1]}{route_path(MAIN)}",
        f"/{SERVICE}",
        f"/{SERVICE}/",
        f"/{SERVICE}/workflows/",
    ],
)
def test_no_other_path_reaches_a_route(suite: Suite, path: str) -> None:
    posts = suite.intercom.post_count

    answer = _post(suite.relay, path)

    assert (answer.status_code, answer.json()) == (404, UNKNOWN)
    assert suite.intercom.post_count == posts


@pytest.mark.parametrize(
    "path",
    ["/other/health", f"/{SERVICE}/{SERVICE}/health", f"/{SERVICE}/health/", "/healthy"],
)
def test_no_other_path_is_the_health_path(suite: Suite, path: str) -> None:
    before = len(suite.relay.log_records())

    answer = requests.get(suite.relay.url + path, timeout=HTTP_TIMEOUT)

    assert (answer.status_code, answer.json()) == (404, UNKNOWN)
    assert [line["outcome"] for line in _new_lines(suite, before)] == ["unknown_route"]


@pytest.mark.parametrize("path", ["/robots.txt", "/favicon.ico", f"/{SERVICE}/robots.txt"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_paths_the_framework_answers_itself_follow_the_contract(
    suite: Suite, path: str, method: str
) -> None:
    """functions-framework routes /robots.txt and /favicon.ico to an HTML 404 of its own."""
    before = len(suite.relay.log_records())

    answer = requests.request(method, suite.relay.url + path, timeout=HTTP_TIMEOUT)

    assert answer.status_code == 404
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == UNKNOWN
    [line] = _new_lines(suite, before)
    assert {k: v for k, v in line.items() if k != "latency_ms"} == {
        "severity": "WARNING",
        "message": "no such route",
        "outcome": "unknown_route",
    }


# Over HTTP, on a relay without K_SERVICE (a local run outside Cloud Run).


@pytest.fixture(scope="module")
def unnamed() -> Iterator[LocalRelay]:
    with FakeIntercom() as intercom:
        env = relay_env({MAIN: [RECORDED]}, {MAIN: intercom.url_for(MAIN)}, {MAIN: SECRET})
        with LocalRelay(env, service_name=None) as relay:
            yield relay


def test_without_k_service_the_bare_route_answers(unnamed: LocalRelay) -> None:
    answer = _post(unnamed, route_path(MAIN))

    assert (answer.status_code, answer.json()["outcome"]) == (200, "delivered")


@pytest.mark.parametrize("path", [f"/{SERVICE}{route_path(MAIN)}", f"/{SERVICE}{HEALTH_PATH}"])
def test_without_k_service_no_prefixed_path_answers(unnamed: LocalRelay, path: str) -> None:
    answer = _post(unnamed, path)

    assert (answer.status_code, answer.json()) == (404, UNKNOWN)

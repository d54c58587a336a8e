"""Configuration the relay can only discover at start-up: a bad Intercom host, a bad CA bundle.

Each is a configuration problem logged once at start-up, never a 500 on every forward.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import answers  # type: ignore[import-not-found]

# relay_function/ is on sys.path (conftest), as in the cloud; mypy checks that folder on its own.
import certifi  # requests' CA bundle: a valid PEM file that is always installed
import configuration  # type: ignore[import-not-found]
import forwarding  # type: ignore[import-not-found]
import pytest

from relay_function.naming import RECORDED
from relayctl.local_relay import LocalRelay, free_port, relay_env
from tests.relay.harness import INTERCOM_PATH_TOKEN, SECRET, Suite, new_event

EMPTY_LABEL = "empty-label"
LONG_LABEL = "long-label"
TLS = "tls"
BAD_HOSTS = {
    EMPTY_LABEL: f"https://a..b/hooks/{INTERCOM_PATH_TOKEN}",
    LONG_LABEL: f"https://{'x' * 64}.example.com/hooks/{INTERCOM_PATH_TOKEN}",
}


def _relay(env: dict[str, str]) -> Suite:
    return Suite(LocalRelay(env).start(), None, None, None, 0, {})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def misconfigured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    """Bad hosts on two routes; a CA bundle that is not PEM; an https route to a closed port."""
    garbage = tmp_path_factory.mktemp("ca") / "not-a-bundle.pem"
    garbage.write_text("this is not a certificate\n")
    urls = {**BAD_HOSTS, TLS: f"https://127.0.0.1:{free_port()}/hooks/{INTERCOM_PATH_TOKEN}"}
    env = relay_env({wid: [RECORDED] for wid in urls}, urls, dict.fromkeys(urls, SECRET))
    env["RELAY_CA_BUNDLE"] = str(garbage)
    suite = _relay(env)
    try:
        yield suite
    finally:
        suite.relay.stop()


@pytest.fixture(scope="module")
def bundle_gone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    """A CA bundle valid at start-up, deleted before the first https forward builds TLS."""
    bundle = tmp_path_factory.mktemp("ca") / "bundle.pem"
    shutil.copyfile(certifi.where(), bundle)
    url = f"https://127.0.0.1:{free_port()}/hooks/{INTERCOM_PATH_TOKEN}"
    env = relay_env({TLS: [RECORDED]}, {TLS: url}, {TLS: SECRET})
    env["RELAY_CA_BUNDLE"] = str(bundle)
    suite = _relay(env)
    bundle.unlink()
    try:
        yield suite
    finally:
        suite.relay.stop()


@pytest.mark.parametrize("workflow_id", list(BAD_HOSTS))
def test_invalid_intercom_host_is_503_not_configured(
    misconfigured: Suite, workflow_id: str
) -> None:
    answer = misconfigured.send_event(workflow_id, new_event())

    assert (answer.status_code, answer.json()["outcome"]) == (503, "not_configured")


def test_invalid_hosts_are_start_up_problems_without_the_url(misconfigured: Suite) -> None:
    config_lines = [
        r for r in misconfigured.relay.log_records() if r.get("outcome") == "config_error"
    ]
    by_workflow = {r.get("workflow_id"): str(r["message"]) for r in config_lines}

    # The shared host rule (naming.host_problem) says which part is broken, as the loader does.
    assert "invalid host name: it has an empty label" in by_workflow[EMPTY_LABEL]
    assert "a label is 64 characters long, the limit is 63" in by_workflow[LONG_LABEL]
    output = misconfigured.relay.output()
    assert "a..b" not in output
    assert "x" * 64 not in output


def test_unusable_ca_bundle_is_logged_once_and_forwards_still_answer(
    misconfigured: Suite,
) -> None:
    answer = misconfigured.send_event(TLS, new_event())

    # The system CAs are used instead; the closed port makes the forward fail, as it should.
    assert (answer.status_code, answer.json()["outcome"]) == (502, "failed")
    bundle_lines = [
        r
        for r in misconfigured.relay.log_records()
        if r.get("outcome") == "config_error" and "RELAY_CA_BUNDLE" in str(r["message"])
    ]
    assert len(bundle_lines) == 1
    assert "not a certificate" not in misconfigured.relay.output()


def test_ca_bundle_gone_after_start_up_is_502_not_500(bundle_gone: Suite) -> None:
    answers = [bundle_gone.send_event(TLS, new_event()) for _ in range(2)]

    assert [(a.status_code, a.json()["outcome"]) for a in answers] == [(502, "failed")] * 2
    assert "TLS set-up failed" in answers[0].json()["message"]


@pytest.mark.parametrize("host", ["a..b", "x" * 64 + ".example.com"])
def test_connection_level_host_errors_are_forward_failures(host: str) -> None:
    """Belt and braces: a host IDNA cannot encode fails the forward, never the request (500).

    In-process on the forwarder: such a host no longer passes the start-up check. IDNA encoding
    fails before any name lookup, so nothing leaves the machine.
    """
    target = configuration.IntercomTarget("http", host, 80, "/hook")

    with pytest.raises(answers.ForwardFailed, match="unreachable"):
        forwarding.Forwarder().post(target, "/hook/c1", b"{}", {}, 1.5)


@pytest.mark.parametrize("contents", ["not a certificate\n", "", None])  # None: no file
def test_load_config_checks_the_ca_bundle(tmp_path: Path, contents: str | None) -> None:
    path = tmp_path / "bundle.pem"
    if contents is not None:
        path.write_text(contents)

    loaded = configuration.load_config({"RELAY_ROUTES": "{}", "RELAY_CA_BUNDLE": str(path)})

    assert loaded.ca_bundle is None
    [problem] = loaded.problems
    assert "RELAY_CA_BUNDLE" in problem.message


def test_load_config_keeps_a_valid_ca_bundle() -> None:
    loaded = configuration.load_config({"RELAY_ROUTES": "{}", "RELAY_CA_BUNDLE": certifi.where()})

    assert loaded.ca_bundle == certifi.where()
    assert loaded.problems == ()

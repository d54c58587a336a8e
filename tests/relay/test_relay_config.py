"""Start-up configuration, checked in-process on the pure ``load_config`` (no HTTP needed)."""

from __future__ import annotations

import json
from typing import Any

# relay_function/ is on sys.path (conftest), as in the cloud; mypy checks that folder on its own.
import configuration  # type: ignore[import-not-found]
import flask
import main as relay_main  # type: ignore[import-not-found]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder

from infra.intercom_url import intercom_url_problem
from tests.relay.harness import SECRET

SECRET_VALUE = SECRET.removeprefix("whsec_")


def config(**env: str) -> Any:
    return configuration.load_config(env)


@pytest.mark.parametrize("routes", [None, "", "{not json", "[1]", '"x"'])
def test_unusable_routes_env_is_one_problem_and_no_routes(routes: str | None) -> None:
    env = {} if routes is None else {"RELAY_ROUTES": routes}

    loaded = config(**env)

    assert loaded.routes == {}
    assert len(loaded.problems) == 1
    assert "RELAY_ROUTES" in loaded.problems[0].message


def test_invalid_workflow_id_is_skipped_and_reported() -> None:
    loaded = config(RELAY_ROUTES='{"Bad_Id": {}, "ok": {}}')

    assert set(loaded.routes) == {"ok"}
    assert any("invalid workflow id" in p.message for p in loaded.problems)


def test_unknown_event_falls_back_to_default_with_a_problem() -> None:
    loaded = config(
        RELAY_ROUTES='{"a": {"events": ["intercom.recorder.recordd"]}}',
        INTERCOM_WEBHOOK_URL__A="https://example.com/h",
        JAM_SIGNING_SECRET__A=SECRET,
    )

    assert loaded.routes["a"].events == frozenset(configuration.DEFAULT_EVENTS)
    assert [p.workflow_id for p in loaded.problems] == ["a"]


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("http://intercom.example.com/h", "https"),
        ("ftp://x/h", "https"),
        ("https:///h", "no host"),
        ("https://x/h?token=1", "query"),
        ("https://user:pw@x/h", "credentials"),
        ("https://x:99999/h", "not a valid URL"),
    ],
)
def test_bad_intercom_url_is_reported_without_its_value(url: str, fix: str) -> None:
    loaded = config(
        RELAY_ROUTES='{"a": {}}', INTERCOM_WEBHOOK_URL__A=url, JAM_SIGNING_SECRET__A=SECRET
    )

    assert loaded.routes["a"].target is None
    [problem] = loaded.problems
    assert fix in problem.message
    assert url not in problem.message


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8/h", "http://localhost/h", "http://[::1]:9/h", "https://x.io/h/"]
)
def test_loopback_http_and_https_urls_are_accepted(url: str) -> None:
    loaded = config(
        RELAY_ROUTES='{"a": {}}', INTERCOM_WEBHOOK_URL__A=url, JAM_SIGNING_SECRET__A=SECRET
    )

    target = loaded.routes["a"].target
    assert target is not None
    assert not target.base_path.endswith("/")
    assert loaded.problems == ()


@pytest.mark.parametrize(
    "secret",
    [
        SECRET_VALUE,  # prefix missing
        "whsec_",
        "whsec_@@@@",
        f"{SECRET} whsec_%%%",  # second of two is broken
        "whsec_abc",  # bad padding
    ],
    ids=["prefix-missing", "empty", "not-base64", "second-broken", "bad-padding"],
)
def test_bad_signing_secret_is_reported_without_its_value(secret: str) -> None:
    loaded = config(
        RELAY_ROUTES='{"a": {}}',
        INTERCOM_WEBHOOK_URL__A="https://x/h",
        JAM_SIGNING_SECRET__A=secret,
    )

    assert loaded.routes["a"].keys == ()
    [problem] = loaded.problems
    assert "JAM_SIGNING_SECRET__A" in problem.message
    assert SECRET_VALUE not in problem.message
    assert "whsec_abc" not in problem.message


def test_rotation_secrets_give_one_key_each() -> None:
    loaded = config(
        RELAY_ROUTES='{"a": {}}',
        INTERCOM_WEBHOOK_URL__A="https://x/h",
        JAM_SIGNING_SECRET__A=f"  {SECRET}   {SECRET}  ",
    )

    assert len(loaded.routes["a"].keys) == 2


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf"])
def test_bad_numbers_fall_back_to_defaults(value: str) -> None:
    loaded = config(RELAY_ROUTES="{}", RELAY_MAX_BODY_BYTES=value)

    assert loaded.max_body_bytes == 65536
    assert any("RELAY_MAX_BODY_BYTES" in p.message for p in loaded.problems)


def test_repr_of_a_route_reveals_no_secret() -> None:
    loaded = config(
        RELAY_ROUTES='{"a": {}}',
        INTERCOM_WEBHOOK_URL__A="https://x/hooks/capability-token",
        JAM_SIGNING_SECRET__A=SECRET,
    )

    text = repr(loaded)
    assert "capability-token" not in text
    assert SECRET_VALUE not in text


@pytest.mark.parametrize(
    ("env", "service_name"),
    [({"K_SERVICE": "jam-fin-relay-dev"}, "jam-fin-relay-dev"), ({"K_SERVICE": " fn "}, "fn")]
    + [({"K_SERVICE": blank}, None) for blank in ("", "  ")]
    + [({}, None)],
)
def test_the_service_name_is_k_service(env: dict[str, str], service_name: str | None) -> None:
    """https://cloud.google.com/run/docs/container-contract: Cloud Run sets K_SERVICE."""
    assert config(RELAY_ROUTES="{}", **env).service_name == service_name


@pytest.mark.parametrize(
    ("path", "workflow_id"),
    [
        ("/workflows/a", "a"),
        ("/fn/workflows/a", "a"),
        ("/workflows/zz", None),
        ("/x", None),
        ("/other/workflows/a", None),
    ],
)
def test_internal_error_line_names_a_known_workflow(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    path: str,
    workflow_id: str | None,
) -> None:
    """In-process: a 500 needs a relay bug, so one is injected into ``handle``."""

    def broken_handle(*args: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(relay_main, "CONFIG", config(RELAY_ROUTES='{"a": {}}', K_SERVICE="fn"))
    monkeypatch.setattr(relay_main, "handle", broken_handle)
    request = flask.Request(EnvironBuilder(path=path, method="POST").get_environ())

    answer = relay_main.relay(request)

    assert answer.status_code == 500
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (line["outcome"], line.get("workflow_id")) == ("error", workflow_id)
    assert "a bug" not in line["message"]


# Hosts and paths built from the characters people paste: the loader and the relay must agree.
_HOST = st.from_regex(r"[a-z0-9.\-]{1,20}(\.[a-z]{2,6})?", fullmatch=True)
_PORT = st.sampled_from(["", ":", ":443", ":0", ":8443", ":99999", ":abc"])
_PATH = st.text(alphabet="abcXYZ019-_./%é ~", max_size=24)


@given(host=_HOST, port=_PORT, path=_PATH)
@settings(max_examples=300, deadline=None)
def test_every_url_the_loader_accepts_is_one_the_relay_can_use(
    host: str, port: str, path: str
) -> None:
    url = f"https://{host}{port}/{path}"
    if intercom_url_problem(url) is None:
        target = configuration.parse_intercom_url(url)  # raises ValueError if it disagrees
        assert target.scheme == "https"

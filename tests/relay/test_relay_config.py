"""Start-up configuration, checked in-process on the pure ``load_config`` (no HTTP needed)."""

from __future__ import annotations

import base64
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


# Each problem's exact text (it is the start-up log line's message: the fix, never the value).

FIX = "set RELAY_ROUTES to a JSON object: workflow id -> {'events': [...]}"


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        (None, f"RELAY_ROUTES is not set; no route is served: {FIX}"),
        ("  ", f"RELAY_ROUTES is not set; no route is served: {FIX}"),
        ("{not json", f"RELAY_ROUTES is not valid JSON: {FIX}"),
        ("[1]", f"RELAY_ROUTES is not a JSON object: {FIX}"),
    ],
)
def test_an_unusable_routes_env_says_why_and_the_fix(routes: str | None, message: str) -> None:
    env = {} if routes is None else {"RELAY_ROUTES": routes}

    assert config(**env).problems == (configuration.ConfigProblem(None, message),)


@pytest.mark.parametrize("workflow_id", ["Bad_Id", "a-", "-a", "1a", "a" * 41])
def test_an_invalid_workflow_id_is_skipped_with_the_rule(workflow_id: str) -> None:
    loaded = config(RELAY_ROUTES=json.dumps({workflow_id: {}}))

    assert loaded.routes == {}
    assert loaded.problems == (
        configuration.ConfigProblem(
            None,
            "RELAY_ROUTES has an invalid workflow id (want [a-z][a-z0-9-]*, at most 40 "
            "characters, no trailing hyphen); that route is skipped",
        ),
    )


def test_a_forty_character_workflow_id_is_a_route() -> None:
    assert set(config(RELAY_ROUTES=json.dumps({"a" * 40: {}})).routes) == {"a" * 40}


EVENTS_FIX = (
    "RELAY_ROUTES entry needs 'events': a non-empty list from intercom.recorder.recorded, "
    "intercom.recorder.opted_out, jam.created; using the default intercom.recorder.recorded, "
    "intercom.recorder.opted_out"
)


@pytest.mark.parametrize(
    "spec",
    [
        {"events": []},
        {"events": "intercom.recorder.recorded"},
        {"events": [5]},
        {"events": 5},
        5,
        None,
        [],
    ],
    ids=["empty", "string", "not-a-name", "a-number", "number", "null", "list"],
)
def test_unusable_events_fall_back_to_the_default_with_the_fix(spec: object) -> None:
    loaded = config(
        RELAY_ROUTES=json.dumps({"a": spec}),
        INTERCOM_WEBHOOK_URL__A="https://example.com/h",
        JAM_SIGNING_SECRET__A=SECRET,
    )

    assert loaded.routes["a"].events == frozenset(configuration.DEFAULT_EVENTS)
    assert loaded.problems == (configuration.ConfigProblem("a", EVENTS_FIX),)


@pytest.mark.parametrize(
    ("spec", "events"),
    [
        ({}, set(configuration.DEFAULT_EVENTS)),
        ({"events": ["jam.created"]}, {"jam.created"}),
        (
            {"events": ["intercom.recorder.recorded", "jam.created", "intercom.recorder.recorded"]},
            {"intercom.recorder.recorded", "jam.created"},
        ),
    ],
)
def test_listed_events_are_the_routes_events(spec: object, events: set[str]) -> None:
    loaded = config(
        RELAY_ROUTES=json.dumps({"a": spec}),
        INTERCOM_WEBHOOK_URL__A="https://example.com/h",
        JAM_SIGNING_SECRET__A=SECRET,
    )

    assert loaded.routes["a"].events == events
    assert loaded.problems == ()


def _one_problem(**env: str) -> str:
    loaded = config(RELAY_ROUTES='{"a": {}}', **env)
    [problem] = loaded.problems
    assert problem.workflow_id == "a"
    return str(problem.message)


def test_a_missing_url_says_which_variable() -> None:
    message = _one_problem(JAM_SIGNING_SECRET__A=SECRET, INTERCOM_WEBHOOK_URL__A="  ")

    assert message == "INTERCOM_WEBHOOK_URL__A is not set: set it to the Intercom URL"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://x:99999/h", "is not a valid URL"),
        ("https:///h", "has no host"),
        (
            "https://a..b/h",
            "has an invalid host name: it has an empty label (two dots in a row, or a dot at "
            "the start)",
        ),
        (
            "http://intercom.example.com/h",
            "must use https (plain http is allowed only for loopback hosts)",
        ),
        ("ftp://x/h", "must be an https:// URL"),
        ("https://x/h?t=1", "must not carry a query, fragment or credentials"),
        ("https://x/h#f", "must not carry a query, fragment or credentials"),
        ("https://u@x/h", "must not carry a query, fragment or credentials"),
        ("https://:p@x/h", "must not carry a query, fragment or credentials"),
        ("https://x/h\x7f", "has spaces or non-ASCII characters in its path"),
        ("https://x/h\x1fi", "has spaces or non-ASCII characters in its path"),
        ("https://x/h\u00e9", "has spaces or non-ASCII characters in its path"),
        ("https://x/a b", "has spaces or non-ASCII characters in its path"),
        ("https://x/a\x00b", "has spaces or non-ASCII characters in its path"),
        ("https://x/a\u00a0b", "has spaces or non-ASCII characters in its path"),
    ],
    ids=[
        "port",
        "no-host",
        "host",
        "http",
        "ftp",
        "query",
        "fragment",
        "user",
        "password",
        "del-0x7f",
        "control-0x1f",
        "latin1",
        "space",
        "nul",
        "nbsp",
    ],
)
def test_an_unusable_url_says_why_and_the_fix(url: str, why: str) -> None:
    message = _one_problem(JAM_SIGNING_SECRET__A=SECRET, INTERCOM_WEBHOOK_URL__A=url)

    assert message == f"INTERCOM_WEBHOOK_URL__A {why}: set it to the workflow's URL"


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://x.io/h/~!", ("https", "x.io", 443, "/h/~!")),  # 0x7E and 0x21: the edges
        ("https://x.io:8443/hooksX", ("https", "x.io", 8443, "/hooksX")),
        ("https://x.io/h//", ("https", "x.io", 443, "/h")),
        ("https://x.io", ("https", "x.io", 443, "")),
        ("http://127.0.0.1/h", ("http", "127.0.0.1", 80, "/h")),
        ("  http://localhost:9/h/  ", ("http", "localhost", 9, "/h")),
        ("https://[::1]/h", ("https", "::1", 443, "/h")),
    ],
)
def test_a_usable_url_is_its_scheme_host_port_and_path(
    url: str, target: tuple[object, ...]
) -> None:
    assert tuple(configuration.parse_intercom_url(url)) == target


def test_a_missing_secret_says_which_variable_and_what_to_store() -> None:
    message = _one_problem(INTERCOM_WEBHOOK_URL__A="https://x/h", JAM_SIGNING_SECRET__A=" ")

    assert message == (
        "JAM_SIGNING_SECRET__A is not set: store the signing secret Jam shows for this endpoint "
        "(whsec_...); until then the route answers 503"
    )


@pytest.mark.parametrize(
    ("secrets", "why"),
    [
        (f"{SECRET} {SECRET_VALUE}", "secret #2 does not start with whsec_"),
        ("whsec_@@@@", "secret #1 is not base64 after whsec_"),
        ("whsec_abc", "secret #1 is not base64 after whsec_"),
        ("whsec_", "secret #1 is empty"),
    ],
    ids=["prefix", "alphabet", "padding", "empty"],
)
def test_an_unusable_secret_says_which_one_and_the_fix(secrets: str, why: str) -> None:
    message = _one_problem(INTERCOM_WEBHOOK_URL__A="https://x/h", JAM_SIGNING_SECRET__A=secrets)

    assert message == (
        f"JAM_SIGNING_SECRET__A {why}: copy the secret exactly as Jam shows it (whsec_..., "
        "space-separated); until then the route answers 503"
    )


def test_no_secret_at_all_is_empty() -> None:
    """relayctl add shows this for a blank secret (secret_refusal)."""
    with pytest.raises(ValueError, match=r"^is empty$"):
        configuration.parse_signing_secrets(" ")


def test_each_secret_is_its_decoded_key_in_order() -> None:
    other = "whsec_" + base64.b64encode(b"second key").decode()

    assert configuration.parse_signing_secrets(f"{SECRET}\t{other}") == (
        base64.b64decode(SECRET_VALUE),
        b"second key",
    )


def test_the_defaults_are_64_kib_and_8_seconds() -> None:
    loaded = config(RELAY_ROUTES="{}")

    assert (loaded.max_body_bytes, loaded.forward_timeout) == (65536, 8.0)
    assert (loaded.ca_bundle, loaded.problems) == (None, ())


@pytest.mark.parametrize(
    ("value", "body", "timeout"),
    [("1", 1, 1.0), ("0.5", 0, 0.5), ("100.9", 100, 100.9), ("  ", 65536, 8.0), ("", 65536, 8.0)],
)
def test_positive_numbers_are_taken(value: str, body: int, timeout: float) -> None:
    loaded = config(
        RELAY_ROUTES="{}", RELAY_MAX_BODY_BYTES=value, RELAY_FORWARD_TIMEOUT_SECONDS=value
    )

    assert (loaded.max_body_bytes, loaded.forward_timeout, loaded.problems) == (body, timeout, ())


@pytest.mark.parametrize("value", ["0", "-0.5", "abc", "nan", "inf", "-inf"])
def test_a_bad_timeout_falls_back_to_8_seconds_with_the_fix(value: str) -> None:
    loaded = config(RELAY_ROUTES="{}", RELAY_FORWARD_TIMEOUT_SECONDS=value)

    assert loaded.forward_timeout == 8.0
    assert loaded.problems == (
        configuration.ConfigProblem(
            None, "RELAY_FORWARD_TIMEOUT_SECONDS must be a positive number; using 8.0"
        ),
    )


def test_a_bad_body_limit_says_its_default() -> None:
    loaded = config(RELAY_ROUTES="{}", RELAY_MAX_BODY_BYTES="-1")

    assert [p.message for p in loaded.problems] == [
        "RELAY_MAX_BODY_BYTES must be a positive number; using 65536"
    ]


def test_a_blank_ca_bundle_is_none_and_no_problem() -> None:
    loaded = config(RELAY_ROUTES="{}", RELAY_CA_BUNDLE="  ")

    assert (loaded.ca_bundle, loaded.problems) == (None, ())


def test_an_unreadable_ca_bundle_says_the_fix(tmp_path: Any) -> None:
    loaded = config(RELAY_ROUTES="{}", RELAY_CA_BUNDLE=str(tmp_path / "missing.pem"))

    assert loaded.ca_bundle is None
    assert loaded.problems == (
        configuration.ConfigProblem(
            None,
            "RELAY_CA_BUNDLE is not a readable file of PEM CA certificates: fix or unset it; "
            "until then only the system CAs are trusted",
        ),
    )


def test_every_route_problem_comes_before_the_number_problems() -> None:
    loaded = config(
        RELAY_ROUTES='{"a": {}, "b": {}}',
        JAM_SIGNING_SECRET__A=SECRET,
        JAM_SIGNING_SECRET__B=SECRET,
        RELAY_MAX_BODY_BYTES="x",
    )

    assert [p.workflow_id for p in loaded.problems] == ["a", "b", None]


def test_a_route_and_a_target_never_show_the_url_or_keys() -> None:
    loaded = config(
        RELAY_ROUTES='{"a": {"events": ["jam.created", "intercom.recorder.recorded"]}}',
        INTERCOM_WEBHOOK_URL__A="https://x/hooks/capability-token",
        JAM_SIGNING_SECRET__A=SECRET,
    )
    route = loaded.routes["a"]

    assert repr(route) == "Route('a', events=['intercom.recorder.recorded', 'jam.created'])"
    assert repr(route.target) == "IntercomTarget(<redacted>)"

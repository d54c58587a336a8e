"""The test seam and the read-only promise: which base and credentials preflight uses, what it
refuses (exit 2, naming the variable), and that it makes only the five documented calls."""

from __future__ import annotations

from typing import Any

import pytest

from relayctl.common import CommandError
from relayctl.fake_google import PROJECT_ID, PROJECT_NUMBER, Scenario
from relayctl.google_api import (
    BASE_ENV,
    SCOPES,
    TOKEN_ENV,
    Call,
    Caller,
    Endpoint,
    caller,
    loopback_base,
    send,
)
from relayctl.preflight_policies import CONSTRAINTS
from tests.cli.preflight_kit import Runner


@pytest.fixture
def preflight(monkeypatch, capsys, tmp_path) -> Runner:
    return Runner(monkeypatch, capsys, tmp_path)


# --- the base: loopback only ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "base"),
    [
        ("http://127.0.0.1:1", "http://127.0.0.1:1"),
        ("http://[::1]:65535", "http://[::1]:65535"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
    ],
)
def test_loopback_bases_are_accepted(raw, base):
    assert loopback_base(raw) == base


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "https://orgpolicy.googleapis.com",  # Google itself is the default, not a base
        "https://127.0.0.1:8080",  # the stand-in speaks plain HTTP
        "http://127.0.0.1",  # no port
        "http://127.0.0.1:0",  # one step below the lowest port
        "http://127.0.0.1:65536",  # one step past the highest
        "http://127.0.0.1:0080",  # a padded port is not the port it reads as
        "http://127.0.0.2:8080",  # loopback network, but not the loopback address
        "http://10.0.0.5:8080",
        "http://LOCALHOST:8080",
        "http://localhost.:8080",
        "http://localhost.example.com:8080",
        "http://::1:8080",  # IPv6 without brackets
        "http://user@127.0.0.1:8080",
        "http://127.0.0.1:8080/v3",  # the base replaces scheme and host only
        "http://127.0.0.1:8080?x=1",
        "http://127.0.0.1:8080#x",
    ],
)
def test_anything_else_is_a_usage_error_naming_the_variable(raw):
    with pytest.raises(CommandError) as refused:
        loopback_base(raw)
    assert refused.value.exit_code == 2
    assert BASE_ENV in str(refused.value)


def test_a_non_loopback_base_exits_2_naming_the_variable(relayctl):
    result = relayctl(
        "preflight",
        "--stack",
        "dev",
        env_extra={BASE_ENV: "https://cloudresourcemanager.googleapis.com", TOKEN_ENV: "t"},
    )
    assert result.returncode == 2
    assert f"usage: {BASE_ENV} must be http://127.0.0.1:PORT" in result.stderr
    assert result.stdout == ""


def test_a_base_without_a_token_exits_2_naming_the_token_variable(relayctl):
    result = relayctl("preflight", "--stack", "dev", env_extra={BASE_ENV: "http://127.0.0.1:9"})
    assert result.returncode == 2
    assert TOKEN_ENV in result.stderr


def test_the_token_alone_is_ignored_with_a_warning(relayctl, tmp_path):
    """Without the base, preflight uses Application Default Credentials; here there are none
    (an empty home, no metadata server check), so it stops at that, after the warning."""
    result = relayctl(
        "preflight",
        "--stack",
        "dev",
        env_extra={
            TOKEN_ENV: "ya29.a-token-for-the-stand-in",
            "HOME": str(tmp_path),
            "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
            "GOOGLE_APPLICATION_CREDENTIALS": "",
            "NO_GCE_CHECK": "true",
        },
    )
    assert f"warning: {TOKEN_ENV} is set without {BASE_ENV}: ignored" in result.stderr
    assert "no Google credentials found" in result.stderr
    assert result.returncode == 1
    assert "ya29.a-token-for-the-stand-in" not in result.stdout + result.stderr


def test_with_the_base_set_application_default_credentials_are_never_loaded(preflight, monkeypatch):
    import google.auth

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("google.auth.default was called")

    monkeypatch.setattr(google.auth, "default", refuse)
    result = preflight()
    assert result.code == 0, result.out + result.err


def test_text_and_json_name_the_base_used(preflight):
    text = preflight()
    assert f"Google APIs at {text.base}, called as the token in {TOKEN_ENV}." in text.out
    document = preflight(args=("--format", "json")).json()
    assert document["api_base"].startswith("http://127.0.0.1:")
    assert document["caller"] == f"the token in {TOKEN_ENV}"


def test_without_the_seam_the_calls_go_to_each_services_googleapis_host():
    endpoint = Endpoint()
    assert endpoint.url("orgpolicy", "/v2/projects/p/policies/c:getEffectivePolicy") == (
        "https://orgpolicy.googleapis.com/v2/projects/p/policies/c:getEffectivePolicy"
    )
    assert endpoint.describe() == "https://SERVICE.googleapis.com"


# --- Application Default Credentials (no seam) ------------------------------------------------


class StubCredentials:
    """What google.auth.default returns: refresh() gets a token, apply() writes headers."""

    quota_project_id = "acme-billing"

    def __init__(self) -> None:
        self.refreshed = False

    def refresh(self, request: Any) -> None:
        self.refreshed = True

    def apply(self, headers: dict[str, str]) -> None:
        headers["authorization"] = "Bearer ya29.from-adc"
        headers["x-goog-user-project"] = self.quota_project_id


def test_without_the_seam_adc_headers_are_used_with_the_quota_project(monkeypatch):
    import google.auth

    asked: dict[str, Any] = {}
    credentials = StubCredentials()

    def default(scopes: list[str] | None = None, **kwargs: Any) -> Any:
        asked["scopes"] = scopes
        return credentials, "ignored-project"

    monkeypatch.setattr(google.auth, "default", default)
    who = caller(Endpoint(), {})
    assert credentials.refreshed
    assert asked["scopes"] == list(SCOPES)
    assert who.headers == {
        "authorization": "Bearer ya29.from-adc",
        "x-goog-user-project": "acme-billing",
    }
    assert "quota project acme-billing" in who.description


def test_no_adc_is_a_failure_with_the_login_command(monkeypatch):
    import google.auth
    import google.auth.exceptions

    def default(**kwargs: Any) -> Any:
        raise google.auth.exceptions.DefaultCredentialsError("none")  # type: ignore[no-untyped-call]

    monkeypatch.setattr(google.auth, "default", default)
    with pytest.raises(CommandError) as failed:
        caller(Endpoint(), {})
    assert failed.value.exit_code == 1
    assert "gcloud auth application-default login" in str(failed.value)


# --- read-only: only the five calls -----------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_the_client_refuses_any_method_but_get_and_the_permissions_post(method):
    call = Call("x", "orgpolicy", method, f"/v2/projects/{PROJECT_ID}/policies/c")
    with pytest.raises(ValueError, match="read-only"):
        send(Endpoint("http://127.0.0.1:9"), Caller({}, "test"), call, 1.0)


def test_the_client_refuses_a_post_other_than_test_iam_permissions():
    call = Call("x", "orgpolicy", "POST", f"/v2/projects/{PROJECT_ID}/policies")
    with pytest.raises(ValueError, match="read-only"):
        send(Endpoint("http://127.0.0.1:9"), Caller({}, "test"), call, 1.0)


def test_only_the_listed_calls_are_made(preflight):
    """Issue 22, point 5: GET the project, POST testIamPermissions, GET billingInfo, GET each
    effective policy, GET the enabled services; the project id (not the number) in each path.
    Run with every setting that adds a check or a page."""
    result = preflight(
        Scenario(page_size=3),
        settings={
            "publicAccess": "allUsersWithPolicyException",
            "alertNotificationChannels": [f"projects/{PROJECT_ID}/notificationChannels/42"],
            "secretReplication": "userManaged",
        },
        env={"GOOGLE_CLOUD_QUOTA_PROJECT": PROJECT_ID},
    )
    assert result.code == 0, result.out
    allowed = {
        ("GET", f"/v3/projects/{PROJECT_ID}"),
        ("POST", f"/v3/projects/{PROJECT_ID}:testIamPermissions"),
        ("GET", f"/v1/projects/{PROJECT_ID}/billingInfo"),
        ("GET", f"/v1/projects/{PROJECT_ID}/services"),
        *(
            ("GET", f"/v2/projects/{PROJECT_ID}/policies/{c}:getEffectivePolicy")
            for c in CONSTRAINTS
        ),
    }
    made = [(r.method, r.path) for r in result.received]
    assert set(made) <= allowed
    assert set(made) == allowed  # and each of them
    assert all(PROJECT_NUMBER not in path for _, path in made)
    [post] = [r for r in result.received if r.method == "POST"]
    assert set(post.json()) == {"permissions"}
    pages = [r.query for r in result.received if r.route == "services"]
    assert pages[0] == {"filter": ["state:ENABLED"]}
    assert all(page["filter"] == ["state:ENABLED"] for page in pages)
    assert len(pages) > 1  # the pages were followed, with the same filter


def test_every_call_carries_the_bearer_token_and_nothing_else_to_bill(preflight):
    result = preflight()
    assert {r.headers["Authorization"] for r in result.received} == {f"Bearer {Scenario().token}"}
    assert not any("x-goog-user-project" in {k.lower() for k in r.headers} for r in result.received)

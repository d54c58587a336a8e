"""Names and values Google Cloud accepts, checked where the value is accepted (stack settings).

Project ids: https://cloud.google.com/resource-manager/docs/creating-managing-projects ("must be
6 to 30 characters ... lowercase letters, digits, or hyphens ... start with a letter ... cannot
end with a hyphen").
"""

from __future__ import annotations

import pytest

from infra.settings import (
    PLACEHOLDER_PROJECT,
    SettingsError,
    project_problem,
    settings_from_config,
)


def _none(key: str) -> str | None:
    return None


def _settings(project: str | None, **config: str) -> object:
    gcp = {"project": project} if project is not None else {}
    return settings_from_config("dev", config.get, gcp.get)


@pytest.mark.parametrize(
    "project",
    ["abcdef", "acme-relay-dev", "a" + "b" * 28 + "c", "a1-b2-c3"],
)
def test_valid_project_ids_are_accepted(project: str) -> None:
    """creating-managing-projects: 6-30 characters, letter first, no hyphen last."""
    assert project_problem(project, "dev") is None


@pytest.mark.parametrize(
    "project",
    [
        "abcde",  # 5: one short of 6
        "a" + "b" * 29 + "c",  # 31: one past 30
        "acme-relay-",  # ends in a hyphen
        "1acme-relay",  # starts with a digit
        "Acme-relay",  # upper case
        "example.com:acme-relay",  # domain-scoped
        "acme_relay",
    ],
)
def test_invalid_project_ids_are_refused_with_the_fix(project: str) -> None:
    """creating-managing-projects: the id rules, each broken once."""
    problem = project_problem(project, "dev")
    assert problem is not None
    assert "not a Google Cloud project id" in problem
    assert "pulumi config set gcp:project YOUR_PROJECT_ID --stack dev" in problem


def test_the_shipped_placeholder_is_refused() -> None:
    problem = project_problem(PLACEHOLDER_PROJECT, "dev")
    assert problem is not None
    assert "example value" in problem


def test_an_unset_project_is_refused() -> None:
    for value in (None, ""):
        problem = project_problem(value, "dev")
        assert problem is not None
        assert "is not set" in problem


def test_settings_refuse_a_bad_project_before_anything_else() -> None:
    with pytest.raises(SettingsError) as caught:
        _settings(PLACEHOLDER_PROJECT)
    assert any("gcp:project" in p for p in caught.value.problems)


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("false", False), ("TRUE", True)])
def test_grant_caller_act_as_reads_booleans(raw: str, expected: bool) -> None:
    settings = settings_from_config(
        "dev", {"grantCallerActAs": raw}.get, {"project": "acme-relay"}.get
    )
    assert settings.grant_caller_act_as is expected


def test_grant_caller_act_as_defaults_to_false_and_refuses_other_words() -> None:
    assert (
        settings_from_config("dev", _none, {"project": "acme-relay"}.get).grant_caller_act_as
        is False
    )
    with pytest.raises(SettingsError) as caught:
        settings_from_config("dev", {"grantCallerActAs": "yes"}.get, {"project": "acme-relay"}.get)
    assert "must be true or false" in str(caught.value)


def test_secret_replication_defaults_to_automatic_and_takes_user_managed() -> None:
    project = {"project": "acme-relay"}.get
    assert settings_from_config("dev", _none, project).secret_replication == "automatic"
    chosen = settings_from_config("dev", {"secretReplication": "userManaged"}.get, project)
    assert chosen.secret_replication == "userManaged"
    with pytest.raises(SettingsError):
        settings_from_config("dev", {"secretReplication": "regional"}.get, project)

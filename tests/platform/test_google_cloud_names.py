"""Names and values Google Cloud accepts, checked where the value is accepted (stack settings).

Project ids: https://cloud.google.com/resource-manager/docs/creating-managing-projects ("must be
6 to 30 characters ... lowercase letters, digits, or hyphens ... start with a letter ... cannot
end with a hyphen").
"""

from __future__ import annotations

import pytest

from bootstrap.access import SERVICE_ACCOUNT_ID_RE
from infra.relay import account_id
from infra.settings import (
    INT_SETTINGS,
    LABELS_MAX,
    PLACEHOLDER_PROJECT,
    PROGRAM_LABEL_KEYS,
    REGION_MAX,
    UPTIME_CHECK_PERIODS,
    SettingsError,
    project_problem,
    resource_labels,
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


# --- Labels: at most 64 per resource, the program's own counted ------------------------------
# Google's label requirements (https://cloud.google.com/resource-manager/docs/labels-overview):
# "Each resource can have multiple labels, up to a maximum of 64"; keys start with a lower-case
# letter; keys and values at most 63 characters of lower-case letters, digits, '_' and '-'.


def _labels(count: int, *extra: str) -> str:
    return ",".join([*(f"team{i}=x" for i in range(count)), *extra])


def test_sixty_user_labels_fit_beside_the_programs_four() -> None:
    """labels-overview: 64 per resource; 60 of the user's + app, stack, managed-by, workflow."""
    settings = settings_from_config(
        "dev", {"labels": _labels(60)}.get, {"project": "acme-relay"}.get
    )
    assert len(settings.labels) == 60
    assert len(set(settings.labels) | set(PROGRAM_LABEL_KEYS)) == LABELS_MAX == 64


def test_sixty_one_user_labels_are_refused_with_the_count_and_the_fix() -> None:
    """labels-overview: the 65th label on a workflow secret would be refused by Google."""
    with pytest.raises(SettingsError) as caught:
        settings_from_config("dev", {"labels": _labels(61)}.get, {"project": "acme-relay"}.get)
    message = str(caught.value)
    assert "config 'labels' has 61 labels" in message
    assert "would carry 65" in message
    assert "at most 64 per resource" in message
    assert "keep at most 60 labels of your own" in message
    assert "Fix:" in message


def test_a_user_label_that_replaces_the_programs_own_is_counted_once() -> None:
    """The program's base labels give way to the user's (resource_labels): no 65th label."""
    config = {"labels": _labels(60, "app=billing", "stack=blue", "managed-by=ops")}
    settings = settings_from_config("dev", config.get, {"project": "acme-relay"}.get)
    assert len(settings.labels) == 63
    assert resource_labels(settings)["app"] == "billing"


def test_a_label_key_over_63_characters_is_refused() -> None:
    """labels-overview: keys at most 63 characters."""
    project = {"project": "acme-relay"}.get
    settings_from_config("dev", {"labels": f"{'k' * 63}=v"}.get, project)
    with pytest.raises(SettingsError):
        settings_from_config("dev", {"labels": f"{'k' * 64}=v"}.get, project)


# --- Regions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "region", ["us-central1", "europe-west1", "northamerica-northeast1", "europe-west10"]
)
def test_google_region_names_are_accepted(region: str) -> None:
    """https://cloud.google.com/run/docs/locations: area-direction and a number."""
    settings = settings_from_config("dev", _none, {"project": "acme-relay", "region": region}.get)
    assert settings.region == region


@pytest.mark.parametrize(
    "region", ["US-CENTRAL1", "us_central1", "us-central", "europe west1", "global", "x" * 31]
)
def test_other_regions_are_refused_before_any_resource(region: str) -> None:
    """A region becomes part of the function URL and, with userManaged replication, of every
    secret id: a value of another shape is refused where it is set."""
    with pytest.raises(SettingsError) as caught:
        settings_from_config("dev", _none, {"project": "acme-relay", "region": region}.get)
    assert "config 'gcp:region'" in str(caught.value)
    assert "pulumi config set gcp:region us-central1 --stack dev" in str(caught.value)


def test_a_region_at_the_length_bound_is_accepted_and_one_past_refused() -> None:
    project = "acme-relay"
    at_bound = "a" * (REGION_MAX - 4) + "-b12"
    assert len(at_bound) == REGION_MAX
    settings_from_config("dev", _none, {"project": project, "region": at_bound}.get)
    with pytest.raises(SettingsError):
        settings_from_config("dev", _none, {"project": project, "region": "a" + at_bound}.get)


# --- Every default a user relies on, and each range at its edges -------------------------------


def test_every_default_is_the_documented_one() -> None:
    """Pulumi.yaml and docs/deploy.md state these; a changed default is a user-visible change."""
    settings = settings_from_config("dev", _none, {"project": "acme-relay"}.get)
    assert (settings.region, settings.function_name) == ("us-central1", "jam-fin-relay-dev")
    assert (settings.runtime, settings.memory, settings.cpu) == ("python312", "256Mi", "1")
    assert settings.timeout_seconds == 30
    assert (settings.min_instances, settings.max_instances, settings.concurrency) == (0, 10, 16)
    assert settings.ingress == "ALLOW_ALL"
    assert settings.alert_failed_threshold == 0
    assert settings.alert_signature_rejected_threshold == 5
    assert settings.alert_not_configured_threshold == 0
    assert settings.alert_refused_threshold == 5
    assert settings.alert_refused_window_minutes == 60
    assert settings.uptime_check_period_seconds == 60
    assert settings.alert_metric_wait_seconds == 600
    assert settings.iam_propagation_seconds == 180
    assert settings.public_access == "allUsers"
    assert settings.org_policy_propagation_seconds == 900
    assert settings.secret_replication == "automatic"
    assert settings.grant_caller_act_as is False
    assert dict(settings.labels) == {}


# Each whole-number setting's range, written out (docs/configuration.md), not read from the
# code. "The maximum timeout duration is 60 minutes (3600 seconds) for HTTP functions"
# (https://cloud.google.com/functions/docs/configuring/timeout); concurrency 1-1000 and
# instances 0/1-1000 are Cloud Run's; uptime checks run every 1, 5, 10 or 15 minutes; the
# waits and alert thresholds are this project's own bounds.
WHOLE_NUMBER_RANGES = {
    "alertFailedThreshold": (0, 1_000_000),
    "alertMetricWaitSeconds": (0, 3600),
    "alertNotConfiguredThreshold": (0, 1_000_000),
    "alertRefusedByIntercomThreshold": (0, 1_000_000),
    "alertRefusedByIntercomWindowMinutes": (5, 1440),
    "alertSignatureRejectedThreshold": (0, 1_000_000),
    "concurrency": (1, 1000),
    "iamPropagationSeconds": (0, 1800),
    "maxInstances": (1, 1000),
    "minInstances": (0, 1000),
    "orgPolicyPropagationSeconds": (0, 3600),
    "timeoutSeconds": (1, 3600),
    "uptimeCheckPeriodSeconds": (60, 900),
}


def test_every_whole_number_setting_has_its_range_written_out() -> None:
    assert set(WHOLE_NUMBER_RANGES) == set(INT_SETTINGS)


@pytest.mark.parametrize(("key", "spec"), sorted(INT_SETTINGS.items()))
def test_each_whole_number_setting_takes_its_edges_and_refuses_one_past(
    key: str, spec: tuple[str, int, int, int]
) -> None:
    field = spec[0]
    low, high = WHOLE_NUMBER_RANGES[key]
    project = {"project": "acme-relay"}.get
    for edge in {low, high}:
        if key == "uptimeCheckPeriodSeconds" and edge not in UPTIME_CHECK_PERIODS:
            continue
        config = {key: str(edge)}
        if key == "minInstances":
            config["maxInstances"] = "1000"
        assert getattr(settings_from_config("dev", config.get, project), field) == edge
    for past in (low - 1, high + 1):
        with pytest.raises(SettingsError) as caught:
            settings_from_config("dev", {key: str(past)}.get, project)
        assert f"config '{key}'" in str(caught.value)


# --- Function names (the Cloud Run service's name): a letter, then at most 62 more ------------


def test_a_63_character_function_name_is_accepted_and_64_refused() -> None:
    """Cloud Functions: names of at most 63 characters (terraform-provider-google #5088)."""
    project = {"project": "acme-relay"}.get
    name = "f" + "x" * 61 + "9"
    assert settings_from_config("dev", {"functionName": name}.get, project).function_name == name
    with pytest.raises(SettingsError) as caught:
        settings_from_config("dev", {"functionName": name + "9"}.get, project)
    assert "config 'functionName'" in str(caught.value)


def test_a_stack_name_too_long_for_the_default_function_name_says_so() -> None:
    """jam-fin-relay-<stack> must itself be a valid name: 49 characters of stack fit, 50 do
    not, and the message names the stack (no functionName was set)."""
    project = {"project": "acme-relay"}.get
    assert (
        settings_from_config("s" * 49, _none, project).function_name == "jam-fin-relay-" + "s" * 49
    )
    with pytest.raises(SettingsError) as caught:
        settings_from_config("s" * 50, _none, project)
    message = str(caught.value)
    assert f"the stack name '{'s' * 50}' gives the default function name" in message
    assert "pulumi config set functionName jam-fin-relay-relay" in message


# Service-account ids: Google's rule (6-30 characters, a letter first, no hyphen last) is
# bootstrap.access.SERVICE_ACCOUNT_ID_RE, with its source; both programs' ids must obey it.


@pytest.mark.parametrize(
    ("function_name", "purpose", "expected"),
    [
        ("ab", "run", "ab-run"),  # 6: kept
        ("a", "run", "a-relay-run"),  # 5: one short, so lengthened
        ("relay-" + "x" * 20, "run", "relay-" + "x" * 20 + "-run"),  # 30: kept
    ],
    ids=["six", "five", "thirty"],
)
def test_account_ids_at_googles_length_edges(function_name: str, purpose: str, expected: str):
    assert account_id(function_name, purpose) == expected
    assert SERVICE_ACCOUNT_ID_RE.fullmatch(expected)


def test_an_account_id_one_past_thirty_is_shortened_to_thirty_with_a_stable_tag() -> None:
    name = "relay-" + "x" * 21  # with "-run": 31
    shortened = account_id(name, "run")
    assert len(shortened) == 30
    assert SERVICE_ACCOUNT_ID_RE.fullmatch(shortened)
    assert shortened.endswith("-run")
    assert shortened == account_id(name, "run")
    assert shortened != account_id(name[:-1] + "y", "run")

"""Stack settings: each value a user may set is accepted, and each refusal is the exact message
with its fix (infra/settings.py; the program prints these before declaring anything)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import INGRESS_VALUES, INT_SETTINGS, SettingsError, settings_from_config
from tests.golden import assert_matches_golden

GCP = {"project": "acme-relay", "region": "us-central1"}


def _problems(stack: str, **config: str) -> tuple[str, ...]:
    with pytest.raises(SettingsError) as refused:
        settings_from_config(stack, config.get, GCP.get)
    return tuple(refused.value.problems)


@pytest.mark.parametrize("ingress", ["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"])
def test_each_of_cloud_functions_ingress_settings_is_accepted(ingress: str) -> None:
    """Cloud Functions v2's ServiceConfig.IngressSettings: ALLOW_ALL, ALLOW_INTERNAL_ONLY,
    ALLOW_INTERNAL_AND_GCLB (https://cloud.google.com/functions/docs/reference/rest/v2/
    projects.locations.functions#ingresssettings)."""
    settings = settings_from_config("dev", {"ingress": ingress}.get, GCP.get)
    assert settings.ingress == ingress
    assert ingress in INGRESS_VALUES


def test_a_number_out_of_range_names_the_range_and_the_command_for_this_stack() -> None:
    assert _problems("prod", maxInstances="0") == (
        "config 'maxInstances' must be a whole number from 1 to 1000, got '0'. "
        "Fix: pulumi config set maxInstances 10 --stack prod",
    )


def test_an_unknown_public_access_mode_points_at_the_page_that_explains_the_modes() -> None:
    assert _problems("dev", publicAccess="public") == (
        "config 'publicAccess' must be one of allUsers, allUsersWithPolicyException, none, "
        "got 'public' (docs/deploy.md, \"Public access\"). "
        "Fix: pulumi config set publicAccess allUsers --stack dev",
    )


def test_a_runtime_that_is_not_python_names_the_default_to_set() -> None:
    """The relay is a Python function: Cloud Functions' runtime ids are python310, python312..."""
    assert _problems("dev", runtime="nodejs20") == (
        "config 'runtime' must be a Python runtime such as python312, got 'nodejs20'. "
        "Fix: pulumi config set runtime python312 --stack dev",
    )


GOLDEN_PROBLEMS = Path(__file__).parent / "golden" / "settings-problems.txt"
EVERY_SETTING_WRONG = {
    **dict.fromkeys(INT_SETTINGS, "-7"),
    "uptimeCheckPeriodSeconds": "120",  # in range, not a period Google offers
    "minInstances": "9",
    "maxInstances": "3",
    "cpu": "0.5",
    "concurrency": "8",
    "memory": "lots",
    "runtime": "nodejs20",
    "ingress": "PUBLIC",
    "publicAccess": "public",
    "secretReplication": "everywhere",
    "grantCallerActAs": "maybe",
    "labels": "Team=Support",
    "alertNotificationChannels": '["email-me"]',
    "functionName": "Relay_1",
}


def test_every_problem_message_reads_as_reviewed() -> None:
    """Every setting wrong at once: each message names the key, the value and the command that
    fixes it, for this stack. Reviewed text: tests/pulumi/golden/settings-problems.txt (after a
    deliberate change: UPDATE_GOLDEN=1 pytest tests/pulumi/test_settings_messages.py)."""
    text = "\n".join(_problems("prod", **EVERY_SETTING_WRONG)) + "\n"
    assert_matches_golden(GOLDEN_PROBLEMS, text)

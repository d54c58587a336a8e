"""The permissions preflight checks are derived from what the program declares, and the role
it names for each is one ``bootstrap/`` grants (or documents): both kept in step here.

``__main__.py`` runs under Pulumi's mocks (tests/pulumi/conftest.py ``execute``) once for each
setting that changes what is declared: publicAccess (three modes), alert channels,
grantCallerActAs, secretReplication.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import Any

import pytest

from bootstrap.access import (
    DEPLOYER_ROLES,
    ORGANIZATION_ROLES,
    PREFLIGHT_ROLES,
    STACK_PROJECT_APIS,
)
from infra.settings import RelaySettings, settings_from_config
from relayctl.preflight import _facts, calls
from relayctl.preflight_permissions import (
    ACCOUNT_MEMBER,
    CREATE_PERMISSIONS,
    ORGANIZATION_LEVEL_ROLES,
    PERMISSION_ROLES,
    READ_PERMISSIONS,
    declared_types,
    needed_permissions,
    role_for,
)
from tests.pulumi.conftest import FIXTURES, default_config, execute, standard_secrets
from tests.pulumi_mocks import between_runs

WORKFLOWS = FIXTURES / "one.yaml"
CHANNEL = "projects/acme-support-dev/notificationChannels/8314452069157614227"
# Every setting that changes which resources the program declares.
SETTINGS: dict[str, dict[str, str]] = {
    "default": {},
    "private": {"publicAccess": "none"},
    "policy-exception": {"publicAccess": "allUsersWithPolicyException"},
    "alert-channels": {"alertNotificationChannels": f'["{CHANNEL}"]'},
    "grant-caller-act-as": {"grantCallerActAs": "true"},
    "user-managed-secrets": {"secretReplication": "userManaged"},
}


def _settings(config: Mapping[str, str]) -> RelaySettings:
    full = default_config(WORKFLOWS) | dict(config)
    return settings_from_config(
        "dev",
        lambda key: full.get(key),
        lambda key: full.get(f"gcp:{key}"),
    )


@pytest.fixture(scope="module")
def runs() -> dict[str, Any]:
    """One program run per entry of SETTINGS (module-wide: each run takes a while)."""
    thresholds = gc.get_threshold()
    found = {}
    with pytest.MonkeyPatch.context() as patch:
        # The program's own quota-project rule would refuse user credentials without it.
        patch.setenv("GOOGLE_CLOUD_QUOTA_PROJECT", "acme-support-dev")
        for name, config in SETTINGS.items():
            run = execute(
                "dev",
                WORKFLOWS,
                config=config,
                secrets=standard_secrets(
                    "billingHandoffIntercomUrl", signing=("billingHandoffJamSecret",)
                ),
            )
            assert run.error is None, (name, run.error)
            found[name] = run
            between_runs(thresholds)
    return found


def _types(run: Any) -> set[str]:
    return {d.type for d in run.declared if d.custom}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_resource_type_the_program_declares_is_in_the_table(runs, name):
    missing = _types(runs[name]) - set(CREATE_PERMISSIONS)
    assert not missing, f"add the create permissions of {missing} to CREATE_PERMISSIONS"


@pytest.mark.parametrize("name", [n for n in SETTINGS if n != "grant-caller-act-as"])
def test_preflight_knows_exactly_which_types_each_stack_declares(runs, name):
    assert declared_types(_settings(SETTINGS[name])) == _types(runs[name])


def test_grant_caller_act_as_adds_at_most_the_account_grant(runs):
    """Issue 21's grant on the program's two accounts; preflight asks for its permissions
    already, so it never says "ok" for a stack that will make that grant."""
    expected = declared_types(_settings(SETTINGS["grant-caller-act-as"]))
    declared = _types(runs["grant-caller-act-as"])
    assert declared <= expected
    assert expected - declared <= {ACCOUNT_MEMBER}


def test_the_exception_preflight_counts_on_is_the_one_the_program_declares(runs):
    policies = [
        d for d in runs["policy-exception"].declared if d.type == "gcp:orgpolicy/policy:Policy"
    ]
    declared = {d.inputs["name"].split("/policies/", 1)[1] for d in policies}
    assert declared == set(_facts(_settings(SETTINGS["policy-exception"])).exempted)
    assert _facts(_settings(SETTINGS["default"])).exempted == frozenset()


def test_every_permission_in_the_table_names_its_role_and_no_role_is_left_over():
    permissions = {p for ps in CREATE_PERMISSIONS.values() for p in ps}
    assert permissions == set(PERMISSION_ROLES)


def test_every_role_preflight_names_is_one_bootstrap_grants_or_documents():
    named = {role_for(p) for p in PERMISSION_ROLES}
    assert named <= set(DEPLOYER_ROLES) | set(ORGANIZATION_ROLES)


def test_every_deployer_role_is_needed_for_some_permission():
    """A role bootstrap grants that no declared resource needs would be a stale grant."""
    assert set(DEPLOYER_ROLES) <= {role_for(p) for p in PERMISSION_ROLES}


def test_organisation_roles_are_the_ones_bootstrap_documents():
    assert set(ORGANIZATION_LEVEL_ROLES) == set(ORGANIZATION_ROLES)
    assert {role_for(p) for p in PERMISSION_ROLES} & set(ORGANIZATION_ROLES) == set(
        ORGANIZATION_ROLES
    )


def test_preflights_own_reads_are_granted_to_the_deployers():
    roles = {role for _, role in READ_PERMISSIONS.values()}
    assert roles <= set(DEPLOYER_ROLES) | set(PREFLIGHT_ROLES)
    assert set(PREFLIGHT_ROLES) <= roles  # each preflight role is there for a read


def test_every_preflight_role_says_why():
    for role, why in PREFLIGHT_ROLES.items():
        assert len(why.split()) >= 4, role


def test_bootstrap_enables_every_api_preflight_calls_in_the_stack_project():
    """The deployer's calls are billed to its own project (the stack's), so each API preflight
    calls must be enabled there."""
    called = {f"{call.service}.googleapis.com" for call in calls(_settings({}))}
    assert called == {
        "cloudresourcemanager.googleapis.com",
        "cloudbilling.googleapis.com",
        "orgpolicy.googleapis.com",
        "serviceusage.googleapis.com",
    }
    assert called <= set(STACK_PROJECT_APIS)


def test_the_permissions_asked_for_grow_with_what_the_stack_declares():
    base = set(needed_permissions(_settings({}), apis_to_enable=True))
    exception = set(
        needed_permissions(_settings(SETTINGS["policy-exception"]), apis_to_enable=True)
    )
    private = set(needed_permissions(_settings(SETTINGS["private"]), apis_to_enable=True))
    assert exception - base == {"orgpolicy.policies.create", "orgpolicy.policy.get"}
    assert base - private == {"run.services.getIamPolicy", "run.services.setIamPolicy"}
    assert "serviceusage.services.enable" not in needed_permissions(
        _settings({}), apis_to_enable=False
    )

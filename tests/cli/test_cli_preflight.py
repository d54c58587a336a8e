"""``relayctl preflight`` against a loopback stand-in of Google's APIs, over real HTTP: every
verdict, its fix, and the exit code (0 all ok, 1 something will fail or Google unreachable,
3 nothing will fail but something could not be told).

The stand-in (relayctl/fake_google.py) answers in the shapes of Google's REST reference, from
the discovery documents bundled with google-api-python-client; each scenario changes one thing.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from relayctl.fake_google import (
    NEW_PROJECT_SERVICES,
    PROJECT_ID,
    Failure,
    Scenario,
    permission_denied,
    service_disabled,
)
from relayctl.google_api import GCLOUD_CLIENT_PROJECT
from relayctl.preflight import EXIT_COULD_NOT_TELL
from relayctl.preflight_permissions import CREATE_PERMISSIONS
from relayctl.preflight_policies import CONSTRAINTS
from tests.cli.preflight_kit import Runner

ALL_PERMISSIONS = frozenset(p for ps in CREATE_PERMISSIONS.values() for p in ps)
PROGRAM_APIS = (
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
)


def with_policy(constraint: str, *rules: dict[str, Any]) -> Scenario:
    return Scenario(policies={constraint: list(rules)})


def allowed(*values: str) -> dict[str, Any]:
    return {"values": {"allowedValues": list(values)}}


def denied(*values: str) -> dict[str, Any]:
    return {"values": {"deniedValues": list(values)}}


ENFORCED: dict[str, Any] = {"enforce": True}


@pytest.fixture
def preflight(monkeypatch, capsys, tmp_path) -> Runner:
    return Runner(monkeypatch, capsys, tmp_path)


# --- all clear --------------------------------------------------------------------------------


def test_all_clear_is_ok_on_every_line_and_exits_0(preflight):
    result = preflight()
    assert result.code == 0, result.out
    assert {line.outcome for line in result.lines.values()} == {"ok"}
    assert len(result.lines) == 18  # project, billing, 13 policy lines, permissions, apis, quota
    assert result.summary == "ok: all 18 checks passed."


def test_all_clear_reads_every_constraint_once(preflight):
    result = preflight()
    asked = [r.path.split("/policies/")[1] for r in result.received if r.route == "policy"]
    assert sorted(asked) == sorted(f"{c}:getEffectivePolicy" for c in CONSTRAINTS)


# --- project ----------------------------------------------------------------------------------


def test_a_project_google_will_not_show_could_not_be_told(preflight):
    """Resource Manager answers 403 both for a project that does not exist and for one the
    caller cannot see (its REST reference: "The caller must have
    resourcemanager.projects.get permission"); a 403 is never "ok"."""
    result = preflight(Scenario(visible=False))
    assert result.outcome_of("project") == "could not tell"
    assert "403" in result.text_of("project")
    assert "resourcemanager.projects.get" in result.text_of("project")


def test_a_project_that_does_not_exist_will_fail(preflight):
    result = preflight(Scenario(failures={"project": Failure(404, "NOT_FOUND", "not found")}))
    assert result.code == 1
    assert result.outcome_of("project") == "will fail"
    assert "pulumi config set gcp:project" in result.text_of("project")


def test_a_project_scheduled_for_deletion_will_fail(preflight):
    result = preflight(Scenario(state="DELETE_REQUESTED"))
    assert result.outcome_of("project") == "will fail"
    assert f"gcloud projects undelete {PROJECT_ID}" in result.text_of("project")


# --- billing ----------------------------------------------------------------------------------


def test_billing_off_will_fail_with_the_link_command(preflight):
    result = preflight(Scenario(billing_account="", billing_enabled=False))
    assert result.code == 1
    assert result.outcome_of("billing") == "will fail"
    line = result.text_of("billing")
    assert "no billing account" in line
    assert f"Fix: gcloud billing projects link {PROJECT_ID} --billing-account=" in line
    assert result.summary.startswith("failed: 1 of 18 checks will fail")


def test_billing_on_a_closed_account_will_fail_saying_so(preflight):
    """ProjectBillingInfo.billingEnabled is false for "a closed billing account, or no billing
    account at all" (cloudbilling.v1.json); proto3 JSON then leaves the field out."""
    result = preflight(Scenario(billing_enabled=False))
    assert result.outcome_of("billing") == "will fail"
    assert "is closed" in result.text_of("billing")


def test_billing_refused_is_could_not_tell_never_ok(preflight):
    result = preflight(Scenario(failures={"billing": permission_denied()}))
    assert result.code == EXIT_COULD_NOT_TELL
    assert result.outcome_of("billing") == "could not tell"


# --- domain-restricted sharing ------------------------------------------------------------------


LEGACY = "policy iam.allowedPolicyMemberDomains"
MANAGED = "policy iam.managed.allowedPolicyMembers"


def test_legacy_sharing_enforced_refuses_the_public_grant(preflight):
    """Domain-restricted sharing lists customer ids; allUsers is none of them (Google,
    "Restricting identities by domain")."""
    result = preflight(with_policy("iam.allowedPolicyMemberDomains", allowed("C03xgje4y")))
    assert result.code == 1
    assert result.outcome_of(LEGACY) == "will fail"
    assert "pulumi config set publicAccess allUsersWithPolicyException" in result.text_of(LEGACY)


def test_legacy_sharing_enforced_is_ok_when_the_program_declares_the_exception(preflight):
    result = preflight(
        with_policy("iam.allowedPolicyMemberDomains", allowed("C03xgje4y")),
        settings={"publicAccess": "allUsersWithPolicyException"},
        env={"GOOGLE_CLOUD_QUOTA_PROJECT": PROJECT_ID},
    )
    assert result.outcome_of(LEGACY) == "ok"
    assert result.code == 0, result.out


def test_legacy_sharing_enforced_is_ok_when_nothing_is_made_public(preflight):
    result = preflight(
        with_policy("iam.allowedPolicyMemberDomains", allowed("C03xgje4y")),
        settings={"publicAccess": "none"},
    )
    assert result.outcome_of(LEGACY) == "ok"


def test_legacy_sharing_allowing_all_is_ok(preflight):
    result = preflight(with_policy("iam.allowedPolicyMemberDomains", {"allowAll": True}))
    assert result.outcome_of(LEGACY) == "ok"


def test_managed_sharing_enforced_refuses_the_public_grant(preflight):
    """iam.managed.allowedPolicyMembers, which Google's page now lists first."""
    rule = {
        **ENFORCED,
        "parameters": {
            "allowedPrincipalSets": ["//cloudresourcemanager.googleapis.com/organizations/615"],
        },
    }
    result = preflight(with_policy("iam.managed.allowedPolicyMembers", rule))
    assert result.code == 1
    assert result.outcome_of(MANAGED) == "will fail"


def test_managed_sharing_enforced_is_ok_when_the_program_declares_the_exception(preflight):
    """The exception mode exempts both sharing constraints (infra.relay.POLICY_EXCEPTIONS:
    the managed one with enforce: false), so an enforced managed constraint is no refusal."""
    result = preflight(
        with_policy("iam.managed.allowedPolicyMembers", ENFORCED),
        settings={"publicAccess": "allUsersWithPolicyException"},
        env={"GOOGLE_CLOUD_QUOTA_PROJECT": PROJECT_ID},
    )
    assert result.outcome_of(MANAGED) == "ok"
    assert result.code == 0, result.out


def test_managed_sharing_enforced_names_the_one_line_fix(preflight):
    result = preflight(with_policy("iam.managed.allowedPolicyMembers", ENFORCED))
    assert result.outcome_of(MANAGED) == "will fail"
    assert "pulumi config set publicAccess allUsersWithPolicyException" in result.text_of(MANAGED)


def test_managed_sharing_listing_all_users_could_not_be_told(preflight):
    rule = {**ENFORCED, "parameters": {"allowedMemberSubjects": ["allUsers"]}}
    result = preflight(with_policy("iam.managed.allowedPolicyMembers", rule))
    assert result.outcome_of(MANAGED) == "could not tell"
    assert result.code == EXIT_COULD_NOT_TELL


def test_managed_sharing_not_enforced_is_ok(preflight):
    result = preflight(with_policy("iam.managed.allowedPolicyMembers", {"enforce": False}))
    assert result.outcome_of(MANAGED) == "ok"


# --- resource locations -----------------------------------------------------------------------


REGION_LINE = "policy gcp.resourceLocations (function, bucket and images in {})"
SECRETS_LINE = "policy gcp.resourceLocations (secrets in {})"


def test_locations_refusing_global_fail_automatic_secrets_only(preflight):
    """Secrets with automatic replication "can only be created if resource creation in
    global is allowed" (Secret Manager, "Choose a replication policy"; firebase-tools #6454)."""
    result = preflight(with_policy("gcp.resourceLocations", allowed("in:europe-west1-locations")))
    assert result.outcome_of(REGION_LINE.format("europe-west1")) == "ok"
    assert result.outcome_of(SECRETS_LINE.format("global")) == "will fail"
    assert "secretReplication userManaged" in result.text_of(SECRETS_LINE.format("global"))
    assert result.code == 1


def test_locations_with_user_managed_secrets_in_the_allowed_region_are_ok(preflight):
    result = preflight(
        with_policy("gcp.resourceLocations", allowed("in:europe-west1-locations")),
        settings={"secretReplication": "userManaged"},
    )
    assert result.outcome_of(SECRETS_LINE.format("europe-west1")) == "ok"
    assert result.code == 0, result.out


def test_locations_value_group_without_the_region_will_fail(preflight):
    """in:us-locations holds the US regions; europe-west1 (Belgium) is not one."""
    result = preflight(
        with_policy("gcp.resourceLocations", allowed("in:us-locations", "global")),
    )
    line = REGION_LINE.format("europe-west1")
    assert result.outcome_of(line) == "will fail"
    assert "pulumi config set gcp:region" in result.text_of(line)
    assert result.outcome_of(SECRETS_LINE.format("global")) == "ok"


def test_locations_value_group_with_the_region_is_ok(preflight):
    result = preflight(
        with_policy("gcp.resourceLocations", allowed("in:us-locations")),
        settings={"secretReplication": "userManaged"},
        region="us-central1",
    )
    assert result.outcome_of(REGION_LINE.format("us-central1")) == "ok"
    assert result.outcome_of(SECRETS_LINE.format("us-central1")) == "ok"


def test_locations_value_group_preflight_cannot_decide_could_not_be_told(preflight):
    """Which regions in:eu-locations holds is not something preflight can derive."""
    result = preflight(
        with_policy("gcp.resourceLocations", allowed("in:eu-locations", "global")),
    )
    line = REGION_LINE.format("europe-west1")
    assert result.outcome_of(line) == "could not tell"
    assert "defining-locations" in result.text_of(line)
    assert result.code == EXIT_COULD_NOT_TELL


def test_locations_denying_the_region_will_fail(preflight):
    result = preflight(with_policy("gcp.resourceLocations", denied("in:europe-west1-locations")))
    assert result.outcome_of(REGION_LINE.format("europe-west1")) == "will fail"


# --- ingress ----------------------------------------------------------------------------------


def test_functions_ingress_policy_refusing_allow_all_will_fail(preflight):
    result = preflight(
        with_policy("cloudfunctions.allowedIngressSettings", allowed("ALLOW_INTERNAL_ONLY"))
    )
    assert result.outcome_of("policy cloudfunctions.allowedIngressSettings") == "will fail"
    assert result.code == 1


def test_functions_ingress_policy_allowing_the_stacks_value_is_ok(preflight):
    result = preflight(
        with_policy("cloudfunctions.allowedIngressSettings", allowed("ALLOW_INTERNAL_AND_GCLB")),
        settings={"ingress": "ALLOW_INTERNAL_AND_GCLB"},
    )
    assert result.outcome_of("policy cloudfunctions.allowedIngressSettings") == "ok"


def test_run_ingress_policy_refusing_all_will_fail(preflight):
    """run.allowedIngress lists gcloud's names: all, internal, internal-and-cloud-load-
    balancing (Cloud Run, "Restrict network ingress")."""
    result = preflight(with_policy("run.allowedIngress", allowed("internal")))
    assert result.outcome_of("policy run.allowedIngress") == "will fail"


def test_run_ingress_policy_reads_the_stacks_setting_in_cloud_runs_words(preflight):
    result = preflight(
        with_policy("run.allowedIngress", allowed("internal-and-cloud-load-balancing")),
        settings={"ingress": "ALLOW_INTERNAL_AND_GCLB"},
    )
    assert result.outcome_of("policy run.allowedIngress") == "ok"


# --- service accounts, VPC connector, services, CMEK, generations, worker pools ----------------


@pytest.mark.parametrize(
    "constraint",
    [
        "iam.disableServiceAccountCreation",
        "iam.managed.disableServiceAccountCreation",
        "cloudfunctions.requireVPCConnector",
    ],
)
def test_enforced_boolean_constraints_will_fail(preflight, constraint):
    result = preflight(with_policy(constraint, ENFORCED))
    assert result.outcome_of(f"policy {constraint}") == "will fail"
    assert result.code == 1


@pytest.mark.parametrize(
    "constraint",
    ["iam.disableServiceAccountCreation", "iam.managed.disableServiceAccountCreation"],
)
def test_boolean_constraints_not_enforced_are_ok(preflight, constraint):
    result = preflight(with_policy(constraint, {"enforce": False}))
    assert result.outcome_of(f"policy {constraint}") == "ok"


def test_service_usage_denying_a_used_api_will_fail(preflight):
    result = preflight(
        with_policy("gcp.restrictServiceUsage", denied("cloudfunctions.googleapis.com"))
    )
    line = result.text_of("policy gcp.restrictServiceUsage")
    assert "will fail: cloudfunctions.googleapis.com may not be used" in line


def test_service_usage_allow_list_missing_a_used_api_will_fail(preflight):
    listed = [api for api in PROGRAM_APIS if api != "secretmanager.googleapis.com"]
    result = preflight(
        with_policy("gcp.restrictServiceUsage", allowed(*listed, "storage.googleapis.com"))
    )
    assert "secretmanager.googleapis.com" in result.text_of("policy gcp.restrictServiceUsage")
    assert result.outcome_of("policy gcp.restrictServiceUsage") == "will fail"


def test_service_usage_allow_list_with_every_used_api_is_ok(preflight):
    result = preflight(
        with_policy("gcp.restrictServiceUsage", allowed(*PROGRAM_APIS, "storage.googleapis.com"))
    )
    assert result.outcome_of("policy gcp.restrictServiceUsage") == "ok"


def test_non_cmek_services_listing_secret_manager_will_fail(preflight):
    result = preflight(
        with_policy("gcp.restrictNonCmekServices", denied("secretmanager.googleapis.com"))
    )
    assert result.outcome_of("policy gcp.restrictNonCmekServices") == "will fail"


def test_generations_allowing_only_the_first_will_fail(preflight):
    """Values 1stGen and 2ndGen (Cloud Run functions, "Restrict new deployments by product
    version"); the program deploys through the Cloud Functions v2 API."""
    result = preflight(with_policy("cloudfunctions.restrictAllowedGenerations", allowed("1stGen")))
    assert result.outcome_of("policy cloudfunctions.restrictAllowedGenerations") == "will fail"


def test_generations_allowing_the_second_is_ok(preflight):
    result = preflight(with_policy("cloudfunctions.restrictAllowedGenerations", allowed("2ndGen")))
    assert result.outcome_of("policy cloudfunctions.restrictAllowedGenerations") == "ok"


def test_worker_pools_restricted_will_fail(preflight):
    pool = "projects/acme-build/locations/europe-west1/workerPools/private"
    result = preflight(with_policy("cloudbuild.allowedWorkerPools", allowed(pool)))
    assert result.outcome_of("policy cloudbuild.allowedWorkerPools") == "will fail"


# --- reads that fail: never "ok" --------------------------------------------------------------


def test_a_403_on_a_policy_read_could_not_be_told_and_exits_3(preflight):
    constraint = "iam.disableServiceAccountCreation"
    result = preflight(Scenario(failures={f"policy:{constraint}": permission_denied()}))
    line = result.text_of(f"policy {constraint}")
    assert result.outcome_of(f"policy {constraint}") == "could not tell"
    assert "orgpolicy.policy.get" in line
    assert "roles/orgpolicy.policyViewer" in line
    assert result.code == EXIT_COULD_NOT_TELL
    assert result.summary.startswith("could not tell: 1 of 18 checks")


def test_a_service_disabled_read_names_the_enable_command(preflight):
    failure = service_disabled("orgpolicy.googleapis.com", "428913057716")
    scenario = Scenario(failures={f"policy:{c}": failure for c in CONSTRAINTS})
    result = preflight(scenario)
    line = result.text_of("policy gcp.resourceLocations")
    assert result.outcome_of("policy gcp.resourceLocations") == "could not tell"
    assert "SERVICE_DISABLED" in line
    # The consumer is this project (Google names it by number): named by its id.
    assert f"gcloud services enable orgpolicy.googleapis.com --project {PROJECT_ID}" in line
    assert result.code == EXIT_COULD_NOT_TELL


def test_a_service_disabled_read_on_another_project_names_that_project(preflight):
    failure = service_disabled("cloudbilling.googleapis.com", "977120453911")
    result = preflight(Scenario(failures={"billing": failure}))
    assert "--project 977120453911" in result.text_of("billing")


def test_service_disabled_for_gclouds_own_client_asks_for_a_quota_project(preflight):
    """User credentials without a quota project are billed to gcloud's own client project."""
    failure = service_disabled("orgpolicy.googleapis.com", GCLOUD_CLIENT_PROJECT)
    result = preflight(Scenario(failures={f"policy:{c}": failure for c in CONSTRAINTS}))
    assert "export GOOGLE_CLOUD_QUOTA_PROJECT=" in result.text_of("policy run.allowedIngress")


def test_a_server_error_on_a_read_could_not_be_told(preflight):
    failure = Failure(503, "UNAVAILABLE", "The service is currently unavailable.")
    result = preflight(Scenario(failures={"policy:run.allowedIngress": failure}))
    assert result.outcome_of("policy run.allowedIngress") == "could not tell"
    assert "HTTP 503 UNAVAILABLE" in result.text_of("policy run.allowedIngress")


def test_a_conditional_rule_in_an_effective_policy_could_not_be_told(preflight):
    rule = {**ENFORCED, "condition": {"expression": "resource.matchTag('615/env', 'prod')"}}
    result = preflight(with_policy("iam.disableServiceAccountCreation", rule))
    assert result.outcome_of("policy iam.disableServiceAccountCreation") == "could not tell"


def test_google_unreachable_fails_and_says_so(preflight, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    result = preflight(env={"RELAYCTL_GOOGLE_API_BASE": f"http://127.0.0.1:{closed}"})
    assert result.code == 1
    assert result.received == []
    read = {s: line.outcome for s, line in result.lines.items() if s != "quota project"}
    assert set(read.values()) == {"could not tell"}  # the quota-project rule is local
    assert result.summary.startswith("failed: Google's APIs could not be reached at all")
    assert "connection refused" in result.summary


def test_wrong_token_is_could_not_tell_with_the_login_command(preflight):
    result = preflight(env={"RELAYCTL_GOOGLE_ACCESS_TOKEN": "ya29.someone-elses"})
    assert result.code == EXIT_COULD_NOT_TELL
    assert "401" in result.text_of("billing")
    assert "gcloud auth application-default login" in result.text_of("billing")


# --- permissions and APIs ---------------------------------------------------------------------


def test_missing_permissions_will_fail_naming_each_with_its_role(preflight):
    granted = ALL_PERMISSIONS - {"storage.buckets.create", "iam.serviceAccounts.actAs"}
    result = preflight(Scenario(granted=granted))
    line = result.text_of("permissions")
    assert result.outcome_of("permissions") == "will fail"
    assert "iam.serviceAccounts.actAs (roles/iam.serviceAccountUser)" in line
    assert "storage.buckets.create (roles/storage.admin)" in line
    assert f"gcloud projects add-iam-policy-binding {PROJECT_ID}" in line
    assert "--role=roles/storage.admin" in line
    assert result.code == 1


def test_the_exception_mode_needs_the_organisation_role(preflight):
    granted = ALL_PERMISSIONS - {"orgpolicy.policies.create"}
    result = preflight(
        Scenario(granted=granted),
        settings={"publicAccess": "allUsersWithPolicyException"},
        env={"GOOGLE_CLOUD_QUOTA_PROJECT": PROJECT_ID},
    )
    line = result.text_of("permissions")
    assert "orgpolicy.policies.create (roles/orgpolicy.policyAdmin)" in line
    # The project's parent organisation, from Resource Manager's answer.
    assert "gcloud organizations add-iam-policy-binding 615304972144" in line


def test_without_the_exception_mode_no_org_policy_permission_is_asked(preflight):
    granted = ALL_PERMISSIONS - {"orgpolicy.policies.create", "orgpolicy.policy.get"}
    result = preflight(Scenario(granted=granted))
    assert result.outcome_of("permissions") == "ok"


def test_alert_channels_need_the_alerting_permissions(preflight):
    channels = ["projects/acme-relay-dev/notificationChannels/8314452069157614227"]
    granted = ALL_PERMISSIONS - {"monitoring.alertPolicies.create"}
    result = preflight(Scenario(granted=granted), settings={"alertNotificationChannels": channels})
    assert "monitoring.alertPolicies.create" in result.text_of("permissions")


def test_without_alert_channels_no_alerting_permission_is_asked(preflight):
    granted = ALL_PERMISSIONS - {"monitoring.alertPolicies.create"}
    result = preflight(Scenario(granted=granted))
    assert result.outcome_of("permissions") == "ok"


def test_permissions_asked_are_exactly_what_the_stack_needs(preflight):
    result = preflight()
    [request] = [r for r in result.received if r.route == "permissions"]
    asked = request.json()["permissions"]
    assert "storage.buckets.create" in asked
    assert "orgpolicy.policies.create" not in asked  # publicAccess allUsers
    assert asked == sorted(set(asked))


def test_apis_to_enable_without_the_permission_will_fail(preflight):
    granted = ALL_PERMISSIONS - {"serviceusage.services.enable"}
    result = preflight(Scenario(granted=granted))
    assert result.outcome_of("apis") == "will fail"
    assert "gcloud services enable" in result.text_of("apis")
    assert result.outcome_of("permissions") == "will fail"


def test_apis_all_enabled_need_no_enable_permission(preflight):
    """The provider enables only what is off, so nothing to enable asks for nothing; the
    enabled list is read across pages (ListServicesResponse.nextPageToken)."""
    granted = ALL_PERMISSIONS - {"serviceusage.services.enable"}
    scenario = Scenario(
        granted=granted, enabled_services=(*NEW_PROJECT_SERVICES, *PROGRAM_APIS), page_size=4
    )
    result = preflight(scenario)
    assert result.outcome_of("apis") == "ok"
    assert result.outcome_of("permissions") == "ok"
    assert result.code == 0, result.out
    pages = [r for r in result.received if r.route == "services"]
    assert len(pages) == 6  # 22 services, 4 a page


def test_apis_unreadable_could_not_be_told(preflight):
    result = preflight(Scenario(failures={"services": permission_denied()}))
    assert result.outcome_of("apis") == "could not tell"
    assert "serviceusage.services.list" in result.text_of("apis")


def test_testiampermissions_refused_could_not_be_told(preflight):
    result = preflight(Scenario(failures={"permissions": permission_denied()}))
    assert result.outcome_of("permissions") == "could not tell"
    assert result.outcome_of("apis") == "could not tell"  # may enable them: unknown


def test_permissions_held_but_pulumi_acting_as_someone_else_could_not_be_told(preflight):
    result = preflight(
        env={"GOOGLE_IMPERSONATE_SERVICE_ACCOUNT": "deployer@x.iam.gserviceaccount.com"}
    )
    assert result.outcome_of("permissions") == "could not tell"
    assert "GOOGLE_IMPERSONATE_SERVICE_ACCOUNT" in result.text_of("permissions")


# --- quota project (the program's own rule, infra/credentials.py) ------------------------------


def _user_adc(preflight_home) -> None:
    folder = preflight_home / "gcloud"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "application_default_credentials.json").write_text(
        json.dumps({"type": "authorized_user", "client_id": "x", "refresh_token": "y"})
    )


def test_user_credentials_without_a_quota_project_will_fail_in_exception_mode(preflight):
    _user_adc(preflight.tmp / "home")
    result = preflight(settings={"publicAccess": "allUsersWithPolicyException"})
    line = result.text_of("quota project")
    assert result.outcome_of("quota project") == "will fail"
    assert f"Fix: export GOOGLE_CLOUD_QUOTA_PROJECT={PROJECT_ID}" in line


def test_user_credentials_with_a_quota_project_are_ok(preflight):
    _user_adc(preflight.tmp / "home")
    result = preflight(
        settings={"publicAccess": "allUsersWithPolicyException"},
        env={"GOOGLE_CLOUD_QUOTA_PROJECT": PROJECT_ID},
    )
    assert result.outcome_of("quota project") == "ok"


def test_an_encrypted_access_token_is_a_token_as_the_program_sees_it(preflight):
    """The provider uses gcp:accessToken before ADC (infra/credentials.py): not a user's
    credentials, so no quota project is needed, even with a user's ADC file present."""
    _user_adc(preflight.tmp / "home")
    result = preflight(
        settings={
            "publicAccess": "allUsersWithPolicyException",
            "gcp:accessToken": {"secure": "v1:AAAA:CCCC"},
        }
    )
    assert result.outcome_of("quota project") == "ok"
    assert result.outcome_of("permissions") == "could not tell"  # pulumi acts as the token


def test_encrypted_gcp_credentials_could_not_be_told(preflight):
    result = preflight(
        settings={
            "publicAccess": "allUsersWithPolicyException",
            "gcp:credentials": {"secure": "v1:AAAA:DDDD"},
        }
    )
    assert result.outcome_of("quota project") == "could not tell"


def test_no_quota_project_needed_without_the_exception_mode(preflight):
    _user_adc(preflight.tmp / "home")
    result = preflight()
    assert result.outcome_of("quota project") == "ok"


def test_grant_caller_act_as_spares_a_person_the_project_wide_act_as(preflight):
    """With grantCallerActAs the program grants the deploying person actAs on its two
    accounts itself (issue 21), so project-wide actAs is not needed for a person."""
    _user_adc(preflight.tmp / "home")
    granted = ALL_PERMISSIONS - {"iam.serviceAccounts.actAs"}
    result = preflight(Scenario(granted=granted), settings={"grantCallerActAs": "true"})
    assert result.outcome_of("permissions") == "ok"


def test_grant_caller_act_as_does_not_spare_a_service_account(preflight):
    granted = ALL_PERMISSIONS - {"iam.serviceAccounts.actAs"}
    result = preflight(Scenario(granted=granted), settings={"grantCallerActAs": "true"})
    assert result.outcome_of("permissions") == "will fail"


# --- JSON -------------------------------------------------------------------------------------


def test_json_carries_the_same_verdicts_as_text(preflight):
    scenario = Scenario(
        billing_enabled=False,
        failures={"policy:run.allowedIngress": permission_denied()},
        policies={"iam.disableServiceAccountCreation": [ENFORCED]},
    )
    text = preflight(scenario)
    document = preflight(scenario, args=("--format", "json")).json()
    assert [(c["check"], c["verdict"]) for c in document["checks"]] == [
        (line.subject, line.outcome) for line in text.lines.values()
    ]
    assert document["exit_code"] == text.code == 1
    assert document["summary"] == text.summary
    billing = next(c for c in document["checks"] if c["check"] == "billing")
    assert billing["fix"].startswith("gcloud billing projects link")
    ingress = next(c for c in document["checks"] if c["check"] == "policy run.allowedIngress")
    assert "orgpolicy.policy.get" in ingress["how_to_check"]

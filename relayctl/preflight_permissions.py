"""What a first ``pulumi up`` of a stack needs the deploying identity to hold, derived from what
the program declares, and the predefined role that grants each permission.

``CREATE_PERMISSIONS`` maps every Pulumi resource type the program can declare to what creating
(and reading back) one needs; ``declared_types(settings)`` says which types a stack declares.
tests/cli/test_cli_preflight_permissions.py runs ``__main__.py`` under the mocks with every
setting that changes what is declared, and fails when the program declares a type missing from
the table or from ``declared_types``. Each permission names the one role that ``bootstrap/``
grants for it (``bootstrap.access.DEPLOYER_ROLES``, ``ORGANIZATION_ROLES`` or
``PREFLIGHT_ROLES``); a test keeps the two in step.

Which role holds which permission was read from Google's predefined roles as published in
iann0036/iam-dataset (gcp/roles/*.json, snapshot of 2026-08-22), and the permissions each call
needs from Google's REST reference for the method.
"""

from __future__ import annotations

from infra.settings import (
    PUBLIC_ACCESS_NONE,
    PUBLIC_ACCESS_WITH_POLICY_EXCEPTION,
    RelaySettings,
)

SERVICE = "gcp:projects/service:Service"
ACCOUNT = "gcp:serviceaccount/account:Account"
ACCOUNT_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
SECRET = "gcp:secretmanager/secret:Secret"  # noqa: S105 (a resource type)
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"  # noqa: S105 (a resource type)
SECRET_MEMBER = "gcp:secretmanager/secretIamMember:SecretIamMember"  # noqa: S105 (a resource type)
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_OBJECT = "gcp:storage/bucketObject:BucketObject"
FUNCTION = "gcp:cloudfunctionsv2/function:Function"
INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
LOG_METRIC = "gcp:logging/metric:Metric"
DASHBOARD = "gcp:monitoring/dashboard:Dashboard"
ALERT_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
UPTIME_CHECK = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
ORG_POLICY = "gcp:orgpolicy/policy:Policy"
SLEEP = "time:index/sleep:Sleep"

ENABLE_PERMISSION = "serviceusage.services.enable"
ACT_AS_PERMISSION = "iam.serviceAccounts.actAs"
# Roles granted on the organisation, not the project (bootstrap.access.ORGANIZATION_ROLES).
ORGANIZATION_LEVEL_ROLES = ("roles/orgpolicy.policyAdmin",)

# Resource type -> what creating one and reading it back calls for. The provider enables only
# the APIs not already on (it lists them first), so ``serviceusage.services.enable`` is asked
# for only when an API is off (preflight.py). The function is created as the runtime account
# and built as the build account: actAs on both.
CREATE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    SERVICE: ("serviceusage.services.list", "serviceusage.services.get", ENABLE_PERMISSION),
    ACCOUNT: ("iam.serviceAccounts.create", "iam.serviceAccounts.get"),
    # grantCallerActAs (issue 21): a grant on each of the program's own accounts.
    ACCOUNT_MEMBER: ("iam.serviceAccounts.getIamPolicy", "iam.serviceAccounts.setIamPolicy"),
    PROJECT_MEMBER: (
        "resourcemanager.projects.getIamPolicy",
        "resourcemanager.projects.setIamPolicy",
    ),
    SECRET: ("secretmanager.secrets.create", "secretmanager.secrets.get"),
    # The provider reads a version's payload back (secretmanager.versions.access).
    SECRET_VERSION: (
        "secretmanager.versions.add",
        "secretmanager.versions.get",
        "secretmanager.versions.access",
    ),
    SECRET_MEMBER: ("secretmanager.secrets.getIamPolicy", "secretmanager.secrets.setIamPolicy"),
    BUCKET: ("storage.buckets.create", "storage.buckets.get"),
    BUCKET_OBJECT: ("storage.objects.create", "storage.objects.get"),
    FUNCTION: (
        "cloudfunctions.functions.create",
        "cloudfunctions.functions.get",
        "cloudfunctions.operations.get",
        ACT_AS_PERMISSION,
    ),
    INVOKER: ("run.services.getIamPolicy", "run.services.setIamPolicy"),
    LOG_METRIC: ("logging.logMetrics.create", "logging.logMetrics.get"),
    DASHBOARD: ("monitoring.dashboards.create", "monitoring.dashboards.get"),
    # The alert policies name the stack's notification channels, which are read, not created.
    ALERT_POLICY: (
        "monitoring.alertPolicies.create",
        "monitoring.alertPolicies.get",
        "monitoring.notificationChannels.get",
    ),
    UPTIME_CHECK: ("monitoring.uptimeCheckConfigs.create", "monitoring.uptimeCheckConfigs.get"),
    ORG_POLICY: ("orgpolicy.policies.create", "orgpolicy.policy.get"),
    SLEEP: (),  # a wait in the Pulumi engine: no Google call
}

# Permission -> the role bootstrap/ grants for it (or documents, for organisation roles).
PERMISSION_ROLES: dict[str, str] = {
    "serviceusage.services.list": "roles/serviceusage.serviceUsageAdmin",
    "serviceusage.services.get": "roles/serviceusage.serviceUsageAdmin",
    ENABLE_PERMISSION: "roles/serviceusage.serviceUsageAdmin",
    "iam.serviceAccounts.create": "roles/iam.serviceAccountAdmin",
    "iam.serviceAccounts.get": "roles/iam.serviceAccountAdmin",
    "iam.serviceAccounts.getIamPolicy": "roles/iam.serviceAccountAdmin",
    "iam.serviceAccounts.setIamPolicy": "roles/iam.serviceAccountAdmin",
    ACT_AS_PERMISSION: "roles/iam.serviceAccountUser",
    "resourcemanager.projects.getIamPolicy": "roles/resourcemanager.projectIamAdmin",
    "resourcemanager.projects.setIamPolicy": "roles/resourcemanager.projectIamAdmin",
    "secretmanager.secrets.create": "roles/secretmanager.admin",
    "secretmanager.secrets.get": "roles/secretmanager.admin",
    "secretmanager.versions.add": "roles/secretmanager.admin",
    "secretmanager.versions.get": "roles/secretmanager.admin",
    "secretmanager.versions.access": "roles/secretmanager.admin",
    "secretmanager.secrets.getIamPolicy": "roles/secretmanager.admin",
    "secretmanager.secrets.setIamPolicy": "roles/secretmanager.admin",
    "storage.buckets.create": "roles/storage.admin",
    "storage.buckets.get": "roles/storage.admin",
    "storage.objects.create": "roles/storage.admin",
    "storage.objects.get": "roles/storage.admin",
    "cloudfunctions.functions.create": "roles/cloudfunctions.developer",
    "cloudfunctions.functions.get": "roles/cloudfunctions.developer",
    "cloudfunctions.operations.get": "roles/cloudfunctions.developer",
    "run.services.getIamPolicy": "roles/run.admin",
    "run.services.setIamPolicy": "roles/run.admin",
    "logging.logMetrics.create": "roles/logging.configWriter",
    "logging.logMetrics.get": "roles/logging.configWriter",
    "monitoring.dashboards.create": "roles/monitoring.dashboardEditor",
    "monitoring.dashboards.get": "roles/monitoring.dashboardEditor",
    "monitoring.alertPolicies.create": "roles/monitoring.alertPolicyEditor",
    "monitoring.alertPolicies.get": "roles/monitoring.alertPolicyEditor",
    "monitoring.notificationChannels.get": "roles/monitoring.notificationChannelViewer",
    "monitoring.uptimeCheckConfigs.create": "roles/monitoring.uptimeCheckConfigEditor",
    "monitoring.uptimeCheckConfigs.get": "roles/monitoring.uptimeCheckConfigEditor",
    "orgpolicy.policies.create": "roles/orgpolicy.policyAdmin",
    "orgpolicy.policy.get": "roles/orgpolicy.policyAdmin",
}

# What preflight's own reads need, and the role bootstrap/ grants the deployers for each (the
# testIamPermissions call needs no permission). Cloud Billing's getBillingInfo asks for
# resourcemanager.projects.get (its REST reference: "must have the resourcemanager.projects.get
# permission for the project"); getEffectivePolicy for orgpolicy.policy.get.
READ_PERMISSIONS: dict[str, tuple[str, str]] = {
    "project": ("resourcemanager.projects.get", "roles/browser"),
    "billing": ("resourcemanager.projects.get", "roles/browser"),
    "policies": ("orgpolicy.policy.get", "roles/orgpolicy.policyViewer"),
    "services": ("serviceusage.services.list", "roles/serviceusage.serviceUsageAdmin"),
}


def declared_types(settings: RelaySettings) -> frozenset[str]:
    """The Pulumi resource types a first ``pulumi up`` of this stack declares."""
    types = {
        SERVICE,
        ACCOUNT,
        PROJECT_MEMBER,
        SECRET,
        SECRET_VERSION,
        SECRET_MEMBER,
        BUCKET,
        BUCKET_OBJECT,
        FUNCTION,
        LOG_METRIC,
        DASHBOARD,
        SLEEP,
    }
    if settings.public_access != PUBLIC_ACCESS_NONE:
        types.add(INVOKER)
    if settings.public_access == PUBLIC_ACCESS_WITH_POLICY_EXCEPTION:
        types.add(ORG_POLICY)
    if settings.alert_notification_channels:
        types |= {ALERT_POLICY, UPTIME_CHECK}
    if settings.grant_caller_act_as:
        types.add(ACCOUNT_MEMBER)
    return frozenset(types)


def needed_permissions(
    settings: RelaySettings, apis_to_enable: bool, caller_is_user: bool = False
) -> tuple[str, ...]:
    """Every permission a first ``pulumi up`` needs, in a stable order.

    ``apis_to_enable`` False when every API the program needs is already enabled (nothing to
    enable, no permission). With grantCallerActAs and a person deploying, the program grants
    that person actAs on its two accounts before the function needs it (issue 21), so a
    project-wide actAs is not needed.
    """
    wanted = {p for t in declared_types(settings) for p in CREATE_PERMISSIONS[t]}
    if not apis_to_enable:
        wanted.discard(ENABLE_PERMISSION)
    if settings.grant_caller_act_as and caller_is_user:
        wanted.discard(ACT_AS_PERMISSION)
    return tuple(sorted(wanted))


def role_for(permission: str) -> str:
    return PERMISSION_ROLES[permission]


def program_apis(settings: RelaySettings) -> tuple[str, ...]:
    """The APIs the program enables for this stack (its own rule, ``required_apis``)."""
    from infra.relay import required_apis  # imports Pulumi: only when the checks run

    return tuple(sorted(required_apis(settings).values()))

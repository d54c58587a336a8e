"""Who GitHub may act as, and what each identity may do: plain data, no Pulumi resources.

Every role is listed with why the main program (infra/relay.py, infra/alerting.py and the
modules they use) needs it. `tests/bootstrap` checks this list against the roles the main
program grants, so a new grant there fails a test here until the deployer may make it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from infra.settings import PROJECT_NAME

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
MAIN_REF = "refs/heads/main"
# The only stack a pull request may preview: its secrets are ones a branch author may see.
PREVIEW_STACK = "dev"
MAIN_PROJECT = PROJECT_NAME  # the main program's Pulumi project name (state object paths)

REPOSITORY_RE = re.compile(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+")
STACK_RE = re.compile(r"[a-z][a-z0-9-]{0,15}")
PROJECT_RE = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")

# The deployer of a stack, on that stack's Google Cloud project only.
DEPLOYER_ROLES: dict[str, str] = {
    "roles/serviceusage.serviceUsageAdmin": (
        "enables the APIs the relay needs (gcp.projects.Service; the Org Policy API too with "
        "publicAccess allUsersWithPolicyException), and calls them"
    ),
    "roles/iam.serviceAccountAdmin": "creates the relay's runtime and build service accounts",
    "roles/iam.serviceAccountUser": (
        "acts as those accounts: the service runs as the runtime account and builds as the "
        "build account"
    ),
    "roles/resourcemanager.projectIamAdmin": (
        "grants the build account its project roles; limited by a condition to GRANTABLE_ROLES"
    ),
    "roles/secretmanager.admin": (
        "creates the per-workflow secrets, adds their versions, and grants the runtime account "
        "access to each secret alone"
    ),
    "roles/storage.admin": (
        "creates the versioned source bucket with its lifecycle rule and uploads the source "
        "archive (creating a bucket is in no narrower predefined role)"
    ),
    "roles/run.admin": (
        "sets the invoker policy of the function's Cloud Run service (roles/run.invoker for "
        "allUsers, so Jam can call it); Cloud Functions creates the service itself"
    ),
    "roles/cloudfunctions.developer": (
        "creates and updates the Cloud Run function through the Cloud Functions API"
    ),
    "roles/logging.configWriter": "creates the log-based outcome metric",
    "roles/monitoring.alertPolicyEditor": "creates the alert policies",
    "roles/monitoring.dashboardEditor": "creates the stack's dashboard",
    "roles/monitoring.uptimeCheckConfigEditor": "creates the uptime check on /health",
    "roles/monitoring.notificationChannelViewer": (
        "reads the notification channels the alert policies name (from config, never created)"
    ),
}

# Project-level roles the main program grants (infra/relay.py BUILD_ROLE, to its build
# account). The deployer's projectIamAdmin is conditioned on granting or revoking these and
# nothing else, so it cannot grant itself or anyone Owner. https://cloud.google.com/iam/docs/setting-limits-on-granting-roles
GRANTABLE_ROLES: tuple[str, ...] = ("roles/run.builder",)

# Roles the main program grants on single resources: secretAccessor on each workflow secret,
# for the runtime account (secretmanager.admin above sets a secret's policy), run.invoker
# on the Cloud Run service, for allUsers (run.admin above), and, only with grantCallerActAs
# and only when a person deploys, serviceAccountUser on the runtime and build accounts for
# that person (serviceAccountAdmin above sets an account's policy; CI's deployers never make
# it, as they are service accounts). Nothing else: the build account's only role is
# project-level (GRANTABLE_ROLES), and the source bucket has no grant of ours.
RESOURCE_LEVEL_ROLES: tuple[str, ...] = (
    "roles/secretmanager.secretAccessor",
    "roles/run.invoker",
    "roles/iam.serviceAccountUser",
)

# Roles a deployer needs above its project, which this bootstrap (project-scoped by design:
# it never holds or asks for organisation rights) documents and does not grant. An
# organisation administrator grants them, only to the deployers of stacks that use them.
ORGANIZATION_ROLES: dict[str, str] = {
    "roles/orgpolicy.policyAdmin": (
        "only with publicAccess allUsersWithPolicyException: sets the stack project's own "
        "exception to constraints/iam.allowedPolicyMemberDomains (gcp.orgpolicy.Policy). "
        "Google documents it on the organization resource "
        "(https://cloud.google.com/iam/docs/roles-permissions/orgpolicy): `gcloud "
        "organizations add-iam-policy-binding ORG_ID --role=roles/orgpolicy.policyAdmin "
        "--member=serviceAccount:DEPLOYER_EMAIL`. It can set any policy in the organisation, "
        "so prefer having an administrator set the exception once (docs/deploy.md)"
    ),
}

# Read-only roles each deployer holds for `relayctl preflight`, which the CI job runs before
# every `pulumi up` (relayctl/preflight_permissions.py READ_PERMISSIONS names what each read
# needs; tests/cli/test_cli_preflight_permissions.py keeps the two in step). On the stack's
# project only, like DEPLOYER_ROLES.
PREFLIGHT_ROLES: dict[str, str] = {
    "roles/orgpolicy.policyViewer": (
        "reads the project's effective organization policies (orgpolicy.policy.get, for "
        "getEffectivePolicy), which preflight checks the stack against; it can change none"
    ),
    "roles/browser": (
        "reads the project itself and its billing information (resourcemanager.projects.get: "
        "Resource Manager's projects.get and Cloud Billing's getBillingInfo ask for exactly "
        "that); other deployer roles include it too, this grant names the need"
    ),
}

# The pull-request previewer, on the preview stack's project only: read-only by definition.
# roles/viewer holds no secret payload access (secretmanager.versions.access is not in it).
PREVIEWER_ROLES: dict[str, str] = {
    "roles/viewer": "reads the resources a preview compares against; changes nothing",
}

# APIs the bootstrap turns on: in the pool's project, what federation calls; in each stack
# project (where its deployer lives), impersonation and what the deployer needs before it can
# enable the rest itself.
POOL_PROJECT_APIS: tuple[str, ...] = (
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "sts.googleapis.com",
    "cloudresourcemanager.googleapis.com",
)
STACK_PROJECT_APIS: tuple[str, ...] = (
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "serviceusage.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    # `relayctl preflight`'s reads, made as the deployer, are billed to the deployer's own
    # project, so the APIs it calls must be on there: the effective organization policies
    # (Org Policy API) and the project's billing information (Cloud Billing API).
    "orgpolicy.googleapis.com",
    "cloudbilling.googleapis.com",
)
GCS_BACKEND_APIS: tuple[str, ...] = ("storage.googleapis.com", "cloudkms.googleapis.com")


class BootstrapConfigError(ValueError):
    """A bootstrap setting is wrong; the message names the key and the fix."""


@dataclass(frozen=True)
class BootstrapSettings:
    project: str  # holds the pool and (for gcs) the state bucket and keys
    repository: str  # owner/name, exactly as GitHub spells it
    stack_projects: dict[str, str] = field(default_factory=dict)  # stack -> project it deploys
    state_backend: str = "pulumi-cloud"  # or "gcs"
    location: str = "us-central1"

    @property
    def stacks(self) -> tuple[str, ...]:
        return tuple(self.stack_projects)


def settings_from_config(
    project: str | None,
    repository: str | None,
    stacks: list[str] | None,
    stack_projects: str | None,
    state_backend: str | None,
    location: str | None,
) -> BootstrapSettings:
    """Checked settings, or one BootstrapConfigError listing every problem with its fix."""
    problems: list[str] = []
    if not project:
        problems.append("config 'gcp:project' is not set. Fix: pulumi config set gcp:project ID")
    if not repository or not REPOSITORY_RE.fullmatch(repository):
        problems.append(
            f"config 'githubRepository' is {repository!r}, not OWNER/NAME. Fix: pulumi config "
            "set githubRepository my-org/jam-fin-relay"
        )
    names = stacks or ["dev", "prod"]
    for name in names:
        if not STACK_RE.fullmatch(name):
            problems.append(
                f"config 'stacks' entry {name!r} is not a stack name of 1-16 lowercase letters, "
                "digits and hyphens"
            )
    if PREVIEW_STACK not in names:
        problems.append(f"config 'stacks' must include '{PREVIEW_STACK}': pull requests preview it")
    targets = dict.fromkeys(names, project or "")
    for item in filter(None, (p.strip() for p in (stack_projects or "").split(","))):
        stack, _, target = item.partition("=")
        if stack not in targets or not PROJECT_RE.fullmatch(target):
            problems.append(
                f"config 'stackProjects' entry {item!r} is not STACK=PROJECT_ID for a listed "
                "stack. Fix: pulumi config set stackProjects dev=acme-relay-dev,prod=acme-relay"
            )
        else:
            targets[stack] = target
    backend = state_backend or "pulumi-cloud"
    if backend not in ("pulumi-cloud", "gcs"):
        problems.append(
            f"config 'stateBackend' is {backend!r}. Fix: pulumi config set stateBackend gcs "
            "(or pulumi-cloud)"
        )
    if problems:
        raise BootstrapConfigError("\n".join(problems))
    assert project is not None
    assert repository is not None
    return BootstrapSettings(project, repository, targets, backend, location or "us-central1")


def attribute_condition(repository: str) -> str:
    """Accept only this repository's tokens: from `main`, or a same-repository pull request
    job with no environment. A pull-request job that names an environment gets a `sub` of
    `repo:R:environment:E` and a `refs/pull/...` ref, so it is refused here too.
    https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines"""
    return (
        f"assertion.repository == '{repository}' && ("
        f"assertion.ref == '{MAIN_REF}' || "
        f"(assertion.event_name == 'pull_request' && "
        f"assertion.sub == '{pull_request_subject(repository)}'))"
    )


ATTRIBUTE_MAPPING: dict[str, str] = {
    "google.subject": "assertion.sub",
    "attribute.repository": "assertion.repository",
    "attribute.ref": "assertion.ref",
    "attribute.event_name": "assertion.event_name",
}


def environment_subject(repository: str, stack: str) -> str:
    """GitHub's `sub` claim for a job that runs in the environment named after the stack."""
    return f"repo:{repository}:environment:{stack}"


def pull_request_subject(repository: str) -> str:
    """GitHub's `sub` claim for a pull_request job with no environment."""
    return f"repo:{repository}:pull_request"


def principal(pool_name: str, subject: str) -> str:
    """One federated identity: ``pool_name`` is projects/NUMBER/locations/global/...
    https://cloud.google.com/iam/docs/principal-identifiers"""
    return f"principal://iam.googleapis.com/{pool_name}/subject/{subject}"


def grant_limit_condition() -> str:
    roles = ", ".join(f"'{role}'" for role in GRANTABLE_ROLES)
    return f"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([{roles}])"


def state_prefixes(bucket: str, stack: str) -> tuple[str, ...]:
    """Object-name prefixes of one stack's state in a self-managed (diy) backend bucket."""
    root = f"projects/_/buckets/{bucket}/objects/.pulumi"
    return (
        f"{root}/stacks/{MAIN_PROJECT}/{stack}.",  # dev.json, dev.json.bak, dev.json.gz
        f"{root}/history/{MAIN_PROJECT}/{stack}/",
        f"{root}/backups/{MAIN_PROJECT}/{stack}/",
        f"{root}/locks/{MAIN_PROJECT}/{stack}/",
    )


def stack_state_condition(bucket: str, stack: str) -> str:
    """This stack's state objects only.
    https://cloud.google.com/iam/docs/conditions-resource-attributes#resource-name"""
    return " || ".join(f"resource.name.startsWith('{p}')" for p in state_prefixes(bucket, stack))


def backend_metadata_condition(bucket: str) -> str:
    """Listing the bucket (checked on the bucket itself) and reading the backend's meta.yaml."""
    return (
        "resource.type == 'storage.googleapis.com/Bucket' || "
        f"resource.name == 'projects/_/buckets/{bucket}/objects/.pulumi/meta.yaml'"
    )


def account_id(stack: str | None) -> str:
    """Service-account ids (6-30 characters): one deployer per stack, one previewer."""
    return f"relay-deploy-{stack}" if stack else "relay-preview"

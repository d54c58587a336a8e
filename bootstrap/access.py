"""Who GitHub may act as, and what each identity may do: plain data, no Pulumi resources.

Every role is listed with why the main program (infra/relay.py, infra/alerting.py and the
modules they use) needs it. `tests/bootstrap` checks this list against the roles the main
program grants, so a new grant there fails a test here until the deployer may make it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from infra.settings import PROJECT_ID_RE, PROJECT_NAME

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
MAIN_REF = "refs/heads/main"
# The only stack a pull request may preview: its secrets are ones a branch author may see.
PREVIEW_STACK = "dev"
MAIN_PROJECT = PROJECT_NAME  # the main program's Pulumi project name (state object paths)
# The events a deploy runs on: .github/workflows/deploy.yaml's triggers (a test keeps them equal).
DEPLOY_EVENTS: tuple[str, ...] = ("push", "workflow_dispatch")
PREVIEW_EVENT = "pull_request"

# OWNER/NAME within GitHub's own limits (39 and 100 characters), which keep the descriptions
# built from it under Google's 256 bytes.
REPOSITORY_RE = re.compile(r"[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}")
# GitHub's numeric ids as the token carries them: decimal strings, no sign, no leading zero (the
# API's `id` fields are 64-bit integers, at most 19 digits; 20 leaves room, never a 21st).
GITHUB_ID_RE = re.compile(r"[1-9][0-9]{0,19}")
# A stack names its deployer, relay-deploy-STACK: a service-account id is 6-30 characters,
# [a-z]([-a-z0-9]*[a-z0-9]), so no hyphen last (https://cloud.google.com/iam/docs/service-accounts-create).
STACK_RE = re.compile(r"[a-z](?:[a-z0-9-]{0,14}[a-z0-9])?")
SERVICE_ACCOUNT_ID_RE = re.compile(r"[a-z](?:[-a-z0-9]{4,28}[a-z0-9])")
# Limits of a workload identity pool provider (IAM API, WorkloadIdentityPoolProvider:
# https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools.providers):
# "google.subject ... Cannot exceed 127 bytes", "The maximum length of the attribute condition
# expression is 4096 characters", "The maximum length of an attribute mapping expression is
# 2048 characters".
SUBJECT_MAX_BYTES = 127
CONDITION_MAX_CHARS = 4096
MAPPING_MAX_CHARS = 2048
READ_IDS = "gh api repos/{repository} --jq '.owner.id, .id'"
DEFAULT_STACKS = ("dev", "prod")
STATE_BACKENDS = ("pulumi-cloud", "gcs")
DEFAULT_LOCATION = "us-central1"

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
    repository: str  # owner/name, exactly as GitHub spells it: descriptions only, never bound on
    owner_id: str  # GitHub's id of the repository's owner, as the token's repository_owner_id
    repository_id: str  # GitHub's id of the repository, as the token's repository_id
    stack_projects: dict[str, str] = field(default_factory=dict)  # stack -> project it deploys
    state_backend: str = STATE_BACKENDS[0]  # or "gcs"
    location: str = DEFAULT_LOCATION

    @property
    def stacks(self) -> tuple[str, ...]:
        return tuple(self.stack_projects)


def settings_from_config(
    project: str | None,
    repository: str | None,
    owner_id: str | None,
    repository_id: str | None,
    stacks: list[str] | None,
    stack_projects: str | None,
    state_backend: str | None,
    location: str | None,
) -> BootstrapSettings:
    """Checked settings, or one BootstrapConfigError listing every problem with its fix."""
    problems: list[str] = []
    if not project:
        problems.append("config 'gcp:project' is not set. Fix: pulumi config set gcp:project ID")
    elif not PROJECT_ID_RE.fullmatch(project):
        problems.append(
            f"config 'gcp:project' is {project!r}, not a Google Cloud project id (6-30 "
            "lower-case letters, digits and hyphens, a letter first, no hyphen last). Fix: "
            "pulumi config set gcp:project acme-ci"
        )
    if not repository or not REPOSITORY_RE.fullmatch(repository):
        problems.append(
            f"config 'githubRepository' is {repository!r}, not OWNER/NAME. Fix: pulumi config "
            "set githubRepository my-org/jam-fin-relay"
        )
        repository = None
    problems += _id_problems(repository, owner_id, repository_id)
    names = stacks or list(DEFAULT_STACKS)
    for index, name in enumerate(names):
        if not isinstance(name, str) or not STACK_RE.fullmatch(name):
            problems.append(
                f"config 'stacks' entry {name!r} is not a stack name of 1-16 lower-case "
                "letters, digits and hyphens, a letter first and no hyphen last (it names the "
                f"service account {account_id(str(name))!r}). Fix: pulumi config set --path "
                f"'stacks[{index}]' NAME"
            )
    if PREVIEW_STACK not in names:
        problems.append(f"config 'stacks' must include '{PREVIEW_STACK}': pull requests preview it")
    targets = dict.fromkeys(names, project or "")
    for item in filter(None, (p.strip() for p in (stack_projects or "").split(","))):
        stack, _, target = item.partition("=")
        if stack not in targets or not PROJECT_ID_RE.fullmatch(target):
            problems.append(
                f"config 'stackProjects' entry {item!r} is not STACK=PROJECT_ID for a listed "
                "stack. Fix: pulumi config set stackProjects dev=acme-relay-dev,prod=acme-relay"
            )
        else:
            targets[stack] = target
    backend = state_backend or STATE_BACKENDS[0]
    if backend not in STATE_BACKENDS:
        problems.append(
            f"config 'stateBackend' is {backend!r}. Fix: pulumi config set stateBackend gcs "
            "(or pulumi-cloud)"
        )
    _refuse(problems)
    assert project is not None
    assert repository is not None
    assert owner_id is not None
    assert repository_id is not None
    settings = BootstrapSettings(
        project, repository, owner_id, repository_id, targets, backend, location or DEFAULT_LOCATION
    )
    _refuse(federation_problems(settings))
    return settings


def _refuse(problems: list[str]) -> None:
    if problems:
        raise BootstrapConfigError("\n".join(problems))


def _id_problems(
    repository: str | None, owner_id: str | None, repository_id: str | None
) -> list[str]:
    """githubOwnerId and githubRepositoryId: set, and shaped like GitHub's ids."""
    read = READ_IDS.format(repository=repository or "OWNER/NAME")
    problems = []
    for key, value, what in (
        ("githubOwnerId", owner_id, "the first line"),
        ("githubRepositoryId", repository_id, "the second line"),
    ):
        if not value:
            problems.append(
                f"config '{key}' is not set: CI is bound to GitHub's numeric ids, which no "
                f"renamed or recreated repository can take over (docs/gitops.md). Read it with "
                f"`{read}` ({what}). Fix: pulumi config set {key} ID"
            )
        elif not GITHUB_ID_RE.fullmatch(value):
            problems.append(
                f"config '{key}' is {value!r}, not a GitHub id (digits only, no leading zero, "
                f"at most 20). Read it with `{read}` ({what}). Fix: pulumi config set {key} ID"
            )
    return problems


def federation_problems(settings: BootstrapSettings) -> list[str]:
    """What Google would refuse in the provider or the bindings, said before any resource."""
    problems = []
    subjects = [deployer_subject(settings, stack) for stack in settings.stacks]
    for subject in [*subjects, previewer_subject(settings)]:
        size = len(subject.encode())
        if size > SUBJECT_MAX_BYTES:
            problems.append(
                f"the federated subject {subject!r} is {size} bytes; Google maps at most "
                f"{SUBJECT_MAX_BYTES} bytes to google.subject. Fix: shorter stack names "
                "(config 'stacks')"
            )
    condition = attribute_condition(settings)
    if len(condition) > CONDITION_MAX_CHARS:
        problems.append(
            f"the provider's attribute condition is {len(condition)} characters for "
            f"{len(settings.stacks)} stacks; Google accepts at most {CONDITION_MAX_CHARS}. "
            "Fix: fewer stacks (config 'stacks'), or one bootstrap stack per group of them"
        )
    return problems


def attribute_condition(settings: BootstrapSettings) -> str:
    """The provider's condition: only this repository's deploys and pull-request previews.

    Who may federate, and where each rule comes from (standard CEL only, here and in
    ATTRIBUTE_MAPPING; tests/platform/test_github_oidc.py evaluates both on GitHub's tokens).

    GitHub signs one issuer for every repository on github.com, so the provider's condition
    decides which repository's tokens are ours, and each account's member decides which of
    those jobs may act as it.

    * Never `sub`. Repositories created, renamed or transferred since 2026-07-15 get
      `repo:OWNER@OWNER_ID/REPO@REPO_ID:...`, older ones `repo:OWNER/REPO:...` until they opt in,
      and any repository can customise the claim (GitHub, OpenID Connect reference, "Immutable
      subject claims" and "Customizing the token claims":
      https://docs.github.com/en/actions/reference/security/oidc). Nothing here reads it.
    * Bind on GitHub's ids: `repository_owner_id` and `repository_id` never change and are never
      reused, so a repository recreated under the same name, by its owner or another account,
      is a stranger (google-github-actions/auth, docs/SECURITY_CONSIDERATIONS.md, "Use GitHub's
      Numeric, Immutable Values"). The token carries them as JSON strings ("repository_id": "74"
      in GitHub's example token, https://docs.github.com/en/actions/concepts/security/openid-connect),
      so they are compared as strings: in CEL, '74' == 74 is false.
    * A deploy is a job in the GitHub environment named after its stack, on main, started by a
      deploy event; a preview is a pull_request job with no environment. GitHub adds the
      `environment` claim only to a job that references one, so `has(assertion.environment)`
      tells them apart (the standard CEL macro; Google's own provider conditions use it:
      `!has(assertion.submods.container.env_override.example)` in Confidential Space's
      https://cloud.google.com/confidential-computing/confidential-space/docs/reference/attestation-assertions).
    * A fork's pull request gets no token in this repository at all: `id-token: write` is a write
      permission, and pull requests from forks get read-only tokens (JuliaCloud/AWS.jl #634). A
      fork running its own workflows has its own repository_id. Private repositories can "send
      write tokens to workflows from fork pull requests": leave that off (docs/gitops.md), because
      such a token carries this repository's ids and event_name pull_request, and only the
      read-only previewer accepts it.
    * google.subject repeats what the member binds, so each account is bound by both the
      provider's condition and its member: "owner_id:O:repository_id:R:environment:STACK:ref:REF"
      for a job with an environment, "owner_id:O:repository_id:R:event_name:EVENT" for one without.
      Google maps at most 127 bytes to it (SUBJECT_MAX_BYTES); with ids of at most 20 digits, a
      stack name of at most 16 characters and main, the longest accepted one is 113 bytes. A token
      the condition refuses anyway (a long branch or environment name) may map to more, and is
      then refused at mapping instead.
    * Members are principal:// identifiers of the pool (https://cloud.google.com/iam/docs/principal-identifiers).
    """
    stacks = ", ".join(f"'{stack}'" for stack in settings.stacks)
    events = ", ".join(f"'{event}'" for event in DEPLOY_EVENTS)
    return (
        f"assertion.repository_owner_id == '{settings.owner_id}' && "
        f"assertion.repository_id == '{settings.repository_id}' && ("
        f"(has(assertion.environment) && assertion.environment in [{stacks}] && "
        f"assertion.ref == '{MAIN_REF}' && assertion.event_name in [{events}]) || "
        f"(!has(assertion.environment) && assertion.event_name == '{PREVIEW_EVENT}'))"
    )


# google.subject from immutable claims only; the same shape as github_subject() below.
ATTRIBUTE_MAPPING: dict[str, str] = {
    "google.subject": (
        "'owner_id:' + assertion.repository_owner_id + "
        "':repository_id:' + assertion.repository_id + "
        "(has(assertion.environment) "
        "? ':environment:' + assertion.environment + ':ref:' + assertion.ref "
        ": ':event_name:' + assertion.event_name)"
    ),
}


def github_subject(settings: BootstrapSettings, job: str) -> str:
    """The google.subject ATTRIBUTE_MAPPING gives a job of this repository described by ``job``."""
    return f"owner_id:{settings.owner_id}:repository_id:{settings.repository_id}:{job}"


def deployer_subject(settings: BootstrapSettings, stack: str) -> str:
    """A job in the GitHub environment named after ``stack``, on main."""
    return github_subject(settings, f"environment:{stack}:ref:{MAIN_REF}")


def previewer_subject(settings: BootstrapSettings) -> str:
    """A pull_request job with no environment."""
    return github_subject(settings, f"event_name:{PREVIEW_EVENT}")


def principal(pool_name: str, subject: str) -> str:
    """One federated identity: ``pool_name`` is projects/NUMBER/locations/global/...
    https://cloud.google.com/iam/docs/principal-identifiers"""
    return f"principal://iam.googleapis.com/{pool_name}/subject/{subject}"


def grant_limit_condition() -> str:
    """True only when every role a request grants or revokes is one of GRANTABLE_ROLES (and for
    requests that change no role). https://cloud.google.com/iam/docs/conditions-attribute-reference
    (API attributes: api.getAttribute, hasOnly)"""
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
    return "relay-preview" if stack is None else f"relay-deploy-{stack}"

"""The relay on Google Cloud: APIs, service accounts, per-workflow secrets, source, function.

Resource names derive from the function name and workflow ids only, so adding or removing a
workflow adds or removes its own ``WorkflowRoute`` and touches nothing else's name. The one
shared resource a workflow change updates in place is the function (its route list and env).

Why a Cloud Functions v2 function (and not a Cloud Run Admin API service), how it is made
public, and why the IAM wait exists: docs/deploy.md, with its sources.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time as time_provider

from infra.alerting import AlertingArgs, RelayAlerting
from infra.relay_env import (
    INTERCOM_URL_SECRET_SUFFIX,
    SIGNING_SECRET_SUFFIX,
    plain_env,
    secret_id,
)
from infra.settings import (
    PUBLIC_ACCESS_ALL_USERS,
    PUBLIC_ACCESS_NONE,
    PUBLIC_ACCESS_WITH_POLICY_EXCEPTION,
    RelaySettings,
    resource_labels,
)
from infra.source import RelaySource
from infra.workflows import ConfigRef, Workflow
from relay_function.naming import (
    intercom_url_env,
    route_path,
    signing_secret_env,
)

RELAY_TYPE = "jam-fin-relay:index:Relay"
ROUTE_TYPE = "jam-fin-relay:index:WorkflowRoute"
ENTRY_POINT = "relay"
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"  # noqa: S105 (a role name)
RUN_INVOKER = "roles/run.invoker"

# Short resource-name suffix -> API. Logging and Monitoring carry the outcome metric and alerts;
# IAM creates the service accounts and Resource Manager takes the project-level grants (both
# are off in some fresh projects, and Pulumi's calls fail with "API has not been used").
REQUIRED_APIS: dict[str, str] = {
    "iam": "iam.googleapis.com",
    "cloudresourcemanager": "cloudresourcemanager.googleapis.com",
    "cloudfunctions": "cloudfunctions.googleapis.com",
    "run": "run.googleapis.com",
    "cloudbuild": "cloudbuild.googleapis.com",
    "artifactregistry": "artifactregistry.googleapis.com",
    "secretmanager": "secretmanager.googleapis.com",
    "logging": "logging.googleapis.com",
    "monitoring": "monitoring.googleapis.com",
}

# Only with publicAccess allUsersWithPolicyException: the project's own organization policy.
ORG_POLICY_API = ("orgpolicy", "orgpolicy.googleapis.com")
# Domain-restricted sharing, the list constraint that refuses allUsers in organisations created
# since May 2024 ("secure by default organizations").
DOMAIN_RESTRICTION = "iam.allowedPolicyMemberDomains"


def required_apis(settings: RelaySettings) -> dict[str, str]:
    """The APIs this stack enables: the Org Policy API only where the program uses it."""
    apis = dict(REQUIRED_APIS)
    if settings.public_access == PUBLIC_ACCESS_WITH_POLICY_EXCEPTION:
        short, api = ORG_POLICY_API
        apis[short] = api
    return apis


# The exception's one rule: allow every value of the constraint (so allUsers too).
EXCEPTION_ALLOW_ALL = "TRUE"


def domain_restriction_policy_name(project: str) -> str:
    return f"projects/{project}/policies/{DOMAIN_RESTRICTION}"


# The build service account's one role, as Google documents it for function builds ("Cloud Run
# Builder", https://cloud.google.com/run/docs/configuring/services/build-service-account). It
# reads more of the project's storage than the build strictly touches (the gcf-v2-sources-*
# staging copy), but it is the role Google maintains as the build pipeline changes; narrower
# hand-picked grants are undocumented and broke before (docs/deploy.md, "Build account").
BUILD_ROLE = "roles/run.builder"
# Old source archives: the archive in use is never deleted by the rule below; one Pulumi replaced
# (a source change) stays as a noncurrent version this many days, long enough to inspect or
# restore a rollback's source, then Cloud Storage deletes it.
NONCURRENT_ARCHIVE_DAYS = 30

ACCOUNT_ID_MAX = 30


def account_id(function_name: str, purpose: str) -> str:
    """A service-account id (6-30 chars) for ``purpose``, stable for a function name."""
    candidate = f"{function_name}-{purpose}"
    if len(candidate) < 6:
        candidate = f"{function_name}-relay-{purpose}"
    if len(candidate) <= ACCOUNT_ID_MAX:
        return candidate
    tag = hashlib.sha256(function_name.encode()).hexdigest()[:6]
    keep = ACCOUNT_ID_MAX - len(purpose) - len(tag) - 2
    return f"{function_name[:keep].rstrip('-')}-{tag}-{purpose}"


def set_secret_command(key: str, stack: str) -> str:
    return f"pulumi config set --secret {key} --stack {stack}"


def grant_key(role: str, account: str, target: str) -> str:
    """One grant in words: role, which of our accounts, on what."""
    return f"{role} {account} {target}"


def grants_digest(keys: Sequence[str]) -> str:
    """Names the set of grants: changes when one is added or removed, and on nothing else."""
    return hashlib.sha256("\n".join(sorted(set(keys))).encode()).hexdigest()


PUBLIC_ACCESS_HELP = (
    "The relay is made public with roles/run.invoker for allUsers on its Cloud Run service. If "
    "that grant fails with 'One or more users named in the policy do not belong to a permitted "
    "customer', the organisation enforces domain-restricted sharing "
    "(constraints/iam.allowedPolicyMemberDomains). Fix, in one line: `pulumi config set "
    f"publicAccess {PUBLIC_ACCESS_WITH_POLICY_EXCEPTION}`, then `pulumi up`: the program then "
    "declares this project's exception itself (the deploying identity needs "
    "roles/orgpolicy.policyAdmin on the organisation; give the relay a project of its own, as "
    'the exception covers the whole project: docs/deploy.md, "Public access"). Or deploy '
    "private with `pulumi config set publicAccess none` and check with `relayctl check`."
)
POLICY_EXCEPTION_HELP = (
    f"publicAccess {PUBLIC_ACCESS_WITH_POLICY_EXCEPTION}: this project's organization policy "
    f"lets any member, allUsers included, be granted roles in this project ({DOMAIN_RESTRICTION}"
    ", allow all). Setting it needs roles/orgpolicy.policyAdmin, which an organisation "
    "administrator grants on the organisation; a 403 here means the deploying identity lacks "
    'it (docs/deploy.md, "Public access"). The public grant waits for the policy to propagate.'
)


@dataclass(frozen=True)
class RouteInput:
    """One deployed workflow and its secret values (already Pulumi secrets)."""

    workflow: Workflow
    intercom_url: pulumi.Output[str]
    signing_secret: pulumi.Output[str] | None  # None until the stack config holds it


@dataclass(frozen=True)
class WorkflowRouteArgs:
    route: RouteInput
    settings: RelaySettings
    runtime_member: pulumi.Input[str]  # "serviceAccount:<runtime email>"
    labels: Mapping[str, str]
    depends_on: Sequence[pulumi.Resource]


class WorkflowRoute(pulumi.ComponentResource):
    """A workflow's two secrets, their versions, and the runtime account's read grants."""

    secret_env_vars: list[gcp.cloudfunctionsv2.FunctionServiceConfigSecretEnvironmentVariableArgs]
    grants: list[gcp.secretmanager.SecretIamMember]
    grant_keys: list[str]  # what each grant is, in words known before deploying (the IAM wait)

    def __init__(
        self, name: str, args: WorkflowRouteArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ROUTE_TYPE, name, None, opts)
        workflow = args.route.workflow
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        labels = {**args.labels, "workflow": workflow.id}

        def secret(suffix: str) -> gcp.secretmanager.Secret:
            return gcp.secretmanager.Secret(
                f"{name}-{suffix}",
                project=settings.project,
                secret_id=secret_id(settings.function_name, workflow.id, suffix),
                replication=gcp.secretmanager.SecretReplicationArgs(
                    auto=gcp.secretmanager.SecretReplicationAutoArgs()
                ),
                labels=labels,
                opts=child,
            )

        self.grant_keys = []

        def grant(
            suffix: str, target: gcp.secretmanager.Secret
        ) -> gcp.secretmanager.SecretIamMember:
            target_id = secret_id(settings.function_name, workflow.id, suffix)
            self.grant_keys.append(grant_key(SECRET_ACCESSOR, "runtime", f"secret:{target_id}"))
            # On this secret alone, for the runtime account alone: never project-wide.
            return gcp.secretmanager.SecretIamMember(
                f"{name}-{suffix}-accessor",
                project=settings.project,
                secret_id=target.id,
                role=SECRET_ACCESSOR,
                member=args.runtime_member,
                opts=child,
            )

        url_secret = secret(INTERCOM_URL_SECRET_SUFFIX)
        url_version = gcp.secretmanager.SecretVersion(
            f"{name}-intercom-url",
            secret=url_secret.id,
            secret_data=args.route.intercom_url,
            opts=child,
        )
        signing_secret = secret(SIGNING_SECRET_SUFFIX)
        self.grants = [
            grant(INTERCOM_URL_SECRET_SUFFIX, url_secret),
            grant(SIGNING_SECRET_SUFFIX, signing_secret),
        ]
        self.secret_env_vars = [_secret_env(intercom_url_env(workflow.id), url_secret, url_version)]
        self.signing_secret_version: gcp.secretmanager.SecretVersion | None = None
        if args.route.signing_secret is not None:
            self.signing_secret_version = gcp.secretmanager.SecretVersion(
                f"{name}-jam-signing-secret",
                secret=signing_secret.id,
                secret_data=args.route.signing_secret,
                opts=child,
            )
            self.secret_env_vars.append(
                _secret_env(
                    signing_secret_env(workflow.id), signing_secret, self.signing_secret_version
                )
            )
        self.intercom_url_secret_id = url_secret.secret_id
        self.signing_secret_id = signing_secret.secret_id
        self.register_outputs(
            {
                "intercom_url_secret": url_secret.secret_id,
                "jam_signing_secret": signing_secret.secret_id,
                "jam_signing_secret_set": self.signing_secret_version is not None,
            }
        )


def _secret_env(
    env_name: str, secret: gcp.secretmanager.Secret, version: gcp.secretmanager.SecretVersion
) -> gcp.cloudfunctionsv2.FunctionServiceConfigSecretEnvironmentVariableArgs:
    # Pinned to the version this program created (never "latest"), so a new value rolls out
    # as a new revision on `pulumi up`, and a revision never silently changes underneath.
    return gcp.cloudfunctionsv2.FunctionServiceConfigSecretEnvironmentVariableArgs(
        key=env_name,
        project_id=secret.project,
        secret=secret.secret_id,
        version=version.version,
    )


@dataclass(frozen=True)
class RelayArgs:
    settings: RelaySettings
    routes: tuple[RouteInput, ...]
    source: RelaySource


class Relay(pulumi.ComponentResource):
    """Everything the relay needs on Google Cloud, for the workflows deployed to this stack."""

    relay_url: pulumi.Output[str]
    endpoints: dict[str, pulumi.Output[str]]
    jam_setup: dict[str, pulumi.Output[dict[str, object]]]

    def __init__(self, name: str, args: RelayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(RELAY_TYPE, name, None, opts)
        settings = args.settings
        labels = resource_labels(settings)

        services = [
            gcp.projects.Service(
                f"{name}-api-{short}",
                project=settings.project,
                service=api,
                disable_on_destroy=False,  # other things in the project may rely on the API
                opts=pulumi.ResourceOptions(parent=self),
            )
            for short, api in required_apis(settings).items()
        ]
        child = pulumi.ResourceOptions(parent=self, depends_on=services)

        runtime_sa, runtime_member = _service_account(
            f"{name}-runtime-sa",
            settings,
            "run",
            "runtime",
            "Runs the Jam to Intercom relay; reads only its own workflow secrets.",
            child,
        )

        routes = [
            WorkflowRoute(
                f"{name}-{route.workflow.id}",
                WorkflowRouteArgs(
                    route=route,
                    settings=settings,
                    runtime_member=runtime_member,
                    labels=labels,
                    depends_on=services,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for route in args.routes
        ]

        bucket = gcp.storage.Bucket(
            f"{name}-source",  # auto-named with a random suffix: bucket names are global
            project=settings.project,
            location=settings.region.upper(),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            force_destroy=True,  # holds only generated archives
            # A source change replaces the archive object (its name is its content hash); the
            # replaced one stays as a noncurrent version for a while, then the rule deletes it.
            # The archive in use is live, so the rule never touches it.
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        with_state="ARCHIVED",
                        days_since_noncurrent_time=NONCURRENT_ARCHIVE_DAYS,
                    ),
                )
            ],
            labels=labels,
            opts=child,
        )
        source_object = gcp.storage.BucketObject(
            f"{name}-source",
            bucket=bucket.name,
            name=args.source.object_name,
            source=args.source.archive(),
            content_type="application/zip",
            opts=child,
        )

        build_sa, build_grant = self._build_account(name, settings, child)

        # Grants take minutes to reach every Google service, and the first build and revision
        # fail if they run before (Google: https://cloud.google.com/iam/docs/access-change-propagation;
        # terraform-provider-google #20571). The wait is re-armed (replaced) only when the set of
        # grants changes, so an `up` that adds no grant never waits.
        grants: list[pulumi.Resource] = [build_grant, *(g for r in routes for g in r.grants)]
        grant_keys = [
            grant_key(BUILD_ROLE, "build", f"project:{settings.project}"),
            *(k for r in routes for k in r.grant_keys),
        ]
        iam_wait = time_provider.Sleep(
            f"{name}-iam-propagation",
            create_duration=f"{settings.iam_propagation_seconds}s",
            triggers={"grants": grants_digest(grant_keys), "count": str(len(set(grant_keys)))},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*services, *grants]),
        )

        function = gcp.cloudfunctionsv2.Function(
            f"{name}-function",
            project=settings.project,
            location=settings.region,
            name=settings.function_name,
            description="Verifies Jam webhooks and forwards them to Intercom Fin workflows",
            labels=labels,
            build_config=gcp.cloudfunctionsv2.FunctionBuildConfigArgs(
                runtime=settings.runtime,
                entry_point=ENTRY_POINT,
                service_account=build_sa.name,
                source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceArgs(
                    storage_source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceStorageSourceArgs(
                        bucket=bucket.name, object=source_object.output_name
                    )
                ),
            ),
            service_config=gcp.cloudfunctionsv2.FunctionServiceConfigArgs(
                service_account_email=runtime_sa.email,
                available_memory=settings.memory,
                available_cpu=settings.cpu,
                timeout_seconds=settings.timeout_seconds,
                min_instance_count=settings.min_instances,
                max_instance_count=settings.max_instances,
                max_instance_request_concurrency=settings.concurrency,
                ingress_settings=settings.ingress,
                all_traffic_on_latest_revision=True,
                # RELAY_ROUTES, and THREADS = concurrency: functions-framework's server then has
                # a thread for every request Cloud Run may send one instance.
                environment_variables=plain_env(
                    [r.workflow for r in args.routes], settings.concurrency
                ),
                secret_environment_variables=[v for r in routes for v in r.secret_env_vars],
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                # The first build and revision run only once every grant has taken effect.
                depends_on=[*services, iam_wait],
            ),
        )
        service_config = function.service_config
        service_path = service_config.apply(lambda sc: sc.service if sc and sc.service else "")
        self.relay_url = service_config.apply(lambda sc: sc.uri if sc and sc.uri else "")

        if settings.public_access != PUBLIC_ACCESS_NONE:
            invoker_after: list[pulumi.Resource] = list(services)
            if settings.public_access == PUBLIC_ACCESS_WITH_POLICY_EXCEPTION:
                invoker_after.append(self._policy_exception(name, settings, child))
            invoker = gcp.cloudrunv2.ServiceIamMember(
                f"{name}-public-invoker",  # one name in both modes: switching never re-grants
                project=settings.project,
                location=settings.region,
                name=service_path,
                role=RUN_INVOKER,
                member="allUsers",  # Jam calls from the internet; the relay checks signatures
                opts=pulumi.ResourceOptions(parent=self, depends_on=invoker_after),
            )
            if settings.public_access == PUBLIC_ACCESS_ALL_USERS:
                # Shown beside this resource, so a refusal by the organisation's policy comes
                # with its fix (the provider's own error text cannot be changed).
                pulumi.log.info(PUBLIC_ACCESS_HELP, resource=invoker)

        alerting = RelayAlerting(
            f"{name}-alerting",
            AlertingArgs(
                settings=settings,
                service_name=service_path.apply(lambda path: path.rsplit("/", 1)[-1]),
                relay_url=self.relay_url,
                labels=labels,
                depends_on=services,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.endpoints = {
            r.workflow.id: _endpoint(self.relay_url, r.workflow.id) for r in args.routes
        }
        self.jam_setup = {
            r.workflow.id: _jam_setup(
                r.workflow,
                r.signing_secret is not None,
                settings.stack,
                self.endpoints[r.workflow.id],
            )
            for r in args.routes
        }
        self.runtime_service_account = runtime_sa.email
        self.build_service_account = build_sa.email
        self.source_object = source_object.output_name
        self.outcome_metric = alerting.metric_name
        self.dashboard_url = alerting.dashboard_url
        self.register_outputs(
            {
                "relay_url": self.relay_url,
                "endpoints": self.endpoints,
                "runtime_service_account": self.runtime_service_account,
                "build_service_account": self.build_service_account,
            }
        )

    def _policy_exception(
        self, name: str, settings: RelaySettings, opts: pulumi.ResourceOptions
    ) -> time_provider.Sleep:
        """This project's exception to domain-restricted sharing, and the wait after it.

        Google's documented way to let one project grant to allUsers under
        constraints/iam.allowedPolicyMemberDomains is a project policy that allows all values
        ("Restricting identities by domain":
        https://cloud.google.com/resource-manager/docs/organization-policy/restricting-domains).
        For this constraint only, and not inherited: the project stops merging the
        organisation's allowed customer ids, which for an allow-all rule is moot, and
        ``reset`` (the constraint's default) would say the same less plainly. It opens the
        whole project to grants to any member, which is why the relay wants a project of its
        own. The sleep's triggers are the policy's name and rules, known before deploying, so
        it is created (and waits) with the policy and again only when either changes.
        """
        policy_name = domain_restriction_policy_name(settings.project)
        rules = [gcp.orgpolicy.PolicySpecRuleArgs(allow_all=EXCEPTION_ALLOW_ALL)]
        policy = gcp.orgpolicy.Policy(
            f"{name}-public-access-exception",
            name=policy_name,
            parent=f"projects/{settings.project}",
            spec=gcp.orgpolicy.PolicySpecArgs(inherit_from_parent=False, rules=rules),
            opts=opts,
        )
        pulumi.log.info(POLICY_EXCEPTION_HELP, resource=policy)
        return time_provider.Sleep(
            f"{name}-org-policy-propagation",
            create_duration=f"{settings.org_policy_propagation_seconds}s",
            triggers={"policy": policy_name, "allow_all": EXCEPTION_ALLOW_ALL},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

    @staticmethod
    def _build_account(
        name: str, settings: RelaySettings, opts: pulumi.ResourceOptions
    ) -> tuple[gcp.serviceaccount.Account, gcp.projects.IAMMember]:
        build_sa, member = _service_account(
            f"{name}-build-sa",
            settings,
            "build",
            "build",
            "Cloud Build identity for the relay's function builds.",
            opts,
        )
        # Project-level: the build reads the staging bucket and writes the image repository
        # that Cloud Functions creates itself, so there is no resource of ours to grant on.
        grant = gcp.projects.IAMMember(
            f"{name}-build-builder",
            project=settings.project,
            role=BUILD_ROLE,
            member=member,
            opts=opts,
        )
        return build_sa, grant


def _service_account(
    resource_name: str,
    settings: RelaySettings,
    purpose: str,
    role_name: str,
    description: str,
    opts: pulumi.ResourceOptions,
) -> tuple[gcp.serviceaccount.Account, pulumi.Output[str]]:
    """A dedicated service account and its IAM member string (``serviceAccount:<email>``)."""
    account = gcp.serviceaccount.Account(
        resource_name,
        project=settings.project,
        account_id=account_id(settings.function_name, purpose),
        display_name=f"{settings.function_name} relay {role_name}",
        description=description,
        opts=opts,
    )
    return account, account.email.apply(lambda email: f"serviceAccount:{email}")


def _endpoint(relay_url: pulumi.Output[str], workflow_id: str) -> pulumi.Output[str]:
    return relay_url.apply(lambda url: url + route_path(workflow_id))


def _jam_setup(
    workflow: Workflow, signing_secret_set: bool, stack: str, endpoint: pulumi.Output[str]
) -> pulumi.Output[dict[str, object]]:
    """What a person does in Jam for this workflow: no secret value, only where to put it."""
    key = workflow.jam_signing_secret
    if isinstance(key, ConfigRef):
        command = set_secret_command(key.key, stack)
    else:
        command = (
            "add `jam_signing_secret: {config: KEY}` to this workflow in the workflows file, "
            f"then run: {set_secret_command('KEY', stack)}"
        )

    return endpoint.apply(
        lambda url: {
            "endpoint_url": url,
            "events": list(workflow.events),
            "signing_secret_set": signing_secret_set,
            "set_signing_secret_command": command,
        }
    )

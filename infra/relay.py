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

from infra import urls
from infra.alerting import AlertingArgs, RelayAlerting
from infra.relay_env import (
    INTERCOM_URL_SECRET_SUFFIX,
    SIGNING_SECRET_SUFFIX,
    plain_env,
    secret_id,
    secret_location,
)
from infra.service_accounts import answered_email, answered_name
from infra.settings import (
    DOMAIN_RESTRICTION,
    MANAGED_DOMAIN_RESTRICTION,
    PUBLIC_ACCESS_ALL_USERS,
    PUBLIC_ACCESS_NONE,
    PUBLIC_ACCESS_WITH_POLICY_EXCEPTION,
    SECRET_REPLICATION_AUTOMATIC,
    SECRET_REPLICATION_USER_MANAGED,
    WORKFLOW_LABEL,
    RelaySettings,
    resource_labels,
)
from infra.source import RelaySource
from infra.workflows import ConfigRef, Workflow, set_secret_command
from relay_function.naming import intercom_url_env, signing_secret_env

RELAY_TYPE = "jam-fin-relay:index:Relay"
ROUTE_TYPE = "jam-fin-relay:index:WorkflowRoute"
ENTRY_POINT = "relay"
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"  # noqa: S105 (a role name)
RUN_INVOKER = "roles/run.invoker"

# The caller's right to deploy as the accounts the program creates (grantCallerActAs).
ACT_AS_ROLE = "roles/iam.serviceAccountUser"
# A service account's email ends so; anything else the userinfo endpoint names is a person.
SERVICE_ACCOUNT_EMAIL_SUFFIX = ".gserviceaccount.com"

# Short resource-name suffix -> API. Logging and Monitoring carry the outcome metric and alerts;
# IAM creates the service accounts and Resource Manager takes the project-level grants (both
# are off in some fresh projects, and Pulumi's calls fail with "API has not been used"); Cloud
# Storage holds the source bucket.
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
    "storage": "storage.googleapis.com",
}

# A freshly enabled API can still answer SERVICE_DISABLED or "not found" for a while; Google's
# own error says "If you enabled this API recently, wait a few minutes for the action to
# propagate to our systems and retry" (quoted in terraform-provider-google #1538), and the
# provider does not retry it (terraform-provider-google #11023, DefangLabs/defang #1978). So
# everything that calls an API waits this long after the set of enabled APIs changes; an `up`
# that enables nothing new never waits. Not a setting: should a first deploy still meet it,
# `pulumi up` again finds the APIs on and only retries what failed.
API_PROPAGATION_SECONDS = 120

# Only with publicAccess allUsersWithPolicyException: the project's own organization policy.
ORG_POLICY_API = ("orgpolicy", "orgpolicy.googleapis.com")


@dataclass(frozen=True)
class ConstraintException:
    """This project's policy for one constraint: its one rule, in the form that constraint takes.

    Org Policy v2 (PolicySpec.PolicyRule): ``enforce`` "can be set in policies for boolean
    constraints, custom constraints and managed constraints", ``allowAll`` "only in policies
    for list constraints", and ``parameters`` are needed only "when policy enforcement is
    enabled"; ``inheritFromParent`` "can be set only for policies which configure list
    constraints" (https://cloud.google.com/resource-manager/docs/reference/orgpolicy/rest/v2/
    organizations.policies).
    """

    constraint: str
    rule_field: str  # the PolicySpecRuleArgs field
    rule_value: str  # the provider takes "TRUE"/"FALSE" strings
    is_list_constraint: bool


# Domain-restricted sharing refuses allUsers in organisations created since May 2024 ("secure by
# default organizations"). Google's page ("Restrict identities with domain-restricted sharing",
# https://cloud.google.com/organization-policy/restrict-domains) lists the managed constraint
# first and calls the list constraint legacy; an organisation may enforce either, so the
# exception covers both.
# The managed constraint is switched off (enforce: false); the legacy list constraint allows
# every value (allowAll), so allUsers too.
POLICY_EXCEPTIONS = (
    ConstraintException(MANAGED_DOMAIN_RESTRICTION, "enforce", "FALSE", is_list_constraint=False),
    ConstraintException(DOMAIN_RESTRICTION, "allow_all", "TRUE", is_list_constraint=True),
)


def required_apis(settings: RelaySettings) -> dict[str, str]:
    """The APIs this stack enables: the Org Policy API only where the program uses it."""
    apis = dict(REQUIRED_APIS)
    if settings.public_access == PUBLIC_ACCESS_WITH_POLICY_EXCEPTION:
        short, api = ORG_POLICY_API
        apis[short] = api
    return apis


def policy_name(project: str, constraint: str) -> str:
    return f"projects/{project}/policies/{constraint}"


def exception_triggers(project: str) -> dict[str, str]:
    """The policy wait's triggers: each exempted constraint's policy name and rule."""
    return {
        e.constraint: f"{policy_name(project, e.constraint)} {e.rule_field}={e.rule_value}"
        for e in POLICY_EXCEPTIONS
    }


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


def grant_key(role: str, account: str, target: str) -> str:
    """One grant in words: role, which of our accounts, on what."""
    return f"{role} {account} {target}"


def set_digest(keys: Sequence[str]) -> str:
    """Names a set (of grants, of APIs): changes when one is added or removed, on nothing else."""
    return hashlib.sha256("\n".join(sorted(set(keys))).encode()).hexdigest()


def set_triggers(keys: Sequence[str], name: str) -> dict[str, str]:
    """A wait's triggers for a set: its digest and its size."""
    return {name: set_digest(keys), "count": str(len(set(keys)))}


@dataclass(frozen=True)
class ServiceAccount:
    """One of the accounts the program creates, and how grants and the function name it:
    Google's answers, or where an answer lacks them the documented forms
    (infra/service_accounts.py)."""

    resource: gcp.serviceaccount.Account
    email: pulumi.Output[str]
    name: pulumi.Output[str]  # projects/PROJECT/serviceAccounts/EMAIL
    member: pulumi.Output[str]  # serviceAccount:EMAIL


def is_person(email: str | None) -> bool:
    """Whether the deploying identity's email names a person (not a service account)."""
    return bool(email) and not str(email).endswith(SERVICE_ACCOUNT_EMAIL_SUFFIX)


PUBLIC_ACCESS_HELP = (
    "The relay is made public with roles/run.invoker for allUsers on its Cloud Run service. If "
    "that grant fails with 'One or more users named in the policy do not belong to a permitted "
    "customer', the organisation enforces domain-restricted sharing "
    f"(constraints/{MANAGED_DOMAIN_RESTRICTION} or constraints/{DOMAIN_RESTRICTION}). Fix, in "
    "one line: `pulumi config set "
    f"publicAccess {PUBLIC_ACCESS_WITH_POLICY_EXCEPTION}`, then `pulumi up`: the program then "
    "declares this project's exception itself (the deploying identity needs "
    "roles/orgpolicy.policyAdmin on the organisation; give the relay a project of its own, as "
    'the exception covers the whole project: docs/deploy.md, "Public access"). Or deploy '
    "private with `pulumi config set publicAccess none` and check with `relayctl check`."
)
POLICY_EXCEPTION_HELP = (
    f"publicAccess {PUBLIC_ACCESS_WITH_POLICY_EXCEPTION}: this project's organization policy "
    f"lets any member, allUsers included, be granted roles in this project "
    f"({MANAGED_DOMAIN_RESTRICTION} not enforced, {DOMAIN_RESTRICTION} allow all). Setting "
    "it needs roles/orgpolicy.policyAdmin, which an organisation administrator grants on the "
    "organisation; a 403 here means the deploying identity lacks "
    'it (docs/deploy.md, "Public access"). The public grant waits for the policy to propagate.'
)
SECRET_LOCATION_HELP = (
    "The workflow secrets use automatic replication, which Secret Manager creates in the global "
    "location. If creating them fails with 'Constraint constraints/gcp.resourceLocations "
    "violated', the organisation restricts where resources may live. Fix: `pulumi config set "
    f"secretReplication {SECRET_REPLICATION_USER_MANAGED}`, then `pulumi up`: each "
    'secret then keeps one replica in gcp:region (docs/deploy.md, "Secret names and '
    'locations"). The public grant, if refused, is a separate fix ("Public access").'
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
        labels = {**args.labels, WORKFLOW_LABEL: workflow.id}
        location = secret_location(settings.secret_replication, settings.region)

        def id_of(suffix: str) -> str:
            return secret_id(settings.function_name, workflow.id, suffix, location)

        def secret(suffix: str) -> gcp.secretmanager.Secret:
            return gcp.secretmanager.Secret(
                f"{name}-{suffix}",
                project=settings.project,
                secret_id=id_of(suffix),
                replication=secret_replication(settings),
                labels=labels,
                opts=child,
            )

        self.grant_keys = []

        def grant(
            suffix: str, target: gcp.secretmanager.Secret
        ) -> gcp.secretmanager.SecretIamMember:
            self.grant_keys.append(grant_key(SECRET_ACCESSOR, "runtime", f"secret:{id_of(suffix)}"))
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
        self.url_secret = url_secret
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


def secret_replication(settings: RelaySettings) -> gcp.secretmanager.SecretReplicationArgs:
    """Automatic (Google's choice, in `global`) or user-managed with one replica in the region,
    for organisations whose gcp.resourceLocations policy refuses `global` (firebase-tools #6454).
    """
    if settings.secret_replication == SECRET_REPLICATION_USER_MANAGED:
        replica = gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(
            location=settings.region
        )
        return gcp.secretmanager.SecretReplicationArgs(
            user_managed=gcp.secretmanager.SecretReplicationUserManagedArgs(replicas=[replica])
        )
    return gcp.secretmanager.SecretReplicationArgs(
        auto=gcp.secretmanager.SecretReplicationAutoArgs()
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

    relay_url: str
    cloud_run_url: pulumi.Output[str]
    endpoints: dict[str, str]
    jam_setup: dict[str, dict[str, object]]

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
        # Everything below calls one of these APIs, so waits for them to take effect.
        api_wait = time_provider.Sleep(
            f"{name}-api-propagation",
            create_duration=f"{API_PROPAGATION_SECONDS}s",
            triggers=set_triggers(list(required_apis(settings).values()), "apis"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=services),
        )
        apis_ready: list[pulumi.Resource] = [*services, api_wait]
        child = pulumi.ResourceOptions(parent=self, depends_on=apis_ready)

        runtime_sa = _service_account(
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
                    runtime_member=runtime_sa.member,
                    labels=labels,
                    depends_on=apis_ready,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for route in args.routes
        ]
        if routes and settings.secret_replication == SECRET_REPLICATION_AUTOMATIC:
            # Shown beside the first secret: a location policy refuses it first.
            pulumi.log.info(SECRET_LOCATION_HELP, resource=routes[0].url_secret)

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
        caller_grants, caller_keys = self._caller_act_as(
            name, settings, {"runtime": runtime_sa, "build": build_sa}, child
        )

        # Grants take minutes to reach every Google service, and the first build and revision
        # fail if they run before (Google: https://cloud.google.com/iam/docs/access-change-propagation;
        # terraform-provider-google #20571). The wait is re-armed (replaced) only when the set of
        # grants changes, so an `up` that adds no grant never waits.
        grants: list[pulumi.Resource] = [
            build_grant,
            *(g for r in routes for g in r.grants),
            *caller_grants,
        ]
        grant_keys = [
            grant_key(BUILD_ROLE, "build", f"project:{settings.project}"),
            *(k for r in routes for k in r.grant_keys),
            *caller_keys,
        ]
        iam_wait = time_provider.Sleep(
            f"{name}-iam-propagation",
            create_duration=f"{settings.iam_propagation_seconds}s",
            triggers=set_triggers(grant_keys, "grants"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*apis_ready, *grants]),
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
                        # The object's name is ours (its content hash), so known from the
                        # request; output_name is the same value, computed by the provider.
                        bucket=bucket.name,
                        object=source_object.name,
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
                depends_on=[*apis_ready, iam_wait],
            ),
        )
        service_config = function.service_config
        # Google's answer names the function's Cloud Run service (ServiceConfig.service,
        # "projects/P/locations/R/services/S"). A v2 function runs as the service of its own
        # name, normalised by Cloud Run (terraform-provider-google #5833, #20320); settings accept
        # only names that are already valid service names, so where an answer lacks the field
        # (a mock that computes nothing) the function name stands in, never an empty name.
        service_path = service_config.apply(
            lambda sc: sc.service if sc and sc.service else settings.function_name
        )
        # The hash-bearing run.app URL Google assigns at creation: for operators and the uptime
        # check (it reaches the relay directly), never for Jam (infra/urls.py says why).
        self.cloud_run_url = service_config.apply(lambda sc: sc.uri if sc and sc.uri else "")
        # The deterministic cloudfunctions.net URL, known before the first deploy (issue 21.1).
        self.relay_url = urls.relay_url(settings.project, settings.region, settings.function_name)

        if settings.public_access != PUBLIC_ACCESS_NONE:
            invoker_after: list[pulumi.Resource] = list(apis_ready)
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
                depends_on=apis_ready,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.endpoints = {
            r.workflow.id: urls.endpoint_url(self.relay_url, r.workflow.id) for r in args.routes
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
        self.source_object = source_object.name
        self.outcome_metric = alerting.metric_name
        self.dashboard_url = alerting.dashboard_url
        self.register_outputs(
            {
                "relay_url": self.relay_url,
                "cloud_run_url": self.cloud_run_url,
                "endpoints": self.endpoints,
                "runtime_service_account": self.runtime_service_account,
                "build_service_account": self.build_service_account,
            }
        )

    def _policy_exception(
        self, name: str, settings: RelaySettings, opts: pulumi.ResourceOptions
    ) -> time_provider.Sleep:
        """This project's exception to domain-restricted sharing, and the wait after it.

        Google's documented way to let one project grant to allUsers is a project policy that
        overrides the organisation's for the constraint it enforces ("Restrict identities with
        domain-restricted sharing", https://cloud.google.com/organization-policy/restrict-domains).
        Either constraint may be the one enforced, so both get one (POLICY_EXCEPTIONS), each in
        its own form. The legacy list constraint's policy does not inherit: the project stops
        merging the organisation's allowed customer ids, which for an allow-all rule is moot.
        It opens the whole project to grants to any member, which is why the relay wants a
        project of its own. The sleep's triggers are each policy's name and rule, known before
        deploying, so it waits when either policy is created or its rule changes, and never on
        an ordinary `up`.
        """
        policies = []
        for exception in POLICY_EXCEPTIONS:
            field, value = exception.rule_field, exception.rule_value
            rule = gcp.orgpolicy.PolicySpecRuleArgs(
                allow_all=value if field == "allow_all" else None,
                enforce=value if field == "enforce" else None,
            )
            policies.append(
                gcp.orgpolicy.Policy(
                    f"{name}-public-access-exception"
                    + ("" if exception.is_list_constraint else "-managed"),
                    name=policy_name(settings.project, exception.constraint),
                    parent=f"projects/{settings.project}",
                    spec=gcp.orgpolicy.PolicySpecArgs(
                        inherit_from_parent=False if exception.is_list_constraint else None,
                        rules=[rule],
                    ),
                    opts=opts,
                )
            )
        pulumi.log.info(POLICY_EXCEPTION_HELP, resource=policies[0])
        return time_provider.Sleep(
            f"{name}-org-policy-propagation",
            create_duration=f"{settings.org_policy_propagation_seconds}s",
            triggers=exception_triggers(settings.project),
            opts=pulumi.ResourceOptions(parent=self, depends_on=policies),
        )

    def _caller_act_as(
        self,
        name: str,
        settings: RelaySettings,
        accounts: Mapping[str, ServiceAccount],
        opts: pulumi.ResourceOptions,
    ) -> tuple[list[gcp.serviceaccount.IAMMember], list[str]]:
        """With grantCallerActAs, the deploying person's roles/iam.serviceAccountUser on each
        account the program creates (deploying as them needs iam.serviceAccounts.actAs), and
        the grants in words for the IAM wait.

        Who deploys comes from the credentials' OpenID userinfo
        (gcp.organizations.get_client_open_id_user_info). A service account (CI) gets nothing
        here (bootstrap gives it the role): its email ends in .gserviceaccount.com. The grant
        belongs to whoever ran the last `up`: another person's `up` moves it to them, CI's
        removes it (docs/deploy.md, "The deploying identity's rights").
        """
        if not settings.grant_caller_act_as:
            return [], []
        email = gcp.organizations.get_client_open_id_user_info().email
        if not is_person(email):
            pulumi.log.info(
                f"grantCallerActAs: the deploying identity ({email or 'no email'}) is not a "
                f"person, so no {ACT_AS_ROLE} grant is made; a service account needs that role "
                "from outside this stack (bootstrap grants it to CI's deployers).",
                resource=self,
            )
            return [], []
        member = f"user:{email}"
        grants = [
            gcp.serviceaccount.IAMMember(
                f"{name}-{purpose}-sa-caller-act-as",  # one name whoever deploys: a new caller
                service_account_id=account.name,  # replaces the grant instead of adding one
                role=ACT_AS_ROLE,
                member=member,
                opts=opts,
            )
            for purpose, account in accounts.items()
        ]
        keys = [grant_key(ACT_AS_ROLE, member, f"account:{purpose}") for purpose in accounts]
        return grants, keys

    @staticmethod
    def _build_account(
        name: str, settings: RelaySettings, opts: pulumi.ResourceOptions
    ) -> tuple[ServiceAccount, gcp.projects.IAMMember]:
        build_sa = _service_account(
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
            member=build_sa.member,
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
) -> ServiceAccount:
    """A dedicated service account, with its email, name and IAM member string."""
    account_name = account_id(settings.function_name, purpose)
    account = gcp.serviceaccount.Account(
        resource_name,
        project=settings.project,
        account_id=account_name,
        display_name=f"{settings.function_name} relay {role_name}",
        description=description,
        opts=opts,
    )
    email = answered_email(account, account_name, settings.project)
    name = answered_name(account, account_name, settings.project)
    return ServiceAccount(account, email, name, email.apply(lambda e: f"serviceAccount:{e}"))


def _jam_setup(
    workflow: Workflow, signing_secret_set: bool, stack: str, endpoint: str
) -> dict[str, object]:
    """What a person does in Jam for this workflow: no secret value, only where to put it."""
    key = workflow.jam_signing_secret
    if isinstance(key, ConfigRef):
        command = set_secret_command(key.key, stack)
    else:
        command = (
            "add `jam_signing_secret: {config: KEY}` to this workflow in the workflows file, "
            f"then run: {set_secret_command('KEY', stack)}"
        )

    return {
        "endpoint_url": endpoint,
        "events": list(workflow.events),
        "signing_secret_set": signing_secret_set,
        "set_signing_secret_command": command,
    }

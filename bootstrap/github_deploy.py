"""GitHub Actions -> Google Cloud without keys: the pool, its GitHub provider, one deployer
per stack, a read-only previewer for pull requests, and (optionally) the state bucket and
one Cloud KMS key per stack for a self-managed Pulumi backend."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from bootstrap.access import (
    ATTRIBUTE_MAPPING,
    DEPLOYER_ROLES,
    GCS_BACKEND_APIS,
    GITHUB_ISSUER,
    POOL_PROJECT_APIS,
    PREFLIGHT_ROLES,
    PREVIEW_STACK,
    PREVIEWER_ROLES,
    STACK_PROJECT_APIS,
    BootstrapSettings,
    account_id,
    attribute_condition,
    backend_metadata_condition,
    deployer_subject,
    grant_limit_condition,
    previewer_subject,
    principal,
    stack_state_condition,
)
from infra.service_accounts import answered_email, answered_name

COMPONENT_TYPE = "jam-fin-relay:bootstrap:GitHubDeploy"
POOL_ID = "github-actions"
PROVIDER_ID = "github"
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
KMS_ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
KMS_DECRYPTER = "roles/cloudkms.cryptoKeyDecrypter"
OBJECT_ADMIN = "roles/storage.objectAdmin"
OBJECT_VIEWER = "roles/storage.objectViewer"


@dataclass(frozen=True)
class GitHubDeployArgs:
    settings: BootstrapSettings


class GitHubDeploy(pulumi.ComponentResource):
    """Everything GitHub Actions needs to deploy this repository's stacks without a key."""

    repository_variables: pulumi.Output[dict[str, str]]
    secrets_providers: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: GitHubDeployArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        settings = args.settings

        apis = self._enable_apis(name, settings)
        after_apis = pulumi.ResourceOptions(parent=self, depends_on=apis)

        pool = gcp.iam.WorkloadIdentityPool(
            f"{name}-pool",
            project=settings.project,
            workload_identity_pool_id=POOL_ID,
            display_name="GitHub Actions",
            description=f"GitHub Actions of {settings.repository}",
            opts=after_apis,
        )
        provider = gcp.iam.WorkloadIdentityPoolProvider(
            f"{name}-provider",
            project=settings.project,
            workload_identity_pool_id=pool.workload_identity_pool_id,
            workload_identity_pool_provider_id=PROVIDER_ID,
            display_name="GitHub",
            attribute_mapping=ATTRIBUTE_MAPPING,
            # GitHub's issuer is shared by every repository on github.com: without this
            # condition any repository's workflow could exchange a token here. Bound on
            # GitHub's ids, never on `sub` (bootstrap/access.py, "Who may federate").
            attribute_condition=attribute_condition(settings),
            oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=GITHUB_ISSUER),
            opts=after_apis,
        )

        # Each account lives in the project it works on: Google APIs count a service account's
        # calls against its own project, which must have those APIs enabled; the main program
        # enables them in the stack's project. https://cloud.google.com/docs/quotas/quota-project
        deployers = {
            stack: self._account(
                f"{name}-deployer-{stack}",
                settings.stack_projects[stack],
                account_id(stack),
                f"Deploys stack {stack} of {settings.repository} from GitHub Actions",
                pool.name,
                deployer_subject(settings, stack),
                after_apis,
            )
            for stack in settings.stacks
        }
        previewer = self._account(
            f"{name}-previewer",
            settings.stack_projects[PREVIEW_STACK],
            account_id(None),
            f"Read-only pull-request previews of stack {PREVIEW_STACK} of {settings.repository}",
            pool.name,
            previewer_subject(settings),
            after_apis,
        )

        for stack, deployer in deployers.items():
            # What `pulumi up` needs, and the reads `relayctl preflight` makes before it.
            self._project_roles(
                f"{name}-deployer-{stack}",
                settings.stack_projects[stack],
                [*DEPLOYER_ROLES, *PREFLIGHT_ROLES],
                deployer,
            )
        self._project_roles(
            f"{name}-previewer", settings.stack_projects[PREVIEW_STACK], PREVIEWER_ROLES, previewer
        )

        variables: dict[str, pulumi.Input[str]] = {
            "GCP_WORKLOAD_IDENTITY_PROVIDER": provider.name,
            "GCP_DEPLOY_SERVICE_ACCOUNTS": pulumi.Output.all(
                *(d.email for d in deployers.values())
            ).apply(lambda emails: json.dumps(dict(zip(deployers, emails, strict=True)))),
            "GCP_PREVIEW_SERVICE_ACCOUNT": previewer.email,
        }
        self.secrets_providers = {}
        if settings.state_backend == "gcs":
            bucket_url, self.secrets_providers = self._state_backend(
                name, settings, deployers, previewer, after_apis
            )
            variables["PULUMI_BACKEND_URL"] = bucket_url
        self.repository_variables = pulumi.Output.all(**variables).apply(dict)
        self.register_outputs(
            {
                "repository_variables": self.repository_variables,
                "secrets_providers": self.secrets_providers,
            }
        )

    def _enable_apis(self, name: str, settings: BootstrapSettings) -> list[pulumi.Resource]:
        wanted = {(settings.project, api) for api in POOL_PROJECT_APIS}
        wanted |= {(p, api) for p in settings.stack_projects.values() for api in STACK_PROJECT_APIS}
        if settings.state_backend == "gcs":
            wanted |= {(settings.project, api) for api in GCS_BACKEND_APIS}
        return [
            gcp.projects.Service(
                f"{name}-api-{project}-{api.split('.')[0]}",
                project=project,
                service=api,
                disable_on_destroy=False,  # other things in the project may rely on the API
                opts=pulumi.ResourceOptions(parent=self),
            )
            for project, api in sorted(wanted)
        ]

    def _account(
        self,
        resource_name: str,
        project: str,
        account: str,
        description: str,
        pool_name: pulumi.Output[str],
        subject: str,
        opts: pulumi.ResourceOptions,
    ) -> _Identity:
        sa = gcp.serviceaccount.Account(
            resource_name,
            project=project,
            account_id=account,
            display_name=account,
            description=description,
            opts=opts,
        )
        # Only jobs whose mapped google.subject is exactly this one may act as the account.
        gcp.serviceaccount.IAMMember(
            f"{resource_name}-federated",
            service_account_id=answered_name(sa, account, project),
            role=WORKLOAD_IDENTITY_USER,
            member=pool_name.apply(lambda pool: principal(pool, subject)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        email = answered_email(sa, account, project)  # infra/service_accounts.py: never None
        return _Identity(email, email.apply(lambda e: f"serviceAccount:{e}"))

    def _project_roles(
        self, resource_prefix: str, project: str, roles: Iterable[str], identity: _Identity
    ) -> None:
        """``identity``'s project-level grants; projectIamAdmin only ever with its limit."""
        for role in roles:
            condition = None
            if role == "roles/resourcemanager.projectIamAdmin":
                condition = gcp.projects.IAMMemberConditionArgs(
                    title="grants the relay's build roles only",
                    expression=grant_limit_condition(),
                )
            gcp.projects.IAMMember(
                f"{resource_prefix}-{_short(role)}",
                project=project,
                role=role,
                member=identity.member,
                condition=condition,
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _state_backend(
        self,
        name: str,
        settings: BootstrapSettings,
        deployers: dict[str, _Identity],
        previewer: _Identity,
        opts: pulumi.ResourceOptions,
    ) -> tuple[pulumi.Output[str], dict[str, pulumi.Output[str]]]:
        """One bucket for every stack's state, and one key per stack for its secrets: each
        deployer reaches only its own stack's objects and key; the previewer reads dev's."""
        child = pulumi.ResourceOptions(parent=self)
        bucket = gcp.storage.Bucket(
            f"{name}-state",  # auto-named with a random suffix: bucket names are global
            project=settings.project,
            location=settings.location.upper(),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),  # recover a bad write
            opts=opts,
        )
        ring = gcp.kms.KeyRing(
            f"{name}-state-keys",
            project=settings.project,
            name="jam-fin-relay-state",
            location=settings.location,
            opts=opts,
        )
        providers: dict[str, pulumi.Output[str]] = {}
        for stack, deployer in deployers.items():
            key = gcp.kms.CryptoKey(
                f"{name}-state-key-{stack}",
                name=f"stack-{stack}",
                key_ring=ring.id,
                opts=pulumi.ResourceOptions(parent=self, protect=True),  # losing it loses secrets
            )
            providers[stack] = key.id.apply(lambda key_id: f"gcpkms://{key_id}")
            gcp.kms.CryptoKeyIAMMember(
                f"{name}-state-key-{stack}-deployer",
                crypto_key_id=key.id,
                role=KMS_ENCRYPTER_DECRYPTER,
                member=deployer.member,
                opts=child,
            )
            self._bucket_grants(name, f"deployer-{stack}", bucket, stack, deployer, OBJECT_ADMIN)
            if stack == PREVIEW_STACK:
                gcp.kms.CryptoKeyIAMMember(
                    f"{name}-state-key-{stack}-previewer",
                    crypto_key_id=key.id,
                    role=KMS_DECRYPTER,
                    member=previewer.member,
                    opts=child,
                )
                self._bucket_grants(name, "previewer", bucket, stack, previewer, OBJECT_VIEWER)
        return bucket.name.apply(lambda b: f"gs://{b}"), providers

    def _bucket_grants(
        self,
        name: str,
        who: str,
        bucket: gcp.storage.Bucket,
        stack: str,
        identity: _Identity,
        role: str,
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        gcp.storage.BucketIAMMember(
            f"{name}-state-{who}-stack",
            bucket=bucket.name,
            role=role,
            member=identity.member,
            condition=gcp.storage.BucketIAMMemberConditionArgs(
                title=f"stack {stack} state only",
                expression=bucket.name.apply(lambda b: stack_state_condition(b, stack)),
            ),
            opts=child,
        )
        gcp.storage.BucketIAMMember(
            f"{name}-state-{who}-meta",
            bucket=bucket.name,
            role=OBJECT_VIEWER,
            member=identity.member,
            condition=gcp.storage.BucketIAMMemberConditionArgs(
                title="list the bucket and read meta.yaml",
                expression=bucket.name.apply(backend_metadata_condition),
            ),
            opts=child,
        )


@dataclass(frozen=True)
class _Identity:
    email: pulumi.Output[str]
    member: pulumi.Output[str]  # serviceAccount:<email>


def _short(role: str) -> str:
    """roles/monitoring.alertPolicyEditor -> monitoring-alertpolicyeditor (a resource name)."""
    return role.removeprefix("roles/").replace(".", "-").lower()

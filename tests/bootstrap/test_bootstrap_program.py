"""bootstrap/ under Pulumi's mocks: who may federate, what each identity holds, what it outputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from bootstrap.access import (
    ATTRIBUTE_MAPPING,
    DEPLOYER_ROLES,
    GCS_BACKEND_APIS,
    GRANTABLE_ROLES,
    ORGANIZATION_ROLES,
    POOL_PROJECT_APIS,
    PREFLIGHT_ROLES,
    PREVIEWER_ROLES,
    RESOURCE_LEVEL_ROLES,
    STACK_PROJECT_APIS,
)
from bootstrap.github_deploy import COMPONENT_TYPE
from tests.golden import assert_matches_golden
from tests.pulumi_mocks import PROC_FDS, open_file_descriptors, record_registered_outputs

REPO = Path(__file__).resolve().parents[2]
PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
KEY_MEMBER = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"


def email(bootstrap, account_id: str, project: str | None = None) -> str:
    return f"{account_id}@{project or bootstrap.project}.iam.gserviceaccount.com"


SPLIT = "dev=acme-relay-dev,prod=acme-relay-prod"


def test_runs_cleanly_with_only_the_required_keys(bootstrap):
    run = bootstrap.run()
    assert run.error is None
    assert {d.inputs["accountId"] for d in run.of_type("gcp:serviceaccount/account:Account")} == {
        "relay-deploy-dev",
        "relay-deploy-prod",
        "relay-preview",
    }


def test_provider_trusts_github_actions_tokens_with_the_designed_mapping(bootstrap):
    # What the mapping and condition accept is evaluated on GitHub's tokens in
    # tests/platform/test_github_oidc.py.
    provider = bootstrap.run().one(PROVIDER)
    assert provider.inputs["oidc"]["issuerUri"] == "https://token.actions.githubusercontent.com"
    assert provider.inputs["attributeMapping"] == ATTRIBUTE_MAPPING
    assert provider.inputs["workloadIdentityPoolProviderId"] == "github"
    assert provider.inputs["workloadIdentityPoolId"] == "github-actions"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_deployer_holds_exactly_the_listed_roles(bootstrap, stack):
    run = bootstrap.run()
    roles = run.project_roles(email(bootstrap, f"relay-deploy-{stack}"))
    assert {role for _, role in roles} == set(DEPLOYER_ROLES) | set(PREFLIGHT_ROLES)


def test_every_deployer_role_says_why():
    for role, why in DEPLOYER_ROLES.items():
        assert len(why.split()) >= 4, role


def test_deployer_may_grant_only_the_main_programs_project_roles(bootstrap):
    run = bootstrap.run()
    roles = run.project_roles(email(bootstrap, "relay-deploy-prod"))
    grant = roles[(bootstrap.project, "roles/resourcemanager.projectIamAdmin")]
    expression = grant.inputs["condition"]["expression"]
    assert "iam.googleapis.com/modifiedGrantsByRole" in expression
    assert re.findall(r"'(roles/[^']+)'", expression) == list(GRANTABLE_ROLES)


def _infra_source() -> str:
    return "\n".join(p.read_text() for p in sorted((REPO / "infra").glob("*.py")))


def test_every_role_the_main_program_grants_is_one_the_deployer_may_grant():
    granted = set(re.findall(r"\"(roles/[A-Za-z.]+)\"", _infra_source()))
    assert granted, "no role found in infra/*.py"
    assert granted <= set(GRANTABLE_ROLES) | set(RESOURCE_LEVEL_ROLES)


def test_bootstrap_lists_no_grant_the_main_program_no_longer_makes():
    # The lists say what infra/ grants today, nothing more (storage.objectViewer was left
    # behind once the build account's bucket grant was dropped).
    granted = set(re.findall(r"\"(roles/[A-Za-z.]+)\"", _infra_source()))
    assert set(GRANTABLE_ROLES) | set(RESOURCE_LEVEL_ROLES) == granted


def test_the_org_policy_exception_needs_the_documented_organisation_role():
    assert "gcp.orgpolicy.Policy(" in _infra_source()
    assert "roles/orgpolicy.policyAdmin" in ORGANIZATION_ROLES
    assert "allUsersWithPolicyException" in ORGANIZATION_ROLES["roles/orgpolicy.policyAdmin"]


def test_bootstrap_grants_no_organisation_role(bootstrap):
    run = bootstrap.run(stackProjects=SPLIT)
    assert not [d for d in run.declared if d.type.startswith("gcp:organizations/")]
    granted = {d.inputs["role"] for d in run.of_type("gcp:projects/iAMMember:IAMMember")}
    assert not granted & set(ORGANIZATION_ROLES)


def test_every_organisation_role_says_why_and_who_grants_it():
    for role, why in ORGANIZATION_ROLES.items():
        assert "gcloud organizations add-iam-policy-binding" in why, role
        assert f"--role={role}" in why, role


def test_stack_deployers_are_federated_only_from_their_own_environment(bootstrap):
    run = bootstrap.run()
    bindings = {d.inputs["serviceAccountId"]: d for d in run.of_type(SA_MEMBER)}
    for stack in ("dev", "prod"):
        account = email(bootstrap, f"relay-deploy-{stack}")
        binding = bindings[f"projects/{bootstrap.project}/serviceAccounts/{account}"]
        assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
        assert binding.inputs["member"] == (
            f"principal://iam.googleapis.com/projects/{bootstrap.number}/locations/global/"
            f"workloadIdentityPools/github-actions/subject/owner_id:{bootstrap.owner_id}:"
            f"repository_id:{bootstrap.repository_id}:environment:{stack}:ref:refs/heads/main"
        )


def test_previewer_is_federated_only_from_pull_requests(bootstrap):
    run = bootstrap.run()
    sa = f"projects/{bootstrap.project}/serviceAccounts/{email(bootstrap, 'relay-preview')}"
    members = [
        d.inputs["member"] for d in run.of_type(SA_MEMBER) if d.inputs["serviceAccountId"] == sa
    ]
    assert members == [
        f"principal://iam.googleapis.com/projects/{bootstrap.number}/locations/global/"
        f"workloadIdentityPools/github-actions/subject/owner_id:{bootstrap.owner_id}:"
        f"repository_id:{bootstrap.repository_id}:event_name:pull_request"
    ]


def test_previewer_is_read_only_on_dev_and_has_nothing_on_prod(bootstrap):
    run = bootstrap.run(stackProjects=SPLIT)
    roles = run.project_roles(email(bootstrap, "relay-preview", "acme-relay-dev"))
    assert set(roles) == {("acme-relay-dev", role) for role in PREVIEWER_ROLES}
    assert set(PREVIEWER_ROLES) == {"roles/viewer"}


def test_each_deployer_is_granted_only_on_its_stacks_project(bootstrap):
    run = bootstrap.run(stackProjects=SPLIT)
    dev = run.project_roles(email(bootstrap, "relay-deploy-dev", "acme-relay-dev"))
    prod = run.project_roles(email(bootstrap, "relay-deploy-prod", "acme-relay-prod"))
    assert {project for project, _ in dev} == {"acme-relay-dev"}
    assert {project for project, _ in prod} == {"acme-relay-prod"}


def test_each_account_lives_in_the_project_it_works_on(bootstrap):
    # A service account's API calls count against its own project, where the main program
    # enables the APIs; the pool stays in gcp:project.
    run = bootstrap.run(stackProjects=SPLIT)
    assert run.account("relay-deploy-dev").inputs["project"] == "acme-relay-dev"
    assert run.account("relay-deploy-prod").inputs["project"] == "acme-relay-prod"
    assert run.account("relay-preview").inputs["project"] == "acme-relay-dev"
    pool = run.one("gcp:iam/workloadIdentityPool:WorkloadIdentityPool")
    assert pool.inputs["project"] == bootstrap.project


def test_outputs_the_repository_variables_for_pulumi_cloud(bootstrap):
    variables = bootstrap.run().outputs["repository_variables"]
    assert set(variables) == {
        "GCP_WORKLOAD_IDENTITY_PROVIDER",
        "GCP_DEPLOY_SERVICE_ACCOUNTS",
        "GCP_PREVIEW_SERVICE_ACCOUNT",
    }
    assert variables["GCP_WORKLOAD_IDENTITY_PROVIDER"] == (
        f"projects/{bootstrap.number}/locations/global/workloadIdentityPools/github-actions/"
        "providers/github"
    )
    assert json.loads(variables["GCP_DEPLOY_SERVICE_ACCOUNTS"]) == {
        "dev": email(bootstrap, "relay-deploy-dev"),
        "prod": email(bootstrap, "relay-deploy-prod"),
    }
    assert variables["GCP_PREVIEW_SERVICE_ACCOUNT"] == email(bootstrap, "relay-preview")


def test_discovered_extra_stack_gets_its_own_deployer(bootstrap):
    run = bootstrap.run(stacks='["dev", "staging", "prod"]')
    accounts = json.loads(run.outputs["repository_variables"]["GCP_DEPLOY_SERVICE_ACCOUNTS"])
    assert accounts["staging"] == email(bootstrap, "relay-deploy-staging")


def test_gcs_backend_outputs_the_bucket_and_one_kms_key_per_stack(bootstrap):
    run = bootstrap.run(stateBackend="gcs")
    assert run.outputs["repository_variables"]["PULUMI_BACKEND_URL"].startswith("gs://")
    providers = run.outputs["secrets_providers"]
    assert set(providers) == {"dev", "prod"}
    assert providers["prod"].startswith("gcpkms://projects/acme-ci/locations/us-central1/")
    assert providers["prod"].endswith("/cryptoKeys/stack-prod")


def test_gcs_backend_previewer_reaches_devs_key_and_state_only(bootstrap):
    run = bootstrap.run(stateBackend="gcs")
    member = f"serviceAccount:{email(bootstrap, 'relay-preview')}"
    keys = [d.inputs for d in run.of_type(KEY_MEMBER) if d.inputs["member"] == member]
    assert [(k["cryptoKeyId"].rsplit("/", 1)[-1], k["role"]) for k in keys] == [
        ("stack-dev", "roles/cloudkms.cryptoKeyDecrypter")
    ]
    state = [d.inputs for d in run.of_type(BUCKET_MEMBER) if d.inputs["member"] == member]
    assert {s["role"] for s in state} == {"roles/storage.objectViewer"}
    conditions = " ".join(s["condition"]["expression"] for s in state)
    assert "/jam-fin-relay/dev" in conditions
    assert "prod" not in conditions


def test_gcs_backend_dev_deployer_cannot_reach_prods_key(bootstrap):
    run = bootstrap.run(stateBackend="gcs")
    member = f"serviceAccount:{email(bootstrap, 'relay-deploy-dev')}"
    keys = {
        d.inputs["cryptoKeyId"] for d in run.of_type(KEY_MEMBER) if d.inputs["member"] == member
    }
    assert keys == {
        "projects/acme-ci/locations/us-central1/keyRings/jam-fin-relay-state/cryptoKeys/stack-dev"
    }


def test_missing_repository_fails_before_any_resource(bootstrap):
    run = bootstrap.run(githubRepository=None)
    assert run.error is not None
    assert "githubRepository" in str(run.error)
    assert "pulumi config set githubRepository" in str(run.error)
    assert run.declared == []


def test_stack_projects_for_an_unknown_stack_is_refused(bootstrap):
    run = bootstrap.run(stackProjects="qa=acme-relay-qa")
    assert run.error is not None
    assert "'qa=acme-relay-qa'" in str(run.error)


def test_template_prompts_for_exactly_the_required_keys(bootstrap):
    project = yaml.safe_load((REPO / "bootstrap" / "Pulumi.yaml").read_text())
    prompted = set(project["template"]["config"])
    assert prompted == {"gcp:project", "githubRepository", "githubOwnerId", "githubRepositoryId"}
    # Each prompted key is required: leaving it out fails; declared config has defaults.
    for key in prompted:
        assert bootstrap.run(**{key: None}).error is not None, key
    assert all("default" in spec for spec in project["config"].values())


@pytest.mark.skipif(not PROC_FDS.is_dir(), reason="counts descriptors through Linux's /proc")
def test_repeated_runs_leave_no_file_descriptor_open(bootstrap):
    # Each run once left the mock monitor's worker-thread event loops open (ThreadLoops).
    bootstrap.run()
    bootstrap.between_runs()
    before = open_file_descriptors()
    for _ in range(4):
        assert bootstrap.run().error is None
        bootstrap.between_runs()
    assert open_file_descriptors() <= before


def test_the_apis_are_enabled_in_the_projects_that_call_them(bootstrap):
    # Federation calls the Security Token Service and IAM Service Account Credentials in the
    # pool's project; each deployer needs impersonation and Service Usage in its own project
    # before it can enable the rest (Google: Workload Identity Federation with deployment
    # pipelines, "Before you begin").
    run = bootstrap.run(stackProjects=SPLIT, stateBackend="gcs")
    services = run.of_type("gcp:projects/service:Service")
    enabled = {(d.inputs["project"], d.inputs["service"]) for d in services}
    stack_projects = ("acme-relay-dev", "acme-relay-prod")
    assert enabled == (
        {(bootstrap.project, api) for api in (*POOL_PROJECT_APIS, *GCS_BACKEND_APIS)}
        | {(project, api) for project in stack_projects for api in STACK_PROJECT_APIS}
    )
    assert {"sts.googleapis.com", "iamcredentials.googleapis.com", "iam.googleapis.com"} <= set(
        POOL_PROJECT_APIS
    )
    assert {
        "iam.googleapis.com",
        "iamcredentials.googleapis.com",
        "serviceusage.googleapis.com",
        "cloudresourcemanager.googleapis.com",
    } <= set(STACK_PROJECT_APIS)
    assert set(GCS_BACKEND_APIS) == {"storage.googleapis.com", "cloudkms.googleapis.com"}
    assert all(re.fullmatch(r"[a-z]+\.googleapis\.com", api) for _, api in enabled)
    assert all(d.inputs["disableOnDestroy"] is False for d in services)


def test_without_gcs_no_backend_api_is_enabled(bootstrap):
    run = bootstrap.run()
    enabled = {d.inputs["service"] for d in run.of_type("gcp:projects/service:Service")}
    assert enabled == set(POOL_PROJECT_APIS) | set(STACK_PROJECT_APIS)


def _role_name(role: str) -> str:
    return role.removeprefix("roles/").replace(".", "-").lower()


def test_resource_names_stay_what_existing_stacks_have(bootstrap):
    # Pulumi identifies a resource by its type and name: a renamed one is deleted and created
    # again (a service account with it, and every grant to it), so names never change.
    run = bootstrap.run(stateBackend="gcs")
    names = {(d.type.rsplit(":", 1)[1], d.name) for d in run.declared}
    apis = {
        ("Service", f"github-api-acme-ci-{api.split('.')[0]}")
        for api in (*POOL_PROJECT_APIS, *STACK_PROJECT_APIS, *GCS_BACKEND_APIS)
    }
    identities = {
        (kind, f"github-{who}{suffix}")
        for who in ("deployer-dev", "deployer-prod", "previewer")
        for kind, suffix in (("Account", ""), ("IAMMember", "-federated"))
    }
    roles = {
        ("IAMMember", f"github-deployer-{stack}-{_role_name(role)}")
        for stack in ("dev", "prod")
        for role in (*DEPLOYER_ROLES, *PREFLIGHT_ROLES)
    } | {("IAMMember", "github-previewer-viewer")}
    state = {
        ("Bucket", "github-state"),
        ("KeyRing", "github-state-keys"),
        ("CryptoKey", "github-state-key-dev"),
        ("CryptoKey", "github-state-key-prod"),
        ("CryptoKeyIAMMember", "github-state-key-dev-deployer"),
        ("CryptoKeyIAMMember", "github-state-key-prod-deployer"),
        ("CryptoKeyIAMMember", "github-state-key-dev-previewer"),
    } | {
        ("BucketIAMMember", f"github-state-{who}-{part}")
        for who in ("deployer-dev", "deployer-prod", "previewer")
        for part in ("stack", "meta")
    }
    component = {("GitHubDeploy", "github")}
    other = {
        ("WorkloadIdentityPool", "github-pool"),
        ("WorkloadIdentityPoolProvider", "github-provider"),
    }
    assert names == apis | identities | roles | state | component | other
    assert ("IAMMember", "github-deployer-prod-resourcemanager-projectiamadmin") in names


def test_the_state_bucket_is_private_uniform_and_versioned(bootstrap):
    bucket = bootstrap.run(stateBackend="gcs", location="europe-west1").one(
        "gcp:storage/bucket:Bucket"
    )
    assert bucket.inputs["project"] == bootstrap.project
    assert bucket.inputs["location"] == "EUROPE-WEST1"
    assert bucket.inputs["uniformBucketLevelAccess"] is True
    assert bucket.inputs["publicAccessPrevention"] == "enforced"
    assert bucket.inputs["versioning"] == {"enabled": True}


def test_the_state_keys_are_protected_and_named_per_stack(bootstrap):
    # Losing a stack's key loses its secrets: `pulumi destroy` must not take it.
    run = bootstrap.run(stateBackend="gcs", location="europe-west1")
    ring = run.one("gcp:kms/keyRing:KeyRing")
    assert (ring.inputs["name"], ring.inputs["location"]) == ("jam-fin-relay-state", "europe-west1")
    assert ring.inputs["project"] == bootstrap.project
    keys = run.of_type("gcp:kms/cryptoKey:CryptoKey")
    assert {k.inputs["name"] for k in keys} == {"stack-dev", "stack-prod"}
    assert all(k.protect for k in keys)
    assert not any(d.protect for d in run.declared if d.type != "gcp:kms/cryptoKey:CryptoKey")


def test_conditions_carry_titles_that_say_what_they_allow(bootstrap):
    run = bootstrap.run(stateBackend="gcs")
    grant = run.project_roles(email(bootstrap, "relay-deploy-dev"))[
        (bootstrap.project, "roles/resourcemanager.projectIamAdmin")
    ]
    assert grant.inputs["condition"]["title"] == "grants the relay's build roles only"
    titles = {d.name: d.inputs["condition"]["title"] for d in run.of_type(BUCKET_MEMBER)}
    assert titles["github-state-deployer-prod-stack"] == "stack prod state only"
    assert titles["github-state-previewer-stack"] == "stack dev state only"
    assert titles["github-state-deployer-dev-meta"] == "list the bucket and read meta.yaml"


def test_only_the_grant_role_carries_a_condition(bootstrap):
    run = bootstrap.run()
    conditioned = {
        d.inputs["role"]
        for d in run.of_type("gcp:projects/iAMMember:IAMMember")
        if d.inputs.get("condition")
    }
    assert conditioned == {"roles/resourcemanager.projectIamAdmin"}


def test_names_and_descriptions_say_whose_they_are(bootstrap):
    run = bootstrap.run()
    pool = run.one("gcp:iam/workloadIdentityPool:WorkloadIdentityPool")
    assert pool.inputs["description"] == "GitHub Actions of acme/jam-fin-relay"
    assert pool.inputs["displayName"] == "GitHub Actions"
    assert run.one(PROVIDER).inputs["displayName"] == "GitHub"
    deployer = run.account("relay-deploy-prod")
    assert deployer.inputs["displayName"] == "relay-deploy-prod"
    assert deployer.inputs["description"] == (
        "Deploys stack prod of acme/jam-fin-relay from GitHub Actions"
    )
    assert run.account("relay-preview").inputs["description"] == (
        "Read-only pull-request previews of stack dev of acme/jam-fin-relay"
    )


def test_everything_waits_for_the_apis_it_calls(bootstrap):
    run = bootstrap.run(stateBackend="gcs")
    apis = {d.urn for d in run.of_type("gcp:projects/service:Service")}
    waiting = [
        "gcp:iam/workloadIdentityPool:WorkloadIdentityPool",
        "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider",
        "gcp:serviceaccount/account:Account",
        "gcp:storage/bucket:Bucket",
        "gcp:kms/keyRing:KeyRing",
    ]
    for kind in waiting:
        for declared in run.of_type(kind):
            assert apis <= set(declared.dependencies), declared.name


def test_gcs_backend_deployers_hold_their_own_key_and_state_with_write_roles(bootstrap):
    # A deployer encrypts and decrypts its stack's secrets and writes its state; the previewer
    # only decrypts and reads (the previewer's roles are checked above).
    run = bootstrap.run(stateBackend="gcs")
    member = f"serviceAccount:{email(bootstrap, 'relay-deploy-prod')}"
    keys = [d.inputs for d in run.of_type(KEY_MEMBER) if d.inputs["member"] == member]
    assert [(k["cryptoKeyId"].rsplit("/", 1)[-1], k["role"]) for k in keys] == [
        ("stack-prod", "roles/cloudkms.cryptoKeyEncrypterDecrypter")
    ]
    state = {
        d.name.rsplit("-", 1)[1]: d.inputs["role"]
        for d in run.of_type(BUCKET_MEMBER)
        if d.inputs["member"] == member
    }
    assert state == {"stack": "roles/storage.objectAdmin", "meta": "roles/storage.objectViewer"}


GOLDEN_ROLES = Path(__file__).parent / "golden" / "role-reasons.json"


def test_the_roles_and_their_reasons_are_outputs_as_reviewed(bootstrap):
    """`pulumi stack output deployer_roles` shows why each deployer holds each role, and
    `organization_roles` what an administrator grants by hand; the reviewed text is in
    tests/bootstrap/golden/role-reasons.json (after a deliberate change:
    UPDATE_GOLDEN=1 pytest tests/bootstrap/test_bootstrap_program.py, then review the diff)."""
    outputs = bootstrap.run().outputs
    shown = {k: outputs[k] for k in ("deployer_roles", "organization_roles")}
    assert set(shown["deployer_roles"]) == set(DEPLOYER_ROLES) | set(PREFLIGHT_ROLES)
    text = json.dumps(shown, indent=1, sort_keys=True) + "\n"
    assert_matches_golden(GOLDEN_ROLES, text)


def test_every_resource_belongs_to_the_component(bootstrap):
    """Children with parent=self: `pulumi stack` shows them under github, and a rename of the
    component moves them together."""
    run = bootstrap.run(stateBackend="gcs", stackProjects=SPLIT)
    [component] = [d for d in run.declared if d.type == COMPONENT_TYPE]
    children = [d for d in run.declared if d.type != COMPONENT_TYPE]
    assert children
    assert {d.parent for d in children} == {component.urn}


def test_the_component_registers_its_outputs_by_name(bootstrap, monkeypatch):
    registered = record_registered_outputs(monkeypatch)
    run = bootstrap.run(stateBackend="gcs")
    [(_, outputs)] = registered["GitHubDeploy"]
    assert set(outputs) == {"repository_variables", "secrets_providers"}
    assert set(run.outputs["secrets_providers"]) == {"dev", "prod"}

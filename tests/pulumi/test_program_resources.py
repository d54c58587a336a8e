"""What ``__main__.py`` declares for a valid file and stack: every resource and its wiring.

All values are collected from the mock monitor after the program and its outputs resolved, so
each assertion below runs on concrete strings (the mocks compute emails, URLs, versions).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from relay_function.naming import intercom_url_env, signing_secret_env

FUNCTION = "gcp:cloudfunctionsv2/function:Function"
SECRET = "gcp:secretmanager/secret:Secret"
VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
GRANT = "gcp:secretmanager/secretIamMember:SecretIamMember"
SERVICE = "gcp:projects/service:Service"
ACCOUNT = "gcp:serviceaccount/account:Account"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
RELAY = "jam-fin-relay:index:Relay"
ROUTE = "jam-fin-relay:index:WorkflowRoute"
ALERTING = "jam-fin-relay:index:RelayAlerting"

TWO_KEYS = ("billingHandoffIntercomUrl", "bugReportTriageIntercomUrl")


@pytest.fixture
def two(kit):
    """two.yaml on dev: both URLs set, only billing-handoff's Jam signing secret set."""
    secrets = kit.secrets(*TWO_KEYS, signing=("billingHandoffJamSecret",))
    run = kit.run("dev", kit.fixtures / "two.yaml", secrets=secrets)
    assert run.error is None, run.error
    return run, secrets


def test_resource_counts_by_type(two):
    run, _ = two
    assert run.count_by_type() == Counter(
        {
            RELAY: 1,
            ROUTE: 2,
            ALERTING: 1,
            SERVICE: 9,
            ACCOUNT: 2,
            SECRET: 4,  # two per workflow
            VERSION: 3,  # two URLs + the one signing secret that is configured
            GRANT: 4,  # one per secret
            PROJECT_MEMBER: 3,  # build account: logs, artifacts, staging-bucket read
            "gcp:storage/bucketIAMMember:BucketIAMMember": 1,
            "gcp:storage/bucket:Bucket": 1,
            "gcp:storage/bucketObject:BucketObject": 1,
            FUNCTION: 1,
            INVOKER: 1,
            "gcp:logging/metric:Metric": 1,
        }
    )


def test_children_are_parented_to_components(two):
    run, _ = two
    relay = run.one(RELAY)
    components = {d.urn: d.type for d in run.declared if not d.custom}
    for declared in run.declared:
        if declared.type == RELAY:
            continue
        assert components.get(declared.parent) in {RELAY, ROUTE, ALERTING}, declared.name
        assert declared.name.startswith(f"{relay.name}-"), declared.name
    for route in run.of_type(ROUTE):
        assert route.parent == relay.urn
        children = [d for d in run.declared if d.parent == route.urn]
        assert len(children) >= 5
        assert all(d.name.startswith(route.name + "-") for d in children)


def test_apis_enabled_and_everything_depends_on_them(two):
    run, _ = two
    services = run.of_type(SERVICE)
    assert {s.inputs["service"] for s in services} == {
        "iam.googleapis.com",
        "cloudresourcemanager.googleapis.com",
        "cloudfunctions.googleapis.com",
        "run.googleapis.com",
        "cloudbuild.googleapis.com",
        "artifactregistry.googleapis.com",
        "secretmanager.googleapis.com",
        "logging.googleapis.com",
        "monitoring.googleapis.com",
    }
    assert all(s.inputs["disableOnDestroy"] is False for s in services)
    service_urns = {s.urn for s in services}
    dependants = [d for d in run.declared if d.custom and d.type != SERVICE]
    assert len(dependants) > 15
    for declared in dependants:
        assert service_urns <= set(declared.dependencies), declared.name


def _runtime_email(run) -> str:
    email = run.one(ACCOUNT, "relay-runtime-sa").state["email"]
    assert isinstance(email, str)
    return email


@pytest.mark.parametrize("workflow_id", ["billing-handoff", "bug-report-triage"])
def test_each_workflow_has_its_secrets_versions_and_grants(two, kit, workflow_id):
    run, secrets = two
    key = kit.camel(workflow_id, "IntercomUrl")
    url_secret = run.one(SECRET, f"relay-{workflow_id}-intercom-url")
    signing_secret = run.one(SECRET, f"relay-{workflow_id}-jam-signing-secret")
    assert url_secret.inputs["secretId"] == f"jam-fin-relay-dev-{workflow_id}-intercom-url"
    assert url_secret.inputs["replication"] == {"auto": {}}

    url_version = run.one(VERSION, f"relay-{workflow_id}-intercom-url")
    assert url_version.inputs["secret"] == url_secret.id
    assert url_secret.id == f"projects/{kit.gcp_project}/secrets/{url_secret.inputs['secretId']}"
    assert url_version.inputs["secretData"] == secrets[key]
    assert "secretData" in url_version.secret_inputs  # kept secret in Pulumi state

    member = f"serviceAccount:{_runtime_email(run)}"
    for secret in (url_secret, signing_secret):
        grant = run.one(GRANT, f"{secret.name}-accessor")
        assert grant.inputs["role"] == "roles/secretmanager.secretAccessor"
        assert grant.inputs["member"] == member
        assert grant.inputs["secretId"] == secret.id  # this secret alone
        assert grant.parent == url_secret.parent  # the workflow's own route component


def test_signing_secret_version_only_once_configured(two, kit):
    run, secrets = two
    configured = run.one(VERSION, "relay-billing-handoff-jam-signing-secret")
    assert configured.inputs["secretData"] == secrets["billingHandoffJamSecret"]
    assert "secretData" in configured.secret_inputs
    assert not [d for d in run.of_type(VERSION) if d.name.startswith("relay-bug-report-triage-jam")]


def test_no_project_wide_secret_role_and_runtime_account_has_no_project_role(two):
    run, _ = two
    runtime_member = f"serviceAccount:{_runtime_email(run)}"
    for member in run.of_type(PROJECT_MEMBER):
        assert "secretmanager" not in member.inputs["role"]
        assert member.inputs["member"] != runtime_member
    grants = run.of_type(GRANT)
    assert grants
    assert all(g.inputs["member"] == runtime_member for g in grants)


def test_build_account_roles_and_use(two):
    run, _ = two
    build = run.one(ACCOUNT, "relay-build-sa")
    member = f"serviceAccount:{build.state['email']}"
    roles = {m.inputs["role"]: m for m in run.of_type(PROJECT_MEMBER)}
    assert set(roles) == {
        "roles/logging.logWriter",
        "roles/artifactregistry.writer",
        "roles/storage.objectViewer",
    }
    assert all(m.inputs["member"] == member for m in roles.values())
    staging = roles["roles/storage.objectViewer"].inputs["condition"]["expression"]
    assert "gcf-v2-sources-" in staging
    bucket_read = run.one("gcp:storage/bucketIAMMember:BucketIAMMember")
    assert bucket_read.inputs["member"] == member
    assert bucket_read.inputs["bucket"] == run.one("gcp:storage/bucket:Bucket").state["name"]
    function = run.one(FUNCTION)
    assert function.inputs["buildConfig"]["serviceAccount"] == build.state["name"]
    assert build.state["name"].startswith("projects/acme-support-dev/serviceAccounts/")


def test_function_runtime_env_and_limits(two, kit):
    run, _ = two
    function = run.one(FUNCTION)
    build = function.inputs["buildConfig"]
    service = function.inputs["serviceConfig"]
    assert function.inputs["name"] == "jam-fin-relay-dev"
    assert function.inputs["location"] == kit.region
    assert build["runtime"] == "python312"
    assert build["entryPoint"] == "relay"
    source = run.one("gcp:storage/bucketObject:BucketObject")
    assert build["source"]["storageSource"] == {
        "bucket": run.one("gcp:storage/bucket:Bucket").state["name"],
        "object": source.state["outputName"],
    }
    assert json.loads(service["environmentVariables"]["RELAY_ROUTES"]) == {
        "billing-handoff": {
            "events": ["intercom.recorder.recorded", "intercom.recorder.opted_out"]
        },
        "bug-report-triage": {"events": ["intercom.recorder.recorded"]},
    }
    assert " " not in service["environmentVariables"]["RELAY_ROUTES"]  # compact
    assert service["serviceAccountEmail"] == _runtime_email(run)
    assert service["availableMemory"] == "256Mi"
    assert service["availableCpu"] == "1"
    assert service["timeoutSeconds"] == 30
    assert service["minInstanceCount"] == 0
    assert service["maxInstanceCount"] == 10
    assert service["maxInstanceRequestConcurrency"] == 16
    assert service["ingressSettings"] == "ALLOW_ALL"


def test_secret_env_vars_are_pinned_to_created_versions(two, kit):
    run, _ = two
    env = {
        e["key"]: e for e in run.one(FUNCTION).inputs["serviceConfig"]["secretEnvironmentVariables"]
    }
    expected = {
        intercom_url_env("billing-handoff"): "relay-billing-handoff-intercom-url",
        signing_secret_env("billing-handoff"): "relay-billing-handoff-jam-signing-secret",
        intercom_url_env("bug-report-triage"): "relay-bug-report-triage-intercom-url",
    }
    assert set(env) == set(expected)
    for name, resource in expected.items():
        version = run.one(VERSION, resource)
        secret = run.one(SECRET, resource)
        assert env[name]["secret"] == secret.inputs["secretId"]
        assert env[name]["projectId"] == kit.gcp_project
        assert env[name]["version"] == version.state["version"]
        assert env[name]["version"].isdigit()
        assert env[name]["version"] != "latest"


def test_function_depends_on_every_secret_grant(two):
    run, _ = two
    function = run.one(FUNCTION)
    grants = {g.urn for g in run.of_type(GRANT)}
    assert len(grants) == 4
    assert grants <= set(function.dependencies)
    build_grants = {m.urn for m in run.of_type(PROJECT_MEMBER)}
    assert build_grants <= set(function.dependencies)


def test_public_invoker_on_the_cloud_run_service(two, kit):
    run, _ = two
    invoker = run.one(INVOKER)
    function = run.one(FUNCTION)
    assert invoker.inputs["name"] == function.state["serviceConfig"]["service"]
    assert invoker.inputs["name"].endswith("/services/jam-fin-relay-dev")
    assert invoker.inputs["role"] == "roles/run.invoker"
    assert invoker.inputs["member"] == "allUsers"
    assert invoker.inputs["location"] == kit.region
    assert not [d for d in run.declared if "cloudfunctions.invoker" in str(d.inputs)]


def test_labels_on_everything_that_takes_them(kit):
    secrets = kit.secrets(*TWO_KEYS)
    run = kit.run(
        "dev",
        kit.fixtures / "two.yaml",
        config={"labels": "team=support,cost-center=cx"},
        secrets=secrets,
    )
    assert run.error is None, run.error
    labelled = [d for d in run.declared if "labels" in d.inputs or "userLabels" in d.inputs]
    types = {d.type for d in labelled}
    assert {SECRET, FUNCTION, "gcp:storage/bucket:Bucket"} <= types
    for declared in labelled:
        labels = declared.inputs.get("labels") or declared.inputs["userLabels"]
        assert labels["app"] == "jam-fin-relay"
        assert labels["stack"] == "dev"
        assert labels["team"] == "support"
        assert labels["cost-center"] == "cx"


def test_settings_from_config_reach_the_function(kit):
    run = kit.run(
        "prod",
        kit.fixtures / "one.yaml",
        config={
            "functionName": "support-relay",
            "memory": "512Mi",
            "cpu": "2",
            "timeoutSeconds": "20",
            "minInstances": "1",
            "maxInstances": "4",
            "concurrency": "40",
            "ingress": "ALLOW_INTERNAL_AND_GCLB",
            "runtime": "python313",
        },
        secrets=kit.secrets("billingHandoffIntercomUrl"),
    )
    assert run.error is None, run.error
    function = run.one(FUNCTION)
    service = function.inputs["serviceConfig"]
    assert function.inputs["name"] == "support-relay"
    assert function.inputs["buildConfig"]["runtime"] == "python313"
    assert (service["availableMemory"], service["availableCpu"]) == ("512Mi", "2")
    assert service["timeoutSeconds"] == 20
    assert (service["minInstanceCount"], service["maxInstanceCount"]) == (1, 4)
    assert service["maxInstanceRequestConcurrency"] == 40
    assert service["ingressSettings"] == "ALLOW_INTERNAL_AND_GCLB"
    assert run.outputs["relay_url"] == f"https://support-relay-{kit.run_hash}-ew.a.run.app"

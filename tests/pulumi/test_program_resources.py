"""What ``__main__.py`` declares for a valid file and stack: every resource and its wiring.

All values are collected from the mock monitor after the program and its outputs resolved, so
each assertion below runs on concrete strings (the mocks compute emails, URLs, versions).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from infra import urls
from relay_function.naming import intercom_url_env, signing_secret_env
from tests.golden import assert_matches_golden
from tests.pulumi_mocks import record_registered_outputs

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
SLEEP = "time:index/sleep:Sleep"
BUCKET = "gcp:storage/bucket:Bucket"

TWO_KEYS = ("billingHandoffIntercomUrl", "bugReportTriageIntercomUrl")


@pytest.fixture
def two(kit):
    """two.yaml on dev: both URLs set, only billing-handoff's Jam signing secret set."""
    secrets = kit.secrets(*TWO_KEYS, signing=("billingHandoffJamSecret",))
    run = kit.run("dev", kit.fixtures / "two.yaml", secrets=secrets)
    assert run.error is None, run.error
    return run, secrets


def _outside_alerting(run) -> Counter[str]:
    """Resource counts, minus what the alerting component declares (test_monitoring*.py)."""
    alerting = {d.urn for d in run.of_type(ALERTING)}
    inside = set(alerting)
    for declared in run.declared:  # parents are declared before their children
        if declared.parent in inside:
            inside.add(declared.urn)
    return Counter(d.type for d in run.declared if d.urn not in inside or d.type == ALERTING)


def test_resource_counts_by_type(two):
    run, _ = two
    assert _outside_alerting(run) == Counter(
        {
            RELAY: 1,
            ROUTE: 2,
            ALERTING: 1,
            SERVICE: 10,
            ACCOUNT: 2,
            SECRET: 4,  # two per workflow
            VERSION: 3,  # two URLs + the one signing secret that is configured
            GRANT: 4,  # one per secret
            PROJECT_MEMBER: 1,  # build account: roles/run.builder
            SLEEP: 2,  # the API and IAM propagation waits
            BUCKET: 1,
            "gcp:storage/bucketObject:BucketObject": 1,
            FUNCTION: 1,
            INVOKER: 1,
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
        "storage.googleapis.com",  # the source bucket (issue 19.6)
    }
    assert all(s.inputs["disableOnDestroy"] is False for s in services)
    assert all(s.inputs["project"] == "acme-support-dev" for s in services)
    # Resource names are state: a renamed one is a new resource, and the old one is deleted.
    assert {s.name: s.inputs["service"].split(".")[0] for s in services} == {
        f"relay-api-{api}": api
        for api in (
            "iam",
            "cloudresourcemanager",
            "cloudfunctions",
            "run",
            "cloudbuild",
            "artifactregistry",
            "secretmanager",
            "logging",
            "monitoring",
            "storage",
        )
    }
    service_urns = {s.urn for s in services}
    api_wait = run.one(SLEEP, "relay-api-propagation")
    assert set(api_wait.dependencies) == service_urns
    dependants = [d for d in run.declared if d.custom and d.type != SERVICE and d is not api_wait]
    assert len(dependants) > 15
    for declared in dependants:
        assert service_urns <= set(declared.dependencies), declared.name
        assert api_wait.urn in declared.dependencies, declared.name


def test_the_api_wait_is_two_minutes_after_enablement(two):
    """Google's SERVICE_DISABLED error: "If you enabled this API recently, wait a few minutes
    for the action to propagate to our systems and retry" (terraform-provider-google #1538);
    the provider does not retry (terraform-provider-google #11023, DefangLabs/defang #1978)."""
    run, _ = two
    wait = run.one(SLEEP, "relay-api-propagation")
    assert wait.inputs["createDuration"] == "120s"
    assert wait.parent == run.one(RELAY).urn


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
    assert url_secret.inputs["secretId"] == f"jam-fin-relay-dev_{workflow_id}_intercom-url_global"
    assert signing_secret.inputs["secretId"] == (
        f"jam-fin-relay-dev_{workflow_id}_jam-signing-secret_global"
    )
    assert url_secret.inputs["replication"] == {"auto": {}}
    assert signing_secret.inputs["replication"] == {"auto": {}}
    assert url_secret.inputs["labels"]["workflow"] == workflow_id

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


def test_build_account_has_the_documented_builder_role_only(two):
    run, _ = two
    build = run.one(ACCOUNT, "relay-build-sa")
    member = f"serviceAccount:{build.state['email']}"
    grant = run.one(PROJECT_MEMBER)
    assert grant.inputs["role"] == "roles/run.builder"
    assert grant.inputs["member"] == member
    assert grant.inputs["project"] == "acme-support-dev"
    assert (
        build.state["email"] == "jam-fin-relay-dev-build@acme-support-dev.iam.gserviceaccount.com"
    )
    assert "condition" not in grant.inputs
    assert not run.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
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
    assert set(service["environmentVariables"]) == {"RELAY_ROUTES", "THREADS"}
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
    # The mocks number each secret's versions apart (as rotations do), so the pin above tells
    # one secret's version from another's.
    assert len({e["version"] for e in env.values()}) == len(env)


def test_the_signing_secret_is_pinned_to_its_own_version_not_the_url_secrets(two):
    """Issue 20: a bug pinning the signing secret to the Intercom-URL secret's version."""
    run, _ = two
    env = {
        e["key"]: e for e in run.one(FUNCTION).inputs["serviceConfig"]["secretEnvironmentVariables"]
    }
    signing = env[signing_secret_env("billing-handoff")]
    url_version = run.one(VERSION, "relay-billing-handoff-intercom-url").state["version"]
    signing_version = run.one(VERSION, "relay-billing-handoff-jam-signing-secret").state["version"]
    assert url_version != signing_version
    assert signing["version"] == signing_version
    assert signing["secret"].endswith("_jam-signing-secret_global")


def test_function_waits_for_the_iam_wait_which_waits_for_every_grant(two):
    run, _ = two
    function = run.one(FUNCTION)
    wait = run.one(SLEEP, "relay-iam-propagation")
    assert wait.urn in function.dependencies
    grants = {g.urn for g in run.of_type(GRANT)}
    assert len(grants) == 4
    build_grants = {m.urn for m in run.of_type(PROJECT_MEMBER)}
    assert len(build_grants) == 1
    assert grants | build_grants <= set(wait.dependencies)
    assert wait.inputs["createDuration"] == "180s"  # the documented default
    assert wait.parent == run.one(RELAY).urn
    assert run.one(SLEEP, "relay-api-propagation").urn in wait.dependencies


def test_source_bucket_keeps_replaced_archives_30_days_and_never_the_live_one(two):
    run, _ = two
    bucket = run.one(BUCKET)
    assert bucket.inputs["versioning"] == {"enabled": True}
    (rule,) = bucket.inputs["lifecycleRules"]
    assert rule["action"] == {"type": "Delete"}
    assert rule["condition"]["withState"] == "ARCHIVED"  # noncurrent versions only
    assert rule["condition"]["daysSinceNoncurrentTime"] == 30
    assert "age" not in rule["condition"]


def test_public_invoker_on_the_cloud_run_service(two, kit):
    # docs/deploy.md ("Public access"): publicAccess=allUsers (the default) grants
    # roles/run.invoker to allUsers on the function's own Cloud Run service.
    run, _ = two
    invoker = run.one(INVOKER)
    function = run.one(FUNCTION)
    assert invoker.inputs["name"] == function.state["serviceConfig"]["service"]
    # Google's format for serviceConfig.service (Cloud Functions v2 API, ServiceConfig.service).
    assert invoker.inputs["name"] == (
        f"projects/{kit.gcp_project}/locations/{kit.region}/services/jam-fin-relay-dev"
    )
    assert invoker.inputs["role"] == "roles/run.invoker"
    assert invoker.inputs["member"] == "allUsers"
    assert invoker.inputs["location"] == kit.region
    assert not [d for d in run.declared if "cloudfunctions.invoker" in str(d.inputs)]


def test_public_invoker_failure_comes_with_its_fix(two):
    run, _ = two
    (message,) = [m for m in run.infos if "allUsers" in m]
    assert "domain-restricted sharing" in message
    assert "docs/deploy.md" in message
    assert "publicAccess none" in message


def test_public_invoker_refusal_names_the_policy_exception_mode_as_the_one_line_fix(two):
    run, _ = two
    (message,) = [m for m in run.infos if "allUsers" in m]
    assert "`pulumi config set publicAccess allUsersWithPolicyException`" in message
    assert "roles/orgpolicy.policyAdmin" in message  # what the deploying identity then needs


def test_public_access_none_declares_no_invoker_grant(kit):
    run = kit.run(
        "dev",
        kit.fixtures / "one.yaml",
        config={"publicAccess": "none"},
        secrets=kit.secrets("billingHandoffIntercomUrl"),
    )
    assert run.error is None, run.error
    assert run.of_type(INVOKER) == []
    assert not [d for d in run.declared if "allUsers" in str(d.inputs)]
    assert run.outputs["relay_url"] == urls.relay_url(
        kit.gcp_project, kit.region, "jam-fin-relay-dev"
    )


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
    assert service["environmentVariables"]["THREADS"] == "40"  # one thread per request
    assert service["ingressSettings"] == "ALLOW_INTERNAL_AND_GCLB"
    assert run.outputs["relay_url"] == (
        f"https://{kit.region}-{kit.gcp_project}.cloudfunctions.net/support-relay"
    )


# --- publicAccess allUsersWithPolicyException (docs/deploy.md, "Public access") -------------

ORG_POLICY = "gcp:orgpolicy/policy:Policy"
POLICY_WAIT = "relay-org-policy-propagation"


_PUBLIC_RUNS: dict[tuple[str, tuple[tuple[str, str], ...]], object] = {}


def _public_run(kit, mode: str, **config: str):
    """One run per mode and settings, kept for the module (the records are plain data)."""
    key = (mode, tuple(sorted(config.items())))
    if key not in _PUBLIC_RUNS:
        run = kit.run(
            "dev",
            kit.fixtures / "one.yaml",
            config={"publicAccess": mode, **config},
            secrets=kit.secrets("billingHandoffIntercomUrl"),
        )
        assert run.error is None, run.error
        _PUBLIC_RUNS[key] = run
    return _PUBLIC_RUNS[key]


EXCEPTION = "allUsersWithPolicyException"


LEGACY_POLICY = "relay-public-access-exception"
MANAGED_POLICY = "relay-public-access-exception-managed"


def test_policy_exception_exempts_the_legacy_list_constraint_with_allow_all(kit):
    """restrict-domains: iam.allowedPolicyMemberDomains is the legacy list constraint; a list
    constraint's rule is allowAll, and only list constraints take inheritFromParent (Org Policy
    v2, PolicySpec)."""
    run = _public_run(kit, EXCEPTION)
    policy = run.one(ORG_POLICY, LEGACY_POLICY)
    assert policy.inputs["name"] == (
        f"projects/{kit.gcp_project}/policies/iam.allowedPolicyMemberDomains"
    )
    assert policy.inputs["parent"] == f"projects/{kit.gcp_project}"
    # Allow all values of this one constraint; the organisation's list is not merged in.
    assert policy.inputs["spec"] == {"rules": [{"allowAll": "TRUE"}], "inheritFromParent": False}
    assert policy.parent == run.one(RELAY).urn


def test_policy_exception_turns_off_the_managed_constraint_with_enforce_false(kit):
    """restrict-domains lists iam.managed.allowedPolicyMembers first; a managed constraint's
    rule is `enforce` (Org Policy v2 PolicyRule: "can be set in policies for boolean
    constraints, custom constraints and managed constraints"), its parameters needed only when
    enforced, and it takes no inheritFromParent."""
    run = _public_run(kit, EXCEPTION)
    policy = run.one(ORG_POLICY, MANAGED_POLICY)
    assert policy.inputs["name"] == (
        f"projects/{kit.gcp_project}/policies/iam.managed.allowedPolicyMembers"
    )
    assert policy.inputs["parent"] == f"projects/{kit.gcp_project}"
    assert policy.inputs["spec"] == {"rules": [{"enforce": "FALSE"}]}
    assert policy.parent == run.one(RELAY).urn
    assert len(run.of_type(ORG_POLICY)) == 2


def test_policy_exception_grant_waits_for_the_wait_which_waits_for_both_policies(kit):
    run = _public_run(kit, EXCEPTION)
    wait = run.one(SLEEP, POLICY_WAIT)
    invoker = run.one(INVOKER)
    for policy in run.of_type(ORG_POLICY):
        assert policy.urn in wait.dependencies, policy.name
    assert wait.urn in invoker.dependencies
    assert invoker.inputs["member"] == "allUsers"
    assert invoker.inputs["role"] == "roles/run.invoker"
    assert invoker.name == "relay-public-invoker"  # the same grant as in allUsers mode


def test_policy_wait_is_googles_documented_15_minutes_by_default(kit):
    run = _public_run(kit, EXCEPTION)
    assert run.one(SLEEP, POLICY_WAIT).inputs["createDuration"] == "900s"


def test_policy_wait_duration_is_a_stack_setting(kit):
    run = _public_run(kit, EXCEPTION, orgPolicyPropagationSeconds="1200")
    assert run.one(SLEEP, POLICY_WAIT).inputs["createDuration"] == "1200s"


def test_policy_wait_is_re_armed_only_by_the_policies_themselves(kit):
    # Its triggers are each policy's name and rule: equal on every `up` that does not change
    # them, so an ordinary `up` never waits; another project's policies are another wait.
    first = _public_run(kit, EXCEPTION).one(SLEEP, POLICY_WAIT).inputs["triggers"]
    longer = _public_run(kit, EXCEPTION, orgPolicyPropagationSeconds="1200")
    assert longer.one(SLEEP, POLICY_WAIT).inputs["triggers"] == first
    moved = _public_run(kit, EXCEPTION, **{"gcp:project": "acme-relay-prod"})
    assert moved.one(SLEEP, POLICY_WAIT).inputs["triggers"] != first
    project = f"projects/{kit.gcp_project}/policies"
    assert first == {
        "iam.managed.allowedPolicyMembers": f"{project}/iam.managed.allowedPolicyMembers "
        "enforce=FALSE",
        "iam.allowedPolicyMemberDomains": f"{project}/iam.allowedPolicyMemberDomains "
        "allow_all=TRUE",
    }


def test_policy_wait_is_re_armed_when_either_exemption_changes(kit, monkeypatch):
    """Issue 19.4: the propagation wait re-arms when either exemption changes."""
    from infra import relay

    first = _public_run(kit, EXCEPTION).one(SLEEP, POLICY_WAIT).inputs["triggers"]
    for index, exception in enumerate(relay.POLICY_EXCEPTIONS):
        changed = list(relay.POLICY_EXCEPTIONS)
        changed[index] = relay.ConstraintException(
            exception.constraint,
            exception.rule_field,
            "TRUE" if exception.rule_value == "FALSE" else "FALSE",
            exception.is_list_constraint,
        )
        monkeypatch.setattr(relay, "POLICY_EXCEPTIONS", tuple(changed))
        triggers = relay.exception_triggers(kit.gcp_project)
        assert triggers != first, exception.constraint
        assert triggers[exception.constraint] != first[exception.constraint]


def test_org_policy_api_is_enabled_only_in_the_policy_exception_mode(kit):
    apis = {s.inputs["service"] for s in _public_run(kit, EXCEPTION).of_type(SERVICE)}
    assert "orgpolicy.googleapis.com" in apis
    for mode in ("allUsers", "none"):
        apis = {s.inputs["service"] for s in _public_run(kit, mode).of_type(SERVICE)}
        assert "orgpolicy.googleapis.com" not in apis, mode


def test_the_policies_wait_for_the_org_policy_api(kit):
    run = _public_run(kit, EXCEPTION)
    api = next(s for s in run.of_type(SERVICE) if s.inputs["service"] == "orgpolicy.googleapis.com")
    for policy in run.of_type(ORG_POLICY):
        assert api.urn in policy.dependencies
        assert run.one(SLEEP, "relay-api-propagation").urn in policy.dependencies


@pytest.mark.parametrize("mode", ["allUsers", "none"])
def test_no_org_policy_and_no_policy_wait_in_the_other_modes(kit, mode):
    run = _public_run(kit, mode)
    assert run.of_type(ORG_POLICY) == []
    assert {d.name for d in run.of_type(SLEEP)} == {
        "relay-api-propagation",
        "relay-iam-propagation",
    }


def test_policy_exception_mode_says_what_it_opens_and_the_role_it_needs(kit):
    run = _public_run(kit, EXCEPTION)
    (message,) = [m for m in run.infos if "organization policy" in m]
    assert "iam.managed.allowedPolicyMembers not enforced" in message
    assert "iam.allowedPolicyMemberDomains allow all" in message
    assert "roles/orgpolicy.policyAdmin" in message
    assert "organisation" in message
    assert "allUsers" in message
    # The refusal hint of plain allUsers mode is not shown: the grant should now succeed.
    assert not [m for m in run.infos if "Fix, in one line" in m]


# --- What the components register, and where a hint is shown ----------------------------------


def test_components_register_their_outputs_under_documented_names(kit, monkeypatch):
    """Registered outputs are what `pulumi stack --show-urns` and the console show for each
    component; each is the component's own value, never a secret's value."""
    by_kind = record_registered_outputs(monkeypatch)
    secrets = kit.secrets(*TWO_KEYS, signing=("billingHandoffJamSecret",))
    run = kit.run("dev", kit.fixtures / "two.yaml", secrets=secrets)
    assert run.error is None, run.error

    [(relay, relay_outputs)] = by_kind["Relay"]
    assert relay_outputs == {
        "relay_url": relay.relay_url,
        "cloud_run_url": relay.cloud_run_url,
        "endpoints": relay.endpoints,
        "runtime_service_account": relay.runtime_service_account,
        "build_service_account": relay.build_service_account,
    }
    [(alerting, alerting_outputs)] = by_kind["RelayAlerting"]
    assert alerting_outputs == {
        "metric_name": alerting.metric_name,
        "dashboard_url": alerting.dashboard_url,
        **alerting.policy_names,
    }
    routes = by_kind["WorkflowRoute"]
    assert len(routes) == 2
    for route, outputs in routes:
        assert outputs == {
            "intercom_url_secret": route.intercom_url_secret_id,
            "jam_signing_secret": route.signing_secret_id,
            "jam_signing_secret_set": route.signing_secret_version is not None,
        }
    assert sorted(outputs["jam_signing_secret_set"] for _, outputs in routes) == [False, True]


@pytest.fixture
def shown(monkeypatch):
    """Every pulumi.log.info of the run, with the resource it is shown beside."""
    import pulumi

    logged: list[tuple[str, object]] = []
    real = pulumi.log.info

    def info(msg, resource=None, stream_id=None, ephemeral=None):
        logged.append((msg, resource))
        return real(msg, resource, stream_id, ephemeral)

    monkeypatch.setattr(pulumi.log, "info", info)
    return logged


def test_the_public_access_hint_is_shown_beside_the_invoker_grant(kit, shown):
    """A refused allUsers grant fails on that resource; the hint is logged on it too, so
    `pulumi up` prints the fix next to the error."""
    import pulumi

    run = kit.run(
        "dev", kit.fixtures / "one.yaml", secrets=kit.secrets("billingHandoffIntercomUrl")
    )
    assert run.error is None, run.error

    [(message, resource)] = [(m, r) for m, r in shown if "allUsers" in m]
    assert message.startswith(
        "The relay is made public with roles/run.invoker for allUsers on its Cloud Run service. "
    )
    assert isinstance(resource, pulumi.CustomResource)
    assert resource._name == run.one(INVOKER).name


def test_the_secret_location_hint_is_shown_beside_the_first_secret(kit, shown):
    """A location policy refuses the first secret first; the fix is logged on it."""
    import pulumi

    secrets = kit.secrets(*TWO_KEYS, signing=("billingHandoffJamSecret",))
    run = kit.run("dev", kit.fixtures / "two.yaml", secrets=secrets)
    assert run.error is None, run.error

    [(message, resource)] = [(m, r) for m, r in shown if "global" in m]
    assert message.startswith("The workflow secrets use automatic replication")
    assert isinstance(resource, pulumi.CustomResource)
    first_url_secret = sorted(
        s.name for s in run.of_type(SECRET) if s.inputs["secretId"].endswith("_intercom-url_global")
    )[0]
    assert resource._name == first_url_secret


def test_the_source_bucket_and_archive_and_function_settings_that_keep_deploys_working(two):
    run, _ = two
    bucket = run.one(BUCKET)
    # Only generated archives live there, so `pulumi destroy` may empty it.
    assert bucket.inputs["forceDestroy"] is True
    assert bucket.inputs["publicAccessPrevention"] == "enforced"
    archive = run.one("gcp:storage/bucketObject:BucketObject")
    assert archive.inputs["contentType"] == "application/zip"
    # Every deploy sends all traffic to the new revision, so a fix takes effect at once.
    function = run.one(FUNCTION).inputs
    assert function["serviceConfig"]["allTrafficOnLatestRevision"] is True
    assert function["description"] == (
        "Verifies Jam webhooks and forwards them to Intercom Fin workflows"
    )


def test_each_service_account_says_what_it_is_for(two):
    run, _ = two
    accounts = {a.name: a.inputs for a in run.of_type(ACCOUNT)}
    assert {
        n: (i["accountId"], i["displayName"], i["description"]) for n, i in accounts.items()
    } == {
        "relay-runtime-sa": (
            "jam-fin-relay-dev-run",
            "jam-fin-relay-dev relay runtime",
            "Runs the Jam to Intercom relay; reads only its own workflow secrets.",
        ),
        "relay-build-sa": (
            "jam-fin-relay-dev-build",
            "jam-fin-relay-dev relay build",
            "Cloud Build identity for the relay's function builds.",
        ),
    }


# What the program tells the person running `pulumi up` (infos and warnings), as reviewed.
GOLDEN_MESSAGES = Path(__file__).parent / "golden" / "program-messages.md"


def test_what_the_program_says_reads_as_reviewed(kit):
    """The hints beside resources and the warnings are the fix a user gets when Google refuses
    something; the reviewed text is in tests/pulumi/golden/program-messages.md. After changing
    it on purpose: UPDATE_GOLDEN=1 pytest tests/pulumi/test_program_resources.py."""
    two = kit.secrets(*TWO_KEYS, signing=("billingHandoffJamSecret",))
    one = kit.secrets("billingHandoffIntercomUrl")
    scenarios = {
        "two workflows, one without its Jam secret": kit.run(
            "dev", kit.fixtures / "two.yaml", secrets=two
        ),
        "policy exception, user-managed secrets": kit.run(
            "dev",
            kit.fixtures / "one.yaml",
            config={
                "publicAccess": "allUsersWithPolicyException",
                "secretReplication": "userManaged",
            },
            secrets=one,
        ),
        "grantCallerActAs, credentials without an email": kit.run(
            "dev",
            kit.fixtures / "one.yaml",
            config={"grantCallerActAs": "true"},
            secrets=one,
            caller="",
        ),
        "a URL written in the workflows file": kit.run("dev", kit.fixtures / "literal.yaml"),
    }
    parts = []
    for title, run in scenarios.items():
        assert run.error is None, (title, run.error)
        parts += [f"## {title}", ""]
        parts += [f"info: {m}" for m in run.infos]
        parts += [f"warning: {m}" for m in run.warnings]
        parts.append("")
    text = "\n".join(parts).replace(str(kit.repo), "REPO")  # the same from any checkout
    assert_matches_golden(GOLDEN_MESSAGES, text)

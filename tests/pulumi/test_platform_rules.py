"""Google's rules the whole program must meet, under mocks that answer (and refuse) as Google does.

Each test's docstring names its source. Pure rules (ids, labels, regions, the JSON-path matcher)
are tested without the engine in tests/platform/.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra import urls
from infra.relay import ACT_AS_ROLE, SECRET_LOCATION_HELP, grant_key, set_triggers
from relay_function.naming import signing_secret_env

FUNCTION = "gcp:cloudfunctionsv2/function:Function"
SECRET = "gcp:secretmanager/secret:Secret"
GRANT = "gcp:secretmanager/secretIamMember:SecretIamMember"
ACCOUNT = "gcp:serviceaccount/account:Account"
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
SERVICE = "gcp:projects/service:Service"
SLEEP = "time:index/sleep:Sleep"
IAM_WAIT = "relay-iam-propagation"
API_WAIT = "relay-api-propagation"
URL_KEY = "billingHandoffIntercomUrl"
EXCEPTION = "allUsersWithPolicyException"


def _one(kit: Any, stack: str = "dev", **config: str) -> Any:
    return kit.run(stack, kit.fixtures / "one.yaml", config=config, secrets=kit.secrets(URL_KEY))


def _ok(run: Any) -> Any:
    assert run.error is None, run.error
    return run


def _write_adc(home: Path, document: dict[str, str]) -> None:
    folder = home / ".config" / "gcloud"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "application_default_credentials.json").write_text(json.dumps(document))


USER_ADC = {"type": "authorized_user", "client_id": "x", "refresh_token": "y"}


# --- 19.3: the Org Policy API's quota project ------------------------------------------------


def test_policy_exception_with_user_adc_and_no_quota_project_fails_before_any_resource(
    kit, no_credentials
):
    """terraform-provider-google #18281, pulumi-gcp #2032, terraform-google-org-policy #94:
    with user credentials the Org Policy API needs GOOGLE_CLOUD_QUOTA_PROJECT."""
    _write_adc(no_credentials, USER_ADC)
    run = _one(kit, publicAccess=EXCEPTION)
    assert run.error is not None
    assert run.declared == []
    message = str(run.error)
    assert f"export GOOGLE_CLOUD_QUOTA_PROJECT={kit.gcp_project}" in message
    assert "authorized_user" in message


def test_the_quota_project_variable_lets_user_adc_deploy_the_exception(
    kit, no_credentials, monkeypatch
):
    """terraform-google-org-policy #94: GOOGLE_CLOUD_QUOTA_PROJECT is what works."""
    _write_adc(no_credentials, USER_ADC)
    monkeypatch.setenv("GOOGLE_CLOUD_QUOTA_PROJECT", kit.gcp_project)
    _ok(_one(kit, publicAccess=EXCEPTION))


@pytest.mark.parametrize("kind", ["service_account", "external_account"])
def test_ci_credentials_deploy_the_exception_without_a_quota_project(
    kit, no_credentials, monkeypatch, kind
):
    """https://cloud.google.com/docs/quotas/quota-project: a service account's calls bill its own
    project; CI's Workload Identity Federation writes an external_account file."""
    _write_adc(no_credentials, USER_ADC)  # a person's ADC too: the key file wins
    key = no_credentials / "ci.json"
    key.write_text(json.dumps({"type": kind}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    _ok(_one(kit, publicAccess=EXCEPTION))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("gcp:impersonateServiceAccount", "deployer@acme-relay.iam.gserviceaccount.com"),
        ("gcp:credentials", json.dumps({"type": "service_account"})),
    ],
    ids=["impersonate", "key"],
)
def test_the_providers_own_stack_config_counts_before_a_persons_adc(
    kit, no_credentials, key, value
):
    """The provider reads `gcp:credentials` and `gcp:impersonateServiceAccount` from the stack
    before ADC (Pulumi's Google Cloud provider configuration page): calls then run as that
    service account, whose own project pays, so no quota project is needed."""
    _write_adc(no_credentials, USER_ADC)
    _ok(_one(kit, publicAccess=EXCEPTION, **{key: value}))


def test_user_adc_needs_no_quota_project_without_the_exception(kit, no_credentials):
    """Only the policy exception calls the Org Policy API."""
    _write_adc(no_credentials, USER_ADC)
    _ok(_one(kit))


# --- 19.6: freshly enabled APIs --------------------------------------------------------------


def test_the_api_wait_triggers_change_exactly_with_the_api_set(kit):
    """DefangLabs/defang #1978, terraform-provider-google #11023: the wait is armed only when
    the set of enabled APIs changes, like the IAM wait."""
    base = _ok(_one(kit)).one(SLEEP, API_WAIT).inputs["triggers"]
    apis = {s.inputs["service"] for s in _ok(_one(kit)).of_type(SERVICE)}
    assert base == set_triggers(sorted(apis), "apis")
    assert base["count"] == "10"
    # Settings, workflows and other stacks' names do not touch the set: no new wait.
    same = [
        _one(kit, iamPropagationSeconds="60", functionName="support-relay"),
        _one(kit, publicAccess="none", secretReplication="userManaged"),
        kit.run(
            "dev",
            kit.fixtures / "two.yaml",
            secrets=kit.secrets(URL_KEY, "bugReportTriageIntercomUrl"),
        ),
    ]
    for run in same:
        assert _ok(run).one(SLEEP, API_WAIT).inputs["triggers"] == base
    # The policy exception adds the Org Policy API: the set changes, the wait re-arms.
    more = _ok(_one(kit, publicAccess=EXCEPTION)).one(SLEEP, API_WAIT).inputs["triggers"]
    assert more != base
    assert more["count"] == "11"


# --- 19.7 / 19.8: secret ids and locations ---------------------------------------------------


def _single(tmp_path: Path, workflow_id: str) -> Path:
    file = tmp_path / f"{workflow_id}.yaml"
    file.write_text(
        "version: 1\nworkflows:\n"
        f"  - id: {workflow_id}\n"
        "    intercom_webhook_url: {config: theIntercomUrl}\n"
    )
    return file


def test_two_stacks_in_one_project_never_share_a_secret_id(kit, tmp_path):
    """Issue 19.7: stack prod + workflow eu-billing and stack prod-eu + workflow billing gave one
    id; Secret Manager ids are unique per project (CreateSecretRequest.secret_id), so the second
    stack's `up` failed with ALREADY_EXISTS."""
    secrets = {"theIntercomUrl": kit.intercom_url.format(0)}
    first = _ok(kit.run("prod", _single(tmp_path, "eu-billing"), secrets=secrets))
    second = _ok(kit.run("prod-eu", _single(tmp_path, "billing"), secrets=secrets))
    ids_first = {s.inputs["secretId"] for s in first.of_type(SECRET)}
    ids_second = {s.inputs["secretId"] for s in second.of_type(SECRET)}
    assert len(ids_first) == len(ids_second) == 2
    assert not ids_first & ids_second
    assert "jam-fin-relay-prod_eu-billing_intercom-url_global" in ids_first
    assert "jam-fin-relay-prod-eu_billing_intercom-url_global" in ids_second


def test_user_managed_replication_keeps_one_replica_in_the_region(kit):
    """firebase-tools #6454: an organisation's gcp.resourceLocations refuses `global`, where
    automatic replication creates secrets; user-managed replication names the location."""
    run = _ok(_one(kit, secretReplication="userManaged"))
    secrets = run.of_type(SECRET)
    assert len(secrets) == 2
    for secret in secrets:
        assert secret.inputs["replication"] == {
            "userManaged": {"replicas": [{"location": kit.region}]}
        }
        assert secret.inputs["secretId"].endswith(f"_{kit.region}")
    assert not [m for m in run.infos if m == SECRET_LOCATION_HELP]


def test_automatic_replication_names_the_location_fix_beside_the_first_secret(kit):
    """firebase-tools #6454: the refusal reads 'Constraint constraints/gcp.resourceLocations
    violated ... [global]'; the fix is shown beside the resource it would refuse."""
    run = _ok(_one(kit))
    (message,) = [m for m in run.infos if m == SECRET_LOCATION_HELP]
    assert "`pulumi config set secretReplication userManaged`" in message
    assert "gcp.resourceLocations" in message


def test_a_replication_change_gives_new_ids_and_re_arms_the_iam_wait(kit):
    """Issue 19.8 migration: replication cannot change in place and a reused id makes
    create-before-delete fail with ALREADY_EXISTS, so new ids, whose grants the wait covers."""
    automatic = _ok(_one(kit))
    managed = _ok(_one(kit, secretReplication="userManaged"))
    moved = _ok(_one(kit, secretReplication="userManaged", **{"gcp:region": "us-central1"}))
    ids = [{s.inputs["secretId"] for s in run.of_type(SECRET)} for run in (automatic, managed)]
    assert not ids[0] & ids[1]
    triggers = [r.one(SLEEP, IAM_WAIT).inputs["triggers"] for r in (automatic, managed, moved)]
    assert triggers[0] != triggers[1] != triggers[2] != triggers[0]
    assert triggers[0]["count"] == triggers[1]["count"] == "3"


def test_the_new_id_scheme_re_arms_the_iam_wait_of_an_existing_stack(kit):
    """Issue 19.7 migration: every stack's secrets get new ids once, and the wait re-arms for
    their grants. The old scheme was <function>-<workflow>-<suffix>."""
    run = _ok(_one(kit))
    old_keys = [
        grant_key("roles/run.builder", "build", f"project:{kit.gcp_project}"),
        *(
            grant_key(
                "roles/secretmanager.secretAccessor",
                "runtime",
                f"secret:jam-fin-relay-dev-billing-handoff-{suffix}",
            )
            for suffix in ("intercom-url", "jam-signing-secret")
        ),
    ]
    assert run.one(SLEEP, IAM_WAIT).inputs["triggers"] != set_triggers(old_keys, "grants")


# --- 19.7(c): the longest values the loader and settings accept ------------------------------

LONGEST_FUNCTION = "f" + "-x" * 30 + "9z"  # 63 characters
LONGEST_WORKFLOW = "w" + "-y" * 19 + "9"  # 40 characters


def test_the_longest_accepted_names_pass_googles_rules(kit, tmp_path):
    """CreateSecretRequest.secret_id (255, [A-Za-z0-9_-]); projects.serviceAccounts.create
    (6-30, [a-z]([-a-z0-9]*[a-z0-9])); LogMetric.name (100); labels (64 per resource): the mocks
    refuse as Google would, so any name over a limit fails this run."""
    assert (len(LONGEST_FUNCTION), len(LONGEST_WORKFLOW)) == (63, 40)
    labels = ",".join(f"{'k' * 60}{i:02d}={'v' * 63}" for i in range(60))  # 60 + 4 own = 64
    run = kit.run(
        "dev",
        _single(tmp_path, LONGEST_WORKFLOW),
        config={
            "functionName": LONGEST_FUNCTION,
            "secretReplication": "userManaged",
            "gcp:region": "northamerica-northeast1",
            "labels": labels,
            "alertNotificationChannels": json.dumps(
                [f"projects/{kit.gcp_project}/notificationChannels/1"]
            ),
        },
        secrets={"theIntercomUrl": kit.intercom_url.format(0)},
    )
    _ok(run)
    assert len(run.of_type("gcp:logging/metric:Metric")) == 3
    ids = [s.inputs["secretId"] for s in run.of_type(SECRET)]
    assert max(len(i) for i in ids) == len(
        f"{LONGEST_FUNCTION}_{LONGEST_WORKFLOW}_jam-signing-secret_northamerica-northeast1"
    )
    accounts = [a.inputs["accountId"] for a in run.of_type(ACCOUNT)]
    assert all(len(a) <= 30 for a in accounts)
    assert len(set(accounts)) == 2
    labelled = [d for d in run.declared if "labels" in d.inputs]
    assert max(len(d.inputs["labels"]) for d in labelled) == 64


def test_the_mocks_refuse_a_name_google_refuses(kit):
    """The mocks are only a check if they refuse: an id over 30 characters for a service
    account fails the run as projects.serviceAccounts.create would."""
    from tests.pulumi_mocks import GoogleRefusalError, check_names

    with pytest.raises(GoogleRefusalError):
        check_names("gcp:serviceaccount/account:Account", {"accountId": "a" * 31})
    with pytest.raises(GoogleRefusalError):
        check_names("gcp:secretmanager/secret:Secret", {"secretId": "a.b"})
    with pytest.raises(GoogleRefusalError):
        check_names("gcp:storage/bucket:Bucket", {"labels": {f"k{i}": "" for i in range(65)}})
    check_names("gcp:storage/bucket:Bucket", {"labels": {f"k{i}": "" for i in range(64)}})


# --- 20.2: realistic answers, and outputs that do not depend on them (21.1) -------------------


def test_exported_urls_are_the_deterministic_ones_not_the_hash_bearing_uri(kit):
    """Issue 21.1 and Cloud Functions' "HTTP triggers": the exported URLs are
    https://REGION-PROJECT.cloudfunctions.net/FUNCTION, whatever Cloud Run's URI is."""
    run = _ok(
        kit.run(
            "dev",
            kit.fixtures / "two.yaml",
            secrets=kit.secrets(URL_KEY, "bugReportTriageIntercomUrl"),
        )
    )
    uri = run.one(FUNCTION).state["serviceConfig"]["uri"]
    assert uri.startswith("https://jam-fin-relay-dev-")
    assert uri.endswith("-ew.a.run.app")
    base = urls.relay_url(kit.gcp_project, kit.region, "jam-fin-relay-dev")
    assert run.outputs["relay_url"] == base
    expected = {w: urls.endpoint_url(base, w) for w in ("billing-handoff", "bug-report-triage")}
    assert run.outputs["endpoints"] == expected
    for workflow_id, setup in run.outputs["jam_setup"].items():
        assert setup["endpoint_url"] == expected[workflow_id]
    assert "run.app" not in json.dumps(
        {k: run.outputs[k] for k in ("relay_url", "endpoints", "jam_setup")}
    )
    assert run.outputs["cloud_run_url"] == uri


def test_service_accounts_live_in_the_stacks_project(kit):
    """projects.serviceAccounts: ACCOUNT_ID@PROJECT_ID.iam.gserviceaccount.com."""
    run = _ok(_one(kit, **{"gcp:project": "acme-relay-prod"}))
    for account in run.of_type(ACCOUNT):
        assert account.inputs["project"] == "acme-relay-prod"
        assert account.state["email"] == (
            f"{account.inputs['accountId']}@acme-relay-prod.iam.gserviceaccount.com"
        )
    function = run.one(FUNCTION)
    assert function.inputs["serviceConfig"]["serviceAccountEmail"] == (
        "jam-fin-relay-dev-run@acme-relay-prod.iam.gserviceaccount.com"
    )


def test_secret_env_pins_each_secret_to_a_version_of_that_secret(kit):
    """Secret Manager numbers versions per secret: the version pinned for each variable is
    one the mocks created for that secret (its name carries the secret's id)."""
    secrets = kit.secrets(URL_KEY, signing=("billingHandoffJamSecret",))
    run = _ok(kit.run("dev", kit.fixtures / "one.yaml", secrets=secrets))
    versions = {
        v.inputs["secret"].rsplit("/", 1)[-1]: v.state["version"]
        for v in run.of_type("gcp:secretmanager/secretVersion:SecretVersion")
    }
    env = run.one(FUNCTION).inputs["serviceConfig"]["secretEnvironmentVariables"]
    assert len(env) == 2
    for variable in env:
        assert variable["version"] == versions[variable["secret"]]
    assert len(set(versions.values())) == 2
    signing = next(e for e in env if e["key"] == signing_secret_env("billing-handoff"))
    assert signing["secret"] == "jam-fin-relay-dev_billing-handoff_jam-signing-secret_global"


# --- 21.4: grantCallerActAs -----------------------------------------------------------------

ALICE = "alice@acme.example"
BOB = "bob@acme.example"
CI = "relay-deploy-dev@acme-ci.iam.gserviceaccount.com"


def _as(kit: Any, caller: str, grant: str = "true") -> Any:
    return _ok(
        kit.run(
            "dev",
            kit.fixtures / "one.yaml",
            config={"grantCallerActAs": grant},
            secrets=kit.secrets(URL_KEY),
            caller=caller,
        )
    )


def test_grant_caller_act_as_grants_the_person_on_both_accounts(kit):
    """https://cloud.google.com/iam/docs/service-accounts-actas: deploying a function that runs
    and builds as an account needs iam.serviceAccounts.actAs (roles/iam.serviceAccountUser)."""
    run = _as(kit, ALICE)
    grants = {g.name: g for g in run.of_type(SA_MEMBER)}
    assert set(grants) == {"relay-runtime-sa-caller-act-as", "relay-build-sa-caller-act-as"}
    accounts = {
        "runtime": run.one(ACCOUNT, "relay-runtime-sa"),
        "build": run.one(ACCOUNT, "relay-build-sa"),
    }
    for purpose, account in accounts.items():
        grant = grants[f"relay-{purpose}-sa-caller-act-as"]
        assert grant.inputs == {
            "serviceAccountId": account.state["name"],
            "role": ACT_AS_ROLE,
            "member": f"user:{ALICE}",
        }
    wait = run.one(SLEEP, IAM_WAIT)
    for grant in grants.values():
        assert grant.urn in wait.dependencies
    assert wait.urn in run.one(FUNCTION).dependencies
    assert wait.inputs["triggers"]["count"] == "5"  # build role, 2 secrets, 2 act-as


def test_another_person_s_up_moves_the_grant_and_re_arms_the_wait(kit):
    """The grant belongs to whoever ran the last `up` (docs/deploy.md)."""
    alice, bob = _as(kit, ALICE), _as(kit, BOB)
    assert {g.name for g in alice.of_type(SA_MEMBER)} == {g.name for g in bob.of_type(SA_MEMBER)}
    assert {g.inputs["member"] for g in bob.of_type(SA_MEMBER)} == {f"user:{BOB}"}
    assert (
        alice.one(SLEEP, IAM_WAIT).inputs["triggers"] != bob.one(SLEEP, IAM_WAIT).inputs["triggers"]
    )


def test_ci_s_up_removes_the_grant(kit):
    """A service account's email ends in .gserviceaccount.com: CI gets no grant, and the last
    person's is removed; the wait's set is then the one without the setting."""
    ci = _as(kit, CI)
    assert ci.of_type(SA_MEMBER) == []
    off = _as(kit, ALICE, grant="false")
    assert off.of_type(SA_MEMBER) == []
    assert ci.one(SLEEP, IAM_WAIT).inputs["triggers"] == off.one(SLEEP, IAM_WAIT).inputs["triggers"]
    assert any("is not a person" in m and CI in m for m in ci.infos)

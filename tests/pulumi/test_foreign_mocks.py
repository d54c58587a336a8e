"""The relay program under mocks another team would write (tests/pulumi/foreign_mocks.py).

Issue 19: "Independent checks, which you will not see, run the programs under their own mocks".
Issue 21: "Under mocks that answer as Google does (a Cloud Run URI carrying a hash), the program
exports the same URLs" as ``relayctl endpoints``. Each stack below runs under three mocks: one
that computes nothing (Pulumi's documented ``(name + "_id", inputs)`` and ``{}``), one that also
answers every invoke minimally, and one that answers as Google documents. What an outside
checker would assert must hold under all three: the run ends, failures are RunErrors before any
resource, the URLs are infra.urls', no secret leaks, and the key properties of the design hold.
Where a value needs Google's answer (a secret version's number, the run.app host), the check
is that the program uses exactly what the mock answered, and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.runtime import rpc

from infra import urls
from infra.relay import account_id
from infra.settings import WORKFLOW_LABEL
from relay_function.naming import intercom_url_env, signing_secret_env
from tests.pulumi.foreign_mocks import (
    BareMocks,
    ForeignRun,
    GoogleLikeMocks,
    MinimalAnswerMocks,
    Registration,
    no_credentials,
    run,
    strip_secret_parts,
)

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "__main__.py"
PROJECT = "jam-fin-relay"
GCP_PROJECT = "northwind-support"
PROJECT_NUMBER = "246813579024"
PERSON = "grace.hopper@northwind.example"
CI_ACCOUNT = "deployer-dev@northwind-ci.iam.gserviceaccount.com"

FUNCTION = "gcp:cloudfunctionsv2/function:Function"
ACCOUNT = "gcp:serviceaccount/account:Account"
ACCOUNT_GRANT = "gcp:serviceaccount/iAMMember:IAMMember"
PROJECT_GRANT = "gcp:projects/iAMMember:IAMMember"
SECRET = "gcp:secretmanager/secret:Secret"
VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_GRANT = "gcp:secretmanager/secretIamMember:SecretIamMember"
INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
SERVICE = "gcp:projects/service:Service"
SLEEP = "time:index/sleep:Sleep"
UPTIME = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
ACCESSOR = "roles/secretmanager.secretAccessor"
CHANNEL = f"projects/{GCP_PROJECT}/notificationChannels/1234567890"


def _intercom_url(n: int) -> str:
    return f"https://api.intercom.io/fin/workflows/webhooks/tok{n:03d}Zq8sEcReT"


def _jam_secret(n: int) -> str:
    return f"whsec_QmFzZTY0U2VjcmV0Rm9yVGVzdHM{n:03d}"


def _camel(workflow_id: str) -> str:
    head, *rest = workflow_id.split("-")
    return head + "".join(p.capitalize() for p in rest)


@dataclass(frozen=True)
class Stack:
    """One stack: its workflows (id -> signing secret set?), settings and who deploys."""

    name: str
    workflows: tuple[tuple[str, bool], ...]
    settings: dict[str, str] = field(default_factory=dict)
    region: str = "us-central1"
    caller: str | None = PERSON
    deployed_to: str = "dev"  # the stack the workflows list

    @property
    def secrets(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for n, (workflow_id, signed) in enumerate(self.workflows):
            values[_camel(workflow_id) + "IntercomUrl"] = _intercom_url(n)
            if signed:
                values[_camel(workflow_id) + "JamSecret"] = _jam_secret(n)
        return values

    @property
    def deployed(self) -> list[str]:
        return [w for w, _ in self.workflows] if self.deployed_to == "dev" else []

    @property
    def function_name(self) -> str:
        return f"{PROJECT}-dev"

    def workflows_yaml(self) -> str:
        entries = [
            {
                "id": workflow_id,
                "intercom_webhook_url": {"config": _camel(workflow_id) + "IntercomUrl"},
                "jam_signing_secret": {"config": _camel(workflow_id) + "JamSecret"},
                "stacks": [self.deployed_to],
            }
            for workflow_id, _ in self.workflows
        ]
        return yaml.safe_dump({"version": 1, "workflows": entries}, sort_keys=False)


TWO = (("billing-handoff", True), ("bug-report-triage", True))
STACKS = {
    s.name: s
    for s in (
        Stack("two-signed", TWO),
        Stack("one-unsigned", (("billing-handoff", True), ("bug-report-triage", False))),
        Stack("private", TWO, {"publicAccess": "none"}),
        Stack("policy-exception", TWO, {"publicAccess": "allUsersWithPolicyException"}),
        Stack(
            "alerts-eu",
            TWO,
            {"alertNotificationChannels": json.dumps([CHANNEL])},
            region="europe-west1",
        ),
        Stack("act-as-person", TWO, {"grantCallerActAs": "true"}),
        Stack("act-as-ci", TWO, {"grantCallerActAs": "true"}, caller=CI_ACCOUNT),
        Stack("act-as-nobody", TWO, {"grantCallerActAs": "true"}, caller=None),
        Stack("user-managed", TWO, {"secretReplication": "userManaged"}, region="us-east1"),
        Stack("no-workflows", TWO, deployed_to="prod"),
        Stack("many", tuple((f"workflow-{n:02d}", n % 3 != 0) for n in range(24))),
    )
}
MOCKS: dict[str, Callable[[Stack], BareMocks]] = {
    "bare": lambda s: BareMocks(),
    "minimal": lambda s: MinimalAnswerMocks(s.caller, GCP_PROJECT, PROJECT_NUMBER, s.region),
    "google": lambda s: GoogleLikeMocks(s.caller, GCP_PROJECT, PROJECT_NUMBER, s.region),
}
CASES = [(m, s) for m in MOCKS for s in STACKS]
PREVIEW_CASES = [(m, s) for m in ("bare", "google") for s in ("two-signed", "act-as-person")]


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., ForeignRun]:
    """Runs ``(mocks, stack, preview)`` once per module; later asks get the same run."""
    folder = tmp_path_factory.mktemp("foreign")
    home = tmp_path_factory.mktemp("home")
    done: dict[tuple[str, str, bool], ForeignRun] = {}

    def get(mocks: str, stack: str, preview: bool = False) -> ForeignRun:
        key = (mocks, stack, preview)
        if key not in done:
            chosen = STACKS[stack]
            path = folder / f"{stack}.yaml"
            path.write_text(chosen.workflows_yaml())
            config = {
                "gcp:project": GCP_PROJECT,
                "gcp:region": chosen.region,
                "workflowsFile": str(path),
                **chosen.settings,
            }
            with no_credentials(home):
                done[key] = run(
                    MAIN,
                    project=PROJECT,
                    stack="dev",
                    mocks=MOCKS[mocks](chosen),
                    config=config,
                    secrets=chosen.secrets,
                    preview=preview,
                )
        return done[key]

    return get


def _ok(result: ForeignRun) -> ForeignRun:
    assert result.error is None, repr(result.error)
    return result


def _email(account: Registration) -> str:
    """The account's email: Google's answer, else the documented form a checker knows."""
    answered = account.state.get("email")
    inputs = account.inputs
    return answered or f"{inputs['accountId']}@{inputs['project']}.iam.gserviceaccount.com"


def _account(result: ForeignRun, stack: Stack, purpose: str) -> Registration:
    wanted = account_id(stack.function_name, purpose)
    (found,) = [a for a in result.of_type(ACCOUNT) if a.inputs["accountId"] == wanted]
    return found


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _secret_values(stack: Stack) -> list[str]:
    return [*stack.secrets.values(), "whsec_"]


# --- The run ends, and the URLs are the deterministic ones ------------------------------------


@pytest.mark.parametrize(("mocks", "stack"), CASES)
def test_the_program_runs_to_the_end(program, mocks, stack):
    """No crash, no hang (the runner's deadline), under any mock."""
    result = _ok(program(mocks, stack))
    assert result.of_type(FUNCTION)


@pytest.mark.parametrize(("mocks", "stack"), CASES)
def test_relay_url_and_endpoints_are_infra_urls_never_the_run_app_uri(program, mocks, stack):
    """Issue 21.1: the outputs equal relayctl endpoints' URLs, whatever the mock answers."""
    chosen = STACKS[stack]
    result = _ok(program(mocks, stack))
    relay_url = urls.relay_url(GCP_PROJECT, chosen.region, chosen.function_name)
    assert result.outputs["relay_url"] == relay_url
    assert result.outputs["endpoints"] == {
        w: urls.endpoint_url(relay_url, w) for w in chosen.deployed
    }
    setup_urls = {w: s["endpoint_url"] for w, s in result.outputs["jam_setup"].items()}
    assert setup_urls == result.outputs["endpoints"]
    assert "run.app" not in json.dumps([relay_url, result.outputs["jam_setup"]])


@pytest.mark.parametrize(("mocks", "stack"), PREVIEW_CASES)
def test_a_preview_exports_the_same_urls(program, mocks, stack):
    """`pulumi preview`: computed outputs are unknown, the Endpoint URLs are not."""
    chosen = STACKS[stack]
    result = _ok(program(mocks, stack, preview=True))
    relay_url = urls.relay_url(GCP_PROJECT, chosen.region, chosen.function_name)
    assert result.outputs["relay_url"] == relay_url
    assert set(result.outputs["endpoints"].values()) == {
        urls.endpoint_url(relay_url, w) for w in chosen.deployed
    }


def test_the_google_like_answer_is_exported_only_as_cloud_run_url(program):
    result = _ok(program("google", "two-signed"))
    uri = result.one(FUNCTION).state["serviceConfig"]["uri"]
    assert uri == "https://jam-fin-relay-dev-abc123xyz-uc.a.run.app"
    assert result.outputs["cloud_run_url"] == uri
    assert uri not in json.dumps({k: v for k, v in result.outputs.items() if k != "cloud_run_url"})


# --- Secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("mocks", "stack"), CASES)
def test_no_secret_value_in_outputs_logs_or_non_secret_inputs(program, mocks, stack):
    """Guide: no secret (Intercom URL, signing secret) in a stack output or log line; a resource
    input that holds one is a Pulumi secret, so only secret-marked parts may contain it."""
    result = _ok(program(mocks, stack))
    visible = json.dumps(
        {
            "outputs": result.outputs,
            "logs": result.logs,
            "inputs": [strip_secret_parts(r.raw_inputs) for r in result.registrations],
        },
        default=str,
    )
    for value in _secret_values(STACKS[stack]):
        assert value not in visible


@pytest.mark.parametrize(("mocks", "stack"), CASES)
def test_every_secret_version_holds_its_value_as_a_pulumi_secret(program, mocks, stack):
    chosen = STACKS[stack]
    result = _ok(program(mocks, stack))
    versions = result.of_type(VERSION)
    assert all(rpc.is_rpc_secret(v.raw_inputs["secretData"]) for v in versions)
    held = sorted(v.inputs["secretData"] for v in versions)
    deployed = set(chosen.deployed)
    expected = [
        value
        for n, (w, signed) in enumerate(chosen.workflows)
        if w in deployed
        for value in ([_intercom_url(n)] + ([_jam_secret(n)] if signed else []))
    ]
    assert held == sorted(expected)


@pytest.mark.parametrize(("mocks", "stack"), CASES)
def test_each_secret_env_var_is_pinned_to_its_own_secrets_version(program, mocks, stack):
    """DESIGN: secrets injected pinned to the versions Pulumi created. The version number is
    Google's answer: the env var carries exactly what the mock answered for that secret's
    version (nothing, under a mock that computes nothing), never another secret's."""
    chosen = STACKS[stack]
    result = _ok(program(mocks, stack))
    env = result.one(FUNCTION).inputs["serviceConfig"].get("secretEnvironmentVariables", [])
    secrets_by_id = {s.id: s for s in result.of_type(SECRET)}
    version_of = {v.inputs["secret"]: v for v in result.of_type(VERSION)}
    expected_keys = {
        key
        for w, signed in chosen.workflows
        if w in chosen.deployed
        for key in [intercom_url_env(w)] + ([signing_secret_env(w)] if signed else [])
    }
    assert {e["key"] for e in env} == expected_keys
    for entry in env:
        (secret,) = [s for s in secrets_by_id.values() if s.inputs["secretId"] == entry["secret"]]
        workflow = secret.inputs["labels"][WORKFLOW_LABEL]
        kind = "intercom-url" if entry["key"] == intercom_url_env(workflow) else "jam-signing"
        assert entry["key"] in (intercom_url_env(workflow), signing_secret_env(workflow))
        assert kind in secret.inputs["secretId"]
        assert entry["projectId"] == secret.inputs["project"] == GCP_PROJECT
        assert entry.get("version") == version_of[secret.id].state.get("version")


def test_google_like_versions_differ_so_pinning_is_checked_for_real(program):
    env = _ok(program("google", "two-signed")).one(FUNCTION).inputs["serviceConfig"]
    versions = [e["version"] for e in env["secretEnvironmentVariables"]]
    assert len(set(versions)) == len(versions) == 4
    assert all(v.isdigit() for v in versions)


# --- Accounts and grants ----------------------------------------------------------------------


@pytest.mark.parametrize(("mocks", "stack"), CASES)
def test_function_runs_as_the_runtime_account_and_builds_as_the_build_account(
    program, mocks, stack
):
    """Runtime and build identities are the two accounts the program creates, in the forms the
    API takes (email for the runtime, projects/P/serviceAccounts/EMAIL for the build)."""
    chosen = STACKS[stack]
    result = _ok(program(mocks, stack))
    function = result.one(FUNCTION).inputs
    runtime = _email(_account(result, chosen, "run"))
    build = _email(_account(result, chosen, "build"))
    assert runtime != build
    assert function["serviceConfig"]["serviceAccountEmail"] == runtime
    assert function["buildConfig"]["serviceAccount"] == (
        f"projects/{GCP_PROJECT}/serviceAccounts/{build}"
    )


@pytest.mark.parametrize(("mocks", "stack"), CASES)
def test_no_grant_names_a_missing_member_or_account(program, mocks, stack):
    """Found under foreign mocks: `serviceAccount:None` members and a None build account when
    the answer carries no email. Every member and account reference is a real identity."""
    result = _ok(program(mocks, stack))
    grants = [r for r in result.resources if "member" in r.inputs]
    assert grants
    for grant in grants:
        member = grant.inputs["member"]
        assert member == "allUsers" or member.split(":", 1)[1].count("@") == 1, grant.name
        assert "None" not in member
    for grant in result.of_type(ACCOUNT_GRANT):
        assert grant.inputs["serviceAccountId"].startswith(f"projects/{GCP_PROJECT}/")


@pytest.mark.parametrize(("mocks", "stack"), CASES)
def test_secret_accessor_is_granted_on_each_secret_alone_to_the_runtime_account(
    program, mocks, stack
):
    chosen = STACKS[stack]
    result = _ok(program(mocks, stack))
    runtime = f"serviceAccount:{_email(_account(result, chosen, 'run'))}"
    secrets = result.of_type(SECRET)
    grants = result.of_type(SECRET_GRANT)
    assert len(secrets) == 2 * len(chosen.deployed)
    assert sorted(g.inputs["secretId"] for g in grants) == sorted(s.id for s in secrets)
    assert {(g.inputs["role"], g.inputs["member"]) for g in grants} <= {(ACCESSOR, runtime)}
    project_roles = {(g.inputs["role"], g.inputs["member"]) for g in result.of_type(PROJECT_GRANT)}
    assert all(role != ACCESSOR and member != runtime for role, member in project_roles)


@pytest.mark.parametrize(("mocks", "stack"), CASES)
def test_the_public_invoker_is_on_the_functions_cloud_run_service(program, mocks, stack):
    """DESIGN: roles/run.invoker for allUsers on the function's Cloud Run service; Google's
    answer names it (ServiceConfig.service), and where the answer lacks it the grant still
    names the function's own service, never an empty name."""
    chosen = STACKS[stack]
    result = _ok(program(mocks, stack))
    invokers = result.of_type(INVOKER)
    assert "cloudfunctions.invoker" not in json.dumps(
        [r.inputs for r in result.registrations], default=str
    )
    if chosen.settings.get("publicAccess") == "none":
        assert invokers == []
        return
    (invoker,) = invokers
    answered = result.one(FUNCTION).state.get("serviceConfig", {}).get("service")
    assert invoker.inputs["name"] == (answered or chosen.function_name)
    assert invoker.inputs["name"].rsplit("/", 1)[-1] == chosen.function_name
    assert (invoker.inputs["role"], invoker.inputs["member"]) == ("roles/run.invoker", "allUsers")
    assert (invoker.inputs["location"], invoker.inputs["project"]) == (chosen.region, GCP_PROJECT)


@pytest.mark.parametrize("mocks", list(MOCKS))
def test_grant_caller_act_as_gives_a_person_both_accounts(program, mocks):
    if mocks == "bare":  # `{}` for the userinfo invoke: nobody is named, so nobody is granted
        result = _ok(program(mocks, "act-as-person"))
        assert result.of_type(ACCOUNT_GRANT) == []
        assert any("no email" in line for _, line in result.logs)
        return
    chosen = STACKS["act-as-person"]
    result = _ok(program(mocks, "act-as-person"))
    grants = result.of_type(ACCOUNT_GRANT)
    expected = {
        f"projects/{GCP_PROJECT}/serviceAccounts/{_email(_account(result, chosen, p))}"
        for p in ("run", "build")
    }
    assert {g.inputs["serviceAccountId"] for g in grants} == expected
    assert {(g.inputs["role"], g.inputs["member"]) for g in grants} == {
        ("roles/iam.serviceAccountUser", f"user:{PERSON}")
    }


@pytest.mark.parametrize("mocks", list(MOCKS))
@pytest.mark.parametrize("stack", ["act-as-ci", "act-as-nobody", "two-signed"])
def test_no_act_as_grant_for_a_service_account_nobody_or_when_off(program, mocks, stack):
    assert _ok(program(mocks, stack)).of_type(ACCOUNT_GRANT) == []


# --- Ordering ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("mocks", "stack"), CASES)
def test_the_function_waits_for_the_iam_wait_which_waits_for_every_grant(program, mocks, stack):
    result = _ok(program(mocks, stack))
    (iam_wait,) = [s for s in result.of_type(SLEEP) if s.name.endswith("iam-propagation")]
    assert iam_wait.urn in result.one(FUNCTION).dependencies
    grants = [*result.of_type(SECRET_GRANT), *result.of_type(ACCOUNT_GRANT)]
    grants += [g for g in result.of_type(PROJECT_GRANT) if g.inputs["role"] == "roles/run.builder"]
    assert {g.urn for g in grants} <= set(iam_wait.dependencies)


@pytest.mark.parametrize(("mocks", "stack"), CASES)
def test_everything_waits_for_the_api_wait(program, mocks, stack):
    """DESIGN: depends_on from everything to the enabled APIs (and issue 19.6: their wait).
    Every Google resource names the wait itself; a Sleep (no Google call) reaches it through
    what it waits for."""
    result = _ok(program(mocks, stack))
    (api_wait,) = [s for s in result.of_type(SLEEP) if s.name.endswith("api-propagation")]
    services = {s.urn for s in result.of_type(SERVICE)}
    assert services <= set(api_wait.dependencies)

    def reaches(resource: Registration, seen: frozenset[str] = frozenset()) -> bool:
        if api_wait.urn in resource.dependencies:
            return True
        later = [result.by_urn(u) for u in resource.dependencies if u not in seen]
        return any(reaches(r, seen | {resource.urn}) for r in later)

    for resource in result.resources:
        if resource.type == SERVICE or resource is api_wait:
            continue
        if resource.type.startswith("gcp:"):
            assert api_wait.urn in resource.dependencies, resource.name
        else:
            assert reaches(resource), resource.name


# --- Stack shapes -----------------------------------------------------------------------------


@pytest.mark.parametrize("mocks", list(MOCKS))
def test_a_stack_without_workflows_deploys_the_relay_with_no_routes(program, mocks):
    result = _ok(program(mocks, "no-workflows"))
    env = result.one(FUNCTION).inputs["serviceConfig"]["environmentVariables"]
    assert json.loads(env["RELAY_ROUTES"]) == {}
    assert result.of_type(SECRET) == []
    assert result.outputs["endpoints"] == {}
    assert any(level == "warning" and "no workflow" in line for level, line in result.logs)


@pytest.mark.parametrize("mocks", list(MOCKS))
def test_user_managed_secrets_keep_one_replica_in_the_region(program, mocks):
    result = _ok(program(mocks, "user-managed"))
    for secret in result.of_type(SECRET):
        replicas = secret.inputs["replication"]["userManaged"]["replicas"]
        assert replicas == [{"location": "us-east1"}]


@pytest.mark.parametrize("mocks", list(MOCKS))
def test_the_policy_exception_comes_before_the_public_grant(program, mocks):
    result = _ok(program(mocks, "policy-exception"))
    (policy_wait,) = [s for s in result.of_type(SLEEP) if s.name.endswith("org-policy-propagation")]
    assert policy_wait.urn in result.one(INVOKER).dependencies


@pytest.mark.parametrize(("mocks", "stack"), CASES)
def test_the_function_builds_from_the_uploaded_archive(program, mocks, stack):
    """The archive's object name is the program's own (its content hash), so the function names
    it whatever the mock answers. The bucket's name comes from Pulumi's auto-naming, which
    mocks do not run: the function names the same bucket as the upload, and Google-like
    answers show it is the bucket declared."""
    result = _ok(program(mocks, stack))
    upload = result.one("gcp:storage/bucketObject:BucketObject")
    source = result.one(FUNCTION).inputs["buildConfig"]["source"]["storageSource"]
    assert upload.inputs["name"].endswith(".zip")
    assert source["object"] == upload.inputs["name"] == result.outputs["source_object"]
    assert source.get("bucket") == upload.inputs.get("bucket")
    if mocks == "google":
        assert source["bucket"] == result.one("gcp:storage/bucket:Bucket").state["name"]


@pytest.mark.parametrize("mocks", ["bare", "google"])
def test_the_uptime_check_probes_the_relay_url_whatever_google_answers(program, mocks):
    """The uptime check probes the health URL under the deterministic relay URL (infra/urls.py),
    so it is right before Google answers anything, and never takes the run.app host."""
    result = _ok(program(mocks, "alerts-eu"))
    check = result.one(UPTIME).inputs
    host, path = check["monitoredResource"]["labels"]["host"], check["httpCheck"]["path"]
    assert f"https://{host}{path}" == result.outputs["relay_url"] + "/health"
    assert host.endswith(".cloudfunctions.net")


# --- Failures ---------------------------------------------------------------------------------


def _failing_run(tmp_path: Path, settings: dict[str, str], secrets: dict[str, str]) -> ForeignRun:
    stack = STACKS["two-signed"]
    path = tmp_path / "workflows.yaml"
    path.write_text(stack.workflows_yaml())
    config = {"gcp:project": GCP_PROJECT, "gcp:region": stack.region, "workflowsFile": str(path)}
    with no_credentials(tmp_path):
        return run(
            MAIN,
            project=PROJECT,
            stack="dev",
            mocks=BareMocks(),
            config=config | settings,
            secrets=secrets,
        )


def _missing_url(secrets: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in secrets.items() if k != "billingHandoffIntercomUrl"}


FAILURES = {
    "missing Intercom URL": ({}, _missing_url, "billingHandoffIntercomUrl"),
    "unknown publicAccess": ({"publicAccess": "everyone"}, lambda s: s, "publicAccess"),
    "Intercom URL with its placeholder": (
        {},
        lambda s: s | {"billingHandoffIntercomUrl": _intercom_url(0) + "/<Conversation ID>"},
        "billingHandoffIntercomUrl",
    ),
    "Intercom URL over http": (
        {},
        lambda s: s | {"billingHandoffIntercomUrl": _intercom_url(0).replace("https", "http")},
        "billingHandoffIntercomUrl",
    ),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_bad_stack_fails_with_a_clear_run_error_before_any_resource(tmp_path, case):
    settings, secrets_of, key = FAILURES[case]
    secrets = secrets_of(STACKS["two-signed"].secrets)
    result = _failing_run(tmp_path, settings, secrets)
    assert type(result.error).__name__ == "RunError"
    assert result.registrations == []
    message = str(result.error)
    assert key in message
    for value in [*secrets.values(), "whsec_"]:
        assert value not in message
        assert value not in json.dumps(result.logs)


def test_a_secret_set_in_plain_text_fails_before_any_resource_without_showing_it(tmp_path):
    stack = STACKS["two-signed"]
    secrets = dict(stack.secrets)
    plain_value = secrets.pop("billingHandoffJamSecret")
    result = _failing_run(tmp_path, {"billingHandoffJamSecret": plain_value}, secrets)
    assert type(result.error).__name__ == "RunError"
    assert result.registrations == []
    assert "pulumi config set --secret billingHandoffJamSecret" in str(result.error)
    assert plain_value not in str(result.error)


def test_a_bad_workflows_file_fails_before_any_resource_naming_file_line_and_workflow(tmp_path):
    """Guide: a bad workflows.yaml fails before any resource is declared, with file, line,
    column, workflow id and the fix."""
    path = tmp_path / "workflows.yaml"
    path.write_text(
        "version: 1\n"
        "workflows:\n"
        "  - id: billing-handoff\n"
        "    intercom_webhook_url: {config: billingHandoffIntercomUrl}\n"
        "    events: [intercom.recorder.recordd]\n"
    )
    config = {"gcp:project": GCP_PROJECT, "gcp:region": "us-central1", "workflowsFile": str(path)}
    secrets = {"billingHandoffIntercomUrl": _intercom_url(0)}
    with no_credentials(tmp_path):
        result = run(
            MAIN, project=PROJECT, stack="dev", mocks=BareMocks(), config=config, secrets=secrets
        )
    assert type(result.error).__name__ == "RunError"
    assert result.registrations == []
    message = str(result.error)
    assert f"{path}:5:" in message
    assert "billing-handoff" in message
    assert "intercom.recorder.recorded" in message  # the closest valid event, as the fix
    assert _intercom_url(0) not in message


@pytest.mark.parametrize("mocks", list(MOCKS))
def test_a_literal_intercom_url_is_held_only_as_a_secret(tmp_path, mocks):
    """DESIGN: a literal URL in workflows.yaml is allowed (and warned about); it is still a
    capability, so it appears nowhere but in its secret version, marked secret."""
    literal = _intercom_url(7)
    path = tmp_path / "workflows.yaml"
    path.write_text(
        f"version: 1\nworkflows:\n  - id: billing-handoff\n    intercom_webhook_url: {literal}\n"
    )
    config = {"gcp:project": GCP_PROJECT, "gcp:region": "us-central1", "workflowsFile": str(path)}
    with no_credentials(tmp_path):
        result = _ok(
            run(
                MAIN,
                project=PROJECT,
                stack="dev",
                mocks=MOCKS[mocks](STACKS["two-signed"]),
                config=config,
            )
        )
    (version,) = result.of_type(VERSION)
    assert rpc.is_rpc_secret(version.raw_inputs["secretData"])
    assert version.inputs["secretData"] == literal
    visible = json.dumps(
        [
            result.outputs,
            result.logs,
            [strip_secret_parts(r.raw_inputs) for r in result.registrations],
        ],
        default=str,
    )
    assert literal not in visible
    assert any(level == "warning" and "billing-handoff" in line for level, line in result.logs)


def test_the_runner_reports_a_crash_inside_apply_as_the_runs_error(tmp_path):
    """The runner itself: a program whose apply raises (as the relay's did on an absent
    service name) ends with that error, so the checks above cannot pass over a crash."""
    program_file = tmp_path / "__main__.py"
    program_file.write_text(
        "import pulumi\n"
        "import pulumi_gcp as gcp\n"
        "bucket = gcp.storage.Bucket('b', location='EU')\n"
        "log = gcp.logging.Metric('m', filter=bucket.name.apply(lambda n: n.upper()))\n"
    )
    with no_credentials(tmp_path):
        result = run(program_file, project="p", stack="s", mocks=BareMocks(), config={})
    assert isinstance(result.error, Exception)
    assert "upper" in str(result.error)


@pytest.mark.parametrize("mocks", ["bare", "minimal"])
def test_an_answer_without_a_uri_exports_an_empty_cloud_run_url(program, mocks):
    """The service's URI is Google's to assign; an answer that lacks it (a mock echoing inputs,
    or a function still being created) leaves cloud_run_url empty, never None or a guess."""
    result = _ok(program(mocks, "two-signed"))
    assert result.outputs["cloud_run_url"] == ""

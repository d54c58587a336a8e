"""``relayctl preflight`` against a second, independently written stand-in for Google
(tests/cli/independent_google.py), over real HTTP on loopback, through the seam of issue 22
(RELAYCTL_GOOGLE_API_BASE, RELAYCTL_GOOGLE_ACCESS_TOKEN).

Every scenario the issue lists is run in text and in JSON: the verdict word, the fix or the way
to check, the exit code (0 ok, 1 will fail or unreachable, 3 could not tell, 2 usage), and that
the text lines are the JSON verdicts word for word. The fake varies what Google's REST reference
lets an honest server vary (proto3 JSON defaults left out, field order, unknown fields, paging,
charset, chunked, gzip, latency, closed connections); preflight must give the same verdicts
whatever it picks. Sources for each shape: the module docstring of independent_google.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Runner, cli_env
from tests.cli.independent_google import (
    Fault,
    IndependentGoogle,
    Scenario,
    Style,
    permission_denied,
    plain_error,
    service_disabled,
    unauthenticated,
)

PROJECT = "demo-project"
NUMBER = "318493027561"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNSURE = 0, 1, 2, 3

# The APIs the program enables (infra/relay.py REQUIRED_APIS), plus what a new project has on.
RELAY_APIS = (
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
)
NEW_PROJECT_APIS = (
    "analyticshub.googleapis.com",
    "bigquery.googleapis.com",
    "bigqueryconnection.googleapis.com",
    "bigquerydatapolicy.googleapis.com",
    "bigquerymigration.googleapis.com",
    "bigqueryreservation.googleapis.com",
    "bigquerystorage.googleapis.com",
    "cloudapis.googleapis.com",
    "cloudtrace.googleapis.com",
    "dataform.googleapis.com",
    "dataplex.googleapis.com",
    "datastore.googleapis.com",
    "servicemanagement.googleapis.com",
    "serviceusage.googleapis.com",
    "sql-component.googleapis.com",
    "storage-api.googleapis.com",
    "storage-component.googleapis.com",
)
ALL_ON = tuple(sorted({*RELAY_APIS, *NEW_PROJECT_APIS}))
# A long-lived project: many more APIs on, so services.list takes several pages.
MANY_APIS = ALL_ON + tuple(f"api{n:02d}.example-partner.googleapis.com" for n in range(50))

BOOLEANS = frozenset(
    {
        "iam.disableServiceAccountCreation",
        "iam.managed.disableServiceAccountCreation",
        "iam.managed.allowedPolicyMembers",
        "cloudfunctions.requireVPCConnector",
    }
)

# What makes a fix or a way to check actionable: a command to run, or who must do what.
ACTIONS = ("gcloud ", "pulumi config set ", "administrator", "grant ")
HOW_TO_CHECK = (
    "gcloud ",
    "export ",
    "run preflight again",
    "ask ",
    "GOOGLE_APPLICATION_CREDENTIALS",
)

STACK_HEAD = textwrap.dedent(
    f"""\
    config:
      gcp:project: {PROJECT}
      jam-fin-relay:billingHandoffIntercomUrl:
        secure: v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBBBBBBBBBBBBBB
    """
)


def scenario(**changes: Any) -> Scenario:
    base = Scenario(enabled_services=ALL_ON, boolean_constraints=BOOLEANS)
    return replace(base, **changes)


@dataclass
class Outcome:
    exit_code: int
    checks: list[dict[str, Any]]
    summary: str
    document: dict[str, Any]
    stdout: str
    stderr: str
    requests: list[Any] = field(default_factory=list)

    def verdicts(self) -> dict[str, str]:
        return {c["check"]: c["verdict"] for c in self.checks}

    def one(self, check: str) -> dict[str, Any]:
        found = [c for c in self.checks if c["check"] == check]
        assert len(found) == 1, (check, self.stdout)
        return found[0]

    def starting(self, prefix: str) -> list[dict[str, Any]]:
        found = [c for c in self.checks if c["check"].startswith(prefix)]
        assert found, (prefix, self.stdout)
        return found


def _env(
    fake_base: str | None, token: str | None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    env = {
        k: v
        for k, v in cli_env().items()
        if not k.startswith(("GOOGLE_", "CLOUDSDK_", "RELAYCTL_GOOGLE_", "GCLOUD_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    if fake_base is not None:
        env["RELAYCTL_GOOGLE_API_BASE"] = fake_base
    if token is not None:
        env["RELAYCTL_GOOGLE_ACCESS_TOKEN"] = token
    env.update(extra or {})
    return env


def _line(check: dict[str, Any]) -> str:
    """The text line a JSON verdict stands for (docs/deploy.md, "Output and exit codes")."""
    if check["verdict"] == "will fail":
        return f"{check['check']}: will fail: {check['detail']} Fix: {check['fix']}"
    if check["verdict"] == "could not tell":
        return f"{check['check']}: could not tell: {check['detail']} ({check['how_to_check']})"
    return (
        f"{check['check']}: ok ({check['detail']})" if check["detail"] else f"{check['check']}: ok"
    )


def run_both(
    run: Runner,
    fake: IndependentGoogle,
    stack: str = "dev",
    timeout: str = "5",
    extra: dict[str, str] | None = None,
) -> Outcome:
    """Run preflight in text and in JSON; assert they agree; return the JSON verdicts."""
    env = _env(fake.base, fake.scenario.token, extra)
    args = ("preflight", "--stack", stack, "--timeout", timeout)
    start = len(fake.requests)
    as_text = run(*args, env=env)
    as_json = run(*args, "--format", "json", env=env)
    assert "Traceback" not in as_text.stderr + as_json.stderr, as_text.stderr + as_json.stderr
    document = json.loads(as_json.stdout)
    lines = as_text.stdout.strip().splitlines()
    assert lines[0].startswith(f"Pre-flight of stack '{stack}'"), as_text.stdout
    assert fake.base in lines[0]
    assert document["api_base"] == fake.base
    assert lines[1:-1] == [_line(c) for c in document["checks"]], as_text.stdout
    assert lines[-1] == document["summary"]
    assert as_text.returncode == as_json.returncode == document["exit_code"], (
        as_text.stdout,
        as_text.stderr,
    )
    for check in document["checks"]:
        assert check["verdict"] in ("ok", "will fail", "could not tell"), check
        if check["verdict"] == "will fail":
            assert any(step in check["fix"] for step in ACTIONS), check
        if check["verdict"] == "could not tell":
            assert any(step in check["how_to_check"] for step in HOW_TO_CHECK), check
    return Outcome(
        as_json.returncode,
        document["checks"],
        document["summary"],
        document,
        as_text.stdout,
        as_text.stderr + as_json.stderr,
        fake.requests[start:],
    )


@pytest.fixture
def stacks(project: Path) -> Path:
    """Stack files beside the fixture's dev stack: one per setting a scenario needs."""
    variants = {
        "usermanaged": "  jam-fin-relay:secretReplication: userManaged\n",
        "private": "  jam-fin-relay:publicAccess: none\n",
        "internal": "  jam-fin-relay:ingress: ALLOW_INTERNAL_ONLY\n",
        "europe": "  gcp:region: europe-west1\n  jam-fin-relay:secretReplication: userManaged\n",
    }
    for name, lines in variants.items():
        (project / f"Pulumi.{name}.yaml").write_text(STACK_HEAD + lines)
    return project


@pytest.fixture
def preflight(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Runner:
    """The real entry point (``relayctl.cli.main``) in this process, with the same arguments
    and environment as the ``relayctl`` subprocess fixture: 15 times faster, the same HTTP."""
    from relayctl.cli import main

    def run(
        *args: str, env: dict[str, str], cwd: Path = project, **_: Any
    ) -> subprocess.CompletedProcess[str]:
        with monkeypatch.context() as patch:
            for name in list(os.environ):
                if name not in env:
                    patch.delenv(name)
            for name, value in env.items():
                patch.setenv(name, value)
            patch.chdir(cwd)
            capsys.readouterr()
            try:
                code = main(list(args))
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            captured = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)

    return run


@pytest.fixture
def google() -> Iterator[IndependentGoogle]:
    with IndependentGoogle(scenario()) as fake:
        yield fake


def with_scenario(fake: IndependentGoogle, **changes: Any) -> IndependentGoogle:
    fake.scenario = replace(fake.scenario, **changes)
    return fake


def test_all_clear_is_ok_everywhere_and_exits_0(
    relayctl: Runner, google: IndependentGoogle
) -> None:
    outcome = run_both(relayctl, google)
    assert set(outcome.verdicts().values()) == {"ok"}, outcome.stdout
    assert outcome.exit_code == EXIT_OK
    assert outcome.summary.startswith("ok:")


# --- the request side: the five calls, nothing else ------------------------------------------


def test_only_the_five_read_calls_are_made_with_the_project_id_and_the_bearer_token(
    relayctl: Runner, google: IndependentGoogle
) -> None:
    """Issue 22, "The calls": GET project, POST testIamPermissions, GET billingInfo, GET
    getEffectivePolicy per constraint (no ``constraints/``), GET services?filter=state:ENABLED;
    project id (not number) in every path; ``Authorization: Bearer <token>``."""
    outcome = run_both(relayctl, google)
    assert outcome.requests, "no request reached the fake"
    routes = [r.route for r in outcome.requests]
    assert "" not in routes, [(r.method, r.path) for r in outcome.requests if not r.route]
    assert {r.method for r in outcome.requests} <= {"GET", "POST"}
    assert {r.route for r in outcome.requests if r.method == "POST"} == {"permissions"}
    assert {"project", "permissions", "billing", "services"} <= set(routes)
    assert any(r.startswith("policy:") for r in routes)
    for request in outcome.requests:
        assert f"/projects/{PROJECT}" in request.path
        assert NUMBER not in request.path
        assert "constraints/" not in request.path
        assert request.headers.get("authorization") == f"Bearer {google.scenario.token}"
        if request.route == "services":
            assert request.query["filter"] == ["state:ENABLED"]
        if request.route == "permissions":
            asked = json.loads(request.body)["permissions"]
            assert asked
            assert all(isinstance(p, str) and "*" not in p for p in asked)
            assert request.headers.get("content-type", "").startswith("application/json")


def test_each_run_reads_each_thing_once(preflight: Runner, google: IndependentGoogle) -> None:
    outcome = run_both(preflight, google)
    half = len(outcome.requests) // 2  # text run, then JSON run: the same calls
    first = sorted(r.route for r in outcome.requests[:half])
    assert first == sorted(r.route for r in outcome.requests[half:])
    assert len(first) == len(set(first)), first


# --- honest variations of the same all-clear answer --------------------------------------------


@pytest.mark.parametrize("no_policy", ["absent", "empty", "default", "reset"])
def test_no_policy_in_any_documented_shape_is_ok(
    preflight: Runner, google: IndependentGoogle, no_policy: str
) -> None:
    """getEffectivePolicy with nothing set: no ``spec``, ``spec: {}``, the explicit default
    rule (allowAll / enforce false), or ``reset: true`` (PolicySpec, orgpolicy.v2)."""
    with_scenario(google, no_policy=no_policy)
    outcome = run_both(preflight, google)
    assert set(outcome.verdicts().values()) == {"ok"}, outcome.stdout
    assert outcome.exit_code == EXIT_OK


def test_explicit_defaults_kept_in_the_json_change_nothing(
    preflight: Runner, google: IndependentGoogle
) -> None:
    """A server may also print fields at their default (``enforce: false``, ``[]``)."""
    with_scenario(google, no_policy="default", style=Style(omit_defaults=False))
    outcome = run_both(preflight, google)
    assert set(outcome.verdicts().values()) == {"ok"}, outcome.stdout


def test_wire_variations_change_nothing(preflight: Runner, google: IndependentGoogle) -> None:
    """Chunked, gzip (asked for by the client), reversed field order, unknown fields, no
    charset: HTTP/1.1 and the proto3 JSON mapping allow each."""
    style = Style(
        chunked=True, gzip_when_asked=True, charset=False, reverse_keys=True, unknown_fields=True
    )
    with_scenario(google, style=style, no_policy="default")
    outcome = run_both(preflight, google)
    assert set(outcome.verdicts().values()) == {"ok"}, outcome.stdout
    assert outcome.exit_code == EXIT_OK


def test_slow_answers_within_the_timeout_are_read(
    preflight: Runner, google: IndependentGoogle
) -> None:
    with_scenario(google, style=Style(delay=0.4))
    outcome = run_both(preflight, google, timeout="5")
    assert outcome.exit_code == EXIT_OK, outcome.stdout


def test_effective_policy_with_etag_and_update_time_is_read(
    preflight: Runner, google: IndependentGoogle
) -> None:
    """The reference says an effective policy has no etag; a server that sends one anyway (and
    ``updateTime``) is not a different policy."""
    spec = {
        "etag": "CJSg1bAGEKCKqeMC-",
        "updateTime": "2025-11-02T10:00:00Z",
        "rules": [{"enforce": False}],
    }
    with_scenario(
        google, specs={"iam.disableServiceAccountCreation": spec}, style=Style(omit_defaults=False)
    )
    outcome = run_both(preflight, google)
    assert outcome.one("policy iam.disableServiceAccountCreation")["verdict"] == "ok"


def test_a_dry_run_spec_is_not_the_policy(preflight: Runner, google: IndependentGoogle) -> None:
    """Policy.dryRunSpec is "audit-only" (orgpolicy.v2): an enforced dry run refuses nothing."""
    extras = {"dryRunSpec": {"rules": [{"enforce": True}]}}
    with_scenario(google, policy_extras={"iam.disableServiceAccountCreation": extras})
    outcome = run_both(preflight, google)
    assert outcome.one("policy iam.disableServiceAccountCreation")["verdict"] == "ok"


def test_localhost_base_reaches_a_stand_in_on_127_0_0_1(
    preflight: Runner, google: IndependentGoogle
) -> None:
    port = google.base.rsplit(":", 1)[1]
    env = _env(f"http://localhost:{port}", google.scenario.token)
    result = preflight("preflight", "--stack", "dev", "--format", "json", env=env)
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    assert json.loads(result.stdout)["api_base"] == f"http://localhost:{port}"


def test_services_over_two_pages_are_all_read(preflight: Runner, google: IndependentGoogle) -> None:
    """services.list pages at 50 by default; nextPageToken is opaque (here base64 with
    ``+``, ``/`` and ``=``) and goes back as the ``pageToken`` query parameter."""
    with_scenario(google, enabled_services=MANY_APIS)
    outcome = run_both(preflight, google)
    assert outcome.one("apis")["verdict"] == "ok", outcome.stdout
    assert [r.route for r in outcome.requests].count("services") >= 4  # 2 pages x 2 runs


def test_services_in_small_pages_are_all_read(preflight: Runner, google: IndependentGoogle) -> None:
    """A server may answer fewer items than the page size (AIP-158): here 2 a page, so the
    relay's APIs sit on the 15th page and later."""
    with_scenario(google, enabled_services=MANY_APIS, page_size=2)
    outcome = run_both(preflight, google, timeout="10")
    assert outcome.one("apis")["verdict"] == "ok", outcome.stdout


def test_ipv6_loopback_base_is_accepted(preflight: Runner) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        fake = IndependentGoogle(scenario(), host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with fake:
        outcome = run_both(preflight, fake)
    assert outcome.exit_code == EXIT_OK, outcome.stdout


# --- project ----------------------------------------------------------------------------------


def test_project_404_will_fail_with_the_fix(preflight: Runner, google: IndependentGoogle) -> None:
    with_scenario(google, faults={"project": plain_error(404, "NOT_FOUND", "Project not found.")})
    outcome = run_both(preflight, google)
    check = outcome.one("project")
    assert check["verdict"] == "will fail"
    assert "pulumi config set gcp:project" in check["fix"]
    assert outcome.exit_code == EXIT_FAILED


def test_project_403_could_not_tell(preflight: Runner, google: IndependentGoogle) -> None:
    """Resource Manager answers 403 for a project that does not exist and one you cannot see."""
    fault = permission_denied("resourcemanager.projects.get", f"projects/{PROJECT}")
    with_scenario(google, faults={"project": fault})
    outcome = run_both(preflight, google)
    check = outcome.one("project")
    assert check["verdict"] == "could not tell"
    assert "resourcemanager.projects.get" in check["how_to_check"]
    assert outcome.exit_code == EXIT_UNSURE


def test_project_named_by_id_is_not_called_a_number(
    preflight: Runner, google: IndependentGoogle
) -> None:
    """Project.name is "projects/NUMBER" in the reference; a server that names it by id is
    still the same project, and preflight does not present the id as its number."""
    with_scenario(google, name_by_id=True)
    outcome = run_both(preflight, google)
    check = outcome.one("project")
    assert check["verdict"] == "ok"
    assert f"number {PROJECT}" not in check["detail"]
    assert outcome.exit_code == EXIT_OK


def test_project_delete_requested_will_fail(preflight: Runner, google: IndependentGoogle) -> None:
    with_scenario(google, state="DELETE_REQUESTED")
    outcome = run_both(preflight, google)
    check = outcome.one("project")
    assert check["verdict"] == "will fail"
    assert f"gcloud projects undelete {PROJECT}" in check["fix"]
    assert outcome.exit_code == EXIT_FAILED


# --- billing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("omit_defaults", [True, False], ids=["omitted", "explicit-false"])
def test_billing_off_will_fail(
    preflight: Runner, google: IndependentGoogle, omit_defaults: bool
) -> None:
    """ProjectBillingInfo.billingEnabled: false for a closed account or none; proto3 JSON may
    leave a false out."""
    with_scenario(
        google, billing_enabled=False, billing_account="", style=Style(omit_defaults=omit_defaults)
    )
    outcome = run_both(preflight, google)
    check = outcome.one("billing")
    assert check["verdict"] == "will fail"
    assert f"gcloud billing projects link {PROJECT}" in check["fix"]
    assert outcome.exit_code == EXIT_FAILED


# --- organisation policies --------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        ["C03kd9s1x"],
        ["is:C03kd9s1x", "is:principalSet://iam.googleapis.com/organizations/584920174413"],
    ],
    ids=["customer-id", "is-prefixed"],
)
def test_legacy_domain_restriction_will_fail(
    preflight: Runner, google: IndependentGoogle, values: list[str]
) -> None:
    spec = {"rules": [{"values": {"allowedValues": values}}]}
    with_scenario(google, specs={"iam.allowedPolicyMemberDomains": spec})
    outcome = run_both(preflight, google)
    check = outcome.one("policy iam.allowedPolicyMemberDomains")
    assert check["verdict"] == "will fail"
    assert "publicAccess allUsersWithPolicyException" in check["fix"]
    assert outcome.exit_code == EXIT_FAILED


def test_managed_domain_restriction_will_fail(preflight: Runner, google: IndependentGoogle) -> None:
    """iam.managed.allowedPolicyMembers: enforce plus ``parameters`` (a Struct)."""
    rule = {
        "enforce": True,
        "parameters": {
            "allowedMemberSubjects": ["domain:example.com"],
            "allowedPrincipalSets": [
                "//cloudresourcemanager.googleapis.com/organizations/584920174413"
            ],
        },
    }
    with_scenario(google, specs={"iam.managed.allowedPolicyMembers": {"rules": [rule]}})
    outcome = run_both(preflight, google)
    check = outcome.one("policy iam.managed.allowedPolicyMembers")
    assert check["verdict"] == "will fail"
    assert "publicAccess allUsersWithPolicyException" in check["fix"]
    assert outcome.exit_code == EXIT_FAILED


def test_domain_restriction_is_ok_for_a_private_stack(
    preflight: Runner, google: IndependentGoogle, stacks: Path
) -> None:
    spec = {"rules": [{"values": {"allowedValues": ["C03kd9s1x"]}}]}
    with_scenario(google, specs={"iam.allowedPolicyMemberDomains": spec})
    outcome = run_both(preflight, google, stack="private")
    assert outcome.one("policy iam.allowedPolicyMemberDomains")["verdict"] == "ok"


@pytest.mark.parametrize("group", ["in:europe-locations", "in:eu-locations"])
def test_region_outside_a_value_group_will_fail(
    preflight: Runner, google: IndependentGoogle, group: str
) -> None:
    """us-central1 is in neither Europe nor any European Union country (``in:eu-locations``,
    the common data-residency policy): refused ("will fail", exit 1), not "could not tell";
    global (automatic secrets) is never ok."""
    spec = {"rules": [{"values": {"allowedValues": [group]}}]}
    with_scenario(google, specs={"gcp.resourceLocations": spec})
    outcome = run_both(preflight, google)
    region, secrets = outcome.starting("policy gcp.resourceLocations")
    assert region["verdict"] == "will fail", outcome.stdout
    assert "pulumi config set gcp:region" in region["fix"]
    assert secrets["verdict"] != "ok"
    assert outcome.exit_code == EXIT_FAILED


def test_region_inside_the_eu_group_is_never_a_false_ok(
    preflight: Runner, google: IndependentGoogle, stacks: Path
) -> None:
    spec = {"rules": [{"values": {"allowedValues": ["in:eu-locations"]}}]}
    with_scenario(google, specs={"gcp.resourceLocations": spec})
    outcome = run_both(preflight, google, stack="europe")
    region = outcome.starting("policy gcp.resourceLocations")[0]
    assert region["verdict"] in ("ok", "could not tell")
    assert region["verdict"] == "ok" or "defining-locations" in region["how_to_check"]


def test_region_inside_a_value_group_is_ok(
    preflight: Runner, google: IndependentGoogle, stacks: Path
) -> None:
    spec = {"rules": [{"values": {"allowedValues": ["in:us-locations"]}}]}
    with_scenario(google, specs={"gcp.resourceLocations": spec})
    outcome = run_both(preflight, google, stack="usermanaged")
    assert {c["verdict"] for c in outcome.starting("policy gcp.resourceLocations")} == {"ok"}
    assert outcome.exit_code == EXIT_OK, outcome.stdout


def test_global_not_listed_will_fail_or_is_not_told(
    preflight: Runner, google: IndependentGoogle
) -> None:
    """Secret Manager: automatic replication "can only be created if resource creation in
    global is allowed" (cloud.google.com/secret-manager/docs/choosing-replication)."""
    spec = {"rules": [{"values": {"allowedValues": ["in:us-locations"]}}]}
    with_scenario(google, specs={"gcp.resourceLocations": spec})
    outcome = run_both(preflight, google)
    region, secrets = outcome.starting("policy gcp.resourceLocations")
    assert region["verdict"] == "ok"
    assert secrets["verdict"] in ("will fail", "could not tell")
    assert (
        "secretReplication userManaged" in secrets.get("fix", "") + secrets.get("how_to_check", "")
        or "in:us-locations" in secrets["detail"]
    )


def test_global_listed_is_ok(preflight: Runner, google: IndependentGoogle) -> None:
    spec = {"rules": [{"values": {"allowedValues": ["in:us-locations", "global"]}}]}
    with_scenario(google, specs={"gcp.resourceLocations": spec})
    outcome = run_both(preflight, google)
    assert {c["verdict"] for c in outcome.starting("policy gcp.resourceLocations")} == {"ok"}


def test_region_denied_by_its_group_will_fail(preflight: Runner, google: IndependentGoogle) -> None:
    spec = {"rules": [{"values": {"deniedValues": ["in:us-central1-locations"]}}]}
    with_scenario(google, specs={"gcp.resourceLocations": spec})
    outcome = run_both(preflight, google)
    region = outcome.starting("policy gcp.resourceLocations")[0]
    assert region["verdict"] == "will fail"


def test_europe_stack_under_europe_group_is_ok(
    preflight: Runner, google: IndependentGoogle, stacks: Path
) -> None:
    spec = {"rules": [{"values": {"allowedValues": ["in:europe-west1-locations"]}}]}
    with_scenario(google, specs={"gcp.resourceLocations": spec})
    outcome = run_both(preflight, google, stack="europe")
    assert {c["verdict"] for c in outcome.starting("policy gcp.resourceLocations")} == {"ok"}


@pytest.mark.parametrize(
    ("constraint", "values"),
    [
        ("cloudfunctions.allowedIngressSettings", {"allowedValues": ["ALLOW_INTERNAL_ONLY"]}),
        ("cloudfunctions.allowedIngressSettings", {"deniedValues": ["is:ALLOW_ALL"]}),
        (
            "run.allowedIngress",
            {"allowedValues": ["internal", "internal-and-cloud-load-balancing"]},
        ),
        ("run.allowedIngress", {"deniedValues": ["all"]}),
    ],
)
def test_ingress_refused_will_fail(
    preflight: Runner, google: IndependentGoogle, constraint: str, values: dict[str, list[str]]
) -> None:
    with_scenario(google, specs={constraint: {"rules": [{"values": values}]}})
    outcome = run_both(preflight, google)
    check = outcome.one(f"policy {constraint}")
    assert check["verdict"] == "will fail"
    assert "pulumi config set ingress" in check["fix"] or "policy" in check["fix"]
    assert outcome.exit_code == EXIT_FAILED


def test_internal_ingress_allowed_is_ok(
    preflight: Runner, google: IndependentGoogle, stacks: Path
) -> None:
    specs = {
        "cloudfunctions.allowedIngressSettings": {
            "rules": [{"values": {"allowedValues": ["ALLOW_INTERNAL_ONLY"]}}]
        },
        "run.allowedIngress": {"rules": [{"values": {"allowedValues": ["internal"]}}]},
    }
    with_scenario(google, specs=specs)
    outcome = run_both(preflight, google, stack="internal")
    assert outcome.one("policy cloudfunctions.allowedIngressSettings")["verdict"] == "ok"
    assert outcome.one("policy run.allowedIngress")["verdict"] == "ok"


@pytest.mark.parametrize(
    "constraint", ["iam.disableServiceAccountCreation", "iam.managed.disableServiceAccountCreation"]
)
def test_service_account_creation_disabled_will_fail(
    preflight: Runner, google: IndependentGoogle, constraint: str
) -> None:
    with_scenario(google, specs={constraint: {"rules": [{"enforce": True}]}})
    outcome = run_both(preflight, google)
    check = outcome.one(f"policy {constraint}")
    assert check["verdict"] == "will fail"
    assert "service-account creation" in check["fix"]
    assert outcome.exit_code == EXIT_FAILED


def test_a_rule_with_a_condition_is_not_ok(preflight: Runner, google: IndependentGoogle) -> None:
    """PolicyRule.condition (tags): preflight cannot evaluate it for resources not yet made."""
    spec = {
        "rules": [
            {"enforce": True},
            {
                "enforce": False,
                "condition": {
                    "expression": "resource.matchTag('584920174413/env', 'sandbox')",
                    "title": "sandbox",
                },
            },
        ]
    }
    with_scenario(google, specs={"iam.disableServiceAccountCreation": spec})
    outcome = run_both(preflight, google)
    check = outcome.one("policy iam.disableServiceAccountCreation")
    assert check["verdict"] in ("could not tell", "will fail")


# --- permissions and APIs ---------------------------------------------------------------------


def test_missing_permissions_will_fail_naming_each_and_its_role(
    preflight: Runner, google: IndependentGoogle
) -> None:
    everything = run_both(preflight, google)
    asked = json.loads(next(r for r in everything.requests if r.route == "permissions").body)
    lacking = {"iam.serviceAccounts.create", "secretmanager.secrets.create"}
    with_scenario(google, granted=frozenset(asked["permissions"]) - lacking)
    outcome = run_both(preflight, google)
    check = outcome.one("permissions")
    assert check["verdict"] == "will fail"
    for permission in lacking:
        assert permission in check["detail"]
    assert f"gcloud projects add-iam-policy-binding {PROJECT}" in check["fix"]
    assert "roles/" in check["fix"]
    assert outcome.exit_code == EXIT_FAILED


def test_no_permission_at_all_leaves_the_field_out_and_will_fail(
    preflight: Runner, google: IndependentGoogle
) -> None:
    """TestIamPermissionsResponse with none held is ``{}`` in proto3 JSON."""
    with_scenario(google, granted=frozenset())
    outcome = run_both(preflight, google)
    assert outcome.one("permissions")["verdict"] == "will fail"
    assert outcome.exit_code == EXIT_FAILED


def test_apis_off_and_may_enable_is_ok(preflight: Runner, google: IndependentGoogle) -> None:
    with_scenario(google, enabled_services=NEW_PROJECT_APIS)
    outcome = run_both(preflight, google)
    assert outcome.one("apis")["verdict"] == "ok", outcome.stdout


def test_no_service_enabled_at_all_is_read(preflight: Runner, google: IndependentGoogle) -> None:
    """ListServicesResponse with nothing enabled is ``{}``."""
    with_scenario(google, enabled_services=())
    outcome = run_both(preflight, google)
    assert outcome.one("apis")["verdict"] == "ok", outcome.stdout


# --- reads that fail: never a false ok --------------------------------------------------------


@pytest.mark.parametrize("with_details", [True, False], ids=["with-details", "bare"])
def test_403_on_a_policy_read_could_not_tell(
    preflight: Runner, google: IndependentGoogle, with_details: bool
) -> None:
    fault = permission_denied("orgpolicy.policy.get", f"projects/{PROJECT}", with_details)
    with_scenario(google, faults={"policy:iam.disableServiceAccountCreation": fault})
    outcome = run_both(preflight, google)
    check = outcome.one("policy iam.disableServiceAccountCreation")
    assert check["verdict"] == "could not tell"
    assert "orgpolicy.policy.get" in check["how_to_check"]
    assert outcome.exit_code == EXIT_UNSURE


@pytest.mark.parametrize(
    ("consumer", "with_details"),
    [(f"projects/{NUMBER}", True), (f"projects/{PROJECT}", True), (f"projects/{NUMBER}", False)],
    ids=["number", "id", "message-only"],
)
def test_service_disabled_read_could_not_tell_with_the_enable_command(
    preflight: Runner, google: IndependentGoogle, consumer: str, with_details: bool
) -> None:
    """403 SERVICE_DISABLED: ErrorInfo metadata names the service and the consumer (by number
    or by id); without details, Google's message says the same in words."""
    fault = service_disabled(
        "orgpolicy.googleapis.com", "Organization Policy API", consumer, with_details
    )
    with_scenario(google, faults={"policy:*": fault})
    outcome = run_both(preflight, google)
    for check in outcome.starting("policy "):
        assert check["verdict"] == "could not tell", check
        assert (
            f"gcloud services enable orgpolicy.googleapis.com --project {PROJECT}"
            in (check["how_to_check"])
        ), check
    assert outcome.exit_code == EXIT_UNSURE


def test_billing_api_disabled_could_not_tell(preflight: Runner, google: IndependentGoogle) -> None:
    fault = service_disabled(
        "cloudbilling.googleapis.com", "Cloud Billing API", f"projects/{NUMBER}"
    )
    with_scenario(google, faults={"billing": fault})
    outcome = run_both(preflight, google)
    check = outcome.one("billing")
    assert check["verdict"] == "could not tell"
    assert "gcloud services enable cloudbilling.googleapis.com" in check["how_to_check"]
    assert outcome.exit_code == EXIT_UNSURE


@pytest.mark.parametrize(
    ("route", "fault"),
    [
        (
            "billing",
            plain_error(
                429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Read requests'."
            ),
        ),
        ("project", plain_error(500, "INTERNAL", "Internal error encountered.")),
        ("permissions", plain_error(503, "UNAVAILABLE", "The service is currently unavailable.")),
        ("services", plain_error(503, "UNAVAILABLE", "The service is currently unavailable.")),
        ("policy:gcp.resourceLocations", Fault(status=502, body="<html>Bad Gateway</html>")),
    ],
    ids=["429-billing", "500-project", "503-permissions", "503-services", "502-html-policy"],
)
def test_server_errors_could_not_tell(
    preflight: Runner, google: IndependentGoogle, route: str, fault: Fault
) -> None:
    with_scenario(google, faults={route: fault})
    outcome = run_both(preflight, google)
    assert "ok" in outcome.verdicts().values()
    assert outcome.exit_code == EXIT_UNSURE, outcome.stdout
    assert outcome.summary.startswith("could not tell")


@pytest.mark.parametrize(
    "fault",
    [
        Fault(close=True),
        Fault(truncate=True),
        Fault(garbage=True),
        Fault(delay=6.0),
        Fault(stall_body=6.0),
    ],
    ids=["closed", "truncated", "not-json", "too-slow", "body-stalls"],
)
@pytest.mark.parametrize("route", ["billing", "policy:iam.disableServiceAccountCreation"])
def test_a_broken_answer_could_not_tell(
    preflight: Runner, google: IndependentGoogle, fault: Fault, route: str
) -> None:
    with_scenario(google, faults={route: fault})
    outcome = run_both(preflight, google, timeout="3")
    subject = "billing" if route == "billing" else "policy iam.disableServiceAccountCreation"
    check = outcome.one(subject)
    assert check["verdict"] == "could not tell", outcome.stdout
    if fault.close or fault.truncate:
        assert "closed" in check["detail"], check  # it connected: not "cannot connect"
    assert outcome.exit_code == EXIT_UNSURE


def test_a_refused_token_is_never_ok(preflight: Runner, google: IndependentGoogle) -> None:
    with_scenario(
        google,
        faults={
            "project": unauthenticated(),
            "billing": unauthenticated(),
            "permissions": unauthenticated(),
            "services": unauthenticated(),
            "policy:*": unauthenticated(),
        },
    )
    outcome = run_both(preflight, google)
    google_checks = [c for c in outcome.checks if c["check"] != "quota project"]
    assert {c["verdict"] for c in google_checks} == {"could not tell"}, outcome.stdout
    assert outcome.exit_code != EXIT_OK


def test_google_unreachable_exits_1(relayctl: Runner, project: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now.
    env = _env(f"http://127.0.0.1:{port}", "ya29.t")
    text = relayctl("preflight", "--stack", "dev", "--timeout", "2", env=env)
    as_json = relayctl("preflight", "--stack", "dev", "--timeout", "2", "--format", "json", env=env)
    assert text.returncode == as_json.returncode == EXIT_FAILED, text.stdout + text.stderr
    document = json.loads(as_json.stdout)
    assert "reached" in document["summary"]
    assert "ok" not in {c["verdict"] for c in document["checks"] if c["check"] != "quota project"}


def test_every_connection_closed_exits_1_or_3_never_0(
    preflight: Runner, google: IndependentGoogle
) -> None:
    with_scenario(
        google,
        faults={
            k: Fault(close=True)
            for k in ("project", "billing", "permissions", "services", "policy:*")
        },
    )
    outcome = run_both(preflight, google)
    assert outcome.exit_code in (EXIT_FAILED, EXIT_UNSURE)


# --- the seam ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base",
    [
        "https://127.0.0.1:8443",
        "http://example.com:80",
        "http://10.0.0.1:8080",
        "http://127.0.0.1",
        "",
    ],
)
def test_seam_refuses_a_base_that_is_not_loopback_http_with_a_port(
    relayctl: Runner, project: Path, base: str
) -> None:
    result = relayctl("preflight", "--stack", "dev", env=_env(base, "ya29.t"))
    assert result.returncode == EXIT_USAGE
    assert "RELAYCTL_GOOGLE_API_BASE" in result.stderr


def test_seam_without_a_token_exits_2(relayctl: Runner, google: IndependentGoogle) -> None:
    result = relayctl("preflight", "--stack", "dev", env=_env(google.base, None))
    assert result.returncode == EXIT_USAGE
    assert "RELAYCTL_GOOGLE_ACCESS_TOKEN" in result.stderr
    assert not google.requests


def test_token_alone_is_ignored_with_a_warning(
    relayctl: Runner, project: Path, tmp_path: Path
) -> None:
    """Without the base, ADC is used: pointed at a missing file (and no metadata server
    probe), it fails at once, after the warning."""
    env = _env(
        None,
        "ya29.t",
        {"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "missing.json"), "NO_GCE_CHECK": "True"},
    )
    result = relayctl("preflight", "--stack", "dev", env=env)
    assert "RELAYCTL_GOOGLE_ACCESS_TOKEN" in result.stderr
    assert "ignored" in result.stderr
    assert result.returncode != EXIT_OK


def test_usage_error_exits_2(relayctl: Runner, project: Path) -> None:
    result = relayctl("preflight", env=_env(None, None))
    assert result.returncode == EXIT_USAGE


def test_proxy_variables_do_not_divert_the_loopback_seam(
    relayctl: Runner, google: IndependentGoogle
) -> None:
    """A CI runner with HTTP_PROXY set still reaches the loopback stand-in directly."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    proxy = f"http://127.0.0.1:{dead}"
    outcome = run_both(relayctl, google, extra={"HTTP_PROXY": proxy, "http_proxy": proxy})
    assert outcome.exit_code == EXIT_OK, outcome.stdout

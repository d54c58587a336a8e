"""``relayctl endpoints``: each Endpoint URL from the stack file, before any deploy.

The project (tests/cli/conftest.py) sets gcp:project demo-project on dev; billing-handoff has
its Intercom URL and signing secret stored, bug-report-triage is deployed to prod only. Every
run here has an empty PATH: no `pulumi`, no `gcloud`, and the command never needs them.
"""

from __future__ import annotations

import pytest

from infra.urls import endpoint_url, relay_url

DEV_BASE = "https://us-central1-demo-project.cloudfunctions.net/jam-fin-relay-dev"


@pytest.fixture
def offline(tmp_path) -> dict[str, str]:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    return {"PATH": str(empty)}


def test_prints_every_endpoint_url_with_no_pulumi_cli(relayctl, offline):
    result = relayctl("endpoints", "--stack", "dev", env_extra=offline)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"relay URL {DEV_BASE}" in result.stdout
    assert f"  Endpoint URL:   {DEV_BASE}/workflows/billing-handoff" in result.stdout
    assert "bug-report-triage" not in result.stdout  # deployed to prod only


def test_the_url_is_the_one_the_program_exports(relayctl, offline):
    """Both come from infra/urls.py: Google's deterministic 2nd-gen function URL."""
    result = relayctl("endpoints", "--stack", "dev", env_extra=offline)
    expected = endpoint_url(
        relay_url("demo-project", "us-central1", "jam-fin-relay-dev"), "billing-handoff"
    )
    assert f"Endpoint URL:   {expected}\n" in result.stdout


def test_region_and_function_name_come_from_the_stack_file(relayctl, project, offline):
    (project / "Pulumi.prod.yaml").write_text(
        "config:\n"
        "  gcp:project: acme-support-prod\n"
        "  gcp:region: europe-west1\n"
        "  jam-fin-relay:functionName: support-relay\n"
    )
    result = relayctl("endpoints", "--stack", "prod", env_extra=offline)
    assert result.returncode == 0, result.stderr
    base = "https://europe-west1-acme-support-prod.cloudfunctions.net/support-relay"
    assert f"{base}/workflows/billing-handoff" in result.stdout
    assert f"{base}/workflows/bug-report-triage" in result.stdout


def test_the_setup_block_reads_as_steps_not_a_dump(relayctl, offline):
    out = relayctl("endpoints", "--stack", "dev", env_extra=offline).stdout
    block = out.split("\nbilling-handoff\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert block == [
        f"  Endpoint URL:   {DEV_BASE}/workflows/billing-handoff",
        "  Subscribe to:   intercom.recorder.recorded, intercom.recorder.opted_out",
        "  Intercom URL:   stored (billingHandoffIntercomUrl, encrypted)",
        "  Signing secret: stored (billingHandoffJamSecret, encrypted)",
    ]
    for dump in ("True", "False", "None", "{", "["):
        assert dump not in out


def test_a_secret_not_stored_yet_gives_the_command_that_stores_it(relayctl, project, offline):
    (project / "Pulumi.prod.yaml").write_text(
        "config:\n  gcp:project: demo-project\n"
        "  jam-fin-relay:bugReportTriageIntercomUrl:\n    secure: v1:AAAA:BBBB\n"
    )
    out = relayctl("endpoints", "--stack", "prod", env_extra=offline).stdout
    assert "  Intercom URL:   not stored yet (billingHandoffIntercomUrl)" in out
    assert "  Signing secret: not stored yet (billingHandoffJamSecret)" in out
    assert "once Jam shows it for this endpoint: `relayctl add billing-handoff --stack prod`" in out
    # bug-report-triage names no signing secret key in the file yet.
    assert (
        "  Signing secret: no key in the workflows file yet; `relayctl add bug-report-triage "
        "--stack prod` adds one and stores it"
    ) in out


def test_a_value_in_plain_text_is_said_with_the_fix(relayctl, project, offline):
    (project / "Pulumi.dev.yaml").write_text(
        "config:\n  gcp:project: demo-project\n"
        "  jam-fin-relay:billingHandoffIntercomUrl: https://api.intercom.io/x\n"
    )
    out = relayctl("endpoints", "--stack", "dev", env_extra=offline).stdout
    assert (
        "  Intercom URL:   in plain text in Pulumi.dev.yaml (billingHandoffIntercomUrl): store it "
        "again with `pulumi config set --secret billingHandoffIntercomUrl --stack dev`"
    ) in out
    assert "api.intercom.io" not in out


def test_the_only_stack_file_is_the_default(relayctl, offline):
    result = relayctl("endpoints", env_extra=offline)
    assert result.returncode == 0, result.stderr
    assert "Stack 'dev'" in result.stdout


def test_with_several_stacks_it_asks_which(relayctl, project, offline):
    (project / "Pulumi.prod.yaml").write_text("config:\n  gcp:project: demo-project\n")
    result = relayctl("endpoints", env_extra=offline)
    assert result.returncode == 2
    assert "say which stack with --stack NAME (one of: dev, prod)" in result.stderr


def test_the_shipped_placeholder_project_is_refused_with_its_fix(relayctl, project, offline):
    (project / "Pulumi.dev.yaml").write_text("config:\n  gcp:project: my-gcp-project-id\n")
    result = relayctl("endpoints", "--stack", "dev", env_extra=offline)
    assert result.returncode == 1
    assert "still the example value 'my-gcp-project-id'" in result.stderr
    assert "pulumi config set gcp:project YOUR_PROJECT_ID --stack dev" in result.stderr


def test_an_unset_project_is_refused_with_its_fix(relayctl, project, offline):
    (project / "Pulumi.dev.yaml").write_text("config:\n  gcp:region: us-east1\n")
    result = relayctl("endpoints", "--stack", "dev", env_extra=offline)
    assert result.returncode == 1
    assert "config 'gcp:project' is not set" in result.stderr


def test_a_stack_with_no_workflows_says_how_to_add_one(relayctl, project, offline):
    (project / "workflows.yaml").write_text("version: 1\nworkflows: []\n")
    result = relayctl("endpoints", "--stack", "dev", env_extra=offline)
    assert result.returncode == 0
    assert (
        "No workflow is deployed to stack 'dev' yet. Add one with `relayctl add ID --stack dev`."
        in result.stdout
    )


def test_a_stack_name_that_is_not_one_is_a_usage_error(relayctl, offline):
    result = relayctl("endpoints", "--stack", "../dev", env_extra=offline)
    assert result.returncode == 2
    assert "is not a stack name" in result.stderr


@pytest.mark.parametrize(
    ("base", "endpoint", "health"),
    [
        (DEV_BASE, f"{DEV_BASE}/workflows/billing-handoff", f"{DEV_BASE}/health"),
        (DEV_BASE + "/", f"{DEV_BASE}/workflows/billing-handoff", f"{DEV_BASE}/health"),
        # `relayctl check --url` keeps a path as given: a trailing X is part of it.
        (
            "http://127.0.0.1:8080/X",
            "http://127.0.0.1:8080/X/workflows/billing-handoff",
            "http://127.0.0.1:8080/X/health",
        ),
    ],
    ids=["relay-url", "trailing-slash", "path-ending-in-x"],
)
def test_endpoint_and_health_urls_sit_under_the_relay_url_with_one_slash(base, endpoint, health):
    from infra.urls import health_url

    assert endpoint_url(base, "billing-handoff") == endpoint
    assert health_url(base) == health

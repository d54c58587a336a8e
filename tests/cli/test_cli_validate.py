"""``relayctl validate``: readable one-line problems and CI exit codes."""

from __future__ import annotations

import re

LOCATED = re.compile(r"^error: workflows\.yaml:\d+:\d+:", re.MULTILINE)


def test_valid_file_passes(relayctl):
    result = relayctl("validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 workflows valid" in result.stdout


def test_the_checkout_example_file_is_valid(relayctl, repo):
    result = relayctl("validate", "--file", str(repo / "workflows.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_missing_file_is_a_usage_error(relayctl, project):
    result = relayctl("validate", "--file", "nope.yaml")
    assert result.returncode == 2
    assert "nope.yaml: no such file" in result.stderr


def test_bad_file_lists_each_problem_with_line_and_column(relayctl, project):
    text = (project / "workflows.yaml").read_text()
    text = text.replace("id: bug-report-triage", "id: billing-handoff")  # a duplicate id
    text = text.replace("stacks: [prod]", "stacks: [prod]\n    colour: blue")  # an unknown key
    (project / "workflows.yaml").write_text(text)
    result = relayctl("validate")
    assert result.returncode == 1
    located = LOCATED.findall(result.stdout)
    assert len(located) >= 2, result.stdout
    assert "colour" in result.stdout
    assert "Traceback" not in result.stderr


def test_not_yaml_at_all_is_reported_not_a_traceback(relayctl, project):
    (project / "workflows.yaml").write_text("version: 1\nworkflows: [\n")
    result = relayctl("validate")
    assert result.returncode == 1
    assert LOCATED.search(result.stdout), result.stdout
    assert "Traceback" not in result.stderr


def test_github_actions_gets_annotations(relayctl, project):
    (project / "workflows.yaml").write_text("version: 2\nworkflows: []\n")
    result = relayctl("validate", env_extra={"GITHUB_ACTIONS": "true"})
    assert result.returncode == 1
    assert re.search(r"^::error file=workflows\.yaml,line=\d+,col=\d+::", result.stdout, re.M)


def test_stack_with_every_key_passes(relayctl):
    result = relayctl("validate", "--stack", "dev")
    assert result.returncode == 0, result.stdout + result.stderr
    # bug-report-triage is prod-only, so dev needs only billing-handoff's keys.
    assert "1 workflow for stack 'dev'" in result.stdout


def test_missing_stack_file_fails_with_the_command_that_creates_it(relayctl):
    result = relayctl("validate", "--stack", "prod")
    assert result.returncode == 1
    assert "Pulumi.prod.yaml: no such stack file" in result.stderr
    assert "pulumi stack init prod" in result.stderr


def test_missing_key_names_the_key_and_the_fix(relayctl, project):
    (project / "Pulumi.prod.yaml").write_text("config:\n  gcp:project: p\n")
    result = relayctl("validate", "--stack", "prod")
    assert result.returncode == 1
    assert "billingHandoffIntercomUrl" in result.stdout
    assert "bugReportTriageIntercomUrl" in result.stdout
    assert "pulumi config set --secret bugReportTriageIntercomUrl --stack prod" in result.stdout
    # A Jam signing secret may be missing until the Jam endpoint exists.
    assert "billingHandoffJamSecret" not in result.stdout


def test_plain_text_key_must_be_a_secret(relayctl, project):
    plain_url = "https://api.intercom.io/webhooks/plain-capability-123"
    (project / "Pulumi.dev.yaml").write_text(
        f"config:\n  jam-fin-relay:billingHandoffIntercomUrl: {plain_url}\n"
    )
    result = relayctl("validate", "--stack", "dev")
    assert result.returncode == 1
    assert "not as a secret" in result.stdout
    assert plain_url not in result.stdout + result.stderr


def test_stack_file_that_is_not_yaml_fails_cleanly(relayctl, project):
    (project / "Pulumi.dev.yaml").write_text("config: [\n")
    result = relayctl("validate", "--stack", "dev")
    assert result.returncode == 1
    assert "Pulumi.dev.yaml" in result.stderr
    assert "not valid YAML" in result.stderr


def test_literal_url_warns_and_never_prints_the_url(relayctl, project):
    url = "https://intercom.example/hooks/literal-capability-42"
    text = (project / "workflows.yaml").read_text()
    text = text.replace(
        "intercom_webhook_url:\n      config: billingHandoffIntercomUrl",
        f"intercom_webhook_url: {url}",
    )
    (project / "workflows.yaml").write_text(text)
    result = relayctl("validate")
    assert result.returncode == 0, result.stdout
    assert "warning: workflows.yaml:" in result.stdout
    assert url not in result.stdout + result.stderr

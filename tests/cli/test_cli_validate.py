"""``relayctl validate``: readable one-line problems and CI exit codes."""

from __future__ import annotations

import re

import pytest

LOCATED = re.compile(r"^error: workflows\.yaml:\d+:\d+:", re.MULTILINE)


def test_valid_file_passes(relayctl):
    result = relayctl("validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 workflows valid" in result.stdout


@pytest.mark.parametrize("name", ["workflows.yaml", "examples/workflows.yaml"])
def test_the_shipped_files_are_valid(relayctl, repo, name):
    result = relayctl("validate", "--file", str(repo / name))
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


# --- A newcomer's first stack, and the frictions found trying it (issue 21) ----------------


def test_the_shipped_placeholder_project_is_reported_with_the_fix(relayctl, project, repo):
    (project / "Pulumi.dev.yaml").write_text((repo / "Pulumi.dev.yaml").read_text())
    (project / "workflows.yaml").write_text((repo / "workflows.yaml").read_text())
    result = relayctl("validate", "--stack", "dev")
    assert result.returncode == 1
    assert (
        "error: Pulumi.dev.yaml: config 'gcp:project' is still the example value "
        "'my-gcp-project-id'. Fix: pulumi config set gcp:project YOUR_PROJECT_ID --stack dev"
    ) in result.stdout


def test_an_unset_project_is_reported(relayctl, project):
    (project / "Pulumi.dev.yaml").write_text("config:\n  gcp:region: us-central1\n")
    result = relayctl("validate", "--stack", "dev")
    assert result.returncode == 1
    assert "config 'gcp:project' is not set. Fix: pulumi config set gcp:project" in result.stdout


def test_any_other_invalid_setting_is_reported_too(relayctl, project):
    stack = project / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text() + "  jam-fin-relay:maxInstances: lots\n")
    result = relayctl("validate", "--stack", "dev")
    assert result.returncode == 1
    assert "config 'maxInstances' must be a whole number" in result.stdout


def test_a_key_without_the_projects_prefix_is_said_as_such_not_as_missing(relayctl, project):
    (project / "Pulumi.dev.yaml").write_text(
        "config:\n"
        "  gcp:project: demo-project\n"
        "  billingHandoffIntercomUrl:\n"
        "    secure: v1:AAAA:BBBB\n"
    )
    result = relayctl("validate", "--stack", "dev")
    assert result.returncode == 1
    assert (
        "error: Pulumi.dev.yaml:3: config key 'billingHandoffIntercomUrl' is written without a "
        "namespace; Pulumi reads only `namespace:key` lines here and refuses the whole file. "
        "Fix: write it as `jam-fin-relay:billingHandoffIntercomUrl`"
    ) in result.stdout
    assert "is not set on stack" not in result.stdout  # not reported as missing as well
    assert "failed: stack 'dev': 1 config problem(s)." in result.stdout


def test_a_key_under_another_projects_name_is_said_as_such(relayctl, project):
    (project / "Pulumi.dev.yaml").write_text(
        "config:\n  gcp:project: demo-project\n"
        "  relay:billingHandoffIntercomUrl:\n    secure: v1:AAAA:BBBB\n"
    )
    result = relayctl("validate", "--stack", "dev")
    assert "config key 'relay:billingHandoffIntercomUrl' is written under namespace 'relay'" in (
        result.stdout
    )
    assert "is not set on stack" not in result.stdout


def test_other_namespaces_are_not_questioned(relayctl, project):
    stack = project / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text() + "  gcp:zone: us-central1-a\n  other:thing: 1\n")
    result = relayctl("validate", "--stack", "dev")
    assert result.returncode == 0, result.stdout


def test_a_plaintext_signing_secret_says_rotate_it_in_jam(relayctl, project):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    (project / "Pulumi.dev.yaml").write_text(
        "config:\n  gcp:project: demo-project\n"
        "  jam-fin-relay:billingHandoffIntercomUrl:\n    secure: v1:AAAA:BBBB\n"
        f"  jam-fin-relay:billingHandoffJamSecret: {secret}\n"
    )
    result = relayctl("validate", "--stack", "dev")
    assert result.returncode == 1
    (line,) = [x for x in result.stdout.splitlines() if "billingHandoffJamSecret" in x]
    assert line.startswith("error: Pulumi.dev.yaml:5: The value of config")
    assert "Rotate the secret in Jam now" in line
    assert "pulumi config set --secret billingHandoffJamSecret" in line
    assert secret not in result.stdout + result.stderr
    assert "not as a secret" not in result.stdout  # one message for it, the one that says rotate


def test_a_signing_secret_under_any_key_says_rotate(relayctl, project):
    stack = project / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text() + "  jam-fin-relay:notes: whsec_MfKQ9r8GKYqrTwjUPD8I\n")
    result = relayctl("validate", "--stack", "dev")
    assert result.returncode == 1
    assert "Rotate the secret in Jam now" in result.stdout


def test_a_stack_file_that_is_not_yaml_gets_the_reason_and_a_fix(relayctl, project):
    (project / "Pulumi.dev.yaml").write_text(
        "config:\n  gcp:project: demo-project\n jam-fin-relay:maxInstances: 3\n"
    )
    result = relayctl("validate", "--stack", "dev")
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("failed: Pulumi.dev.yaml:3:")
    assert "not valid YAML: " in line
    assert "Fix: check the indentation (each key under `config:` indented the same)" in line


def test_a_non_breaking_space_in_the_stack_file_is_named_at_its_line(relayctl, project):
    (project / "Pulumi.dev.yaml").write_text(
        "config:\n  gcp:project: demo-project\n\u00a0 jam-fin-relay:maxInstances: 3\n"
    )
    result = relayctl("validate", "--stack", "dev")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "failed: Pulumi.dev.yaml:3:1: not valid YAML: A non-breaking space (U+00A0)"
    )
    assert "Fix: Replace it with an ordinary space" in result.stderr

"""Stacks filter, outputs, stable names, early failures, IAM wait, limits, source hash.

Alerting and monitoring resources are tested in test_monitoring.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from infra.settings import SETTING_KEYS
from infra.source import collect_source

STACKS_SECRETS = ("everywhereIntercomUrl", "devOnlyIntercomUrl", "prodOnlyIntercomUrl")


def _routes(run) -> dict[str, list[str]]:
    function = run.one("gcp:cloudfunctionsv2/function:Function")
    routes: dict[str, list[str]] = json.loads(
        function.inputs["serviceConfig"]["environmentVariables"]["RELAY_ROUTES"]
    )
    return routes


@pytest.mark.parametrize(
    ("stack", "expected"),
    [("dev", {"everywhere", "dev-only"}), ("prod", {"everywhere", "prod-only"})],
)
def test_stacks_filter_deploys_only_the_stacks_workflows(kit, stack, expected):
    run = kit.run(stack, kit.fixtures / "stacks.yaml", secrets=kit.secrets(*STACKS_SECRETS))
    assert run.error is None, run.error
    assert set(_routes(run)) == expected
    assert set(run.outputs["endpoints"]) == expected
    routes = {d.name for d in run.of_type("jam-fin-relay:index:WorkflowRoute")}
    assert routes == {f"relay-{w}" for w in expected}


def test_a_missing_key_of_another_stacks_workflow_is_not_required(kit):
    # prod-only's URL is absent; dev does not deploy it, so dev must still succeed.
    run = kit.run(
        "dev",
        kit.fixtures / "stacks.yaml",
        secrets=kit.secrets("everywhereIntercomUrl", "devOnlyIntercomUrl"),
    )
    assert run.error is None, run.error


def test_outputs_are_complete_and_hold_no_secret(kit):
    secrets = kit.secrets(
        "billingHandoffIntercomUrl",
        "bugReportTriageIntercomUrl",
        signing=("billingHandoffJamSecret",),
    )
    run = kit.run("dev", kit.fixtures / "two.yaml", secrets=secrets)
    assert run.error is None, run.error
    # Google's deterministic 2nd-gen URL (issue 21.1), written out here, not derived.
    url = "https://europe-west1-acme-support-dev.cloudfunctions.net/jam-fin-relay-dev"
    assert run.outputs["relay_url"] == url
    assert run.outputs["endpoints"] == {
        "billing-handoff": f"{url}/workflows/billing-handoff",
        "bug-report-triage": f"{url}/workflows/bug-report-triage",
    }
    assert run.outputs["jam_setup"] == {
        "billing-handoff": {
            "endpoint_url": f"{url}/workflows/billing-handoff",
            "events": ["intercom.recorder.recorded", "intercom.recorder.opted_out"],
            "signing_secret_set": True,
            "set_signing_secret_command": (
                "pulumi config set --secret billingHandoffJamSecret --stack dev"
            ),
        },
        "bug-report-triage": {
            "endpoint_url": f"{url}/workflows/bug-report-triage",
            "events": ["intercom.recorder.recorded"],
            "signing_secret_set": False,
            "set_signing_secret_command": (
                "pulumi config set --secret bugReportTriageJamSecret --stack dev"
            ),
        },
    }
    assert run.outputs["runtime_service_account"] == (
        "jam-fin-relay-dev-run@acme-support-dev.iam.gserviceaccount.com"
    )
    assert run.outputs["build_service_account"] == (
        "jam-fin-relay-dev-build@acme-support-dev.iam.gserviceaccount.com"
    )
    function = run.one("gcp:cloudfunctionsv2/function:Function")
    assert run.outputs["cloud_run_url"] == function.state["serviceConfig"]["uri"]
    assert run.outputs["source_object"] == collect_source().object_name
    assert run.outputs["outcome_metric"] == "jam-fin-relay-dev-outcomes"
    assert run.secret_outputs == set()
    dumped = json.dumps(run.outputs)
    for value in secrets.values():
        assert value not in dumped


def test_adding_a_workflow_keeps_every_existing_resource_name(kit):
    base = kit.secrets("billingHandoffIntercomUrl", "bugReportTriageIntercomUrl")
    before = kit.run("dev", kit.fixtures / "two.yaml", secrets=base)
    after = kit.run(
        "dev",
        kit.fixtures / "three.yaml",
        secrets=base | kit.secrets("accountRecoveryIntercomUrl"),
    )
    assert before.error is None
    assert after.error is None
    assert before.names() <= after.names()
    added = after.names() - before.names()
    assert len(added) == 6  # route component, 2 secrets, 1 version, 2 grants
    assert all("account-recovery" in name for _, name in added)
    # Removing it again is the same comparison the other way round.
    assert {(t, n) for t, n in after.names() if "account-recovery" not in n} == before.names()


def _assert_declares_nothing(run) -> None:
    assert run.error is not None
    assert run.declared == []  # failed before the first resource
    assert run.outputs == {}


def test_a_bad_file_fails_with_the_loaders_message(kit):
    run = kit.run(
        "dev", kit.fixtures / "bad_event.yaml", secrets=kit.secrets("billingHandoffIntercomUrl")
    )
    _assert_declares_nothing(run)
    message = str(run.error)
    assert "bad_event.yaml:7:" in message
    assert "billing-handoff" in message
    assert "intercom.recorder.recorded" in message  # the closest valid event


def test_an_empty_stored_url_is_called_empty(kit):
    """`pulumi config set --secret KEY ""` stores a value, so the key is present; the message
    says it is empty, not that it is no URL."""
    run = kit.run("dev", kit.fixtures / "one.yaml", secrets={"billingHandoffIntercomUrl": ""})
    _assert_declares_nothing(run)
    assert str(run.error) == (
        "config 'billingHandoffIntercomUrl' (workflow 'billing-handoff'): the URL is empty. Fix: "
        "Copy the URL again from the Fin workflow's Wait for webhook step. Store the corrected "
        "URL with `pulumi config set --secret billingHandoffIntercomUrl --stack dev`."
    )


def test_a_missing_workflows_file_fails_clearly(kit, tmp_path):
    run = kit.run("dev", tmp_path / "nope.yaml")
    _assert_declares_nothing(run)
    assert "nope.yaml" in str(run.error)


def test_a_missing_config_key_names_it_and_the_command(kit):
    run = kit.run(
        "prod", kit.fixtures / "two.yaml", secrets=kit.secrets("billingHandoffIntercomUrl")
    )
    _assert_declares_nothing(run)
    message = str(run.error)
    assert "bugReportTriageIntercomUrl" in message
    assert "pulumi config set --secret bugReportTriageIntercomUrl --stack prod" in message
    assert "billingHandoffIntercomUrl" not in message


def test_every_missing_key_is_listed_at_once(kit):
    run = kit.run("dev", kit.fixtures / "two.yaml")
    _assert_declares_nothing(run)
    assert "billingHandoffIntercomUrl" in str(run.error)
    assert "bugReportTriageIntercomUrl" in str(run.error)


def test_a_url_stored_in_plain_text_is_refused(kit):
    run = kit.run(
        "dev",
        kit.fixtures / "one.yaml",
        config={"billingHandoffIntercomUrl": kit.intercom_url.format(0)},
    )
    _assert_declares_nothing(run)
    assert "not as a secret" in str(run.error)
    assert kit.intercom_url.format(0) not in str(run.error)


def test_a_bad_intercom_url_in_config_fails_without_repeating_it(kit):
    bad = kit.intercom_url.format(0) + "/<Conversation ID>"
    run = kit.run("dev", kit.fixtures / "one.yaml", secrets={"billingHandoffIntercomUrl": bad})
    _assert_declares_nothing(run)
    message = str(run.error)
    assert "billingHandoffIntercomUrl" in message
    assert "placeholder" in message
    assert "tok_0_s3cr3t" not in message


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"concurrency": "8", "cpu": "0.5"}, "needs 'cpu' of at least 1"),
        ({"memory": "lots"}, "config 'memory'"),
        ({"maxInstances": "0"}, "config 'maxInstances'"),
        ({"minInstances": "5", "maxInstances": "2"}, "above 'maxInstances'"),
        ({"ingress": "PUBLIC"}, "config 'ingress'"),
        ({"alertNotificationChannels": '["email-me"]'}, "alertNotificationChannels"),
        ({"labels": "Team=Support"}, "config 'labels'"),
        ({"gcp:project": ""}, "gcp:project"),
        # deploy settings: the IAM wait and public access (issue 10)
        ({"iamPropagationSeconds": "-1"}, "config 'iamPropagationSeconds'"),
        ({"publicAccess": "public"}, "config 'publicAccess'"),
        ({"orgPolicyPropagationSeconds": "3601"}, "config 'orgPolicyPropagationSeconds'"),
    ],
)
def test_invalid_settings_fail_clearly_before_any_resource(kit, config, fragment):
    run = kit.run(
        "dev",
        kit.fixtures / "one.yaml",
        config=config,
        secrets=kit.secrets("billingHandoffIntercomUrl"),
    )
    _assert_declares_nothing(run)
    assert fragment in str(run.error)
    assert "Fix:" in str(run.error)


def test_a_literal_url_is_stored_as_a_secret_and_warned(kit):
    run = kit.run("dev", kit.fixtures / "literal.yaml")
    assert run.error is None, run.error
    version = run.one("gcp:secretmanager/secretVersion:SecretVersion", "relay-sandbox-intercom-url")
    assert version.inputs["secretData"].endswith("tok_literal_s3cr3t")
    assert "secretData" in version.secret_inputs
    assert any("literal" in w.lower() or "plain text" in w.lower() for w in run.warnings)
    setup = run.outputs["jam_setup"]["sandbox"]
    assert setup["signing_secret_set"] is False
    assert setup["set_signing_secret_command"] == (
        "add `jam_signing_secret: {config: KEY}` to this workflow in the workflows file, "
        "then run: pulumi config set --secret KEY --stack dev"
    )
    assert "tok_literal_s3cr3t" not in json.dumps(run.outputs)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_example_workflows_file_deploys(kit, stack):
    secrets = kit.secrets("billingHandoffIntercomUrl", "bugReportTriageIntercomUrl")
    run = kit.run(stack, kit.repo / "examples" / "workflows.yaml", secrets=secrets)
    assert run.error is None, run.error
    assert set(run.outputs["endpoints"]) == {"billing-handoff", "bug-report-triage"}


def _copy_source(tmp_path: Path, repo: Path) -> Path:
    target = tmp_path / "relay_function"
    shutil.copytree(repo / "relay_function", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_source_archive_name_changes_exactly_with_the_source(kit, tmp_path):
    source_dir = _copy_source(tmp_path, kit.repo)
    first = collect_source(source_dir)
    assert first.object_name == collect_source(source_dir).object_name
    cache = source_dir / "__pycache__"
    cache.mkdir()
    (cache / "main.cpython-311.pyc").write_bytes(b"\0compiled")
    (source_dir / "notes.md").write_text("not deployed")
    assert collect_source(source_dir).object_name == first.object_name
    names = {name for name, _ in first.files}
    assert {"main.py", "naming.py", "requirements.txt"} <= names
    assert not any("__pycache__" in name or name.endswith(".md") for name in names)
    naming = source_dir / "naming.py"
    naming.write_text(naming.read_text() + "\n# changed\n")
    assert collect_source(source_dir).object_name != first.object_name
    (source_dir / "extra.py").write_text("VALUE = 1\n")
    assert "extra.py" in {name for name, _ in collect_source(source_dir).files}


def test_pulumi_yaml_declares_every_setting_with_its_default(kit):
    project = yaml.safe_load((kit.repo / "Pulumi.yaml").read_text())
    assert project["name"] == "jam-fin-relay"
    declared = project["config"]
    assert set(declared) == set(SETTING_KEYS)
    for key, default in SETTING_KEYS.items():
        shown = declared[key]["default"]
        if key == "functionName":
            assert shown == ""  # empty means jam-fin-relay-<stack>
        elif isinstance(shown, list | bool):
            assert json.dumps(shown) == default
        else:
            assert str(shown) == default, key
        assert declared[key]["description"]
    docs = (kit.repo / "docs" / "configuration.md").read_text()
    for key in SETTING_KEYS:
        assert f"`{key}`" in docs, key


def test_pulumi_dev_yaml_holds_no_secret_material(kit):
    text = (kit.repo / "Pulumi.dev.yaml").read_text()
    stack = yaml.safe_load(text)
    assert "secure" not in text
    assert set(stack["config"]) >= {"gcp:project", "gcp:region"}
    # A new user's stack starts with no workflow's keys: `relayctl add` stores them (issue 21).
    for key in ("billingHandoffIntercomUrl", "bugReportTriageJamSecret"):
        assert key not in text
    assert "relayctl add ID --stack dev" in text


# --- The IAM propagation wait (issue 10) ---------------------------------------------------
# (Its invalid settings are cases of test_invalid_settings_fail_clearly_before_any_resource.)

SLEEP = "time:index/sleep:Sleep"
TWO_SECRETS = ("billingHandoffIntercomUrl", "bugReportTriageIntercomUrl")


def _wait_trigger(run) -> dict[str, str]:
    assert run.error is None, run.error
    triggers: dict[str, str] = run.one(SLEEP, "relay-iam-propagation").inputs["triggers"]
    return triggers


def test_the_iam_wait_trigger_is_stable_when_no_grant_changes(kit):
    first = kit.run("dev", kit.fixtures / "two.yaml", secrets=kit.secrets(*TWO_SECRETS))
    again = kit.run("dev", kit.fixtures / "two.yaml", secrets=kit.secrets(*TWO_SECRETS))
    assert _wait_trigger(first) == _wait_trigger(again)


def test_a_new_secret_value_is_not_a_new_grant_so_nothing_waits(kit):
    # Storing a Jam signing secret adds a secret version, not a grant: no new wait.
    before = kit.run("dev", kit.fixtures / "two.yaml", secrets=kit.secrets(*TWO_SECRETS))
    after = kit.run(
        "dev",
        kit.fixtures / "two.yaml",
        secrets=kit.secrets(*TWO_SECRETS, signing=("billingHandoffJamSecret",)),
    )
    assert _wait_trigger(before) == _wait_trigger(after)


def test_the_iam_wait_trigger_changes_when_a_grant_is_added_or_removed(kit):
    base = kit.secrets(*TWO_SECRETS)
    two = kit.run("dev", kit.fixtures / "two.yaml", secrets=base)
    three = kit.run(
        "dev",
        kit.fixtures / "three.yaml",
        secrets=base | kit.secrets("accountRecoveryIntercomUrl"),
    )
    assert _wait_trigger(two) != _wait_trigger(three)  # a workflow added: two more grants
    assert _wait_trigger(three)["count"] == "7"  # 3 workflows x 2 secrets + the build role
    one = kit.run("dev", kit.fixtures / "one.yaml", secrets=kit.secrets(TWO_SECRETS[0]))
    assert _wait_trigger(one) != _wait_trigger(two)  # a workflow removed


def test_the_iam_wait_duration_is_a_stack_setting(kit):
    run = kit.run(
        "dev",
        kit.fixtures / "one.yaml",
        config={"iamPropagationSeconds": "420"},
        secrets=kit.secrets("billingHandoffIntercomUrl"),
    )
    assert run.error is None, run.error
    assert run.one(SLEEP, "relay-iam-propagation").inputs["createDuration"] == "420s"


# --- Platform limits before any resource (issue 10) ----------------------------------------


def _many_workflows(path: Path, count: int) -> tuple[Path, list[str]]:
    lines = ["version: 1", "workflows:"]
    keys = []
    for index in range(count):
        workflow_id = f"support-escalation-workflow-{index:03d}"
        key = f"supportEscalationWorkflow{index:03d}IntercomUrl"
        keys.append(key)
        lines += [
            f"  - id: {workflow_id}",
            f"    description: Workflow number {index}",
            f"    intercom_webhook_url: {{config: {key}}}",
            f"    jam_signing_secret: {{config: supportEscalationWorkflow{index:03d}JamSecret}}",
        ]
    file = path / "many.yaml"
    file.write_text("\n".join(lines) + "\n")
    return file, keys


def test_a_stack_over_the_environment_limit_fails_before_any_resource(kit, tmp_path):
    file, keys = _many_workflows(tmp_path, 120)
    run = kit.run("dev", file, secrets=kit.secrets(*keys))
    _assert_declares_nothing(run)
    message = str(run.error)
    # The loader reports it, for every stack, with the longest names any stack can have
    # (infra.relay_env.env_budget; test_relay_env_budget.py shows no stack needs more).
    assert "120 workflows" in message
    assert "32768" in message  # the limit, named
    assert "one relay fits about" in message
    assert "Fix:" in message
    assert "stacks:" in message


def test_a_stack_within_the_environment_limit_deploys(kit, tmp_path):
    file, keys = _many_workflows(tmp_path, 40)
    run = kit.run("dev", file, secrets=kit.secrets(*keys))
    assert run.error is None, run.error
    assert len(run.outputs["endpoints"]) == 40

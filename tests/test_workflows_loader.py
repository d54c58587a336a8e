"""The workflows.yaml v1 loader: every error class located, with its workflow and its fix."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.intercom_url import intercom_url_problem
from infra.workflows import (
    ConfigRef,
    LiteralUrl,
    Problem,
    Workflow,
    WorkflowsFile,
    WorkflowsFileError,
    load_workflows,
    missing_config_problems,
    parse_workflows,
)
from relay_function.naming import DEFAULT_EVENTS, JAM_CREATED, OPTED_OUT, RECORDED

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "workflows"
# Fake capability values: a test fails if any of them leaks into a message.
TOKEN = "TESTONLY-token-9f8e7d"
SECRET = "whsec_TESTONLYc2VjcmV0LXZhbHVlLTEyMzQ="


def yaml_text(body: str) -> str:
    return textwrap.dedent(body).lstrip("\n")


def workflows_yaml(entries: str) -> str:
    """A v1 file with the given workflow entries (written at 2-space indent)."""
    return "version: 1\nworkflows:\n" + textwrap.indent(yaml_text(entries), "  ")


def problems_of(text: str) -> tuple[Problem, ...]:
    with pytest.raises(WorkflowsFileError) as caught:
        parse_workflows(text, "wf.yaml")
    return caught.value.problems


def only_problem(text: str) -> Problem:
    problems = problems_of(text)
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def with_url(url: str, workflow_id: str = "billing-handoff") -> str:
    return workflows_yaml(f"- id: {workflow_id}\n  intercom_webhook_url: '{url}'\n")


# ------------------------------------------------------------------------------------------
# Valid files


def test_the_shipped_workflows_yaml_starts_empty_and_says_how_to_add_one() -> None:
    """A stack made from the template deploys the user's own workflows, not ours (issue 21)."""
    shipped = ROOT / "workflows.yaml"
    assert load_workflows(shipped).workflows == ()
    assert "relayctl add ID --stack STACK" in shipped.read_text()


def test_example_workflows_yaml_loads() -> None:
    loaded = load_workflows(ROOT / "examples" / "workflows.yaml")
    assert loaded.version == 1
    assert [w.id for w in loaded.workflows] == ["billing-handoff", "bug-report-triage"]
    assert loaded.warnings == ()


def test_valid_file_yields_the_exact_dataclasses() -> None:
    text = workflows_yaml(
        """
        - id: billing-handoff
          description: Ask first
          intercom_webhook_url: {config: billingHandoffIntercomUrl}
          jam_signing_secret:
            config: billingHandoffJamSecret
          events: [jam.created, intercom.recorder.recorded]
          stacks: [dev, prod]
        - id: triage
          intercom_webhook_url: {config: triageUrl}
        """
    )
    loaded = parse_workflows(text, "wf.yaml")
    assert loaded == WorkflowsFile(
        path="wf.yaml",
        version=1,
        workflows=(
            Workflow(
                id="billing-handoff",
                description="Ask first",
                intercom_webhook_url=ConfigRef("billingHandoffIntercomUrl"),
                jam_signing_secret=ConfigRef("billingHandoffJamSecret"),
                events=(JAM_CREATED, RECORDED),
                stacks=("dev", "prod"),
            ),
            Workflow(
                id="triage",
                description="",
                intercom_webhook_url=ConfigRef("triageUrl"),
                jam_signing_secret=None,
                events=DEFAULT_EVENTS,
                stacks=None,
            ),
        ),
    )


def test_positions_are_recorded_on_workflows_and_config_refs() -> None:
    loaded = parse_workflows(
        workflows_yaml("- id: a\n  intercom_webhook_url: {config: aUrl}\n"), "wf.yaml"
    )
    workflow = loaded.workflows[0]
    assert workflow.line == 3
    assert isinstance(workflow.intercom_webhook_url, ConfigRef)
    assert (workflow.intercom_webhook_url.line, workflow.intercom_webhook_url.column) == (4, 36)


def test_loaded_dataclasses_are_frozen() -> None:
    loaded = load_workflows(ROOT / "examples" / "workflows.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.workflows[0].id = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.path = "x"  # type: ignore[misc]


def test_for_stack_keeps_workflows_listing_the_stack_or_no_stacks() -> None:
    text = workflows_yaml(
        """
        - id: everywhere
          intercom_webhook_url: {config: a}
        - id: prod-only
          intercom_webhook_url: {config: b}
          stacks: [prod]
        - id: dev-and-prod
          intercom_webhook_url: {config: c}
          stacks: [dev, prod]
        """
    )
    loaded = parse_workflows(text)
    assert [w.id for w in loaded.for_stack("dev")] == ["everywhere", "dev-and-prod"]
    assert [w.id for w in loaded.for_stack("prod")] == ["everywhere", "prod-only", "dev-and-prod"]
    assert [w.id for w in loaded.for_stack("staging")] == ["everywhere"]


def test_empty_workflows_list_is_allowed() -> None:
    assert parse_workflows("version: 1\nworkflows: []\n").workflows == ()


def test_aliases_are_followed() -> None:
    loaded = load_workflows(FIXTURES / "valid" / "anchors.yaml")
    assert [w.stacks for w in loaded.workflows] == [("dev", "prod"), ("dev", "prod")]


def test_workflow_exposes_the_shared_naming_rule() -> None:
    workflow = load_workflows(ROOT / "examples" / "workflows.yaml").workflows[0]
    assert (workflow.env_suffix, workflow.route_path) == (
        "BILLING_HANDOFF",
        "/workflows/billing-handoff",
    )


# ------------------------------------------------------------------------------------------
# File-level errors


def test_empty_file_is_an_error() -> None:
    problem = only_problem("")
    assert (problem.line, problem.column) == (1, 1)
    assert "empty" in problem.message
    assert "version: 1" in problem.fix


def test_comment_only_file_is_empty() -> None:
    assert "empty" in only_problem("# nothing yet\n").message


def test_not_yaml_reports_the_parser_position() -> None:
    problem = only_problem("version: 1\nworkflows:\n  - id: [billing\n")
    assert "not valid YAML" in problem.message
    assert (problem.line, problem.column) == (4, 1)
    assert "syntax" in problem.fix


def test_tab_indentation_is_reported_as_yaml_error_with_position() -> None:
    problem = only_problem("version: 1\nworkflows:\n\t- id: a\n")
    assert "not valid YAML" in problem.message
    assert problem.line == 3


def test_control_character_is_located() -> None:
    problem = only_problem("version: 1\nworkflows: [\x07]\n")
    assert (problem.line, problem.column) == (2, 13)
    assert "#x0007" in problem.message


def test_invalid_utf8_file_is_located(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_bytes(b"version: 1\nworkflows: [\xff]\n")
    with pytest.raises(WorkflowsFileError) as caught:
        load_workflows(path)
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (2, 13)
    assert "UTF-8" in problem.fix


def test_unreadable_path_is_a_workflows_file_error(tmp_path: Path) -> None:
    with pytest.raises(WorkflowsFileError) as caught:
        load_workflows(tmp_path / "missing.yaml")
    assert "cannot be read" in caught.value.problems[0].message


def test_top_level_must_be_a_mapping() -> None:
    problem = only_problem("- version: 1\n")
    assert "top level" in problem.message
    assert "a list" in problem.message
    assert "version: 1" in problem.fix


def test_missing_version() -> None:
    problem = only_problem("workflows: []\n")
    assert (problem.line, problem.column) == (1, 1)
    assert "'version' is missing" in problem.message
    assert "version: 1" in problem.fix


def test_unknown_version_number() -> None:
    problem = only_problem("version: 2\nworkflows: []\n")
    assert (problem.line, problem.column) == (1, 10)
    assert "Unknown version '2'" in problem.message
    assert "version: 1" in problem.fix


@pytest.mark.parametrize(
    ("value", "kind"), [("'1'", "a string"), ("true", "a boolean"), ("1.0", "a number")]
)
def test_version_of_the_wrong_type(value: str, kind: str) -> None:
    problem = only_problem(f"version: {value}\nworkflows: []\n")
    assert f"must be the integer 1, not {kind}" in problem.message
    assert (problem.line, problem.column) == (1, 10)
    assert "without quotes" in problem.fix


def test_missing_workflows() -> None:
    problem = only_problem("version: 1\n")
    assert "'workflows' is missing" in problem.message
    assert "workflows:" in problem.fix


def test_workflows_must_be_a_list() -> None:
    problem = only_problem("version: 1\nworkflows:\n  id: a\n")
    assert (problem.line, problem.column) == (3, 3)
    assert "'workflows' must be a list, not a mapping" in problem.message
    assert "- id:" in problem.fix


def test_workflow_entry_must_be_a_mapping() -> None:
    problem = only_problem("version: 1\nworkflows:\n  - billing-handoff\n")
    assert (problem.line, problem.column) == (3, 5)
    assert "must be a mapping, not a string" in problem.message
    assert "- id:" in problem.fix


# ------------------------------------------------------------------------------------------
# Keys


def test_unknown_top_level_key_suggests_the_closest() -> None:
    problems = problems_of("version: 1\nworkflows: []\nworkflow: []\n")
    (problem,) = problems
    assert (problem.line, problem.column) == (3, 1)
    assert "Unknown key 'workflow'" in problem.message
    assert "Did you mean 'workflows'?" in problem.fix


def test_unknown_workflow_key_suggests_the_closest_and_names_the_workflow() -> None:
    problem = only_problem(
        workflows_yaml(
            "- id: billing-handoff\n  intercom_webhook_url: {config: a}\n  desciption: x\n"
        )
    )
    assert (problem.line, problem.column) == (5, 5)
    assert problem.workflow_id == "billing-handoff"
    assert "Unknown key 'desciption'" in problem.message
    assert "Did you mean 'description'?" in problem.fix


def test_unknown_key_with_different_spelling_style_is_matched() -> None:
    problems = problems_of(workflows_yaml("- id: a\n  intercomWebhookUrl: {config: a}\n"))
    unknown = [p for p in problems if "Unknown key 'intercomWebhookUrl'" in p.message]
    assert [p.fix.split("?")[0] for p in unknown] == ["Did you mean 'intercom_webhook_url'"]


def test_unknown_key_without_a_close_match_lists_the_valid_keys() -> None:
    problems = problems_of(
        workflows_yaml("- id: a\n  intercom_webhook_url: {config: a}\n  zzz: 1\n")
    )
    (problem,) = problems
    assert "Remove it; valid keys here: id, description" in problem.fix


def test_unknown_key_in_config_ref() -> None:
    problems = problems_of(workflows_yaml("- id: a\n  intercom_webhook_url: {conifg: k}\n"))
    unknown = [p for p in problems if "Unknown key 'conifg'" in p.message]
    assert len(unknown) == 1
    assert "Did you mean 'config'?" in unknown[0].fix
    assert unknown[0].workflow_id == "a"


def test_duplicate_mapping_key_is_detected() -> None:
    problem = only_problem(
        workflows_yaml(
            """
            - id: billing-handoff
              intercom_webhook_url: {config: a}
              events: [jam.created]
              events: [intercom.recorder.recorded]
            """
        )
    )
    assert (problem.line, problem.column) == (6, 5)
    assert problem.workflow_id == "billing-handoff"
    assert "Duplicate key 'events'" in problem.message
    assert "first at line 5" in problem.message
    assert "delete the other" in problem.fix


def test_duplicate_top_level_key_is_detected() -> None:
    problem = only_problem("version: 1\nworkflows: []\nversion: 1\n")
    assert (problem.line, problem.column) == (3, 1)
    assert "Duplicate key 'version'" in problem.message


def test_non_string_key_is_an_error() -> None:
    problem = only_problem("version: 1\nworkflows: []\n3: x\n")
    assert (problem.line, problem.column) == (3, 1)
    assert "an integer, not a string" in problem.message


def test_merge_key_is_rejected_with_a_fix() -> None:
    text = workflows_yaml(
        """
        - &base
          id: a
          intercom_webhook_url: {config: a}
        - <<: *base
          id: b
        """
    )
    problems = problems_of(text)
    assert any("Merge keys" in p.message and "alias" in p.fix for p in problems)


# ------------------------------------------------------------------------------------------
# Ids


def test_missing_id() -> None:
    problem = only_problem(workflows_yaml("- intercom_webhook_url: {config: a}\n"))
    assert (problem.line, problem.column) == (3, 5)
    assert "'id' is missing" in problem.message
    assert "id: some-name" in problem.fix


@pytest.mark.parametrize(
    ("value", "kind"), [("42", "an integer"), ("true", "a boolean"), ("[a]", "a list")]
)
def test_id_of_the_wrong_type(value: str, kind: str) -> None:
    problem = only_problem(
        workflows_yaml(f"- id: {value}\n  intercom_webhook_url: {{config: a}}\n")
    )
    assert (problem.line, problem.column) == (3, 9)
    assert f"'id' must be a string, not {kind}" in problem.message
    assert "id: billing-handoff" in problem.fix


@pytest.mark.parametrize(
    ("workflow_id", "broken", "suggested"),
    [
        (
            "Billing-Handoff",
            "starts with 'B', it must start with a lower-case letter",
            "billing-handoff",
        ),
        ("billing_handoff", "contains '_'", "billing-handoff"),
        ("billing-", "ends with a hyphen", "billing"),
        ("9lives", "starts with '9'", "lives"),
        ("a" * 41, "41 characters long, the limit is 40", "a" * 40),
        ("'bill ing'", "contains ' '", "bill-ing"),
        ("''", "it is empty", None),
    ],
)
def test_invalid_id_says_which_part_of_the_rule_is_broken(
    workflow_id: str, broken: str, suggested: str | None
) -> None:
    problem = only_problem(
        workflows_yaml(f"- id: {workflow_id}\n  intercom_webhook_url: {{config: a}}\n")
    )
    assert (problem.line, problem.column) == (3, 9)
    assert broken in problem.message
    assert "lower-case letters, digits and hyphens" in problem.fix
    if suggested is not None:
        assert f"e.g. `id: {suggested}`" in problem.fix


def test_invalid_id_is_still_named_as_the_workflow() -> None:
    problem = only_problem(workflows_yaml("- id: Bad\n  intercom_webhook_url: {config: a}\n"))
    assert problem.workflow_id == "Bad"


def test_duplicate_id_points_at_the_second_and_names_the_first_line() -> None:
    problem = only_problem(
        workflows_yaml(
            """
            - id: billing-handoff
              intercom_webhook_url: {config: a}
            - id: billing-handoff
              intercom_webhook_url: {config: b}
            """
        )
    )
    assert (problem.line, problem.column) == (5, 9)
    assert problem.workflow_id == "billing-handoff"
    assert "already used by the workflow at line 3" in problem.message
    assert "its own id" in problem.fix


# A trailing newline: what YAML's block scalars (`|`) and a quoted "\n" give. The schema's `$`
# is the end of the text (ECMA-262, as editors read it), where Python's `$` would also match
# before a final newline and let these through.
@pytest.mark.parametrize(
    ("entry", "where", "said"),
    [
        (
            '- id: "billing\\n"\n  intercom_webhook_url: {config: billingUrl}\n',
            (3, 9),
            "Workflow id 'billing\\n' is not valid: it contains '\\n'",
        ),
        (
            '- id: billing\n  intercom_webhook_url: {config: "billingUrl\\n"}\n',
            (4, 36),
            "The config key 'billingUrl\\n' of 'intercom_webhook_url' is not a valid",
        ),
        (
            '- id: billing\n  intercom_webhook_url: {config: billingUrl}\n  stacks: ["dev\\n"]\n',
            (5, 14),
            "Stack name 'dev\\n' is not valid: it contains '\\n'",
        ),
    ],
)
def test_a_trailing_newline_is_not_part_of_a_valid_name(
    entry: str, where: tuple[int, int], said: str
) -> None:
    problem = only_problem(workflows_yaml(entry))
    assert (problem.line, problem.column) == where
    assert said in problem.message
    assert "\n" not in str(problem)  # one line per problem, whatever the value holds


def test_an_id_with_a_line_break_does_not_name_its_workflow() -> None:
    text = workflows_yaml('- id: "billing\\nhandoff"\n  intercom_webhook_url: {config: u}\n')
    problem = only_problem(text)
    assert problem.workflow_id is None
    assert "`id: billing-handoff`" in problem.fix


# ------------------------------------------------------------------------------------------
# Fields


def test_description_must_be_a_string() -> None:
    problem = only_problem(
        workflows_yaml("- id: a\n  intercom_webhook_url: {config: a}\n  description: 42\n")
    )
    assert (problem.line, problem.column) == (5, 18)
    assert "'description' must be a string, not an integer" in problem.message
    assert "remove the key" in problem.fix


def test_missing_intercom_url_suggests_a_config_key_named_after_the_workflow() -> None:
    problem = only_problem(workflows_yaml("- id: billing-handoff\n"))
    assert problem.workflow_id == "billing-handoff"
    assert "'intercom_webhook_url' is missing" in problem.message
    assert "pulumi config set --secret billingHandoffIntercomUrl" in problem.fix


def test_intercom_url_of_the_wrong_type() -> None:
    problem = only_problem(workflows_yaml("- id: a\n  intercom_webhook_url: [x]\n"))
    assert (problem.line, problem.column) == (4, 27)
    assert "not a list" in problem.message
    assert "{config: aIntercomUrl}" in problem.fix


def test_literal_signing_secret_is_an_error_that_never_echoes_it() -> None:
    problem = only_problem(
        workflows_yaml(
            f"- id: billing-handoff\n  intercom_webhook_url: {{config: a}}\n"
            f"  jam_signing_secret: {SECRET}\n"
        )
    )
    assert (problem.line, problem.column) == (5, 25)
    assert problem.workflow_id == "billing-handoff"
    assert "literal" in problem.message
    assert "pulumi config set --secret billingHandoffJamSecret" in problem.fix
    assert SECRET not in str(problem)


def test_signing_secret_of_the_wrong_type() -> None:
    problem = only_problem(
        workflows_yaml("- id: a\n  intercom_webhook_url: {config: a}\n  jam_signing_secret: 5\n")
    )
    assert "must be `{config: KEY}`, not an integer" in problem.message
    assert "{config: aJamSecret}" in problem.fix


def test_config_ref_without_config_key() -> None:
    problems = problems_of(workflows_yaml("- id: a\n  intercom_webhook_url: {}\n"))
    (problem,) = problems
    assert (problem.line, problem.column) == (4, 27)
    assert "mapping without 'config'" in problem.message
    assert "{config: aIntercomUrl}" in problem.fix


def test_namespaced_config_key_is_an_error_with_the_bare_key_as_fix() -> None:
    problem = only_problem(
        workflows_yaml("- id: a\n  intercom_webhook_url: {config: 'jam-fin-relay:aUrl'}\n")
    )
    assert (problem.line, problem.column) == (4, 36)
    assert "has a namespace ('jam-fin-relay':)" in problem.message
    assert "`config: aUrl`" in problem.fix


def test_config_key_with_invalid_characters() -> None:
    problem = only_problem(workflows_yaml("- id: a\n  intercom_webhook_url: {config: 'a key'}\n"))
    assert "not a valid Pulumi config key" in problem.message
    assert "Start with a letter" in problem.fix


def test_config_key_must_be_a_string() -> None:
    problem = only_problem(workflows_yaml("- id: a\n  intercom_webhook_url: {config: 7}\n"))
    assert "must be a string, not an integer" in problem.message


def test_url_pasted_as_config_key_is_not_echoed_and_says_to_rotate() -> None:
    url = f"https://intercom.example/hooks/{TOKEN}"
    problem = only_problem(
        workflows_yaml(f"- id: a\n  intercom_webhook_url: {{config: '{url}'}}\n")
    )
    assert "looks like a value" in problem.message
    assert "rotate" in problem.fix
    assert TOKEN not in str(problem)


def test_one_config_key_for_url_and_signing_secret_is_an_error_at_the_second() -> None:
    problem = only_problem(
        workflows_yaml(
            """
            - id: billing-handoff
              intercom_webhook_url: {config: billingHandoffSecrets}
              jam_signing_secret: {config: billingHandoffSecrets}
            """
        )
    )
    assert (problem.line, problem.column, problem.workflow_id) == (5, 34, "billing-handoff")
    assert problem.message == (
        "Config key 'billingHandoffSecrets' of 'jam_signing_secret' is already the key of "
        "'intercom_webhook_url' at line 4; one key cannot hold both the Intercom URL and the "
        "Jam signing secret."
    )
    assert "`intercom_webhook_url: {config: billingHandoffIntercomUrl}`" in problem.fix
    assert "`jam_signing_secret: {config: billingHandoffJamSecret}`" in problem.fix


def test_shared_key_is_reported_at_whichever_reference_comes_second() -> None:
    problem = only_problem(
        workflows_yaml(
            """
            - id: billing-handoff
              jam_signing_secret: {config: shared}
              intercom_webhook_url: {config: shared}
            """
        )
    )
    assert (problem.line, problem.column) == (5, 36)
    assert "'intercom_webhook_url' is already the key of 'jam_signing_secret' at line 4" in (
        problem.message
    )


def test_another_workflows_url_key_used_as_a_signing_secret_is_an_error() -> None:
    problem = only_problem(
        workflows_yaml(
            """
            - id: billing-handoff
              intercom_webhook_url: {config: billingHandoffIntercomUrl}
            - id: triage
              intercom_webhook_url: {config: triageIntercomUrl}
              jam_signing_secret: {config: billingHandoffIntercomUrl}
            """
        )
    )
    assert (problem.line, problem.column, problem.workflow_id) == (7, 34, "triage")
    assert "of workflow 'billing-handoff' at line 4" in problem.message
    assert problem.fix == (
        "Give this workflow's 'jam_signing_secret' its own key, e.g. "
        "`jam_signing_secret: {config: triageJamSecret}`, and set it with "
        "`pulumi config set --secret triageJamSecret`."
    )


def test_two_workflows_sharing_an_intercom_url_key_is_an_error_naming_both() -> None:
    problem = only_problem(
        workflows_yaml(
            """
            - id: billing-handoff
              intercom_webhook_url: {config: sharedIntercomUrl}
            - id: triage
              intercom_webhook_url: {config: sharedIntercomUrl}
            """
        )
    )
    assert (problem.line, problem.column, problem.workflow_id) == (6, 36, "triage")
    assert "of workflow 'billing-handoff' at line 4" in problem.message
    assert "each workflow needs its own Fin workflow's webhook URL" in problem.message
    assert "`intercom_webhook_url: {config: triageIntercomUrl}`" in problem.fix


def test_two_workflows_sharing_a_signing_secret_key_is_an_error_with_the_reason() -> None:
    problem = only_problem(
        workflows_yaml(
            """
            - id: billing-handoff
              intercom_webhook_url: {config: billingHandoffIntercomUrl}
              jam_signing_secret: {config: sharedJamSecret}
            - id: triage
              intercom_webhook_url: {config: triageIntercomUrl}
              jam_signing_secret: {config: sharedJamSecret}
            """
        )
    )
    assert (problem.line, problem.workflow_id) == (8, "triage")
    assert "of workflow 'billing-handoff' at line 5" in problem.message
    assert "its own signing secret" in problem.message
    assert "`jam_signing_secret: {config: triageJamSecret}`" in problem.fix


def test_events_must_be_a_list() -> None:
    problem = only_problem(
        workflows_yaml(
            "- id: a\n  intercom_webhook_url: {config: a}\n  events: intercom.recorder.recorded\n"
        )
    )
    assert (problem.line, problem.column) == (5, 13)
    assert "'events' must be a list, not a string" in problem.message
    assert "events: [" in problem.fix


def test_events_empty() -> None:
    problem = only_problem(
        workflows_yaml("- id: a\n  intercom_webhook_url: {config: a}\n  events: []\n")
    )
    assert (problem.line, problem.column) == (5, 13)
    assert "empty list" in problem.message
    assert "remove the key for the default" in problem.fix


def test_events_duplicate() -> None:
    problem = only_problem(
        workflows_yaml(
            "- id: a\n  intercom_webhook_url: {config: a}\n  events: [jam.created, jam.created]\n"
        )
    )
    assert (problem.line, problem.column) == (5, 27)
    assert "'jam.created' twice" in problem.message
    assert "Delete the repeated entry" in problem.fix


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("intercom.recorder.recoded", RECORDED),
        ("opted_out", OPTED_OUT),
        ("jam.create", JAM_CREATED),
        ("Intercom.Recorder.Recorded", RECORDED),
    ],
)
def test_unknown_event_suggests_the_closest(typo: str, meant: str) -> None:
    problem = only_problem(
        workflows_yaml(f"- id: a\n  intercom_webhook_url: {{config: a}}\n  events: [{typo}]\n")
    )
    assert (problem.line, problem.column) == (5, 14)
    assert problem.workflow_id == "a"
    assert f"Unknown event '{typo}'" in problem.message
    assert f"Did you mean '{meant}'?" in problem.fix


def test_unknown_event_without_close_match_lists_valid_events() -> None:
    problem = only_problem(
        workflows_yaml("- id: a\n  intercom_webhook_url: {config: a}\n  events: [zzz]\n")
    )
    assert f"Use one of: {RECORDED}, {OPTED_OUT}, {JAM_CREATED}." == problem.fix


def test_event_of_the_wrong_type() -> None:
    problem = only_problem(
        workflows_yaml("- id: a\n  intercom_webhook_url: {config: a}\n  events: [3]\n")
    )
    assert "must be a string, not an integer" in problem.message


def test_stacks_empty() -> None:
    problem = only_problem(
        workflows_yaml("- id: a\n  intercom_webhook_url: {config: a}\n  stacks: []\n")
    )
    assert (problem.line, problem.column) == (5, 13)
    assert "'stacks' is an empty list" in problem.message


def test_stacks_must_be_a_list() -> None:
    problem = only_problem(
        workflows_yaml("- id: a\n  intercom_webhook_url: {config: a}\n  stacks: prod\n")
    )
    assert "'stacks' must be a list, not a string ('prod')" in problem.message
    assert "stacks: [dev, prod]" in problem.fix


@pytest.mark.parametrize(
    ("name", "broken"),
    [
        ("acme/relay/prod", "contains '/' (an org/project/stack name"),
        ("'my stack'", "contains ' '"),
        ("x" * 101, "101 characters long"),
    ],
)
def test_invalid_stack_name(name: str, broken: str) -> None:
    problem = only_problem(
        workflows_yaml(f"- id: a\n  intercom_webhook_url: {{config: a}}\n  stacks: [{name}]\n")
    )
    assert (problem.line, problem.column) == (5, 14)
    assert broken in problem.message
    assert "pulumi stack ls" in problem.fix


def test_stack_name_that_yaml_reads_as_a_boolean_says_to_quote_it() -> None:
    problem = only_problem(
        workflows_yaml("- id: a\n  intercom_webhook_url: {config: a}\n  stacks: [on]\n")
    )
    assert "not a boolean" in problem.message
    assert "quote it if you meant the text 'on'" in problem.fix


def test_stacks_duplicate() -> None:
    problem = only_problem(
        workflows_yaml("- id: a\n  intercom_webhook_url: {config: a}\n  stacks: [dev, dev]\n")
    )
    assert "'dev' twice" in problem.message


# ------------------------------------------------------------------------------------------
# Literal Intercom URLs


def test_valid_literal_url_is_loaded_with_a_warning() -> None:
    url = f"https://intercom.example/fin/hooks/{TOKEN}"
    loaded = parse_workflows(with_url(url), "wf.yaml")
    assert loaded.workflows[0].intercom_webhook_url == LiteralUrl(url)
    (warning,) = loaded.warnings
    assert (warning.line, warning.column) == (4, 27)
    assert warning.workflow_id == "billing-handoff"
    assert "plain text" in warning.message
    assert "pulumi config set --secret billingHandoffIntercomUrl" in warning.fix
    assert TOKEN not in str(warning)


def test_literal_url_repr_hides_the_capability() -> None:
    assert TOKEN not in repr(LiteralUrl(f"https://intercom.example/{TOKEN}"))


@pytest.mark.parametrize(
    ("url", "said", "fix"),
    [
        (f"http://intercom.example/h/{TOKEN}", "uses http://, it must use https://", "https://"),
        (f"intercom.example/h/{TOKEN}", "not an absolute URL", "https://"),
        (f"https://u:p@intercom.example/h/{TOKEN}", "user credentials", "'@'"),
        (f"https://intercom.example/h/{TOKEN}?a=1", "query string", "Remove the '?'"),
        (f"https://intercom.example/h/{TOKEN}#x", "fragment", "Remove the '#'"),
        (f"https://intercom.example/h/{TOKEN}/", "a trailing slash", "Remove the trailing '/'"),
        (f"https://intercom.example/h/{TOKEN}//", "2 trailing slashes", "trailing '//'"),
        ("https://intercom.example", "no path", "whole URL"),
        (f"https://intercom.example/h/{TOKEN} x", "whitespace", "no spaces"),
        (f"https://[intercom.example/h/{TOKEN}", "cannot be parsed", "Copy the URL"),
    ],
)
def test_malformed_literal_url_says_which_part_is_wrong(url: str, said: str, fix: str) -> None:
    problem = only_problem(with_url(url))
    assert (problem.line, problem.column) == (4, 27)
    assert problem.workflow_id == "billing-handoff"
    assert said in problem.message
    assert fix in problem.fix
    assert TOKEN not in str(problem)


@pytest.mark.parametrize(
    "placeholder",
    [
        "<Conversation ID>",
        "{conversation_id}",
        "{{conversationId}}",
        "%3CConversation%20ID%3E",
        "%3cconversation_id%3e",
        ":conversation_id",
        "[Conversation ID]",
        "<id>",
        "conversation_id",
    ],
)
def test_pasted_conversation_placeholder_says_exactly_what_to_remove(placeholder: str) -> None:
    problem = only_problem(with_url(f"https://intercom.example/h/{TOKEN}/{placeholder}"))
    assert (problem.line, problem.column) == (4, 27)
    assert f"ends with the placeholder '/{placeholder}'" in problem.message
    assert f"Remove the trailing '/{placeholder}'" in problem.fix
    assert TOKEN not in str(problem)


def test_placeholder_followed_by_slash_is_removed_with_the_slash() -> None:
    problem = only_problem(with_url(f"https://intercom.example/h/{TOKEN}/<Conversation ID>/"))
    assert "Remove the trailing '/<Conversation ID>/'" in problem.fix


def test_intercom_url_problem_is_none_for_a_good_url() -> None:
    assert intercom_url_problem(f"https://intercom.example/h/{TOKEN}") is None


def test_intercom_url_problem_never_contains_the_url() -> None:
    url = f"https://intercom.example/h/{TOKEN}/<Conversation ID>"
    answer = intercom_url_problem(url)
    assert answer is not None
    assert "Fix: Remove the trailing '/<Conversation ID>'" in answer
    assert TOKEN not in answer


@pytest.mark.parametrize("port", ["abc", "99999", "65536", "0", "+80", "\uff18\uff10", "80:90"])
def test_bad_port_is_located_and_says_which_part_is_wrong(port: str) -> None:
    problem = only_problem(with_url(f"https://intercom.example:{port}/h/{TOKEN}"))
    assert (problem.line, problem.column, problem.workflow_id) == (4, 27, "billing-handoff")
    assert (
        "the URL's port (after the ':' that follows the host) is not a number from 1 to 65535"
        in (problem.message)
    )
    assert "without a port (and its ':') https uses 443" in problem.fix
    assert TOKEN not in str(problem)


@pytest.mark.parametrize("port", ["", "443", "8443", "65535", "00443"])
def test_usable_port_is_accepted(port: str) -> None:
    loaded = parse_workflows(with_url(f"https://intercom.example:{port}/h/{TOKEN}"))
    assert [w.id for w in loaded.workflows] == ["billing-handoff"]


@pytest.mark.parametrize(
    ("host", "broken"),
    [
        ("intercom..example", "it has an empty label (two dots in a row, or a dot at the start)"),
        ("intercom.example..", "it has an empty label"),
        ("a" * 64 + ".example", "a label is 64 characters long, the limit is 63"),
        (".".join(["a" * 60] * 5), "it is 304 characters long, the limit is 253"),
        ("-intercom.example", "a label starts or ends with a hyphen"),
        ("intercom_x.example", "it contains a character other than letters, digits, hyphens"),
        ("ö" * 70 + ".example", "a label is not a valid international (IDNA) name"),
    ],
)
def test_invalid_host_is_located_and_says_which_part_of_the_rule_is_broken(
    host: str, broken: str
) -> None:
    problem = only_problem(with_url(f"https://{host}/h/{TOKEN}"))
    assert (problem.line, problem.column, problem.workflow_id) == (4, 27, "billing-handoff")
    assert problem.message.startswith(
        "'intercom_webhook_url': the URL's host is not a valid host name: "
    )
    assert broken in problem.message
    assert "must be an IP address or a DNS name of dot-separated labels" in problem.fix
    assert host not in str(problem)
    assert TOKEN not in str(problem)


@pytest.mark.parametrize(
    "host",
    ["intercom.example", "intercom.example.", "bücher.example", "192.0.2.1", "[2001:db8::1]"],
)
def test_valid_hosts_are_accepted_as_the_shared_host_rule_says(host: str) -> None:
    assert intercom_url_problem(f"https://{host}/h/{TOKEN}") is None


def test_non_ascii_path_is_located_with_the_percent_encoded_fix() -> None:
    problem = only_problem(with_url(f"https://intercom.example/hoök/{TOKEN}"))
    assert (problem.line, problem.column, problem.workflow_id) == (4, 27, "billing-handoff")
    assert "the URL's path contains a non-ASCII character (U+00F6)" in problem.message
    assert "write it percent-encoded as '%C3%B6'" in problem.fix
    assert TOKEN not in str(problem)


@pytest.mark.parametrize(("char", "code"), [("\x07", "U+0007"), ("\x7f", "U+007F")])
def test_control_character_in_the_path_is_located_and_says_remove_it(char: str, code: str) -> None:
    # Written with a YAML double-quoted escape: the file itself stays printable.
    escaped = char.encode("unicode_escape").decode("ascii")
    text = workflows_yaml(
        f'- id: billing-handoff\n  intercom_webhook_url: "https://intercom.example/h/{TOKEN}{escaped}"\n'
    )
    problem = only_problem(text)
    assert (problem.line, problem.column, problem.workflow_id) == (4, 27, "billing-handoff")
    assert f"the URL's path contains an invisible or control character ({code})" in (
        problem.message
    )
    assert problem.fix.startswith("Remove the character")
    assert TOKEN not in str(problem)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (f"https://intercom.example:abc/h/{TOKEN}", "port"),
        (f"https://intercom.example:99999/h/{TOKEN}", "port"),
        (f"https://intercom..example/h/{TOKEN}", "host"),
        (f"https://{'a' * 64}.example/h/{TOKEN}", "host"),
        (f"https://intercom.example/hoök/{TOKEN}", "non-ASCII"),
        (f"https://intercom.example/h/{TOKEN}\u200b", "control character"),
    ],
)
def test_intercom_url_problem_rejects_what_the_relay_cannot_use(url: str, said: str) -> None:
    """URLs read from stack config get the same checks (and words) as literal ones."""
    answer = intercom_url_problem(url)
    assert answer is not None
    assert said in answer
    assert "Fix: " in answer
    assert TOKEN not in answer


@pytest.mark.parametrize("url", ["", "   ", f" https://intercom.example/h/{TOKEN}\n"])
def test_intercom_url_problem_for_blank_or_padded_values(url: str) -> None:
    answer = intercom_url_problem(url)
    assert answer is not None
    assert TOKEN not in answer


def test_literal_url_in_a_block_scalar_has_a_trailing_line_break() -> None:
    text = workflows_yaml(
        f"- id: billing-handoff\n  intercom_webhook_url: |\n    https://intercom.example/h/{TOKEN}\n"
    )
    problem = only_problem(text)
    assert (problem.line, problem.column, problem.workflow_id) == (4, 27, "billing-handoff")
    assert "the URL has leading or trailing whitespace" in problem.message
    assert TOKEN not in str(problem)


# ------------------------------------------------------------------------------------------
# Many problems at once, and secrets never echoed


def test_multi_error_file_reports_every_problem_in_file_order() -> None:
    text = (FIXTURES / "invalid" / "many_problems.yaml").read_text()
    problems = problems_of(text)
    positions = [(p.line, p.column) for p in problems]
    assert positions == sorted(positions)
    summary = [(p.line, p.workflow_id, p.message.split(" ")[0]) for p in problems]
    assert summary == [
        (1, None, "'version'"),
        (4, "Billing_Handoff", "Workflow"),
        (5, "Billing_Handoff", "Unknown"),
        (6, "Billing_Handoff", "'intercom_webhook_url':"),
        (7, "Billing_Handoff", "'jam_signing_secret'"),
        (8, "Billing_Handoff", "Unknown"),
        (9, "Billing_Handoff", "Stack"),
        (11, "second", "'events'"),
        (12, "second", "Duplicate"),
        (14, "second", "Duplicate"),
    ]
    message = str(WorkflowsFileError(problems))
    assert "TESTONLY" not in message  # neither the URL's token nor the literal secret


def test_error_string_lists_every_problem_one_per_line() -> None:
    text = (FIXTURES / "invalid" / "many_problems.yaml").read_text()
    with pytest.raises(WorkflowsFileError) as caught:
        parse_workflows(text, "wf.yaml")
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.problems) == 10
    assert all(line.startswith("wf.yaml:") and " Fix: " in line for line in lines)


@pytest.mark.parametrize("field", ["id", "description", "events", "stacks", "unknown_key"])
def test_url_in_any_field_is_never_echoed(field: str) -> None:
    url = f"https://intercom.example/h/{TOKEN}"
    if field == "unknown_key":
        entry = f"- id: a\n  intercom_webhook_url: {{config: a}}\n  '{url}': 1\n"
    elif field == "id":
        entry = f"- id: '{url}'\n  intercom_webhook_url: {{config: a}}\n"
    elif field == "description":
        entry = f"- id: a\n  intercom_webhook_url: {{config: a}}\n  description: ['{url}']\n"
    else:
        entry = f"- id: a\n  intercom_webhook_url: {{config: a}}\n  {field}: ['{url}']\n"
    problems = problems_of(workflows_yaml(entry))
    assert problems
    assert all(TOKEN not in str(p) for p in problems)


# ------------------------------------------------------------------------------------------
# Stack config: missing_config_problems


def example_file() -> WorkflowsFile:
    return load_workflows(ROOT / "examples" / "workflows.yaml")


def test_missing_intercom_url_key_is_a_problem_with_the_command() -> None:
    present = {"billingHandoffJamSecret": True, "bugReportTriageIntercomUrl": True}
    problems = missing_config_problems(example_file(), "dev", present)
    (problem,) = problems
    assert problem.workflow_id == "billing-handoff"
    assert (problem.line, problem.column) == (11, 15)
    assert "'billingHandoffIntercomUrl'" in problem.message
    assert "not set on stack 'dev'" in problem.message
    assert "pulumi config set --secret billingHandoffIntercomUrl --stack dev" in problem.fix


def test_missing_signing_secret_is_not_a_problem() -> None:
    present = {"billingHandoffIntercomUrl": True, "bugReportTriageIntercomUrl": True}
    assert missing_config_problems(example_file(), "dev", present) == ()


def test_plain_text_key_is_a_problem() -> None:
    present = {
        "billingHandoffIntercomUrl": True,
        "bugReportTriageIntercomUrl": True,
        "bugReportTriageJamSecret": False,
    }
    (problem,) = missing_config_problems(example_file(), "prod", present)
    assert problem.workflow_id == "bug-report-triage"
    assert (problem.line, problem.column) == (21, 15)
    assert "in plain text, not as a secret" in problem.message
    assert "pulumi config set --secret bugReportTriageJamSecret --stack prod" in problem.fix


def test_missing_config_only_checks_workflows_of_the_stack() -> None:
    problems = missing_config_problems(example_file(), "staging", {})
    assert [p.workflow_id for p in problems] == ["billing-handoff"]


def test_literal_url_needs_no_config_key() -> None:
    loaded = parse_workflows(with_url(f"https://intercom.example/h/{TOKEN}"))
    assert missing_config_problems(loaded, "dev", {}) == ()


# ------------------------------------------------------------------------------------------
# Robustness: nothing but WorkflowsFileError escapes

YAML_PIECES = [
    "version: 1\n",
    "version: ",
    "workflows:\n",
    "  - id: a\n",
    "    intercom_webhook_url: ",
    "{config: k}",
    "https://x.example/a/b",
    "    events: [",
    "]",
    "    stacks:\n      - dev\n",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!binary aGk=",
    "!custom x",
    "? [a]\n: b\n",
    "---\n",
    "'",
    '"\\x',
    "\t",
    "- ",
    ": ",
    "{",
    "#",
    "\n",
    "~",
    "1e3",
    "2024-01-01",
]


def check_only_workflows_file_error(text: str) -> None:
    problems: tuple[Problem, ...] = ()
    try:
        loaded = parse_workflows(text, "fuzz.yaml")
    except WorkflowsFileError as error:
        problems = error.problems
    else:
        assert loaded.version == 1
        return
    assert problems, "an error must carry at least one problem"
    assert all(p.line >= 1 and p.column >= 1 for p in problems)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text_only_raises_workflows_file_error(text: str) -> None:
    check_only_workflows_file_error(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters(blacklist_categories=()), max_size=60))
def test_text_with_surrogates_and_controls_only_raises_workflows_file_error(text: str) -> None:
    check_only_workflows_file_error(text)


def test_lone_surrogate_is_located() -> None:
    problem = only_problem("version: 1\nworkflows: [\ud800]\n")
    assert (problem.line, problem.column) == (2, 13)
    assert "not valid Unicode" in problem.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(YAML_PIECES), max_size=30).map("".join))
def test_yaml_ish_text_only_raises_workflows_file_error(text: str) -> None:
    check_only_workflows_file_error(text)


def test_deep_nesting_is_a_workflows_file_error() -> None:
    problems = problems_of("version: 1\nworkflows: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "not valid YAML" in problems[0].message


@pytest.mark.parametrize(
    "fixture", sorted(p.name for p in (FIXTURES / "invalid").glob("*.yaml")), ids=str
)
def test_pure_python_yaml_loader_reports_the_same_problems(
    fixture: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where libyaml is missing the loader falls back to SafeLoader: same answers."""
    import yaml

    import infra.workflows as loader_module

    text = (FIXTURES / "invalid" / fixture).read_text()
    with_c = problems_of(text)
    monkeypatch.setattr(loader_module, "_YamlLoader", yaml.SafeLoader)
    with_python = problems_of(text)
    if fixture in ("not_yaml.yaml", "tab_indented.yaml"):  # the parsers word these differently
        assert [(p.line, p.column, p.fix) for p in with_python] == [
            (p.line, p.column, p.fix) for p in with_c
        ]
    else:
        assert with_python == with_c


# ------------------------------------------------------------------------------------------
# Config safety: a signing secret anywhere, URLs where names belong, size limits


def assert_reported_as_signing_secret(text: str) -> Problem:
    problems = problems_of(text)
    assert all(SECRET not in str(p) and "TESTONLY" not in str(p) for p in problems)
    flagged = [p for p in problems if "is a Jam signing secret" in p.message]
    assert len(flagged) == 1, "\n".join(map(str, problems))
    assert flagged[0].fix.startswith("Rotate the secret in Jam")
    return flagged[0]


def test_signing_secret_pasted_as_a_config_key_is_an_error_that_says_rotate() -> None:
    problem = assert_reported_as_signing_secret(
        workflows_yaml(
            f"- id: billing-handoff\n  intercom_webhook_url: {{config: a}}\n"
            f"  jam_signing_secret: {{config: {SECRET.rstrip('=')}}}\n"  # a valid key name
        )
    )
    assert (problem.line, problem.column, problem.workflow_id) == (5, 34, "billing-handoff")
    assert problem.message == (
        "The value of 'config' is a Jam signing secret (whsec_...), committed in plain text."
    )


SECRET_PLACES = {
    "url config key": f"- id: a\n  intercom_webhook_url: {{config: {SECRET.rstrip('=')}}}\n",
    "misspelt key's value": (
        f"- id: a\n  intercom_webhook_url: {{config: a}}\n  jam_secret: {SECRET}\n"
    ),
    "description": f"- id: a\n  intercom_webhook_url: {{config: a}}\n  description: key {SECRET}\n",
    "id": f"- id: {SECRET}\n  intercom_webhook_url: {{config: a}}\n",
    "stacks entry": f"- id: a\n  intercom_webhook_url: {{config: a}}\n  stacks: [{SECRET}]\n",
    "events entry": f"- id: a\n  intercom_webhook_url: {{config: a}}\n  events: [{SECRET}]\n",
    "mapping key": f"- id: a\n  intercom_webhook_url: {{config: a}}\n  {SECRET}: 1\n",
    "config ref key": f"- id: a\n  intercom_webhook_url: {{config: a, {SECRET}: b}}\n",
    "intercom url": f"- id: a\n  intercom_webhook_url: {SECRET}\n",
}


@pytest.mark.parametrize("entry", SECRET_PLACES.values(), ids=SECRET_PLACES.keys())
def test_signing_secret_anywhere_in_a_workflow_is_one_error_that_says_rotate(entry: str) -> None:
    assert_reported_as_signing_secret(workflows_yaml(entry))


def test_signing_secret_under_a_key_with_a_line_break_does_not_write_the_key() -> None:
    text = workflows_yaml(
        f'- id: a\n  intercom_webhook_url: {{config: a}}\n  "jam\\nkey": {SECRET}\n'
    )
    secret_problems = [p for p in problems_of(text) if "signing secret" in p.message]
    assert [p.message.split(" is a ")[0] for p in secret_problems] == ["A value"]
    assert all("\n" not in str(p) for p in problems_of(text))


def test_signing_secret_at_the_top_level_is_an_error() -> None:
    assert_reported_as_signing_secret(f"version: 1\nworkflows: []\nnotes: {SECRET}\n")


def test_signing_secret_as_intercom_url_says_signing_secret_not_absolute_url() -> None:
    problem = only_problem(workflows_yaml(f"- id: a\n  intercom_webhook_url: {SECRET}\n"))
    assert problem.message == (
        "The value of 'intercom_webhook_url' is a Jam signing secret (whsec_...), committed in "
        "plain text."
    )
    assert "not an absolute URL" not in problem.message


def test_literal_signing_secret_keeps_its_own_single_message() -> None:
    problems = problems_of(
        workflows_yaml(
            f"- id: a\n  intercom_webhook_url: {{config: a}}\n  jam_signing_secret: {SECRET}\n"
        )
    )
    assert [p.message.split(" ")[0] for p in problems] == ["'jam_signing_secret'"]


def test_url_pasted_as_config_key_says_it_is_an_intercom_webhook_url() -> None:
    problem = only_problem(
        workflows_yaml(
            f"- id: a\n  intercom_webhook_url: {{config: 'https://intercom.example/h/{TOKEN}'}}\n"
        )
    )
    assert "looks like a value (an Intercom webhook URL), not a key name" in problem.message
    assert TOKEN not in str(problem)


def test_url_pasted_as_an_id_says_it_is_a_url_and_to_rotate() -> None:
    problem = only_problem(
        workflows_yaml(
            f"- id: 'https://intercom.example/h/{TOKEN}'\n  intercom_webhook_url: {{config: a}}\n"
        )
    )
    assert problem.message == (
        "The workflow id is an Intercom webhook URL, not an id; it is now committed in plain text."
    )
    assert "rotate it in Intercom" in problem.fix
    assert TOKEN not in str(problem)


def test_intercom_webhook_url_in_a_description_is_an_error_that_says_rotate() -> None:
    problem = only_problem(
        workflows_yaml(
            f"- id: a\n  intercom_webhook_url: {{config: a}}\n"
            f"  description: resumes https://intercom.example/h/{TOKEN}\n"
        )
    )
    assert (problem.line, problem.column, problem.workflow_id) == (5, 18, "a")
    assert problem.message == (
        "'description' contains an Intercom webhook URL, committed in plain text."
    )
    assert "rotate" in problem.fix
    assert TOKEN not in str(problem)


def test_other_urls_in_a_description_are_allowed() -> None:
    loaded = parse_workflows(
        workflows_yaml(
            "- id: a\n  intercom_webhook_url: {config: a}\n"
            "  description: see https://jam.dev/docs/webhooks\n"
        )
    )
    assert loaded.workflows[0].description == "see https://jam.dev/docs/webhooks"


def test_tab_at_the_reported_position_is_named_with_the_fix() -> None:
    problem = only_problem("version: 1\nworkflows:\n\t- id: a\n")
    assert (problem.line, problem.column) == (3, 1)
    assert "tab" in problem.message
    assert problem.fix.startswith("Indent with spaces, not tabs")


def test_a_single_tab_indented_line_in_a_workflow_is_named() -> None:
    text = workflows_yaml("- id: a\n  intercom_webhook_url: {config: a}\n") + "\t\tevents: []\n"
    problem = only_problem(text)
    assert "tab" in problem.message
    assert "Indent with spaces" in problem.fix


def test_syntax_error_without_a_tab_does_not_mention_tabs() -> None:
    problem = only_problem("version: 1\nworkflows:\n  - id: [billing\n")
    assert "tab" not in problem.message


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_bytes(b"version: 1\nworkflows: []\n" + b"#" * (1024 * 1024))
    with pytest.raises(WorkflowsFileError) as caught:
        load_workflows(path)
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (1, 1)
    assert "the limit is 1048576 bytes (1 MiB)" in problem.message


def test_text_over_the_size_limit_is_refused_by_parse_workflows() -> None:
    problem = only_problem("version: 1\nworkflows: []\n# " + "é" * (600 * 1024) + "\n")
    assert "the limit is 1048576 bytes (1 MiB)" in problem.message


def many_entries(count: int, prefix: str, stacks: str = "") -> str:
    """``count`` workflow entries (2 or 3 lines each), ids and keys starting with ``prefix``."""
    entry = "- id: {0}-{1:03d}\n  intercom_webhook_url: {{config: {0}{1}}}\n" + stacks
    return "".join(entry.format(prefix, i) for i in range(count))


def test_more_workflows_than_one_stack_fits_is_an_error_with_the_limit() -> None:
    problem = only_problem(workflows_yaml(many_entries(80, "workflow")))
    assert problem.message.startswith("Any stack not named in a `stacks:` list: 80 workflows need ")
    assert "Cloud Run functions allow 32768" in problem.message
    assert "one relay fits about " in problem.message
    assert problem.fix.startswith("deploy fewer workflows to this stack")


def test_the_limit_is_located_at_the_first_workflow_that_does_not_fit() -> None:
    problem = only_problem(workflows_yaml(many_entries(80, "workflow")))
    fit = int(problem.message.split("one relay fits about ")[1].split(" ")[0])
    assert (problem.workflow_id, problem.line) == (f"workflow-{fit:03d}", 3 + 2 * fit)


def test_each_named_stack_is_checked_with_the_workflows_it_deploys() -> None:
    text = workflows_yaml(
        many_entries(40, "first", "  stacks: [prod]\n")
        + many_entries(40, "second", "  stacks: [dev, prod]\n")
    )
    (problem,) = problems_of(text)
    assert problem.message.startswith("Stack 'prod': 80 workflows need ")


def test_workflows_without_stacks_count_toward_every_named_stack() -> None:
    text = workflows_yaml(
        many_entries(40, "everywhere") + many_entries(40, "second", "  stacks: [dev]\n")
    )
    (problem,) = problems_of(text)
    assert problem.message.startswith("Stack 'dev': 80 workflows need ")


def test_workflows_split_across_stacks_within_the_limit_load() -> None:
    text = workflows_yaml(
        many_entries(60, "first", "  stacks: [dev]\n")
        + many_entries(60, "second", "  stacks: [prod]\n")
    )
    assert len(parse_workflows(text).workflows) == 120


def test_a_signing_secret_read_as_an_intercom_url_from_stack_config_says_rotate() -> None:
    answer = intercom_url_problem(SECRET)
    assert answer is not None
    assert answer.startswith("the value contains a Jam signing secret (whsec_...).")
    assert "Rotate the secret in Jam" in answer
    assert SECRET not in answer


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (f"https://intercom.example/h/{TOKEN}/a{{b}}", "the URL's path contains '{'"),
        (f"https://intercom.example/h//{TOKEN}", "the URL's path has an empty segment ('//')"),
    ],
)
def test_what_only_the_schema_rejected_before_is_worded(url: str, said: str) -> None:
    problem = only_problem(with_url(url))
    assert problem.message.startswith(f"'intercom_webhook_url': {said}")
    assert TOKEN not in str(problem)


@pytest.mark.parametrize("placeholder", ["(id)", "[id]", "$conversationId", "%255Bid%255D"])
def test_bracketed_placeholders_are_refused_by_the_schema_and_worded(placeholder: str) -> None:
    problem = only_problem(with_url(f"https://intercom.example/h/{TOKEN}/{placeholder}"))
    assert f"ends with the placeholder '/{placeholder}'" in problem.message


def test_an_upper_case_scheme_is_accepted_with_the_literal_url_warning() -> None:
    loaded = parse_workflows(with_url(f"HTTPS://intercom.example/h/{TOKEN}"))
    assert [w.id for w in loaded.workflows] == ["billing-handoff"]
    assert "literal URL" in loaded.warnings[0].message


def test_a_float_version_is_not_the_integer_one() -> None:
    """YAML's types are kept: JSON would call 1.0 an integer, the loader does not."""
    problem = only_problem("version: 1.0\nworkflows: []\n")
    assert problem.message == "'version' must be the integer 1, not a number ('1.0')."


def test_a_yaml_error_quoting_a_secret_does_not_echo_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    import infra.workflows as loader_module

    # The pure-Python parser quotes an undefined alias's name (libyaml does not).
    monkeypatch.setattr(loader_module, "_YamlLoader", yaml.SafeLoader)
    problem = only_problem(f"version: 1\nworkflows: [*{SECRET.rstrip('=')}]\n")
    assert "not valid YAML" in problem.message
    assert "TESTONLY" not in str(problem)

"""Two slips a new user makes in workflows.yaml, each said where it is, as what it is (issue 21).

- ``config:`` written level with its field: the loader said "Unknown key 'config' ... Remove
  it", the opposite of the fix, next to a second error calling the field empty.
- A non-breaking space pasted where YAML needs a space: the parser's error landed lines later
  (where the broken structure ended) and never named the character.
"""

from __future__ import annotations

import pytest

from infra.workflows import WorkflowsFileError, parse_workflows, unicode_spaces

NBSP = "\u00a0"


def problems(text: str) -> list[str]:
    with pytest.raises(WorkflowsFileError) as raised:
        parse_workflows(text, "workflows.yaml")
    return [str(p) for p in raised.value.problems]


DEDENTED = """\
version: 1
workflows:
  - id: billing-handoff
    intercom_webhook_url:
    config: billingHandoffIntercomUrl
"""


def test_a_dedented_config_says_indent_it_once():
    (message,) = problems(DEDENTED)
    assert message.startswith(
        "workflows.yaml:5:5: workflow 'billing-handoff': 'config' is not a key of a workflow: "
        "it belongs under 'intercom_webhook_url' (line 4)"
    )
    assert "Fix: Indent `config:` two spaces further than `intercom_webhook_url:`" in message
    assert "do not remove it" in message


def test_a_dedented_config_under_the_signing_secret_names_that_field():
    text = DEDENTED.replace(
        "    config: billingHandoffIntercomUrl\n",
        "      config: billingHandoffIntercomUrl\n"
        "    jam_signing_secret:\n"
        "    config: billingHandoffJamSecret\n",
    )
    (message,) = problems(text)
    assert message.startswith("workflows.yaml:7:5: workflow 'billing-handoff': 'config' is not")
    assert "it belongs under 'jam_signing_secret' (line 6)" in message


def test_config_after_a_field_with_a_value_is_still_an_unknown_key():
    text = DEDENTED.replace(
        "    intercom_webhook_url:\n", "    intercom_webhook_url: {config: aKey}\n"
    )
    (message,) = problems(text)
    assert "Unknown key 'config' in a workflow. Fix: Remove it" in message


def test_config_after_another_empty_field_is_an_unknown_key():
    text = DEDENTED.replace(
        "    intercom_webhook_url:\n",
        "    intercom_webhook_url: {config: aKey}\n    description:\n",
    )
    assert any("Unknown key 'config' in a workflow" in m for m in problems(text))


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        (f"version:{NBSP}1\nworkflows: []\n", 1, 9),
        (
            f"version: 1\nworkflows:\n  -{NBSP}id: a\n    intercom_webhook_url: {{config: k}}\n",
            3,
            4,
        ),
        (
            f"version: 1\nworkflows:\n  - id: a\n{NBSP}   intercom_webhook_url: {{config: k}}\n",
            4,
            1,
        ),
        (
            f"version: 1\nworkflows:\n  - id: a\n    intercom_webhook_url:\n      config:{NBSP}k\n",
            5,
            14,
        ),
        (
            "version: 1\nworkflows:\n  - id: a\n    intercom_webhook_url: {config: k}\n"
            f"    events:{NBSP}[jam.created]\n    stacks: [dev]\n",
            5,
            12,
        ),
        (f"version: 1\nworkflows:\n  - id: a\n    intercom_webhook_url:{NBSP}\n", 4, 26),
    ],
)
def test_a_non_breaking_space_is_named_at_its_own_line(text, line, column):
    (message,) = problems(text)
    assert message.startswith(f"workflows.yaml:{line}:{column}: A non-breaking space (U+00A0)")
    assert "Fix: Replace it with an ordinary space" in message


def test_every_pasted_space_is_listed():
    text = f"version:{NBSP}1\nworkflows:\n{NBSP}{NBSP}- id: a\n"
    assert [(line, column) for line, column, *_ in unicode_spaces(text)] == [(1, 9), (3, 1), (3, 2)]


def test_other_unicode_spaces_are_named_too():
    (message,) = problems("version:\u202f1\nworkflows: []\n")
    assert "A narrow non-breaking space (U+202F)" in message


def test_a_non_breaking_space_inside_text_is_left_alone():
    text = (
        "version: 1\nworkflows:\n  - id: a\n"
        f"    description: Price:{NBSP}5 {NBSP}- per{NBSP}seat  # note:{NBSP}x\n"
        "    intercom_webhook_url: {config: k}\n"
    )
    assert parse_workflows(text).workflows[0].description == f"Price:{NBSP}5 {NBSP}- per{NBSP}seat"

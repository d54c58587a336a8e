"""``relayctl add`` edits workflows.yaml by inserting lines: comments and layout stay as written.

Each case is a layout people write (comments between and after entries, blank lines between
entries, four-space indentation, CRLF line ends, no final newline, an empty flow list); the
result must be the original text with exactly the new lines in, and valid for the loader.
"""

from __future__ import annotations

import pytest

from infra.workflows import ConfigRef, parse_workflows
from relayctl.add import add_secret_key, append_entry
from relayctl.common import CommandError

ENTRY = [
    "- id: new-flow",
    "  intercom_webhook_url:",
    "    config: newFlowIntercomUrl",
    "  jam_signing_secret:",
    "    config: newFlowJamSecret",
]


def added(dash: int = 2, nested: int = 2, offset: int = 2) -> str:
    lines = []
    for line in ENTRY:
        depth = (len(line) - len(line.lstrip())) // 2
        text = line.strip()
        if text.startswith("- "):
            text = "-" + " " * (offset - 1) + text[2:]
            lines.append(" " * dash + text)
        else:
            lines.append(" " * (dash + offset + (depth - 1) * nested) + text)
    return "\n".join(lines) + "\n"


def append(text: str) -> str:
    result = append_entry(text, "new-flow", None, "newFlowIntercomUrl", "newFlowJamSecret")
    loaded = parse_workflows(result)
    assert loaded.workflows[-1].id == "new-flow"
    assert loaded.workflows[-1].jam_signing_secret == ConfigRef("newFlowJamSecret")
    return result


FIRST = """\
  - id: first
    intercom_webhook_url:
      config: firstIntercomUrl
"""


def test_the_entry_goes_after_the_last_one_before_a_footer_comment():
    head = "# header\nversion: 1\nworkflows:\n" + FIRST
    footer = "# footer: how to add one\n"
    assert append(head + footer) == head + added() + footer


def test_a_comment_inside_the_last_entry_stays_with_it():
    head = "version: 1\nworkflows:\n" + FIRST + "    # first's own note\n"
    assert append(head) == head + added()


def test_blank_lines_between_entries_are_kept_as_the_files_style():
    second = FIRST.replace("first", "second")
    text = "version: 1\nworkflows:\n" + FIRST + "\n" + second
    assert append(text) == text + "\n" + added()


def test_entries_without_blank_lines_get_none():
    text = "version: 1\nworkflows:\n" + FIRST + FIRST.replace("first", "second")
    assert append(text) == text + added()


def test_four_space_indentation_is_followed():
    text = (
        "version: 1\nworkflows:\n"
        "    -   id: first\n"
        "        intercom_webhook_url:\n"
        "            config: firstIntercomUrl\n"
    )
    assert append(text) == text + added(dash=4, nested=4, offset=4)


def test_a_list_at_the_keys_own_indentation_is_followed():
    text = "version: 1\nworkflows:\n- id: first\n  intercom_webhook_url:\n    config: k\n"
    assert append(text) == text + added(dash=0)


def test_crlf_line_ends_are_kept():
    text = ("version: 1\nworkflows:\n" + FIRST).replace("\n", "\r\n")
    assert append(text) == text + added().replace("\n", "\r\n")


def test_a_file_without_a_final_newline_gets_one_before_the_entry():
    text = "version: 1\nworkflows:\n" + FIRST.rstrip("\n")
    assert append(text) == text + "\n" + added()


def test_an_entry_ending_in_a_flow_list_is_not_split():
    text = "version: 1\nworkflows:\n" + FIRST + "    events: [intercom.recorder.recorded]\n"
    assert append(text) == text + added()


def test_an_empty_flow_list_becomes_a_block_list_keeping_its_comment():
    text = "# Add one with relayctl add\nversion: 1\nworkflows: []  # none yet\n# footer\n"
    assert append(text) == (
        "# Add one with relayctl add\nversion: 1\nworkflows: # none yet\n" + added() + "# footer\n"
    )


def test_an_empty_flow_list_without_a_comment():
    assert append("version: 1\nworkflows: []\n") == "version: 1\nworkflows:\n" + added()


def test_workflows_before_version_is_fine():
    text = "workflows: []\nversion: 1\n"
    assert append(text) == "workflows:\n" + added() + "version: 1\n"


def test_a_description_that_yaml_would_misread_is_quoted():
    text = "version: 1\nworkflows: []\n"
    result = append_entry(text, "new-flow", "Billing: refunds #1", "k1", "k2")
    assert '    description: "Billing: refunds #1"\n' in result
    assert parse_workflows(result).workflows[0].description == "Billing: refunds #1"


def test_a_plain_description_stays_plain():
    result = append_entry("version: 1\nworkflows: []\n", "a", "Ask for a recording", "k1", "k2")
    assert "    description: Ask for a recording\n" in result


def test_a_non_empty_flow_list_is_refused_with_the_reason():
    text = "version: 1\nworkflows: [{id: a, intercom_webhook_url: {config: k}}]\n"
    with pytest.raises(CommandError, match="flow list"):
        append_entry(text, "new-flow", None, "k1", "k2")


def test_the_secret_key_goes_below_the_intercom_url_of_its_entry():
    text = (
        "version: 1\nworkflows:\n"
        "  - id: a\n    intercom_webhook_url:\n      config: aUrl\n    events: [jam.created]\n"
        "  - id: b\n    intercom_webhook_url:\n      config: bUrl\n"
    )
    result = add_secret_key(text, 0, "aJamSecret")
    assert result == text.replace(
        "      config: aUrl\n",
        "      config: aUrl\n    jam_signing_secret:\n      config: aJamSecret\n",
    )
    assert parse_workflows(result).workflows[0].jam_signing_secret == ConfigRef("aJamSecret")


def test_the_secret_key_follows_a_literal_url_too():
    text = (
        "version: 1\nworkflows:\n  - id: a\n    intercom_webhook_url: https://api.intercom.io/x\n"
    )
    result = add_secret_key(text, 0, "aJamSecret")
    assert result == text + "    jam_signing_secret:\n      config: aJamSecret\n"

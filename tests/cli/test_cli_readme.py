"""The README's and docs' commands exist: a newcomer copying them never hits an unknown
subcommand, and the command reference (docs/commands.md) documents every subcommand and option."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from relayctl.cli import SUBCOMMANDS, build_parser

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
COMMANDS = (REPO / "docs" / "commands.md").read_text()
PAGES = {"README.md": README} | {
    f"docs/{page.name}": page.read_text() for page in sorted((REPO / "docs").glob("*.md"))
}


def _used(text: str) -> set[str]:
    return set(re.findall(r"relayctl ([a-z][a-z-]*)", text))


def test_every_relayctl_command_in_the_readme_exists():
    used = _used(README)
    assert used, "the README shows no relayctl command"
    assert used <= set(SUBCOMMANDS), used - set(SUBCOMMANDS)


@pytest.mark.parametrize("page", [name for name in PAGES if name != "README.md"])
def test_every_relayctl_command_in_the_docs_exists(page):
    used = _used(PAGES[page])
    assert used <= set(SUBCOMMANDS), used - set(SUBCOMMANDS)


def test_every_subcommand_is_documented():
    for name in SUBCOMMANDS:
        assert f"`{name}" in COMMANDS, name


def test_the_two_commands_come_first():
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert "make demo" in first_block
    assert "make test" in first_block


def _path_to_production_commands() -> list[str]:
    """The command lines of the README's sh blocks in "Path to production", in order."""
    section = README.split("\n## Path to production\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_the_path_to_production_runs_pulumi_up_once_before_relayctl_check():
    """Issue 21, acceptance: the README's path runs `pulumi up` once before `relayctl check`."""
    commands = _path_to_production_commands()
    ups = [i for i, line in enumerate(commands) if line.startswith("pulumi up")]
    checks = [i for i, line in enumerate(commands) if line.startswith("relayctl check")]
    assert len(ups) == 1, commands
    assert checks, commands
    assert ups[0] < checks[0], commands


@pytest.mark.parametrize(
    "step",
    ["relayctl add ", "relayctl preflight --stack", "pulumi up --stack", "relayctl check --stack"],
)
def test_the_path_to_production_shows_each_step(step):
    """Issue 21 point 3: prerequisites, project, `relayctl add`, preflight, one up, check."""
    assert any(line.startswith(step) for line in _path_to_production_commands()), step


@pytest.mark.parametrize(
    ("page", "headings"),
    [
        ("README.md", ("Try it: two commands", "Path to production", "Where to go next")),
        (
            "docs/configuration.md",
            (
                "Stack settings",
                "Per-workflow secrets",
                "Adding an alert channel",
                "Resources",
                "Outputs",
            ),
        ),
        (
            "docs/operations.md",
            (
                "Rotating secrets",
                "Adding a workflow by pull request",
                "Troubleshooting by status code",
                "Recovering events that failed",
                "Runbook per alert",
            ),
        ),
        ("docs/workflows-file.md", ("Fields", "Messages")),
        ("docs/commands.md", ("Exit codes",)),
    ],
)
def test_reference_sections_exist(page, headings):
    found = set(re.findall(r"^#{2,3} (.+)$", PAGES[page], re.MULTILINE))
    for heading in headings:
        assert heading in found, (page, heading)


def _reference_rows() -> dict[str, str]:
    """Command reference table: subcommand -> its row."""
    rows = re.findall(r"^\| `([a-z][a-z-]*)([^|]*(?:\\\|[^|]*)*)\|(.*)\|$", COMMANDS, re.MULTILINE)
    return {name: usage + description for name, usage, description in rows}


def _options(name: str) -> list[str]:
    parser = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    ).choices[name]
    return [
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    ]


def test_the_command_reference_has_a_row_per_subcommand():
    assert set(_reference_rows()) == set(SUBCOMMANDS)


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_the_command_reference_shows_every_option(name):
    row = _reference_rows()[name]
    missing = [option for option in _options(name) if option not in row]
    assert missing == [], f"docs/commands.md's row for {name} lacks {missing}"

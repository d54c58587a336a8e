"""The README's commands exist: a newcomer copying them never hits an unknown subcommand."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from relayctl.cli import SUBCOMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
# The command reference: its own page once the README is a newcomer's page (issue 21), else the
# README's section.
COMMANDS_PAGE = ROOT / "docs" / "commands.md"


def test_every_relayctl_command_in_the_readme_exists():
    used = set(re.findall(r"relayctl ([a-z][a-z-]*)", README))
    assert used, "the README shows no relayctl command"
    assert used <= set(SUBCOMMANDS), used - set(SUBCOMMANDS)


def _reference() -> str:
    if COMMANDS_PAGE.is_file():
        return COMMANDS_PAGE.read_text()
    return README.split("## Command reference", 1)[1].split("\n## ", 1)[0]


def test_every_subcommand_is_documented():
    for name in SUBCOMMANDS:
        assert f"`{name}" in _reference(), name


def test_the_two_commands_come_first():
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert "make demo" in first_block
    assert "make test" in first_block


def test_reference_sections_exist():
    headings = set(re.findall(r"^## (.+)$", README, re.MULTILINE))
    for section in ("Layout", "Configuration", "Resources", "Outputs", "workflows.yaml reference"):
        assert section in headings, section


def _reference_rows() -> dict[str, str]:
    """Command reference table: subcommand -> its row."""
    section = _reference()
    rows = re.findall(r"^\| `([a-z][a-z-]*)([^|]*(?:\\\|[^|]*)*)\|(.*)\|$", section, re.MULTILINE)
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
    assert missing == [], f"README's Command reference row for {name} lacks {missing}"

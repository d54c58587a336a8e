"""The README's commands exist: a newcomer copying them never hits an unknown subcommand."""

from __future__ import annotations

import re
from pathlib import Path

from relayctl.cli import SUBCOMMANDS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_relayctl_command_in_the_readme_exists():
    used = set(re.findall(r"relayctl ([a-z][a-z-]*)", README))
    assert used, "the README shows no relayctl command"
    assert used <= set(SUBCOMMANDS), used - set(SUBCOMMANDS)


def test_every_subcommand_is_documented():
    for name in SUBCOMMANDS:
        assert f"`{name}" in README, name


def test_the_two_commands_come_first():
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert "make demo" in first_block
    assert "make test" in first_block


def test_reference_sections_exist():
    headings = set(re.findall(r"^## (.+)$", README, re.MULTILINE))
    for section in ("Layout", "Configuration", "Resources", "Outputs", "workflows.yaml reference"):
        assert section in headings, section

"""The entry point: --help explains every subcommand, usage errors exit 2."""

from __future__ import annotations

import pytest

from relayctl.cli import SUBCOMMANDS


def test_help_lists_every_subcommand_with_an_example(relayctl):
    result = relayctl("--help")
    assert result.returncode == 0
    for name, (_, _, example) in SUBCOMMANDS.items():
        assert name in result.stdout
        assert example in result.stdout


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_each_subcommand_has_help_with_its_example(relayctl, name):
    result = relayctl(name, "--help")
    assert result.returncode == 0
    assert SUBCOMMANDS[name][2] in result.stdout


def test_no_subcommand_is_a_usage_error(relayctl):
    result = relayctl()
    assert result.returncode == 2
    assert "COMMAND" in result.stderr


def test_unknown_option_is_a_usage_error(relayctl):
    result = relayctl("plan", "--format", "html")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr

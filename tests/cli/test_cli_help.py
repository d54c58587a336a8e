"""The entry point: --help explains every subcommand, usage errors exit 2."""

from __future__ import annotations

import argparse

import pytest

from relayctl.cli import SUBCOMMANDS, build_parser


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


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_every_option_and_argument_has_help_text(name):
    undocumented = [
        action.dest
        for action in _subparsers()[name]._actions
        if action.dest != "help" and not action.help
    ]
    assert undocumented == [], f"{name}: {undocumented}"


@pytest.mark.parametrize(
    ("name", "option", "words"),
    [
        ("plan", "--format", "an invalid file becomes a list of problems"),
        ("send-test-event", "--event", "intercom.recorder.opted_out"),
        ("send-test-event", "--timeout", "relay's answer"),
    ],
)
def test_options_once_undocumented_now_explain_themselves(relayctl, name, option, words):
    result = relayctl(name, "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps lines
    assert option in text
    assert words in text


def test_every_subcommand_says_whether_it_leaves_this_machine():
    """--help once said only `endpoints` needs the cloud (issue 21): now each command is in
    exactly one list, and a new one cannot be added without saying which."""
    from relayctl.cli import OFFLINE, REACHES

    assert sorted([*OFFLINE, *REACHES]) == sorted(SUBCOMMANDS)


def test_help_names_what_each_networked_command_reaches(relayctl):
    from relayctl.cli import REACHES

    text = relayctl("--help").stdout
    flat = " ".join(text.split())  # argparse keeps our line breaks (RawDescriptionHelpFormatter)
    assert "On this machine only, no account needed: demo, validate, plan, endpoints," in flat
    for name, what in REACHES.items():
        assert f"{name}: {what}" in flat
    assert "check: the relay's URLs over HTTPS" in text
    assert "trace: Google Cloud Logging, through gcloud" in text
    assert "add: your Pulumi backend, through the Pulumi CLI" in text
    assert "except `endpoints`" not in text

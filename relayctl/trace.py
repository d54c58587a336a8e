"""relayctl trace: one conversation's relay log lines (being written)."""

from __future__ import annotations

import argparse

from relayctl.common import CommandError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this subcommand's arguments."""


def run(args: argparse.Namespace) -> int:
    raise CommandError("not implemented yet", exit_code=1)

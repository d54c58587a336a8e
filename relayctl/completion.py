"""``relayctl completion bash|zsh``: a shell completion script, generated from the parser.

shtab (https://github.com/iterative/shtab) turns the argparse parser into the script, so the
completions always match the real subcommands and options.
"""

from __future__ import annotations

import argparse

from relayctl.common import EXIT_OK

# shtab is imported when a script is printed, not when the parser is built: every command builds
# it, and `make demo` installs only what the demo runs (requirements-demo.txt).

SHELLS = ("bash", "zsh")
# Options that name a file: complete them with paths.
FILE_OPTIONS = ("--file", "--secrets-file", "--base")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "shell",
        choices=SHELLS,
        help="the shell to print the completion script for",
    )


def script(shell: str) -> str:
    import shtab

    from relayctl.cli import build_parser  # the full parser; cli imports this module lazily

    parser = build_parser()
    _complete_files(parser)
    return shtab.complete(parser, shell=shell)


def _complete_files(parser: argparse.ArgumentParser) -> None:
    import shtab

    for action in parser._actions:  # argparse has no public walk over actions
        if any(option in FILE_OPTIONS for option in action.option_strings):
            action.complete = shtab.FILE  # type: ignore[attr-defined]
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                _complete_files(subparser)


def run(args: argparse.Namespace) -> int:
    print(script(args.shell))
    return EXIT_OK

"""One entry point, ``relayctl`` (or ``python -m relayctl``), with a subcommand per job.

Exit codes: 0 ok; 1 the checked thing is wrong (invalid file, failed delivery); 2 usage error;
3 (preflight only) nothing will fail, but something could not be told.
Subcommand modules are imported only when chosen, so ``--help`` stays quick.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from relayctl.common import (
    DEFAULT_SECRETS_FILE,
    DEFAULT_WORKFLOWS_FILE,
    EXAMPLE_WORKFLOWS_FILE,
    EXIT_USAGE,
    NO_PROJECT,
    CommandError,
    err,
    find_workflows_file,
)

# name -> (module, one-line help, example)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": (
        "demo",
        "run the relay locally with throwaway secrets and watch signed Jam events reach a "
        "stand-in Intercom",
        "relayctl demo",
    ),
    "validate": (
        "validate",
        "check workflows.yaml; with --stack, check Pulumi.<stack>.yaml sets every key it needs",
        "relayctl validate --stack dev",
    ),
    "plan": (
        "plan",
        "list the routes a `pulumi up` would deploy; with --base, what changed (for PR review)",
        "relayctl plan --base origin/main --format markdown",
    ),
    "serve": (
        "serve",
        "run the relay on 127.0.0.1 with your own secrets until Ctrl-C (try it through a tunnel)",
        "relayctl serve --port 8080 --secrets-file .relay-secrets.env",
    ),
    "send-test-event": (
        "send_test_event",
        "sign a Jam-shaped event with a route's signing secret, post it, explain the answer",
        "relayctl send-test-event https://RELAY_URL --workflow billing-handoff",
    ),
    "add": (
        "add",
        "add a workflow in one guided step: its Intercom URL in, its Endpoint URL out for Jam, "
        "Jam's signing secret in; stored with `pulumi config set --secret`, never echoed",
        "relayctl add billing-handoff --stack dev",
    ),
    "endpoints": (
        "endpoints",
        "print each workflow's Endpoint URL and Jam setup, from the stack file (before or after "
        "any deploy)",
        "relayctl endpoints --stack dev",
    ),
    "preflight": (
        "preflight",
        "read the stack's Google Cloud project, read-only, and say what would stop `pulumi up` "
        "(billing, organisation policies, permissions, APIs, quota project)",
        "relayctl preflight --stack dev",
    ),
    "check": (
        "check",
        "probe every deployed workflow's endpoint (no event reaches Intercom) and say what is "
        "not ready",
        "relayctl check --stack dev",
    ),
    "trace": (
        "trace",
        "show one conversation's relay log lines (the Cloud Logging query, run through gcloud)",
        "relayctl trace --conversation 215470686832743 --stack dev",
    ),
    "completion": (
        "completion",
        "print a bash or zsh completion script for relayctl (load it from your shell's rc file)",
        'eval "$(relayctl completion bash)"',
    ),
}
# Subcommands whose module declares its own arguments (``add_arguments(parser)``); the module is
# imported only to build the parser, so keep its top-level imports light.
SELF_DESCRIBING = ("add", "preflight", "check", "trace", "completion")

# What each subcommand reaches beyond this machine; every other one runs on it alone (files,
# git, and 127.0.0.1). tests/cli/test_cli_help.py checks each subcommand is in exactly one.
REACHES: dict[str, str] = {
    "add": "your Pulumi backend, through the Pulumi CLI, when it stores the two secrets",
    "preflight": "Google Cloud's APIs, read-only, with your credentials",
    "check": "the relay's URLs over HTTPS (unsigned probes; nothing reaches Intercom)",
    "send-test-event": "the URL you give, over HTTP(S)",
    "serve": "your Intercom URLs, when an event it receives is forwarded",
    "trace": "Google Cloud Logging, through gcloud",
}
OFFLINE = ("demo", "validate", "plan", "endpoints", "completion")
DESCRIPTION = (
    "Operate the Jam -> Intercom Fin relay from your project folder (the one holding Pulumi.yaml "
    "and workflows.yaml).\n\n"
    f"On this machine only, no account needed: {', '.join(OFFLINE)}.\n"
    "Beyond it:\n"
    + "".join(f"  {name}: {what}\n" for name, what in REACHES.items())
    + "\nExit codes: 0 ok, 1 the checked thing is wrong (preflight: something will fail, or "
    "Google cannot be reached), 2 usage error, 3 preflight could not tell something (and "
    "nothing will fail)."
)


def _add_file(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    default = default or (
        f"the {DEFAULT_WORKFLOWS_FILE} of the project folder you are in, looked for from the "
        "current folder upwards"
    )
    parser.add_argument("--file", metavar="F", help=f"the workflows file (default: {default})")


def _add_secrets_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--secrets-file",
        metavar="PATH",
        help=(
            f"git-ignored KEY=VALUE file (default: {DEFAULT_SECRETS_FILE} if present). KEY is the "
            "relay's env name (INTERCOM_WEBHOOK_URL__<ID>, JAM_SIGNING_SECRET__<ID>) or the "
            "config key workflows.yaml names; the environment wins over the file"
        ),
    )


def build_parser() -> argparse.ArgumentParser:
    epilog = "examples:\n" + "\n".join(f"  {example}" for _, _, example in SUBCOMMANDS.values())
    parser = argparse.ArgumentParser(
        prog="relayctl",
        description=DESCRIPTION,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str) -> argparse.ArgumentParser:
        _, summary, example = SUBCOMMANDS[name]
        return commands.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    _add_file(add("demo"), default="the examples/workflows.yaml relayctl ships with")

    validate = add("validate")
    _add_file(validate)
    validate.add_argument(
        "--stack", metavar="NAME", help="also check Pulumi.NAME.yaml (beside the file)"
    )

    plan = add("plan")
    _add_file(plan)
    plan.add_argument("--stack", metavar="NAME", help="only the workflows deployed to NAME")
    plan.add_argument(
        "--base", metavar="REF|FILE", help="diff against a git ref's version of the file, or a file"
    )
    plan.add_argument(
        "--format",
        choices=("text", "markdown"),
        default="text",
        help=(
            "text (default) for a terminal; markdown for a pull-request comment: its first line "
            "is a marker the PR workflow finds it by, and an invalid file becomes a list of "
            "problems with their fixes (exit 1)"
        ),
    )

    serve = add("serve")
    _add_file(serve)
    serve.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    _add_secrets_file(serve)

    send = add("send-test-event")
    send.add_argument("endpoint", metavar="ENDPOINT", help="the relay URL or the Endpoint URL")
    send.add_argument("--workflow", required=True, metavar="ID", help="the workflow id")
    send.add_argument(
        "--event",
        choices=("recorded", "opted_out"),
        default="recorded",
        help=(
            "which Jam event to send: recorded (intercom.recorder.recorded, the default) or "
            "opted_out (intercom.recorder.opted_out)"
        ),
    )
    send.add_argument(
        "--conversation",
        default="215470686832743",
        metavar="ID",
        help="Intercom conversation id (use one waiting on the workflow for a real check)",
    )
    send.add_argument(
        "--secret-env",
        metavar="VAR",
        help="read the whsec_ signing secret from VAR (default: JAM_SIGNING_SECRET__<ID> "
        "from the environment or the secrets file)",
    )
    _add_secrets_file(send)
    _add_file(send)
    send.add_argument(
        "--timeout",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="how long to wait for the relay's answer (default 20, above the relay's own "
        "Intercom timeout, so you see its answer rather than a timeout)",
    )

    endpoints = add("endpoints")
    endpoints.add_argument(
        "--stack",
        metavar="NAME",
        help="read Pulumi.NAME.yaml (default: the project's only Pulumi.<stack>.yaml)",
    )
    _add_file(endpoints)

    for name in SELF_DESCRIBING:
        importlib.import_module(f"relayctl.{SUBCOMMANDS[name][0]}").add_arguments(add(name))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.file_given = getattr(args, "file", None) is not None
    if getattr(args, "file", "") is None:  # --file not given: the project you are in
        found = EXAMPLE_WORKFLOWS_FILE if args.command == "demo" else find_workflows_file()
        if found is None and args.command != "send-test-event":  # it only looks a key up
            err(f"usage: {NO_PROJECT}")
            return EXIT_USAGE
        args.file = None if found is None else str(found)
    module = importlib.import_module(f"relayctl.{SUBCOMMANDS[args.command][0]}")
    try:
        code: int = module.run(args)
    except CommandError as exc:
        err(f"{'usage' if exc.exit_code == 2 else 'failed'}: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`relayctl plan | head`): stop quietly, as other CLI tools do.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return code

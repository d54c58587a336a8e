"""``relayctl validate``: check workflows.yaml, and with --stack the stack's config keys."""

from __future__ import annotations

import argparse
from pathlib import Path

from infra.workflows import missing_config_problems
from relayctl.common import EXIT_FAILED, EXIT_OK, load_or_fail, report_problem
from relayctl.stack_config import present_config_keys


def run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    workflows_file = load_or_fail(path)
    if args.stack is None:
        print(f"ok: {path}: {_count(len(workflows_file.workflows))} valid.")
        return EXIT_OK

    present = present_config_keys(path.parent, args.stack)
    problems = missing_config_problems(workflows_file, args.stack, present)
    for problem in problems:
        report_problem(problem, severity="error")
    deployed = len(workflows_file.for_stack(args.stack))
    if problems:
        print(f"failed: stack '{args.stack}': {len(problems)} config problem(s).")
        return EXIT_FAILED
    print(
        f"ok: {path}: {_count(deployed)} for stack '{args.stack}', "
        "every config key they need is set."
    )
    return EXIT_OK


def _count(n: int) -> str:
    return f"{n} workflow" + ("" if n == 1 else "s")

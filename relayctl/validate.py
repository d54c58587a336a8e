"""``relayctl validate``: check workflows.yaml, and with --stack the stack file it deploys with.

With a stack: the program's settings rules (``gcp:project`` unset or still the shipped
placeholder, every other setting), what Pulumi itself refuses in the file (a key without its
``namespace:``), every config key the stack's workflows need, and a signing secret left in
plain text. Offline: no Pulumi CLI, no cloud call.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from infra.workflows import ConfigRef, WorkflowsFile, missing_config_problems, set_secret_command
from infra.workflows_schema import say
from relayctl.common import EXIT_FAILED, EXIT_OK, load_or_fail, report_problem
from relayctl.stack_config import Entry, StackConfig, check_stack_name, read_stack


def run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    workflows_file = load_or_fail(path)
    if args.stack is None:
        print(f"ok: {path}: {_count(len(workflows_file.workflows))} valid.")
        return EXIT_OK

    stack = read_stack(path.parent, check_stack_name(args.stack))
    problems = stack_problems(stack, workflows_file)
    for problem in problems:
        print(f"error: {problem}")
    explained = _explained_keys(stack, workflows_file)
    present = {**stack.present_keys(), **dict.fromkeys(explained, True)}
    missing = missing_config_problems(workflows_file, args.stack, present)
    for missing_key in missing:
        report_problem(missing_key, severity="error")
    problems += [str(p) for p in missing]
    deployed = len(workflows_file.for_stack(args.stack))
    if problems:
        print(f"failed: stack '{args.stack}': {len(problems)} config problem(s).")
        return EXIT_FAILED
    print(
        f"ok: {path}: {_count(deployed)} for stack '{args.stack}', "
        f"{stack.path.name} has every setting and key they need."
    )
    return EXIT_OK


def _needed_keys(stack: StackConfig, workflows_file: WorkflowsFile) -> set[str]:
    return {
        ref.key
        for workflow in workflows_file.for_stack(stack.stack)
        for ref in (workflow.intercom_webhook_url, workflow.jam_signing_secret)
        if isinstance(ref, ConfigRef)
    }


def _misplaced(stack: StackConfig, workflows_file: WorkflowsFile) -> list[tuple[Entry, str, str]]:
    """Entries written under no namespace (Pulumi refuses the whole file for one:
    pulumi/pulumi sdk/go/common/resource/config/key.go, ParseKey, "configuration keys should be
    of the form `<namespace>:<name>`"), or a key a workflow needs under another project's
    namespace: (entry, namespace, key)."""
    needed = _needed_keys(stack, workflows_file)
    found = []
    for entry in stack.entries:
        namespace, _, bare = entry.key.rpartition(":")
        if not namespace or (namespace != stack.project and bare in needed):
            found.append((entry, namespace, bare))
    return found


def _explained_keys(stack: StackConfig, workflows_file: WorkflowsFile) -> set[str]:
    """Keys stack_problems already reports at the stack file's line: the loader's "not set" or
    "plain text" for them would say the same thing worse."""
    plain = {_bare(stack, e.key) for e in stack.plaintext_signing_secrets()}
    return plain | {bare for _, _, bare in _misplaced(stack, workflows_file)}


def stack_problems(stack: StackConfig, workflows_file: WorkflowsFile) -> list[str]:
    """The stack file's own problems, each with its line and fix."""
    name, where = stack.stack, stack.path
    settings = stack.settings()
    problems = [f"{where}: {p}" for p in settings] if isinstance(settings, tuple) else []
    for entry, namespace, bare in _misplaced(stack, workflows_file):
        written = f"under namespace '{namespace}'" if namespace else "without a namespace"
        refused = (
            "Pulumi reads only `namespace:key` lines here and refuses the whole file"
            if not namespace
            else "the program reads this project's keys only"
        )
        problems.append(
            f"{where}:{entry.line}: config key '{entry.key}' is written {written}; {refused}. "
            f"Fix: write it as `{stack.project}:{bare}` ({stack.project} is the project's name in "
            f"Pulumi.yaml), or store it again with `{set_secret_command(bare, name)}`, which "
            "writes the prefix for you."
        )
    for entry in stack.plaintext_signing_secrets():
        subject = f"The value of config '{entry.key}'"
        problem, fix = say("signing_secret", subject=subject, secret_key=_bare(stack, entry.key))
        problems.append(f"{where}:{entry.line}: {problem} Fix: {fix}")
    return problems


def _bare(stack: StackConfig, key: str) -> str:
    return key.removeprefix(stack.project + ":")


def _count(n: int) -> str:
    return f"{n} workflow" + ("" if n == 1 else "s")

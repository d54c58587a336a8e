"""``relayctl plan``: the routes a ``pulumi up`` would deploy, and the diff against a base.

Offline by design: it reads workflows.yaml (and a base version from git or a file), never the
cloud. Secrets are named by config key only; a literal Intercom URL is never printed. Its markdown
is posted as a pull-request comment, so everything printed also goes through ``redact``: a
secret pasted anywhere in either file (even one the loader let through) is never echoed.
"""

from __future__ import annotations

import argparse
import subprocess
from dataclasses import dataclass
from pathlib import Path

from infra.secret_patterns import redact
from infra.workflows import (
    ConfigRef,
    Problem,
    Workflow,
    WorkflowsFile,
    WorkflowsFileError,
    load_workflows,
    parse_workflows,
)
from relay_function.naming import intercom_url_env, signing_secret_env
from relayctl.common import (
    EXIT_FAILED,
    EXIT_OK,
    err,
    load_or_fail,
    usage_error,
)
from relayctl.stack_config import stack_file

# Lets the pull-request workflow find and update its own comment instead of adding a new one.
# An interface: .github/workflows/pull-request.yaml looks for exactly this first line.
COMMENT_MARKER = "<!-- jam-fin-relay:plan -->"
ENDPOINT_PLACEHOLDER = "<relay URL>"


@dataclass(frozen=True)
class Route:
    """What one workflow deploys, in the terms a reviewer cares about."""

    id: str
    description: str
    path: str
    events: tuple[str, ...]
    stacks: tuple[str, ...] | None
    intercom_secret: str  # a config key, or a note that the URL is literal
    jam_secret: str | None  # a config key, or None when not configured yet

    @classmethod
    def of(cls, workflow: Workflow) -> Route:
        url = workflow.intercom_webhook_url
        jam = workflow.jam_signing_secret
        return cls(
            id=workflow.id,
            description=workflow.description,
            path=workflow.route_path,
            events=workflow.events,
            stacks=workflow.stacks,
            intercom_secret=url.key if isinstance(url, ConfigRef) else "(literal URL in the file)",
            jam_secret=jam.key if jam is not None else None,
        )

    def secrets_needed(self) -> list[str]:
        needed = [f"{self.intercom_secret} -> {intercom_url_env(self.id)}"]
        jam = self.jam_secret or "(not configured yet)"
        needed.append(f"{jam} -> {signing_secret_env(self.id)}")
        return needed


@dataclass(frozen=True)
class Diff:
    added: tuple[Route, ...]
    removed: tuple[Route, ...]
    changed: tuple[tuple[Route, tuple[str, ...]], ...]  # route (new) and what changed
    unchanged: int


def routes_of(workflows_file: WorkflowsFile, stack: str | None) -> tuple[Route, ...]:
    chosen = workflows_file.workflows if stack is None else workflows_file.for_stack(stack)
    return tuple(Route.of(w) for w in chosen)


def diff_routes(base: tuple[Route, ...], head: tuple[Route, ...]) -> Diff:
    base_by_id = {r.id: r for r in base}
    head_ids = {r.id for r in head}
    changed: list[tuple[Route, tuple[str, ...]]] = []
    unchanged = 0
    for route in head:
        before = base_by_id.get(route.id)
        if before is None:
            continue
        changes = describe_changes(before, route)
        if changes:
            changed.append((route, changes))
        else:
            unchanged += 1
    return Diff(
        added=tuple(r for r in head if r.id not in base_by_id),
        removed=tuple(r for r in base if r.id not in head_ids),
        changed=tuple(changed),
        unchanged=unchanged,
    )


def describe_changes(before: Route, after: Route) -> tuple[str, ...]:
    changes: list[str] = []
    if before.events != after.events:
        changes.append(f"events: {_list(before.events)} -> {_list(after.events)}")
    if before.stacks != after.stacks:
        changes.append(f"stacks: {_stacks(before.stacks)} -> {_stacks(after.stacks)}")
    if before.description != after.description:
        changes.append(f"description: {before.description!r} -> {after.description!r}")
    if before.intercom_secret != after.intercom_secret:
        changes.append(f"Intercom URL key: {before.intercom_secret} -> {after.intercom_secret}")
    if before.jam_secret != after.jam_secret:
        changes.append(
            f"Jam signing secret key: {before.jam_secret or '(none)'} -> "
            f"{after.jam_secret or '(none)'}"
        )
    return tuple(changes)


def read_base(base: str, head_path: Path) -> tuple[str, str | None]:
    """(label, text) of the base version; text None when the file does not exist at REF."""
    if Path(base).is_file():
        return base, Path(base).read_text(encoding="utf-8")
    cwd = head_path.parent
    label = f"{base}:{head_path.name}"
    if not _is_git_commit(base, cwd):
        raise usage_error(
            f"--base {base}: neither a file nor a git commit/ref in the repository at "
            f"{cwd.resolve()}. Check the name, or fetch it first (git fetch origin)."
        )
    shown = subprocess.run(  # noqa: S603 (fixed argv, no shell)
        ["git", "show", f"{base}:./{head_path.name}"],  # noqa: S607 (git from PATH)
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    # The ref exists, so a failure means the file is new in this change: everything is added.
    return label, shown.stdout if shown.returncode == 0 else None


def _is_git_commit(ref: str, cwd: Path) -> bool:
    if ref.startswith("-"):
        return False  # never let a ref be read as a git option
    try:
        probe = subprocess.run(  # noqa: S603 (fixed argv, no shell)
            ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],  # noqa: S607
            cwd=cwd,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        return False  # no git installed
    return probe.returncode == 0


def run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if args.format == "markdown":
        head_file = _load_for_markdown(path)
        if isinstance(head_file, tuple):
            print(redact(render_problems_markdown(str(path), head_file)))
            noun = "problem" if len(head_file) == 1 else "problems"
            err(redact(f"failed: {path}: {len(head_file)} {noun}."))
            return EXIT_FAILED
    else:
        head_file = load_or_fail(path)
    head = routes_of(head_file, args.stack)
    if args.stack and not stack_file(path.parent, args.stack).is_file():
        # Still a plan (a new stack has no file yet), but a typo should not pass silently.
        err(
            redact(
                f"note: no {stack_file(path.parent, args.stack).name} next to {path.name}; "
                f"is '{args.stack}' the stack's name?"
            )
        )
    diff: Diff | None = None
    base_label: str | None = None
    base_note: str | None = None
    if args.base is not None:
        base_label, base_text = read_base(args.base, path)
        if base_text is None:
            base_note = f"{path.name} does not exist at {args.base}: every workflow is new."
            diff = diff_routes((), head)
        else:
            try:
                base_file = parse_workflows(base_text, filename=base_label)
            except WorkflowsFileError as exc:
                base_note = (
                    f"the base version ({base_label}) is not valid "
                    f"({len(exc.problems)} problem(s)), so there is no diff; routes only."
                )
            else:
                diff = diff_routes(routes_of(base_file, args.stack), head)
    if base_note is not None:
        err(redact(f"note: {base_note}"))
    if args.format == "markdown":
        shown = render_markdown(str(path), args.stack, head, diff, base_label, base_note)
        shown += render_warnings_markdown(head_file.warnings)
    else:
        shown = render_text(str(path), args.stack, head, diff, base_label, base_note)
    print(redact(shown))
    return EXIT_OK


def _load_for_markdown(path: Path) -> WorkflowsFile | tuple[Problem, ...]:
    """The file, or its problems: in markdown they become the comment, not error lines."""
    if not path.is_file():
        raise usage_error(f"{path}: no such file. Run from the project folder or pass --file.")
    try:
        return load_workflows(path)  # its warnings are rendered into the markdown
    except WorkflowsFileError as exc:
        return exc.problems


def render_problems_markdown(path: str, problems: tuple[Problem, ...]) -> str:
    """The comment for an invalid file: one bullet per problem, where, what and the fix."""
    noun = "problem" if len(problems) == 1 else "problems"
    lines = [
        COMMENT_MARKER,
        f"### `{_code(path)}` is invalid: {len(problems)} {noun}, so nothing can be deployed",
        "",
        "Fix each one below, push, and this comment is updated.",
        "",
    ]
    lines += [_problem_bullet(problem) for problem in problems]
    return "\n".join(lines)


def render_warnings_markdown(warnings: tuple[Problem, ...]) -> str:
    if not warnings:
        return ""
    lines = ["", "", "**Warnings** (the file is valid; consider fixing these)", ""]
    lines += [_problem_bullet(warning) for warning in warnings]
    return "\n".join(lines)


def _problem_bullet(problem: Problem) -> str:
    where = f"`{_code(f'{problem.file}:{problem.line}:{problem.column}')}`"
    who = f" workflow `{_code(problem.workflow_id)}`:" if problem.workflow_id else ""
    return f"- {where}{who} {_md(problem.message)}<br>**Fix:** {_md(problem.fix)}"


def render_text(
    path: str,
    stack: str | None,
    routes: tuple[Route, ...],
    diff: Diff | None,
    base_label: str | None,
    base_note: str | None,
) -> str:
    scope = f"stack '{stack}'" if stack else "every stack"
    lines = [f"Routes a `pulumi up` would deploy for {scope} ({path}, {len(routes)}):"]
    for route in routes:
        lines += [
            "",
            f"  {route.id}",
            f"    endpoint: {ENDPOINT_PLACEHOLDER}{route.path}",
            f"    events:   {_list(route.events)}",
            f"    stacks:   {_stacks(route.stacks)}",
            "    secrets:  " + "\n              ".join(route.secrets_needed()),
        ]
    if base_note:
        lines += ["", f"Note: {base_note}"]
    if diff is not None:
        lines += ["", f"Changes against {base_label}:"]
        lines += [f"  + added    {r.id} ({r.path})" for r in diff.added]
        lines += [f"  - removed  {r.id} ({r.path})" for r in diff.removed]
        for route, changes in diff.changed:
            lines.append(f"  ~ changed  {route.id}")
            lines += [f"      {change}" for change in changes]
        if not (diff.added or diff.removed or diff.changed):
            lines.append("  no route changes")
        lines.append(f"  ({diff.unchanged} unchanged)")
    return "\n".join(lines)


def render_markdown(
    path: str,
    stack: str | None,
    routes: tuple[Route, ...],
    diff: Diff | None,
    base_label: str | None,
    base_note: str | None,
) -> str:
    scope = f"stack `{stack}`" if stack else "every stack"
    lines = [COMMENT_MARKER, f"### Jam → Intercom routes for {scope} (`{path}`)", ""]
    if diff is not None:
        summary = (
            f"**{len(diff.added)} added, {len(diff.removed)} removed, "
            f"{len(diff.changed)} changed**, {diff.unchanged} unchanged, against `{base_label}`."
        )
        lines += [summary, ""]
    if base_note:
        lines += [f"> Note: {_md(base_note)}", ""]
    status = _status_by_id(diff)
    lines += [
        "| | workflow | endpoint path | events | stacks | secrets (config key → relay env) |",
        "|---|---|---|---|---|---|",
    ]
    rows = [(status.get(r.id, ""), r) for r in routes]
    rows += [("**removed**", r) for r in (diff.removed if diff else ())]
    for mark, route in rows:
        secrets = "<br>".join(f"`{s}`" for s in route.secrets_needed())
        lines.append(
            f"| {mark} | `{route.id}` | `{route.path}` | {_md(_list(route.events))} "
            f"| {_md(_stacks(route.stacks))} | {secrets} |"
        )
    if diff is not None and diff.changed:
        lines += ["", "**Changed**", ""]
        for route, changes in diff.changed:
            lines.append(f"- `{route.id}`: " + "; ".join(_md(c) for c in changes))
    if diff is not None and diff.added:
        lines += [
            "",
            "After merge and `pulumi up`, register each added endpoint in Jam, then store the "
            "signing secret Jam shows with `pulumi config set --secret KEY` and run `pulumi up` "
            "again.",
        ]
    return "\n".join(lines)


def _status_by_id(diff: Diff | None) -> dict[str, str]:
    if diff is None:
        return {}
    status = {r.id: "**added**" for r in diff.added}
    status.update({r.id: "**changed**" for r, _ in diff.changed})
    return status


def _list(items: tuple[str, ...]) -> str:
    return ", ".join(items)


def _stacks(stacks: tuple[str, ...] | None) -> str:
    return "every stack" if stacks is None else _list(stacks)


def _md(text: str) -> str:
    """Keep user text from breaking a table row."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """Text for inside `backticks`: a backtick in it would end the code span."""
    return text.replace("`", "'").replace("\n", " ")

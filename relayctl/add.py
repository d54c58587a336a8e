"""``relayctl add ID``: one workflow in one sitting, with no secret ever shown.

1. The entry: workflows.yaml gains it (or already has it), checked with the loader.
2. The Intercom URL: asked without echo on a terminal, else read from stdin; checked with the
   loader's rule (infra/intercom_url.py).
3. The Endpoint URL, from the stack file (infra/urls.py): register it in Jam now, no deploy
   needed.
4. Jam's signing secret, once Jam shows it (Enter leaves it for a later run); checked with the
   relay's own rule (relay_function/configuration.py, ``parse_signing_secrets``).
5. Only then: each value stored with ``pulumi config set --secret KEY --stack S``, the value on
   that command's stdin (never in argv), and workflows.yaml written.

Without the Pulumi CLI nothing is asked: the file is written and the exact commands are printed
(``pulumi config set --secret KEY`` asks for the value itself, without echo). Values a script
pipes in anyway are still checked, so a wrong one is refused with its fix; then, as they cannot
be stored, nothing is changed.

workflows.yaml is edited by inserting lines at positions read from PyYAML's node marks, then
the whole new text is run through the loader before it is written: every byte of the file
outside the inserted lines stays as it was, comments and layout included. A round-trip YAML
library (ruamel.yaml) would be a new dependency and still re-emits the document, moving comments
at the end of a sequence; inserting lines changes nothing else by construction.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from relayctl.common import EXIT_OK, OWN_CHECKOUT, CommandError, load_or_fail, usage_error

if TYPE_CHECKING:  # the loader (jsonschema) is imported when the command runs, not for --help
    from infra.workflows import WorkflowsFile

PULUMI_TIMEOUT_SECONDS = 120
MAX_STDIN_BYTES = 64 * 1024  # two values: anything near this is the wrong input
ATTEMPTS = 3  # prompts per value on a terminal before giving up
# Jam's guide: register the endpoint "and paste this URL into the Endpoint URL field".
JAM_WHERE = "Jam's webhook settings (https://jam.dev/docs/integrations/webhooks)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this subcommand's arguments."""
    parser.add_argument(
        "id",
        metavar="ID",
        help="the workflow id: lower-case letters, digits and '-', part of its Endpoint URL",
    )
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help="store the values on NAME (default: the project's only Pulumi.<stack>.yaml)",
    )
    parser.add_argument(
        "--file",
        metavar="F",
        default=None,
        help="the workflows file (default: workflows.yaml of the project you are in)",
    )
    parser.add_argument(
        "--description",
        metavar="TEXT",
        help="a one-line description for a new entry (what the Fin workflow does)",
    )
    parser.epilog = (
        (parser.epilog or "")
        + "\n\nOn a terminal it asks for each value and does not echo it. Without one (scripts), "
        "it reads stdin: the Intercom URL and/or Jam's signing secret, one per line, in any "
        "order (the line starting with whsec_ is the secret), e.g.\n"
        "  printf '%s\\n' \"$INTERCOM_URL\" | relayctl add billing-handoff --stack dev\n"
        "Run it again for the same ID to add the signing secret once Jam shows it."
    )


@dataclass(frozen=True)
class Plan:
    """What this run writes: the new text of workflows.yaml (None: unchanged) and its keys."""

    new_text: str | None
    change: str  # what the file change is, in words
    url_key: str | None  # None: a literal URL in the file (nothing to store)
    secret_key: str
    events: tuple[str, ...]


def run(args: argparse.Namespace) -> int:
    from infra.urls import endpoint_url
    from relayctl.stack_config import default_stack, read_stack

    path = Path(args.file)
    workflows_file = load_or_fail(path)  # a broken file is fixed first: nothing is asked
    project_dir = path.resolve().parent
    stack_name = default_stack(project_dir, args.stack)
    stack = read_stack(project_dir, stack_name)
    endpoint = endpoint_url(stack.relay_url(), args.id)  # the settings' problems, before asking
    plan = plan_entry(path, workflows_file, args.id, stack_name, args.description)
    stored = stack.present_keys()
    pulumi = shutil.which("pulumi")
    print(f"Workflow '{args.id}' on stack '{stack_name}' ({path}, {stack.path.name})")
    if args.description and plan.change == "":
        print("  (--description is for a new entry; edit the existing one in the file)")

    if pulumi is None:
        return _without_pulumi(path, plan, stored, args.id, stack_name, endpoint)

    values = (
        _ask(plan, stored, endpoint) if sys.stdin.isatty() else _from_stdin(plan, stored, args.id)
    )
    for key, value in values.items():
        _store(pulumi, project_dir, key, value, stack_name)
        print(f"  stored {key} on stack '{stack_name}' (encrypted; value not shown)")
    if plan.new_text is not None:
        _write(path, plan.new_text)
        print(f"  {path}: {plan.change}")
    has_secret = plan.secret_key in values or stored.get(plan.secret_key) is True
    _summary(args.id, stack_name, endpoint, plan, has_secret)
    return EXIT_OK


def _summary(workflow_id: str, stack: str, endpoint: str, plan: Plan, has_secret: bool) -> None:
    print()
    print(f"Endpoint URL (paste into Jam): {endpoint}")
    print(f"  subscribe it to: {', '.join(plan.events)}")
    if has_secret:
        print(f"Next: `pulumi up --stack {stack}`, then `relayctl check --stack {stack}`.")
    else:
        print(
            f"Next: in {JAM_WHERE}, add an endpoint with this Endpoint URL; Jam then shows its "
            "signing secret. "
            f"Run `relayctl add {workflow_id} --stack {stack}` again to store it, then "
            f"`pulumi up --stack {stack}`."
        )


def _without_pulumi(
    path: Path, plan: Plan, stored: dict[str, bool], workflow_id: str, stack: str, endpoint: str
) -> int:
    piped = "" if sys.stdin.isatty() else _read_stdin()
    if piped.strip():
        # Checked first, so a wrong value is refused with its fix whatever else is missing.
        _from_stdin(plan, stored, workflow_id, piped)
        raise CommandError(
            "the values on stdin are usable, but the Pulumi CLI is not on PATH, so they cannot "
            "be stored (nothing was changed). Install it (https://www.pulumi.com/docs/install/), "
            "log in with `pulumi login`, then run this again."
        )
    from infra.workflows import set_secret_command

    if plan.new_text is not None:
        _write(path, plan.new_text)
        print(f"  {path}: {plan.change}")
    print(
        "\nThe Pulumi CLI is not on PATH, so nothing was stored. Store each value with the "
        "command below; it asks for the value and does not echo it:"
    )
    if plan.url_key is not None:
        print(f"  {set_secret_command(plan.url_key, stack)}")
        print("    the Fin workflow's Wait for webhook URL, without /<Conversation ID>")
    print(f"  {set_secret_command(plan.secret_key, stack)}")
    print("    the signing secret (whsec_...) Jam shows once the endpoint is registered")
    _summary(workflow_id, stack, endpoint, plan, has_secret=False)
    return EXIT_OK


# --- The values ------------------------------------------------------------------------------


def url_refusal(url: str) -> str | None:
    """The loader's rule for an Intercom URL (infra/intercom_url.py): what is wrong and the fix,
    never quoting the URL; None when usable."""
    from infra.intercom_url import intercom_url_problem

    return intercom_url_problem(url)


def secret_refusal(secret: str) -> str | None:
    """The relay's own rule for a signing secret (``parse_signing_secrets``): what is wrong and
    the fix, never quoting it; None when the relay will take it."""
    try:
        _relay_configuration().parse_signing_secrets(secret)
    except ValueError as exc:  # names the position, never the value
        why = str(exc) if str(exc).startswith("secret #") else f"the signing secret {exc}"
        return (
            f"{why}. Fix: copy it again from Jam (the endpoint's signing secret, which starts "
            "with whsec_)."
        )
    return None


def _relay_configuration() -> Any:
    """relay_function/configuration.py, imported as the deployed relay imports it.

    The relay folder is deployed on its own, where its modules import each other top-level
    (``from naming import ...``); appending the folder to sys.path lets that work here too,
    after every other entry, so it shadows nothing.
    """
    folder = str(OWN_CHECKOUT / "relay_function")
    if folder not in sys.path:
        sys.path.append(folder)
    import configuration  # type: ignore[import-not-found]

    return configuration


def _ask(plan: Plan, stored: dict[str, bool], endpoint: str) -> dict[str, str]:
    """Both values from the terminal, without echo; {key: value} of those to store."""
    values: dict[str, str] = {}
    if plan.url_key is not None:
        have = stored.get(plan.url_key) is True
        url = _prompt(
            "Intercom webhook URL (the Fin workflow's Wait for webhook step, without "
            "/<Conversation ID>)",
            have,
            url_refusal,
            required=True,
        )
        if url:
            values[plan.url_key] = url
    print(f"\nEndpoint URL (paste into Jam): {endpoint}")
    print(
        f"  In {JAM_WHERE}, add an endpoint with this Endpoint URL and subscribe it to "
        f"{', '.join(plan.events)}; Jam then shows the endpoint's signing secret."
    )
    secret = _prompt(
        "Jam's signing secret for that endpoint (whsec_...; Enter to add it later)",
        stored.get(plan.secret_key) is True,
        secret_refusal,
        required=False,
    )
    if secret:
        values[plan.secret_key] = secret
    return values


def _prompt(label: str, have: bool, refusal: Callable[[str], str | None], required: bool) -> str:
    """One value, typed without echo; "" when kept or skipped."""
    suffix = " [stored; Enter keeps it]" if have else ""
    for _ in range(ATTEMPTS):
        value = getpass.getpass(f"{label}{suffix} (typing is hidden): ").strip()
        if not value:
            if have or not required:
                return ""
            print("  a value is needed here (the relay cannot forward without it)")
            continue
        problem = refusal(value)
        if problem is None:
            print("  ok (not shown)")
            return value
        print(f"  refused: {problem}")
    raise CommandError(f"no usable value after {ATTEMPTS} tries; nothing was stored.")


def _read_stdin() -> str:
    data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise usage_error(f"stdin holds over {MAX_STDIN_BYTES} bytes: expected two short lines.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise usage_error("stdin is not UTF-8 text (value not shown).") from None


def _from_stdin(
    plan: Plan, stored: dict[str, bool], workflow_id: str, text: str | None = None
) -> dict[str, str]:
    """The values a script gave on stdin (``text``, when already read), every one checked
    before anything is stored."""
    urls: list[str] = []
    secrets: list[str] = []
    lines = (_read_stdin() if text is None else text).splitlines()
    for number, line in enumerate(lines, start=1):
        value = line.strip()
        if value.lower().startswith("whsec_"):
            secrets.append(value)
        elif "://" in value:
            urls.append(value)
        elif value:
            raise usage_error(
                f"stdin line {number} is neither a URL nor a signing secret (value not shown): "
                "give the Fin workflow's https:// Wait for webhook URL and/or Jam's signing "
                "secret, which starts with whsec_."
            )
    if len(urls) > 1 or len(secrets) > 1:
        raise usage_error(
            f"stdin has {len(urls)} Intercom URL line(s) and {len(secrets)} signing secret "
            "line(s); give at most one of each (values not shown)."
        )
    # Each value given is judged first: a wrong one is refused with its fix, whatever is missing.
    if urls and (problem := url_refusal(urls[0])) is not None:
        raise CommandError(f"Intercom URL refused (nothing was stored): {problem}")
    if secrets and (problem := secret_refusal(secrets[0])) is not None:
        raise CommandError(f"signing secret refused (nothing was stored): {problem}")
    values: dict[str, str] = {}
    if urls:
        if plan.url_key is None:
            raise usage_error(
                f"workflow '{workflow_id}' has a literal intercom_webhook_url in the file; "
                "there is no config key to store a URL under."
            )
        values[plan.url_key] = urls[0]
    elif plan.url_key is not None and stored.get(plan.url_key) is not True:
        raise usage_error(
            f"no Intercom URL on stdin, and stack config has no {plan.url_key} yet: give the "
            "Fin workflow's Wait for webhook URL on stdin (one line)."
        )
    if secrets:
        values[plan.secret_key] = secrets[0]
    return values


def _store(pulumi: str, project_dir: Path, key: str, value: str, stack: str) -> None:
    """``pulumi config set --secret KEY --stack S``, the value on stdin.

    Pulumi reads the value from stdin when stdin is not a terminal, removing one trailing
    newline (pulumi/pulumi pkg/cmd/pulumi/config/config_set.go: ``!term.IsTerminal`` ->
    ``io.ReadAll(stdin)``; "Multi-line values may be set by piping a file to standard in",
    https://www.pulumi.com/docs/iac/cli/commands/pulumi_config_set/). So the value is never in
    argv, where other users of the machine could read it.
    """
    from infra.secret_patterns import redact
    from infra.workflows import set_secret_command

    command = [pulumi, "config", "set", "--secret", key, "--stack", stack]
    shown = f"`{set_secret_command(key, stack)}`"
    try:
        done = subprocess.run(  # noqa: S603 (argument list, no shell, no value in it)
            command,
            input=value,
            text=True,
            capture_output=True,
            cwd=project_dir,
            timeout=PULUMI_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CommandError(f"{shown} did not run ({exc.__class__.__name__}).") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no error text"]
        raise CommandError(
            f"{shown} failed (exit {done.returncode}): {redact(lines[-1])}. workflows.yaml was "
            "not changed; run this again once that is fixed."
        )


# --- The workflows file ----------------------------------------------------------------------


def plan_entry(
    path: Path,
    workflows_file: WorkflowsFile,
    workflow_id: str,
    stack: str,
    description: str | None,
) -> Plan:
    """The file's new text and the keys, checked with the loader before anything is asked."""
    from infra.workflows import ConfigRef, LiteralUrl, WorkflowsFileError, parse_workflows
    from infra.workflows_schema import suggested_key
    from relay_function.naming import DEFAULT_EVENTS

    text = path.read_text(encoding="utf-8")
    existing = next((w for w in workflows_file.workflows if w.id == workflow_id), None)
    secret_key = suggested_key(workflow_id, "JamSecret")
    if existing is None:
        url_key: str | None = suggested_key(workflow_id, "IntercomUrl")
        new_text: str | None = append_entry(
            text, workflow_id, description, str(url_key), secret_key
        )
        change, events = f"added workflow '{workflow_id}'", tuple(DEFAULT_EVENTS)
    else:
        if not existing.applies_to(stack):
            raise CommandError(
                f"workflow '{workflow_id}' is not deployed to stack '{stack}' (its `stacks:` "
                f"are {', '.join(existing.stacks or ())}): add {stack} to them in {path}, or "
                "pass the stack it is deployed to with --stack."
            )
        url = existing.intercom_webhook_url
        url_key = url.key if isinstance(url, ConfigRef) else None
        assert url_key is not None or isinstance(url, LiteralUrl)
        events = existing.events
        if existing.jam_signing_secret is not None:
            secret_key, new_text, change = existing.jam_signing_secret.key, None, ""
        else:
            index = workflows_file.workflows.index(existing)
            new_text = add_secret_key(text, index, secret_key)
            change = f"added jam_signing_secret to workflow '{workflow_id}'"
    if new_text is not None:
        try:
            parsed = parse_workflows(new_text, str(path))
        except WorkflowsFileError as error:
            raise CommandError(
                f"the entry for '{workflow_id}' would make {path} invalid, so nothing was "
                f"changed:\n{error}"
            ) from None
        added = next(w for w in parsed.workflows if w.id == workflow_id)
        assert added.jam_signing_secret == ConfigRef(secret_key)
    return Plan(new_text, change, url_key, secret_key, tuple(events))


def append_entry(
    text: str, workflow_id: str, description: str | None, url_key: str, secret_key: str
) -> str:
    """``text`` with a new entry at the end of ``workflows:``, every other line unchanged."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    assert isinstance(root, MappingNode)  # the loader accepted the file
    key_node, seq = next((k, v) for k, v in root.value if k.value == "workflows")
    assert isinstance(seq, SequenceNode)
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if text.endswith("\r\n") or "\r\n" in text else "\n"
    if seq.value and seq.flow_style:
        raise CommandError(
            "the file writes `workflows:` as a flow list ([...]); relayctl add appends to a "
            "block list (`- id: ...` lines). Rewrite the list as one, then run this again."
        )
    if not seq.value:  # `workflows: []`: the list becomes a block list under the key
        dash = key_node.start_mark.column + 2
        at = seq.start_mark.line
        row = lines[at]
        start, end = seq.start_mark.column, seq.end_mark.column
        comment = row[end:].rstrip("\r\n")
        lines[at] = row[:start].rstrip() + (" " + comment.strip() if comment.strip() else "")
        lines[at] += newline
        entry = _entry_lines(dash, 2, workflow_id, description, url_key, secret_key)
        return "".join(lines[: at + 1] + [line + newline for line in entry] + lines[at + 1 :])
    first, dash = seq.value[0], seq.start_mark.column
    after = _after_content(lines, seq.value[-1], dash)
    offset, step = first.start_mark.column - dash, _nested_step(first)
    entry = _entry_lines(dash, offset, workflow_id, description, url_key, secret_key, step)
    gap = [newline] if _spaced(lines, seq) else []
    if lines and not lines[after - 1].endswith("\n"):
        lines[after - 1] += newline
    return "".join(lines[:after] + gap + [line + newline for line in entry] + lines[after:])


def add_secret_key(text: str, index: int, secret_key: str) -> str:
    """``text`` with ``jam_signing_secret: {config: KEY}`` added to the index-th entry."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    assert isinstance(root, MappingNode)
    seq = next(v for k, v in root.value if k.value == "workflows")
    assert isinstance(seq, SequenceNode)
    entry = seq.value[index]
    assert isinstance(entry, MappingNode)
    if entry.flow_style:
        raise CommandError(
            "that entry is written as a flow mapping ({...}); add "
            f"`jam_signing_secret: {{config: {secret_key}}}` to it by hand, then run this again."
        )
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if "\r\n" in text else "\n"
    indent = " " * entry.start_mark.column
    step = " " * _nested_step(entry)
    # Below the Intercom URL, where the shipped examples keep it; else at the entry's end.
    url_value = next((v for k, v in entry.value if k.value == "intercom_webhook_url"), entry)
    after = _after_content(lines, url_value, seq.start_mark.column)
    if lines and not lines[after - 1].endswith("\n"):
        lines[after - 1] += newline
    added = [
        f"{indent}jam_signing_secret:{newline}",
        f"{indent}{step}config: {secret_key}{newline}",
    ]
    return "".join(lines[:after] + added + lines[after:])


def _entry_lines(
    dash: int,
    offset: int,
    workflow_id: str,
    description: str | None,
    url_key: str,
    secret_key: str,
    step: int = 2,
) -> list[str]:
    pad, key = " " * dash, " " * (dash + offset)
    lines = [f"{pad}-{' ' * (offset - 1)}id: {workflow_id}"]
    if description:
        lines.append(f"{key}description: {_scalar(description)}")
    lines += [
        f"{key}intercom_webhook_url:",
        f"{key}{' ' * step}config: {url_key}",
        f"{key}jam_signing_secret:",
        f"{key}{' ' * step}config: {secret_key}",
    ]
    return lines


def _scalar(text: str) -> str:
    """One line of text as a YAML scalar: plain when YAML reads it back as is, else quoted."""
    one_line = " ".join(text.split())
    try:
        plain_ok = yaml.safe_load(f"k: {one_line}") == {"k": one_line}
    except yaml.YAMLError:
        plain_ok = False
    return one_line if plain_ok else json.dumps(one_line, ensure_ascii=False)


def _nested_step(entry: Node) -> int:
    """How far the file indents a field's mapping below the field (2 unless it says)."""
    if isinstance(entry, MappingNode):
        for key, value in entry.value:
            if isinstance(value, MappingNode) and value.value and not value.flow_style:
                return max(1, int(value.start_mark.column) - int(key.start_mark.column))
    return 2


def _last_line(node: Node) -> int:
    """The 0-based line of a node's last character of content."""
    if isinstance(node, ScalarNode) or getattr(node, "flow_style", False):
        mark, start = node.end_mark, node.start_mark
        return mark.line - 1 if mark.column == 0 and mark.line > start.line else mark.line
    children: list[Node] = []
    if isinstance(node, MappingNode):
        children = [part for pair in node.value for part in pair]
    elif isinstance(node, SequenceNode):
        children = list(node.value)
    return max((_last_line(child) for child in children), default=node.start_mark.line)


def _after_content(lines: list[str], node: Node, dash: int) -> int:
    """The line index just after a list item's content and the comments indented inside it."""
    after = _last_line(node) + 1
    while after < len(lines):
        stripped = lines[after].lstrip(" ")
        indent = len(lines[after]) - len(stripped)
        if not stripped.startswith("#") or indent <= dash:
            break
        after += 1
    return after


def _spaced(lines: list[str], seq: SequenceNode) -> bool:
    """Whether the file separates its entries with a blank line."""
    for previous, item in zip(seq.value, seq.value[1:], strict=False):
        between = lines[_last_line(previous) + 1 : item.start_mark.line]
        if any(not line.strip() for line in between):
            return True
    return False


def _write(path: Path, text: str) -> None:
    """Replace the file in one step (a crash leaves the old or the new file, never half)."""
    mode = path.stat().st_mode & 0o777
    handle, temporary = tempfile.mkstemp(dir=path.resolve().parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

"""Load and validate ``workflows.yaml`` (version 1).

Deliberately free of Pulumi imports: the CLI, the tests and the Pulumi program all use it, and
a bad file must fail before any resource is declared.

PUBLIC API (stable; other modules are written against it):

    load_workflows(path) -> WorkflowsFile          # raises WorkflowsFileError
    parse_workflows(text, filename) -> WorkflowsFile
    missing_config_problems(workflows_file, stack, present_keys) -> tuple[Problem, ...]
    intercom_url_problem(url) -> str | None         # for URLs read from stack config

The file is *composed* (not constructed) with PyYAML, so every value keeps its line and column
and duplicate mapping keys, which PyYAML would silently collapse, are still visible. The node
tree is then walked by hand against the v1 shape, collecting every problem before raising.

Intercom webhook URLs are bearer capabilities and signing secrets are secrets: no message ever
quotes them, it says which part is wrong instead.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from infra.relay_env import env_budget
from infra.secret_patterns import (
    INTERCOM_URL,
    URL,
    holds_signing_secret,
    looks_sensitive,
    secret_kind,
)
from relay_function.naming import (
    DEFAULT_EVENTS,
    HOST_MAX_LENGTH,
    KNOWN_EVENTS,
    WORKFLOW_ID_MAX_LENGTH,
    env_suffix,
    is_valid_host,
    is_valid_workflow_id,
    route_path,
)

__all__ = [
    "DEFAULT_EVENTS",
    "SUPPORTED_VERSION",
    "ConfigRef",
    "LiteralUrl",
    "Problem",
    "Workflow",
    "WorkflowsFile",
    "WorkflowsFileError",
    "intercom_url_problem",
    "load_workflows",
    "missing_config_problems",
    "parse_workflows",
]

SUPPORTED_VERSION = 1
TOP_LEVEL_KEYS = ("version", "workflows")
WORKFLOW_KEYS = (
    "id",
    "description",
    "intercom_webhook_url",
    "jam_signing_secret",
    "events",
    "stacks",
)
CONFIG_REF_KEYS = ("config",)
CONFIG_KEY_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
STACK_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")
STACK_NAME_MAX_LENGTH = 100
HOST_LABEL_MAX_LENGTH = 63  # DNS (RFC 1035); relay_function.naming.HOST_LABEL_RE enforces it
# A workflows file lists a handful of Fin workflows (one stack's relay fits about a hundred);
# anything near this size is the wrong file, and it is refused before YAML builds a tree of it.
MAX_FILE_BYTES = 1024 * 1024

# The C loader is several times faster; the pure-Python one gives the same nodes and marks.
_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG = "tag:yaml.org,2002:"
_TAG_NAMES = {
    f"{_TAG}str": "a string",
    f"{_TAG}int": "an integer",
    f"{_TAG}float": "a number",
    f"{_TAG}bool": "a boolean",
    f"{_TAG}null": "empty (null)",
    f"{_TAG}timestamp": "a date",
    f"{_TAG}binary": "binary data",
    f"{_TAG}merge": "a merge key ('<<')",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file, located and with its fix."""

    file: str
    line: int  # 1-based
    column: int  # 1-based
    workflow_id: str | None
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        who = f" workflow '{self.workflow_id}':" if self.workflow_id else ""
        return f"{where}:{who} {self.message} Fix: {self.fix}"


class WorkflowsFileError(Exception):
    """Every problem found in one file (not just the first)."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class ConfigRef:
    """``{config: KEY}``: a value read from the stack's Pulumi config (set as a secret)."""

    key: str
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class LiteralUrl:
    """A literal ``https://`` Intercom URL committed in the file (allowed, warned)."""

    url: str

    def __repr__(self) -> str:
        # A capability: keep it out of reprs that end up in logs and test failure output.
        return "LiteralUrl(url=<not shown>)"


@dataclass(frozen=True)
class Workflow:
    id: str
    description: str
    intercom_webhook_url: ConfigRef | LiteralUrl
    jam_signing_secret: ConfigRef | None
    events: tuple[str, ...] = DEFAULT_EVENTS
    stacks: tuple[str, ...] | None = None  # None: every stack
    line: int = field(default=0, compare=False)

    def applies_to(self, stack: str) -> bool:
        return self.stacks is None or stack in self.stacks

    @property
    def env_suffix(self) -> str:
        return env_suffix(self.id)

    @property
    def route_path(self) -> str:
        return route_path(self.id)


@dataclass(frozen=True)
class WorkflowsFile:
    path: str
    version: int
    workflows: tuple[Workflow, ...]
    warnings: tuple[Problem, ...] = ()  # e.g. a literal URL, a normalised trailing slash

    def for_stack(self, stack: str) -> tuple[Workflow, ...]:
        return tuple(w for w in self.workflows if w.applies_to(stack))


# --------------------------------------------------------------------------------------------
# Public entry points


def load_workflows(path: str | Path) -> WorkflowsFile:
    """Read and validate a file; raise WorkflowsFileError with every problem found."""
    filename = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise WorkflowsFileError(
            (
                Problem(
                    filename,
                    1,
                    1,
                    None,
                    f"The file cannot be read ({reason}).",
                    "Check the path (run from the project root) and the file's permissions.",
                ),
            )
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise WorkflowsFileError((_too_large(filename, len(raw)),))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise WorkflowsFileError(
            (
                Problem(
                    filename,
                    line,
                    column,
                    None,
                    "The file is not valid UTF-8 text.",
                    "Save the file as UTF-8.",
                ),
            )
        ) from None
    return parse_workflows(text, filename)


def parse_workflows(text: str, filename: str = "workflows.yaml") -> WorkflowsFile:
    """Validate the text of a workflows file; raise WorkflowsFileError with every problem."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        raise WorkflowsFileError((_too_large(filename, size),))
    report = _Report(filename)
    root = _compose(text, report)
    workflows: tuple[Workflow, ...] = ()
    if root is not None:
        _report_signing_secrets(root, report)
        workflows = _read_top_level(root, report)
        _check_env_budgets(workflows, report)
    if report.errors:
        ordered = sorted(report.errors, key=lambda p: (p.line, p.column))
        raise WorkflowsFileError(tuple(ordered))
    return WorkflowsFile(
        path=filename,
        version=SUPPORTED_VERSION,
        workflows=workflows,
        warnings=tuple(report.warnings),
    )


def _too_large(filename: str, size: int) -> Problem:
    return Problem(
        filename,
        1,
        1,
        None,
        f"The file is {size} bytes; the limit is {MAX_FILE_BYTES} bytes (1 MiB).",
        "Check that this is the right file: a workflows file lists one entry per Fin workflow, "
        "and one stack's relay holds about a hundred at most.",
    )


def intercom_url_problem(url: str) -> str | None:
    """What is wrong with an Intercom webhook URL, and the fix; None when it is usable.

    The answer never contains the URL (it is a bearer capability), only which part is wrong.
    """
    found = _intercom_url_issue(url)
    if found is None:
        return None
    message, fix = found
    return f"{message} Fix: {fix}"


def missing_config_problems(
    workflows_file: WorkflowsFile, stack: str, present_keys: Mapping[str, bool]
) -> tuple[Problem, ...]:
    """Problems for config keys the stack's workflows reference but the stack lacks.

    ``present_keys`` maps each config key set on the stack (without the project prefix) to
    whether it is stored as a secret. A missing Intercom URL key is a problem; a missing Jam
    signing secret is not (it is optional until the Jam endpoint exists). A key present but not
    secret is a problem. Each message names the key and the exact
    ``pulumi config set --secret KEY --stack STACK`` command that fixes it.
    """
    problems: list[Problem] = []
    for workflow in workflows_file.for_stack(stack):
        refs: list[tuple[str, ConfigRef, bool]] = []
        if isinstance(workflow.intercom_webhook_url, ConfigRef):
            refs.append(("intercom_webhook_url", workflow.intercom_webhook_url, True))
        if workflow.jam_signing_secret is not None:
            refs.append(("jam_signing_secret", workflow.jam_signing_secret, False))
        for field_name, ref, required in refs:
            command = f"pulumi config set --secret {ref.key} --stack {stack}"
            what = _CONFIG_VALUE_WHAT[field_name]
            if ref.key not in present_keys:
                if not required:
                    continue
                message = f"Config key '{ref.key}' ({field_name}) is not set on stack '{stack}'."
                fix = f"Run `{command}` and paste {what} when asked."
            elif not present_keys[ref.key]:
                message = (
                    f"Config key '{ref.key}' ({field_name}) is set on stack '{stack}' "
                    "in plain text, not as a secret."
                )
                fix = f"Set it again as a secret: `{command}` and paste {what} when asked."
            else:
                continue
            problems.append(
                Problem(
                    workflows_file.path,
                    ref.line or 1,
                    ref.column or 1,
                    workflow.id,
                    message,
                    fix,
                )
            )
    return tuple(problems)


_CONFIG_VALUE_WHAT = {
    "intercom_webhook_url": (
        "the workflow's webhook URL from Intercom (without the trailing /<Conversation ID>)"
    ),
    "jam_signing_secret": "the signing secret (whsec_...) Jam shows for this endpoint",
}


# --------------------------------------------------------------------------------------------
# Problem collection


class _Report:
    """Collects errors and warnings for one file, located at YAML nodes."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        # Nodes already reported as a signing secret: no other message may describe (or quote) them.
        self.secret_nodes: set[int] = set()

    def at(self, line: int, column: int, workflow_id: str | None, message: str, fix: str) -> None:
        self.errors.append(Problem(self.filename, line, column, workflow_id, message, fix))

    def error(self, node: Node, workflow_id: str | None, message: str, fix: str) -> None:
        if id(node) in self.secret_nodes:
            return
        line, column = _position(node)
        self.at(line, column, workflow_id, message, fix)

    def warning(self, node: Node, workflow_id: str | None, message: str, fix: str) -> None:
        if id(node) in self.secret_nodes:
            return
        line, column = _position(node)
        self.warnings.append(Problem(self.filename, line, column, workflow_id, message, fix))


def _position(node: Node) -> tuple[int, int]:
    mark = node.start_mark
    return mark.line + 1, mark.column + 1


def _compose(text: str, report: _Report) -> Node | None:
    """The document's root node, or None after reporting why there is none."""
    try:
        root: Node | None = yaml.compose(text, Loader=_YamlLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        fix = "Correct the YAML syntax at this position (check indentation, quotes and colons)."
        if mark is not None and _tab_at(text, mark.line, mark.column):
            what += "; there is a tab at this position, and YAML does not allow tabs in indentation"
            fix = (
                "Indent with spaces, not tabs: "
                "replace each tab at the start of the line with spaces."
            )
        report.at(line, column, None, f"The file is not valid YAML: {what}.", fix)
        return None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        report.at(
            line,
            column,
            None,
            f"The file contains a character YAML does not allow (#x{exc.character:04x}).",
            "Remove the control character; the file must be plain UTF-8 text.",
        )
        return None
    except UnicodeEncodeError as exc:
        # A lone surrogate in text handed to parse_workflows (never from a decoded file).
        line = text.count("\n", 0, exc.start) + 1
        column = exc.start - (text.rfind("\n", 0, exc.start) + 1) + 1
        report.at(
            line,
            column,
            None,
            "The text contains a character that is not valid Unicode (a lone surrogate).",
            "Save the file as UTF-8 and remove the broken character.",
        )
        return None
    except (yaml.YAMLError, RecursionError) as exc:
        report.at(
            1,
            1,
            None,
            f"The file is not valid YAML ({type(exc).__name__}).",
            "Correct the YAML syntax; nesting this deep is never needed in workflows.yaml.",
        )
        return None
    if root is None or (isinstance(root, ScalarNode) and root.tag == f"{_TAG}null"):
        report.at(
            1,
            1,
            None,
            "The file is empty.",
            "Start it with `version: 1` and a `workflows:` list "
            "(see the workflows.yaml reference in README.md).",
        )
        return None
    return root


def _tab_at(text: str, line: int, column: int) -> bool:
    """True when the parser's position (0-based) is a tab, or inside an indentation holding one."""
    lines = text.split("\n")
    if line >= len(lines):
        return False
    row = lines[line]
    indentation = row[: len(row) - len(row.lstrip(" \t"))]
    return row[column : column + 1] == "\t" or (column <= len(indentation) and "\t" in indentation)


# --------------------------------------------------------------------------------------------
# Secrets anywhere in the file


def _report_signing_secrets(root: Node, report: _Report) -> None:
    """Every value or key holding a ``whsec_`` signing secret, wherever it stands, is an error.

    Reported once per node, before the shape is checked; the other checks then skip these nodes
    (``_Report.secret_nodes``), so no message ever describes or quotes them again. A literal
    ``jam_signing_secret`` keeps its own message (it says the same and more).
    """
    labels: dict[int, str | None] = {}
    if isinstance(root, MappingNode):
        for key_node, value_node in root.value:
            if _is_str(key_node) and key_node.value == "workflows" and value_node.id == "sequence":
                labels.update((id(entry), _label_of(entry)) for entry in value_node.value)
    seen: set[int] = set()
    # Collections still to walk: (node, its workflow's label, the key it stands under). Scalars
    # are checked in place: this walk visits every node of the file, so it is kept lean.
    pending: list[tuple[Node, str | None, str | None]] = []

    def check(node: Node, label: str | None, name: str | None, role: str) -> None:
        if not isinstance(node, ScalarNode):
            pending.append((node, label, name))
        elif (
            "_" in node.value
            and holds_signing_secret(node.value)
            and id(node) not in report.secret_nodes  # else an alias of a reported scalar
        ):
            _report_signing_secret(node, report, label, name, role)

    check(root, None, None, "value")
    while pending:
        node, label, name = pending.pop()
        if id(node) in seen:
            continue  # an alias of a collection already walked (or a recursive one)
        seen.add(id(node))
        label = labels.get(id(node), label)
        if isinstance(node, MappingNode):
            in_workflow = id(node) in labels
            for key_node, value_node in node.value:
                key = key_node.value if _is_str(key_node) else None
                check(key_node, label, None, "key")
                if not (in_workflow and key == "jam_signing_secret" and _is_str(value_node)):
                    check(value_node, label, key, "value")
        elif isinstance(node, SequenceNode):
            for item in node.value:
                check(item, label, name, "item")


def _report_signing_secret(
    node: Node, report: _Report, label: str | None, name: str | None, role: str
) -> None:
    shown = name is not None and not _looks_sensitive(name)
    if role == "key":
        what = "A key"
    elif role == "item":
        what = f"An item of '{name}'" if shown else "A list item"
    else:
        what = f"The value of '{name}'" if shown else "A value"
    fix_key = _suggested_key(label, "JamSecret")
    report.error(
        node,
        label,
        f"{what} is a Jam signing secret (whsec_...), committed in plain text.",
        "Rotate the secret in Jam now (anyone who can read this file can sign events for the "
        "endpoint), delete it here, and store the new one only in the stack config: "
        f"`pulumi config set --secret {fix_key}`, referenced as "
        f"`jam_signing_secret: {{config: {fix_key}}}`.",
    )
    report.secret_nodes.add(id(node))


def _label_of(entry: Node) -> str | None:
    """A workflow entry's id when it can be shown in messages."""
    if isinstance(entry, MappingNode):
        for key_node, value_node in entry.value:
            if _is_str(key_node) and key_node.value == "id" and _is_str(value_node):
                workflow_id: str = value_node.value
                return None if _looks_sensitive(workflow_id) else workflow_id
    return None


def _check_env_budgets(workflows: tuple[Workflow, ...], report: _Report) -> None:
    """Each stack's workflows must fit one relay's environment (``infra.relay_env.env_budget``).

    Checked for every stack a ``stacks:`` list names, and for any other stack (the workflows
    without ``stacks:``). The function name is not known here, so the longest is assumed.
    """
    everywhere = [w for w in workflows if w.stacks is None]
    groups = [("Any stack not named in a `stacks:` list", everywhere)]
    if env_budget(everywhere).fits:  # else every stack is over, and one message says so
        for stack in sorted({s for w in workflows for s in w.stacks or ()}):
            groups.append((f"Stack '{stack}'", [w for w in workflows if w.applies_to(stack)]))
    for where, deployed in groups:
        budget = env_budget(deployed)
        problem = budget.problem(where)
        if problem is not None:
            # Located at the first workflow (in file order) past what fits.
            first_over = deployed[min(budget.workflows_that_fit, len(deployed) - 1)]
            message, _, fix = problem.partition(" Fix: ")
            report.at(first_over.line, 1, first_over.id, message, fix)


# --------------------------------------------------------------------------------------------
# Node helpers


def _kind(node: Node) -> str:
    """What a node is, in words, for 'expected X, got Y' messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return _TAG_NAMES.get(node.tag, f"a value tagged '{node.tag}'")


def _is_str(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == f"{_TAG}str"


_looks_sensitive = looks_sensitive  # the one rule, in infra.secret_patterns


def _shown(text: str) -> str:
    """A value quoted for a message, unless it may be a capability or a secret."""
    if _looks_sensitive(text):
        return "(value not shown: it looks like a URL or a secret)"
    if len(text) > 60:
        return repr(text[:57] + "...")
    return repr(text)


def _closest(word: str, choices: Iterable[str]) -> str | None:
    """The valid choice a typo most likely meant, ignoring case, '_' and '-' first."""
    options = list(choices)

    def squash(s: str) -> str:
        return re.sub(r"[_\-\s.]", "", s.lower())

    for option in options:
        if squash(option) == squash(word):
            return option
    for option in options:
        # 'recorded' for 'intercom.recorder.recorded': a known name's last part.
        if "." in option and option.rsplit(".", 1)[1] == word.lower():
            return option
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _unknown_key_fix(key: str, valid: tuple[str, ...]) -> str:
    suggestion = _closest(key, valid)
    listed = ", ".join(valid)
    if suggestion is not None:
        return f"Did you mean '{suggestion}'? Valid keys here: {listed}."
    return f"Remove it; valid keys here: {listed}."


def _mapping(
    node: MappingNode, report: _Report, workflow_id: str | None, valid: tuple[str, ...], where: str
) -> dict[str, tuple[ScalarNode, Node]]:
    """The known keys of a mapping, reporting unknown, duplicate and non-string keys."""
    seen: dict[str, tuple[ScalarNode, Node]] = {}
    for key_node, value_node in node.value:
        if not _is_str(key_node):
            if key_node.tag == f"{_TAG}merge":
                report.error(
                    key_node,
                    workflow_id,
                    f"Merge keys ('<<') are not supported in {where}.",
                    "Write the keys out in full (an alias for a whole value, like `*name`, "
                    "is fine).",
                )
            else:
                report.error(
                    key_node,
                    workflow_id,
                    f"A key in {where} is {_kind(key_node)}, not a string.",
                    _unknown_key_fix("", valid),
                )
            continue
        assert isinstance(key_node, ScalarNode)
        key = key_node.value
        if key in seen:
            first_line, _ = _position(seen[key][0])
            report.error(
                key_node,
                workflow_id,
                f"Duplicate key '{key}' in {where} (first at line {first_line}); "
                "YAML would silently keep only this last one.",
                f"Keep one '{key}' and delete the other.",
            )
            continue
        if key not in valid:
            report.error(
                key_node,
                workflow_id,
                f"Unknown key {_shown(key)} in {where}.",
                _unknown_key_fix(key, valid),
            )
        seen[key] = (key_node, value_node)
    return {k: v for k, v in seen.items() if k in valid}


# --------------------------------------------------------------------------------------------
# The v1 shape


def _read_top_level(root: Node, report: _Report) -> tuple[Workflow, ...]:
    if not isinstance(root, MappingNode):
        report.error(
            root,
            None,
            f"The top level of the file must be a mapping with 'version' and 'workflows', "
            f"not {_kind(root)}.",
            "Start the file with `version: 1` followed by a `workflows:` list.",
        )
        return ()
    keys = _mapping(root, report, None, TOP_LEVEL_KEYS, "the top level")
    if "version" not in keys:
        report.error(
            root,
            None,
            "'version' is missing.",
            "Add `version: 1` as the first line of the file.",
        )
    else:
        _check_version(keys["version"][1], report)
    if "workflows" not in keys:
        report.error(
            root,
            None,
            "'workflows' is missing.",
            "Add a `workflows:` list with one entry per Fin workflow.",
        )
        return ()
    workflows_node = keys["workflows"][1]
    if not isinstance(workflows_node, SequenceNode):
        report.error(
            workflows_node,
            None,
            f"'workflows' must be a list, not {_kind(workflows_node)}.",
            "Write each workflow as a list item starting with `- id: ...` "
            "(or `workflows: []` for none).",
        )
        return ()
    workflows: list[Workflow] = []
    first_line_of_id: dict[str, int] = {}
    key_uses: dict[str, _KeyUse] = {}
    for entry in workflows_node.value:
        workflow = _read_workflow(entry, report, first_line_of_id, key_uses)
        if workflow is not None:
            workflows.append(workflow)
    return tuple(workflows)


def _check_version(node: Node, report: _Report) -> None:
    if isinstance(node, ScalarNode) and node.tag == f"{_TAG}int":
        try:
            number = int(node.value.replace("_", ""), 0)
        except ValueError:
            number = None
        if number == SUPPORTED_VERSION:
            return
        report.error(
            node,
            None,
            f"Unknown version {_shown(node.value)}; this loader reads version {SUPPORTED_VERSION}.",
            f"Write `version: {SUPPORTED_VERSION}` (and the v{SUPPORTED_VERSION} fields).",
        )
        return
    quoted = f" ({_shown(node.value)})" if isinstance(node, ScalarNode) else ""
    report.error(
        node,
        None,
        f"'version' must be the integer {SUPPORTED_VERSION}, not {_kind(node)}{quoted}.",
        f"Write `version: {SUPPORTED_VERSION}` without quotes.",
    )


def _read_workflow(
    node: Node,
    report: _Report,
    first_line_of_id: dict[str, int],
    key_uses: dict[str, _KeyUse],
) -> Workflow | None:
    if not isinstance(node, MappingNode):
        report.error(
            node,
            None,
            f"Each entry of 'workflows' must be a mapping, not {_kind(node)}.",
            "Write the entry as `- id: ...` with its fields indented below it.",
        )
        return None
    errors_before = len(report.errors)
    workflow_id = _read_id(node, report, first_line_of_id)
    label = workflow_id if workflow_id is not None and not _looks_sensitive(workflow_id) else None
    keys = _mapping(node, report, label, WORKFLOW_KEYS, "a workflow")

    description = ""
    if "description" in keys:
        description_node = keys["description"][1]
        if _is_str(description_node) and secret_kind(description_node.value) == INTERCOM_URL:
            report.error(
                description_node,
                label,
                "'description' contains an Intercom webhook URL, committed in plain text.",
                "Remove the URL from the description, treat it as leaked and rotate it in "
                "Intercom, then store the new one with `pulumi config set --secret "
                f"{_suggested_key(label, 'IntercomUrl')}`.",
            )
        elif _is_str(description_node):
            assert isinstance(description_node, ScalarNode)
            description = description_node.value
        else:
            report.error(
                description_node,
                label,
                f"'description' must be a string, not {_kind(description_node)}.",
                "Write a line of text (quote it if it starts with a special character), "
                "or remove the key.",
            )

    intercom_url: ConfigRef | LiteralUrl | None = None
    if "intercom_webhook_url" in keys:
        intercom_url = _read_intercom_url(keys["intercom_webhook_url"][1], report, label)
    else:
        report.error(
            node,
            label,
            "'intercom_webhook_url' is missing.",
            f"Add `intercom_webhook_url: {{config: {_suggested_key(label, 'IntercomUrl')}}}` "
            "and store the URL with `pulumi config set --secret "
            f"{_suggested_key(label, 'IntercomUrl')}`.",
        )

    signing_secret: ConfigRef | None = None
    if "jam_signing_secret" in keys:
        signing_secret = _read_signing_secret(keys["jam_signing_secret"][1], report, label)

    _check_key_roles(intercom_url, signing_secret, report, label, _position(node)[0], key_uses)

    events: tuple[str, ...] = DEFAULT_EVENTS
    if "events" in keys:
        events = _read_events(keys["events"][1], report, label)

    stacks: tuple[str, ...] | None = None
    if "stacks" in keys:
        stacks = _read_stacks(keys["stacks"][1], report, label)

    if len(report.errors) > errors_before or workflow_id is None or intercom_url is None:
        return None
    return Workflow(
        id=workflow_id,
        description=description,
        intercom_webhook_url=intercom_url,
        jam_signing_secret=signing_secret,
        events=events,
        stacks=stacks,
        line=_position(node)[0],
    )


@dataclass(frozen=True)
class _KeyUse:
    """Where a config key was first referenced, and for which field."""

    field_name: str
    line: int
    workflow_line: int  # identifies the workflow even when its id cannot be shown
    workflow_label: str | None


def _check_key_roles(
    intercom_url: ConfigRef | LiteralUrl | None,
    signing_secret: ConfigRef | None,
    report: _Report,
    label: str | None,
    workflow_line: int,
    key_uses: dict[str, _KeyUse],
) -> None:
    """One config key holds one value: one workflow's Intercom URL or one endpoint's secret.

    Reported at the second reference in file order; the stack would otherwise hand the same
    value to both secrets and fail later, far from the cause. Two workflows sharing a key is
    a copy-paste slip in both cases: each workflow resumes its own Fin workflow, and each Jam
    endpoint (one per workflow) has its own signing secret, so a shared secret key would make
    one route reject every event (there is no legitimate use, so it is an error, not a warning).
    """
    refs = [("intercom_webhook_url", intercom_url), ("jam_signing_secret", signing_secret)]
    placed = sorted(
        ((ref.line, ref.column, name, ref) for name, ref in refs if isinstance(ref, ConfigRef)),
        key=lambda r: (r[0], r[1]),
    )
    for line, column, field_name, ref in placed:
        first = key_uses.get(ref.key)
        if first is None:
            key_uses[ref.key] = _KeyUse(field_name, line, workflow_line, label)
            continue
        if first.workflow_line == workflow_line and first.field_name == field_name:
            continue  # the same key given twice in one workflow: the duplicate key is reported
        url_key = _suggested_key(label, _KEY_SUFFIX["intercom_webhook_url"])
        secret_key = _suggested_key(label, _KEY_SUFFIX["jam_signing_secret"])
        if first.workflow_line == workflow_line:
            whose = ""
            fix = (
                f"Use two distinct keys, e.g. `intercom_webhook_url: {{config: {url_key}}}` "
                f"and `jam_signing_secret: {{config: {secret_key}}}`, and set each with "
                "`pulumi config set --secret KEY`."
            )
        else:
            whose = (
                f" of workflow '{first.workflow_label}'"
                if first.workflow_label
                else " of another workflow"
            )
            own_key = url_key if field_name == "intercom_webhook_url" else secret_key
            fix = (
                f"Give this workflow's '{field_name}' its own key, e.g. "
                f"`{field_name}: {{config: {own_key}}}`, and set it with "
                f"`pulumi config set --secret {own_key}`."
            )
        if first.field_name != field_name:
            why = "one key cannot hold both the Intercom URL and the Jam signing secret."
        elif field_name == "intercom_webhook_url":
            why = "each workflow needs its own Fin workflow's webhook URL."
        else:
            why = "each workflow's Jam endpoint has its own signing secret."
        report.at(
            line,
            column,
            label,
            f"Config key '{ref.key}' of '{field_name}' is already the key of "
            f"'{first.field_name}'{whose} at line {first.line}; {why}",
            fix,
        )


def _read_id(node: MappingNode, report: _Report, first_line_of_id: dict[str, int]) -> str | None:
    """The entry's id when it is a string (valid or not), reporting what is wrong with it."""
    id_nodes = [
        value for key, value in node.value if _is_str(key) and getattr(key, "value", "") == "id"
    ]
    if not id_nodes:
        report.error(
            node,
            None,
            "'id' is missing.",
            "Add `id: some-name` (lower-case letters, digits and hyphens; it becomes part of "
            "the Endpoint URL).",
        )
        return None
    id_node = id_nodes[0]  # a duplicate 'id' key is reported by _mapping
    if not _is_str(id_node):
        shown = f" ({_shown(id_node.value)})" if isinstance(id_node, ScalarNode) else ""
        report.error(
            id_node,
            None,
            f"'id' must be a string, not {_kind(id_node)}{shown}.",
            "Use lower-case letters, digits and hyphens, starting with a letter, "
            "e.g. `id: billing-handoff`.",
        )
        return None
    assert isinstance(id_node, ScalarNode)
    workflow_id: str = id_node.value
    label = None if _looks_sensitive(workflow_id) else workflow_id
    broken = _id_rule_broken(workflow_id)
    kind = secret_kind(workflow_id)
    if kind in (INTERCOM_URL, URL):
        report.error(
            id_node,
            None,
            f"The workflow id is {kind}, not an id; it is now committed in plain text.",
            "Write a name of lower-case letters, digits and hyphens, e.g. `id: billing-handoff`; "
            "if it is a Fin workflow's webhook URL, treat it as leaked and rotate it in Intercom, "
            "then store the new one with `pulumi config set --secret KEY`.",
        )
    elif broken is not None:
        suggestion = _suggested_id(workflow_id)
        example = f" e.g. `id: {suggestion}`" if suggestion else ""
        report.error(
            id_node,
            label,
            f"Workflow id {_shown(workflow_id)} is not valid: {broken}.",
            "Use 1 to 40 lower-case letters, digits and hyphens, starting with a letter and "
            f"not ending with a hyphen;{example or ' e.g. `id: billing-handoff`'}.",
        )
    elif workflow_id in first_line_of_id:
        report.error(
            id_node,
            label,
            f"Duplicate workflow id '{workflow_id}': already used by the workflow at line "
            f"{first_line_of_id[workflow_id]}.",
            "Give each workflow its own id (it becomes its own Endpoint URL), or delete the copy.",
        )
    else:
        first_line_of_id[workflow_id] = _position(id_node)[0]
    return workflow_id


def _id_rule_broken(workflow_id: str) -> str | None:
    """Which part of the id rule an id breaks, in words; None when it is valid."""
    if is_valid_workflow_id(workflow_id):
        return None
    if not workflow_id:
        return "it is empty"
    if len(workflow_id) > WORKFLOW_ID_MAX_LENGTH:
        return f"it is {len(workflow_id)} characters long, the limit is {WORKFLOW_ID_MAX_LENGTH}"
    if not ("a" <= workflow_id[0] <= "z"):
        return f"it starts with {workflow_id[0]!r}, it must start with a lower-case letter"
    bad = sorted({c for c in workflow_id if not (c.isascii() and (c.islower() or c.isdigit()))})
    bad = [c for c in bad if c != "-"]
    if bad:
        return (
            "it contains "
            + ", ".join(repr(c) for c in bad)
            + ("; only lower-case letters, digits and '-' are allowed")
        )
    return "it ends with a hyphen"


def _suggested_id(workflow_id: str) -> str | None:
    """A valid id close to an invalid one (``Billing_Handoff`` -> ``billing-handoff``)."""
    if _looks_sensitive(workflow_id):
        return None
    candidate = re.sub(r"[^a-z0-9]+", "-", workflow_id.lower())
    candidate = re.sub(r"^[^a-z]+", "", candidate)[:WORKFLOW_ID_MAX_LENGTH].rstrip("-")
    return candidate if is_valid_workflow_id(candidate) else None


def _suggested_key(workflow_id: str | None, suffix: str) -> str:
    """``billing-handoff`` + ``IntercomUrl`` -> ``billingHandoffIntercomUrl``."""
    if workflow_id and not is_valid_workflow_id(workflow_id):
        workflow_id = _suggested_id(workflow_id)
    if not workflow_id:
        return "myWorkflow" + suffix
    first, *rest = workflow_id.split("-")
    return first + "".join(part.capitalize() for part in rest) + suffix


def _read_config_ref(
    node: MappingNode, report: _Report, label: str | None, field_name: str
) -> ConfigRef | None:
    keys = _mapping(node, report, label, CONFIG_REF_KEYS, f"'{field_name}'")
    if "config" not in keys:
        report.error(
            node,
            label,
            f"'{field_name}' is a mapping without 'config'.",
            f"Write `{field_name}: {{config: {_suggested_key(label, _KEY_SUFFIX[field_name])}}}`.",
        )
        return None
    key_node = keys["config"][1]
    if not _is_str(key_node):
        report.error(
            key_node,
            label,
            f"The config key of '{field_name}' must be a string, not {_kind(key_node)}.",
            f"Write a Pulumi config key name, e.g. "
            f"`config: {_suggested_key(label, _KEY_SUFFIX[field_name])}`.",
        )
        return None
    assert isinstance(key_node, ScalarNode)
    key: str = key_node.value
    if id(key_node) in report.secret_nodes:
        return None  # a signing secret, already reported
    if CONFIG_KEY_RE.fullmatch(key):
        line, column = _position(key_node)
        return ConfigRef(key, line, column)
    fix_example = _suggested_key(label, _KEY_SUFFIX[field_name])
    if _looks_sensitive(key):
        report.error(
            key_node,
            label,
            f"The config key of '{field_name}' looks like a value "
            f"({secret_kind(key) or 'a URL or a secret'}), not a key name. It is now committed "
            "in plain text.",
            f"Store the value with `pulumi config set --secret {fix_example}` and write "
            f"`config: {fix_example}`; treat the committed value as leaked and rotate it.",
        )
    elif ":" in key:
        namespace, _, bare = key.partition(":")
        bare_ok = CONFIG_KEY_RE.fullmatch(bare) is not None
        report.error(
            key_node,
            label,
            f"The config key {_shown(key)} of '{field_name}' has a namespace "
            f"({namespace!r}:); keys here are read from this project's own config.",
            f"Write the bare key: `config: {bare if bare_ok else fix_example}`.",
        )
    else:
        report.error(
            key_node,
            label,
            f"The config key {_shown(key)} of '{field_name}' is not a valid Pulumi config key "
            "name.",
            "Start with a letter and use only letters, digits, '_' and '-', "
            f"e.g. `config: {fix_example}`.",
        )
    return None


_KEY_SUFFIX = {"intercom_webhook_url": "IntercomUrl", "jam_signing_secret": "JamSecret"}


def _read_intercom_url(
    node: Node, report: _Report, label: str | None
) -> ConfigRef | LiteralUrl | None:
    if isinstance(node, MappingNode):
        return _read_config_ref(node, report, label, "intercom_webhook_url")
    key_example = _suggested_key(label, "IntercomUrl")
    if not _is_str(node):
        report.error(
            node,
            label,
            f"'intercom_webhook_url' must be `{{config: KEY}}` or an https URL, not {_kind(node)}.",
            f"Write `intercom_webhook_url: {{config: {key_example}}}` and store the URL with "
            f"`pulumi config set --secret {key_example}`.",
        )
        return None
    assert isinstance(node, ScalarNode)
    url: str = node.value
    issue = _intercom_url_issue(url)
    if issue is not None:
        message, fix = issue
        report.error(node, label, f"'intercom_webhook_url': {message}", fix)
        return None
    report.warning(
        node,
        label,
        "'intercom_webhook_url' is a literal URL committed in plain text; anyone who can read "
        "the repository can resume this Fin workflow for any conversation.",
        f"Move it to the stack config: `pulumi config set --secret {key_example}` (paste the "
        f"URL when asked), then write `intercom_webhook_url: {{config: {key_example}}}`.",
    )
    return LiteralUrl(url)


def _read_signing_secret(node: Node, report: _Report, label: str | None) -> ConfigRef | None:
    if isinstance(node, MappingNode):
        return _read_config_ref(node, report, label, "jam_signing_secret")
    key_example = _suggested_key(label, "JamSecret")
    if _is_str(node):
        message = (
            "'jam_signing_secret' is a literal value; the signing secret must never be "
            "committed, only referenced as `{config: KEY}`."
        )
        fix = (
            f"Run `pulumi config set --secret {key_example}` (paste the whsec_... secret Jam "
            f"shows), write `jam_signing_secret: {{config: {key_example}}}`, and rotate the "
            "secret in Jam if it was ever pushed."
        )
    else:
        message = f"'jam_signing_secret' must be `{{config: KEY}}`, not {_kind(node)}."
        fix = (
            f"Write `jam_signing_secret: {{config: {key_example}}}`, or remove the key until the "
            "Jam endpoint exists."
        )
    report.error(node, label, message, fix)
    return None


def _string_list(
    node: Node,
    report: _Report,
    label: str | None,
    field_name: str,
    example: str,
    check_item: Callable[[ScalarNode], bool],
) -> tuple[str, ...]:
    """A non-empty list of distinct strings; ``check_item`` reports bad items itself."""
    if not isinstance(node, SequenceNode):
        shown = ""
        if _is_str(node):
            assert isinstance(node, ScalarNode)
            shown = f" ({_shown(node.value)})"
        report.error(
            node,
            label,
            f"'{field_name}' must be a list, not {_kind(node)}{shown}.",
            f"Write it as a list, e.g. `{field_name}: {example}`.",
        )
        return ()
    if not node.value:
        report.error(
            node,
            label,
            f"'{field_name}' is an empty list.",
            f"List at least one, e.g. `{field_name}: {example}`, or remove the key for the "
            "default.",
        )
        return ()
    items: list[str] = []
    first_line: dict[str, int] = {}
    for item in node.value:
        if not _is_str(item):
            quoted = ""
            if isinstance(item, ScalarNode) and item.tag != f"{_TAG}null":
                quoted = f"; quote it if you meant the text {item.value!r}"[:120]
            report.error(
                item,
                label,
                f"Each item of '{field_name}' must be a string, not {_kind(item)}.",
                f"Write a name{quoted}, e.g. `{field_name}: {example}`.",
            )
            continue
        assert isinstance(item, ScalarNode)
        value: str = item.value
        if value in first_line:
            report.error(
                item,
                label,
                f"'{field_name}' lists {_shown(value)} twice (first at line {first_line[value]}).",
                "Delete the repeated entry.",
            )
            continue
        first_line[value] = _position(item)[0]
        if check_item(item):
            items.append(value)
    return tuple(items)


def _read_events(node: Node, report: _Report, label: str | None) -> tuple[str, ...]:
    valid = ", ".join(KNOWN_EVENTS)

    def check(item: ScalarNode) -> bool:
        if item.value in KNOWN_EVENTS:
            return True
        suggestion = _closest(item.value, KNOWN_EVENTS)
        fix = (
            f"Did you mean '{suggestion}'? Valid events: {valid}."
            if suggestion
            else f"Use one of: {valid}."
        )
        report.error(item, label, f"Unknown event {_shown(item.value)}.", fix)
        return False

    return _string_list(node, report, label, "events", f"[{', '.join(DEFAULT_EVENTS)}]", check)


def _read_stacks(node: Node, report: _Report, label: str | None) -> tuple[str, ...]:
    def check(item: ScalarNode) -> bool:
        name: str = item.value
        if len(name) > STACK_NAME_MAX_LENGTH:
            broken = f"it is {len(name)} characters long, the limit is {STACK_NAME_MAX_LENGTH}"
        elif not name:
            broken = "it is empty"
        elif STACK_NAME_RE.fullmatch(name) is None:
            bad = sorted({c for c in name if STACK_NAME_RE.fullmatch(c) is None})
            broken = "it contains " + ", ".join(repr(c) for c in bad)
            if "/" in name:
                broken += " (an org/project/stack name; only the stack's own name goes here)"
        else:
            return True
        report.error(
            item,
            label,
            f"Stack name {_shown(name)} is not valid: {broken}.",
            "Use the stack's short name (letters, digits, '.', '_' and '-', at most "
            f"{STACK_NAME_MAX_LENGTH} characters), as in `pulumi stack ls`.",
        )
        return False

    return _string_list(node, report, label, "stacks", "[dev, prod]", check)


# --------------------------------------------------------------------------------------------
# Intercom URLs


def _intercom_url_issue(url: str) -> tuple[str, str] | None:
    """(what is wrong, fix) for an Intercom webhook URL, never quoting it; None when fine."""
    copy_again = "Copy the URL again from the Fin workflow's Wait for webhook step"
    if not url.strip():
        return "the URL is empty.", f"{copy_again}."
    stripped_url = url.strip().rstrip("/")
    last = stripped_url.rsplit("/", 1)[-1]
    if "/" in stripped_url and _is_placeholder(last):
        # Safe to quote: it matched the placeholder pattern, so it holds no part of the token.
        removed = "/" + last + "/" * (len(url.strip()) - len(stripped_url))
        return (
            f"the URL ends with the placeholder '{removed}' that Intercom shows after the "
            "webhook URL.",
            f"Remove the trailing '{removed}'; the relay appends each conversation's id itself.",
        )
    if url != url.strip():
        return (
            "the URL has leading or trailing whitespace.",
            "Remove the spaces or line breaks around the URL.",
        )
    if any(c.isspace() for c in url):
        return "the URL contains whitespace.", f"{copy_again}; a URL has no spaces."
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "the URL cannot be parsed (its host part is malformed).", f"{copy_again}."
    if not parts.scheme or not parts.netloc:
        return (
            "the value is not an absolute URL (it must start with https://).",
            f"{copy_again}, including the https:// at the start.",
        )
    if parts.scheme.lower() != "https":
        scheme = parts.scheme.lower()
        shown = scheme if re.fullmatch(r"[a-z][a-z0-9+.-]{0,15}", scheme) else "another scheme"
        return (
            f"the URL uses {shown}://, it must use https://.",
            "Use the https:// URL Intercom shows.",
        )
    if "@" in parts.netloc:
        return (
            "the URL contains user credentials before the host ('user:password@').",
            "Remove everything between 'https://' and '@', including the '@'.",
        )
    if not host:
        return "the URL has no host.", f"{copy_again}."
    if not is_valid_host(host):
        return (
            f"the URL's host is not a valid host name: {_host_rule_broken(host)}.",
            f"{copy_again}; the host (between 'https://' and the next '/') must be an IP "
            "address or a DNS name of dot-separated labels, each 1 to 63 letters, digits and "
            "hyphens.",
        )
    if not _port_is_valid(parts.netloc):
        return (
            "the URL's port (after the ':' that follows the host) is not a number from 1 to 65535.",
            f"{copy_again}; without a port (and its ':') https uses 443, which is what "
            "you want unless Intercom shows another.",
        )
    if parts.query or url.endswith("?"):
        return (
            "the URL has a query string ('?...').",
            "Remove the '?' and everything after it.",
        )
    if parts.fragment or url.endswith("#"):
        return (
            "the URL has a fragment ('#...').",
            "Remove the '#' and everything after it.",
        )
    path = parts.path
    unusable = next((c for c in path if not _is_printable_ascii(c)), None)
    if unusable is not None:
        # The relay sends the path as is and accepts only printable ASCII in it.
        code = f"U+{ord(unusable):04X}"
        if unusable.isprintable():
            return (
                f"the URL's path contains a non-ASCII character ({code}).",
                f"{copy_again}; if the character belongs there, write it percent-encoded "
                f"as '{quote(unusable, safe='')}'.",
            )
        return (
            f"the URL's path contains an invisible or control character ({code}).",
            f"Remove the character; {copy_again[0].lower()}{copy_again[1:]}.",
        )
    stripped = path.rstrip("/")
    trailing = "/" * (len(path) - len(stripped))
    if not stripped:
        return (
            "the URL has no path; a workflow's webhook URL has one.",
            f"{copy_again}, the whole URL.",
        )
    if trailing:
        what = "a trailing slash" if len(trailing) == 1 else f"{len(trailing)} trailing slashes"
        return (
            f"the URL ends with {what}.",
            f"Remove the trailing '{trailing}'; the relay adds '/<conversation id>' itself.",
        )
    return None


_PORT_RE = re.compile(r"[0-9]{1,5}")
_PORT_RANGE = range(1, 65536)


def _port_is_valid(netloc: str) -> bool:
    """True when the host has no port, an empty one (the default), or 1-65535.

    Read by hand: ``SplitResult.port`` raises on a bad port and, depending on the Python
    version, accepts signs and non-ASCII digits.
    """
    after_host = netloc.rpartition("]")[2] if netloc.startswith("[") else netloc
    _, colon, port = after_host.partition(":")
    if not colon or not port:
        return True
    return _PORT_RE.fullmatch(port) is not None and int(port) in _PORT_RANGE


def _host_rule_broken(host: str) -> str:
    """Which part of the host rule (``is_valid_host``) a host breaks, without quoting it."""
    ascii_labels: list[str] = []
    fully_qualified = host.endswith(".")  # one trailing dot is allowed, two are not
    for label in (host[:-1] if fully_qualified else host).split("."):
        if not label:
            return "it has an empty label (two dots in a row, or a dot at the start)"
        try:
            ascii_label = label.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_label = label if label.isascii() else ""
        if not ascii_label:
            return "a label is not a valid international (IDNA) name, or is too long"
        if len(ascii_label) > HOST_LABEL_MAX_LENGTH:
            return (
                f"a label is {len(ascii_label)} characters long, the limit is "
                f"{HOST_LABEL_MAX_LENGTH}"
            )
        if ascii_label.startswith("-") or ascii_label.endswith("-"):
            return "a label starts or ends with a hyphen"
        if not all(c.isascii() and (c.isalnum() or c == "-") for c in ascii_label):
            return "it contains a character other than letters, digits, hyphens and dots"
        ascii_labels.append(ascii_label)
    length = len(".".join(ascii_labels))
    if length > HOST_MAX_LENGTH:
        return f"it is {length} characters long, the limit is {HOST_MAX_LENGTH}"
    return "it is not a DNS name or an IP address"


def _is_printable_ascii(char: str) -> bool:
    return "!" <= char <= "~"


# What Intercom's docs put after the URL, however it was pasted: ``<Conversation ID>``,
# ``{conversation_id}``, ``{{conversationId}}``, ``:conversation_id``, ``<id>``...
_PLACEHOLDER_RE = re.compile(
    r"[<{\[(:$]*\s*conversations?[\s_.-]*id\s*[>}\])]*"
    r"|[<{\[(:$]+\s*(?:conversations?|id)\s*[>}\])]*",
    re.IGNORECASE,
)


def _is_placeholder(segment: str) -> bool:
    """True for a path segment that is the conversation id placeholder, even URL-encoded."""
    decoded = unquote(unquote(segment))
    return _PLACEHOLDER_RE.fullmatch(decoded) is not None

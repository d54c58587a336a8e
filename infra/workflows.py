"""Load and validate ``workflows.yaml`` (version 1) against ``workflows.schema.json``.

Deliberately free of Pulumi imports: the CLI, the tests and the Pulumi program all use it, and
a bad file must fail before any resource is declared.

PUBLIC API (stable; other modules are written against it):

    load_workflows(path) -> WorkflowsFile          # raises WorkflowsFileError
    parse_workflows(text, filename) -> WorkflowsFile
    missing_config_problems(workflows_file, stack, present_keys) -> tuple[Problem, ...]
    intercom_url_problem(url) -> str | None         # for URLs read from stack config

One rule, written once: the committed JSON Schema decides what is valid. The loader validates
with exactly that file (``jsonschema``), and only *words* each error: it maps the error's path
back to the YAML node (the file is composed, not constructed, so every value keeps its line and
column) and says what is wrong and the fix ("did you mean", which part of an id or URL breaks
the rule), never quoting a value that may be a secret. Why this way round rather than
generating the schema from a typed model: the schema is what editors and reviewers read, its
regular expressions are the rule (a model would have to restate them as Python checks, which is
how the two came to disagree), and jsonschema is a kept library made for the job. The cost is
speed: about 0.2 ms per workflow (bench/loader.py), where the hand walk took 0.06 ms; a stack's
relay holds about seventy workflows, so a real file loads in a few milliseconds.

What a schema cannot express stays here, and the schema's description lists it: duplicate
mapping keys (YAML would keep the last silently), duplicate ids, one config key used twice, a
signing secret in a mapping key or a misspelt key's value (reported once, wherever it stands),
the relay's host rule (``is_valid_host``: IDNA and lengths), the file size and each stack's
environment budget (``infra.relay_env``). YAML's types are kept: ``1.0`` is not the integer 1.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import yaml
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.validators import extend
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from infra.relay_env import env_budget
from infra.secret_patterns import (
    INTERCOM_URL,
    URL,
    holds_signing_secret,
    looks_sensitive,
    redact,
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
    "SCHEMA_PATH",
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

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "workflows.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
SUPPORTED_VERSION: int = SCHEMA["properties"]["version"]["const"]
_DEFS = SCHEMA["$defs"]
TOP_LEVEL_KEYS = tuple(SCHEMA["properties"])
WORKFLOW_KEYS = tuple(_DEFS["workflow"]["properties"])
CONFIG_REF_KEYS = tuple(_DEFS["configRef"]["properties"])
CONFIG_KEY_RE = re.compile(_DEFS["configRef"]["properties"]["config"]["pattern"])
STACK_NAME_MAX_LENGTH: int = _DEFS["workflow"]["properties"]["stacks"]["items"]["maxLength"]
HOST_LABEL_MAX_LENGTH = 63  # DNS (RFC 1035); relay_function.naming.HOST_LABEL_RE enforces it
# A workflows file lists a handful of Fin workflows (one stack's relay fits about seventy);
# anything near this size is the wrong file, and it is refused before YAML builds a tree of it.
MAX_FILE_BYTES = 1024 * 1024

# YAML's own types, faithfully: a YAML float (1.0) is not an integer, which JSON cannot tell.
_TYPES = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
)
_Validator = extend(Draft202012Validator, type_checker=_TYPES)  # type: ignore[no-untyped-call]


def _inlined(schema: dict[str, Any]) -> Any:
    """The schema as jsonschema validates it fastest, with the same rules.

    jsonschema resolves a ``$ref`` on every use and descends into every subschema, which made
    validation several times slower. The committed schema's references are local and not
    recursive, so each is replaced by its target: merged in place when no keyword clashes
    (annotations such as ``description`` are dropped: they do not validate), else in ``allOf``.
    """
    defs = schema.get("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {k: inline(v) for k, v in node.items() if k not in _ANNOTATIONS}
        if "properties" in node:  # its keys are property names, not keywords
            out["properties"] = {k: inline(v) for k, v in node["properties"].items()}
        if "$ref" in node:
            target = inline(defs[out.pop("$ref").removeprefix("#/$defs/")])
            if target.keys() & out.keys():
                out["allOf"] = [target, *out.get("allOf", [])]
            else:
                out.update(target)
        return out

    return inline(schema)


_ANNOTATIONS = {"$schema", "title", "description", "default", "$defs"}
_VALIDATOR = _Validator(_inlined(SCHEMA))
_LITERAL_URL = _Validator(_inlined({"$defs": _DEFS, "$ref": "#/$defs/literalIntercomUrl"}))

# The C loader is several times faster; the pure-Python one gives the same nodes and marks.
_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG = "tag:yaml.org,2002:"
_STR = f"{_TAG}str"
_TAG_NAMES = {
    _STR: "a string",
    f"{_TAG}int": "an integer",
    f"{_TAG}float": "a number",
    f"{_TAG}bool": "a boolean",
    f"{_TAG}null": "empty (null)",
    f"{_TAG}timestamp": "a date",
    f"{_TAG}binary": "binary data",
    f"{_TAG}merge": "a merge key ('<<')",
}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
# Only JSON's scalar types are built (by PyYAML's own constructors); others stay opaque.
_SCALARS = {
    tag: yaml.constructor.SafeConstructor.yaml_constructors[tag]
    for tag in (f"{_TAG}{name}" for name in ("int", "float", "bool", "null"))
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
        fix = "Check the path (run from the project root) and the file's permissions."
        raise _fail(filename, 0, f"The file cannot be read ({reason}).", fix) from None
    if len(raw) > MAX_FILE_BYTES:
        raise _too_large(filename, len(raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = "The file is not valid UTF-8 text."
        raise _fail(filename, exc.start, message, "Save the file as UTF-8.", raw) from None
    return parse_workflows(text, filename)


def parse_workflows(text: str, filename: str = "workflows.yaml") -> WorkflowsFile:
    """Validate the text of a workflows file; raise WorkflowsFileError with every problem."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        raise _too_large(filename, size)
    report = _Report(filename)
    root = _compose(text, report)
    workflows: tuple[Workflow, ...] = ()
    if root is not None:
        try:
            workflows = _Document(root, report).read()
        except RecursionError:
            fix = "Correct the YAML syntax; nesting this deep is never needed in workflows.yaml."
            report.at(1, 1, None, "The file is not valid YAML (RecursionError).", fix)
    if report.errors:
        unique = {(p.line, p.column, p.message): p for p in report.errors}
        raise WorkflowsFileError(tuple(sorted(unique.values(), key=lambda p: (p.line, p.column))))
    return WorkflowsFile(filename, SUPPORTED_VERSION, workflows, tuple(report.warnings))


def _fail(
    filename: str, offset: int, message: str, fix: str, text: str | bytes = ""
) -> WorkflowsFileError:
    """An error for one problem at a character (or byte) offset of the file."""
    newline: Any = b"\n" if isinstance(text, bytes) else "\n"
    line = text.count(newline, 0, offset) + 1
    column = offset - (text.rfind(newline, 0, offset) + 1) + 1
    return WorkflowsFileError((Problem(filename, line, column, None, message, fix),))


def _too_large(filename: str, size: int) -> WorkflowsFileError:
    message = f"The file is {size} bytes; the limit is {MAX_FILE_BYTES} bytes (1 MiB)."
    fix = (
        "Check that this is the right file: a workflows file lists one entry per Fin workflow, "
        "and one stack's relay holds about a hundred at most."
    )
    return _fail(filename, 0, message, fix)


def intercom_url_problem(url: str) -> str | None:
    """What is wrong with an Intercom webhook URL, and the fix; None when it is usable.

    The same rule as a literal URL in the file (the schema's ``literalIntercomUrl`` and the
    relay's host rule). The answer never contains the URL, only which part is wrong.
    """
    found = _url_problem(url)
    return None if found is None else f"{found[0]} Fix: {found[1]}"


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
            line, column = ref.line or 1, ref.column or 1
            problems.append(Problem(workflows_file.path, line, column, workflow.id, message, fix))
    return tuple(problems)


_CONFIG_VALUE_WHAT = {
    "intercom_webhook_url": (
        "the workflow's webhook URL from Intercom (without the trailing /<Conversation ID>)"
    ),
    "jam_signing_secret": "the signing secret (whsec_...) Jam shows for this endpoint",
}


# --------------------------------------------------------------------------------------------
# Problem collection, and the YAML


class _Report:
    """Collects errors and warnings for one file, located at YAML nodes."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        # Nodes reported as a signing secret: no other message may describe (or quote) them.
        self.secret_nodes: set[int] = set()

    def at(self, line: int, column: int, workflow_id: str | None, message: str, fix: str) -> None:
        self.errors.append(Problem(self.filename, line, column, workflow_id, message, fix))

    def error(self, node: Node, workflow_id: str | None, message: str, fix: str) -> None:
        if id(node) not in self.secret_nodes:
            self.at(*_position(node), workflow_id, message, fix)

    def warning(self, node: Node, workflow_id: str | None, message: str, fix: str) -> None:
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
        # The parser may quote the text it stopped at (an alias name, say): never a secret.
        what = redact(" ".join(part for part in (exc.context, exc.problem) if part))
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
        message = f"The file contains a character YAML does not allow (#x{exc.character:04x})."
        fix = "Remove the control character; the file must be plain UTF-8 text."
        report.errors += _fail(report.filename, exc.position, message, fix, text).problems
        return None
    except UnicodeEncodeError as exc:  # a lone surrogate in text handed to parse_workflows
        message = "The text contains a character that is not valid Unicode (a lone surrogate)."
        fix = "Save the file as UTF-8 and remove the broken character."
        report.errors += _fail(report.filename, exc.start, message, fix, text).problems
        return None
    except (yaml.YAMLError, RecursionError) as exc:
        message = f"The file is not valid YAML ({type(exc).__name__})."
        fix = "Correct the YAML syntax; nesting this deep is never needed in workflows.yaml."
        report.at(1, 1, None, message, fix)
        return None
    if root is None or (isinstance(root, ScalarNode) and root.tag == f"{_TAG}null"):
        fix = (
            "Start it with `version: 1` and a `workflows:` list "
            "(see the workflows.yaml reference in README.md)."
        )
        report.at(1, 1, None, "The file is empty.", fix)
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


def _kind(node: Node) -> str:
    """What a node is, in words, for 'expected X, got Y' messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return _TAG_NAMES.get(node.tag, f"a value tagged '{node.tag}'")


def _is_str(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _STR


_looks_sensitive = looks_sensitive  # the one rule, in infra.secret_patterns


def _shown(text: str) -> str:
    """A value quoted for a message, unless it may be a capability or a secret."""
    if _looks_sensitive(text):
        return "(value not shown: it looks like a URL or a secret)"
    if len(text) > 60:
        return repr(text[:57] + "...")
    return repr(text)


# --------------------------------------------------------------------------------------------
# Secrets anywhere in the file


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
    """A workflow entry's id when it can be shown in messages (valid or not)."""
    if isinstance(entry, MappingNode):
        for key_node, value_node in entry.value:
            if _is_str(key_node) and key_node.value == "id":
                if not _is_str(value_node) or _looks_sensitive(value_node.value):
                    return None
                workflow_id: str = value_node.value
                return workflow_id
    return None


# --------------------------------------------------------------------------------------------
# The document: YAML nodes -> data for the schema, and each schema error -> a located problem


class _Opaque:
    """A YAML value JSON has no type for (a date, binary, a custom tag, a recursive alias)."""


_OPAQUE = _Opaque()
_KEY_SUFFIX = {"intercom_webhook_url": "IntercomUrl", "jam_signing_secret": "JamSecret"}
_LIST_EXAMPLES = {"events": f"[{', '.join(DEFAULT_EVENTS)}]", "stacks": "[dev, prod]"}
_Path = tuple[str | int, ...]


class _Document:
    def __init__(self, root: Node, report: _Report) -> None:
        self.root = root
        self.report = report
        self.built: dict[int, Any] = {}  # node -> data: an alias is built (and checked) once
        self.bad: set[_Path] = set()  # where problems were found, and every path above them
        self.data: Any = None
        entries = self._node(("workflows",))
        self.entries = entries.value if isinstance(entries, SequenceNode) else []
        self.labels = [_label_of(entry) for entry in self.entries]

    def read(self) -> tuple[Workflow, ...]:
        self.data = self._data(self.root, ())
        for error in _VALIDATOR.iter_errors(self.data):
            self._explain(error)
        entries = self.data.get("workflows") if isinstance(self.data, dict) else None
        workflows: list[Workflow] = []
        first_line_of_id: dict[str, int] = {}
        key_uses: dict[str, _KeyUse] = {}
        for index, entry in enumerate(entries if isinstance(entries, list) else ()):
            if not isinstance(entry, dict):
                continue
            path: _Path = ("workflows", index)
            refs = {name: self._config_ref((*path, name)) for name in _KEY_SUFFIX}
            self._check_id(path, entry.get("id"), first_line_of_id)
            line = _position(self.entries[index])[0]
            _check_key_roles(refs, self.report, self.labels[index], line, key_uses)
            workflow = self._workflow(path, entry, refs)
            if workflow is not None:
                workflows.append(workflow)
        _check_env_budgets(workflows, self.report)
        return tuple(workflows)

    def _ok(self, path: _Path) -> bool:
        """True when no problem was found at ``path`` or inside it."""
        return path not in self.bad

    def _mark_bad(self, path: _Path) -> None:
        self.bad.update(path[:end] for end in range(len(path) + 1))

    # --- nodes and data

    def _node(self, path: _Path, key: str | None = None) -> Node | None:
        """The node at a data path (the first of duplicate keys, as the data holds), or the
        key node of ``key`` in the mapping there."""
        node: Node | None = self.root
        for step in (*path, key) if key is not None else path:
            if isinstance(node, MappingNode):
                pairs = ((k, v) for k, v in node.value if _is_str(k) and k.value == step)
                pair = next(pairs, None)
                node = None if pair is None else pair[0] if step is key else pair[1]
            elif isinstance(node, SequenceNode) and isinstance(step, int):
                node = node.value[step]
            else:
                return None
        return node

    def _label(self, path: _Path) -> str | None:
        if len(path) > 1 and path[0] == "workflows" and isinstance(path[1], int):
            return self.labels[path[1]] if path[1] < len(self.labels) else None
        return None

    def _data(self, node: Node, path: _Path) -> Any:
        """The node as the schema sees it (JSON's types). Kept lean: it visits every node."""
        if isinstance(node, ScalarNode):
            self._check_secret(node, path, None, "value")  # a tagged scalar (rare)
            if node.tag == _STR:
                return node.value
            try:
                return _SCALARS[node.tag](_CONSTRUCTOR, node)
            except (KeyError, ValueError):  # a date, binary, a custom tag, `!!int x`...
                return _OPAQUE
        if id(node) in self.built:
            return self.built[id(node)]
        self.built[id(node)] = _OPAQUE  # until built: a recursive alias stays opaque
        if isinstance(node, SequenceNode):
            name = str(path[-1]) if path else None
            built: Any = [
                self._str(item, path, name, "item")
                if item.tag == _STR
                else self._data(item, (*path, index))
                for index, item in enumerate(node.value)
            ]
        else:
            built = self._mapping(node, path)
        self.built[id(node)] = built
        return built

    def _mapping(self, node: Node, path: _Path) -> dict[str, Any]:
        """A mapping's data, reporting what the data would hide: duplicate and non-string keys."""
        out: dict[str, Any] = {}
        key_nodes: dict[str, Node] = {}
        # A literal jam_signing_secret keeps its own message (it says the same and more).
        workflow = len(path) == 2
        for key_node, value_node in node.value:
            key = self._str(key_node, path, None, "key") if key_node.tag == _STR else None
            if key is None or key in key_nodes:
                self._bad_key(path, key_node, key_nodes)
            elif value_node.tag != _STR:
                key_nodes[key] = key_node
                out[key] = self._data(value_node, (*path, key))
            elif workflow and key == "jam_signing_secret":
                key_nodes[key] = key_node
                out[key] = value_node.value
            else:
                key_nodes[key] = key_node
                out[key] = self._str(value_node, path, key, "value")
        return out

    def _str(self, node: Node, path: _Path, name: str | None, role: str) -> str:
        value: str = node.value
        if "_" in value and holds_signing_secret(value):
            self._check_secret(node, path, name, role)
        return value

    def _check_secret(self, node: Node, path: _Path, name: str | None, role: str) -> None:
        """A ``whsec_`` signing secret is an error wherever it stands, reported once.

        The schema rejects these too, but a mapping key or a misspelt key's value only as an
        unknown key; this says what it is. Other messages skip these nodes.
        """
        if holds_signing_secret(node.value) and id(node) not in self.report.secret_nodes:
            _report_signing_secret(node, self.report, self._label(path), name, role)

    def _bad_key(self, path: _Path, key_node: Node, key_nodes: dict[str, Node]) -> None:
        where, valid = self._where(path)
        self._mark_bad(path)
        if isinstance(key_node, ScalarNode):
            self._check_secret(key_node, path, None, "key")
        if not valid:
            return  # a mapping where none belongs: the schema says so
        key = key_node.value
        if key_node.tag == _STR:
            message = (
                f"Duplicate key {_shown(key)} in {where} (first at line "
                f"{_position(key_nodes[key])[0]}); YAML would silently keep only this last one."
            )
            fix = f"Keep one {_shown(key)} and delete the other."
        elif key_node.tag == f"{_TAG}merge":
            message = f"Merge keys ('<<') are not supported in {where}."
            fix = "Write the keys out in full (an alias for a whole value, like `*name`, is fine)."
        else:
            message = f"A key in {where} is {_kind(key_node)}, not a string."
            fix = _unknown_key_fix("", valid)
        self.report.error(key_node, self._label(path), message, fix)

    @staticmethod
    def _where(path: _Path) -> tuple[str, tuple[str, ...]]:
        """A mapping's place in words, and its valid keys (from the schema)."""
        if not path:
            return "the top level", TOP_LEVEL_KEYS
        if len(path) == 2 and path[0] == "workflows":
            return "a workflow", WORKFLOW_KEYS
        if len(path) == 3 and path[2] in _KEY_SUFFIX:
            return f"'{path[2]}'", CONFIG_REF_KEYS
        return "this mapping", ()

    # --- schema errors, worded

    def _explain(self, error: ValidationError) -> None:
        path = tuple(error.absolute_path)
        self._mark_bad(path)
        node = self._node(path)
        if node is None or id(node) in self.report.secret_nodes:
            return
        label = self._label(path)
        # jsonschema types these loosely (a keyword may be unset): they are set on every error.
        keyword: Any = error.validator
        value: Any = error.instance
        if keyword == "additionalProperties":
            where, valid = self._where(path)
            for key in value:
                key_node = self._node(path, key)
                schema: Any = error.schema
                if key not in schema["properties"] and key_node is not None:
                    message = f"Unknown key {_shown(key)} in {where}."
                    self.report.error(key_node, label, message, _unknown_key_fix(key, valid))
            return
        if keyword == "required":
            required: Any = error.validator_value
            for name in required:
                if name not in value:
                    self.report.error(node, label, *_missing(path, name, label))
            return
        field_name = str(path[2]) if len(path) > 2 else None
        if field_name == "intercom_webhook_url" and len(path) == 3:
            if isinstance(value, dict):  # the {config: KEY} branch's own errors
                for sub in error.context or ():
                    if sub.relative_schema_path[0] == 0:
                        self._explain(sub)
            elif not isinstance(value, str):  # a string is worded in _workflow, with the host
                message = (
                    "'intercom_webhook_url' must be `{config: KEY}` or an https URL, not "
                    f"{_kind(node)}."
                )
                key = _suggested_key(label, "IntercomUrl")
                fix = (
                    f"Write `intercom_webhook_url: {{config: {key}}}` and store the URL with "
                    f"`pulumi config set --secret {key}`."
                )
                self.report.error(node, label, message, fix)
            return
        if keyword == "uniqueItems":
            for index, item in enumerate(value):
                if isinstance(item, str) and item in value[:index]:
                    first, again = (
                        self._node((*path, value.index(item))),
                        self._node((*path, index)),
                    )
                    if first is not None and again is not None:
                        message = (
                            f"'{field_name}' lists {_shown(item)} twice "
                            f"(first at line {_position(first)[0]})."
                        )
                        self.report.error(again, label, message, "Delete the repeated entry.")
            return
        if field_name in _LIST_EXAMPLES and len(path) == 4:
            items = _get(self.data, path[:-1])
            if isinstance(items, list) and value in items[: int(path[3])]:
                return  # a repeated item: the duplicate is the problem reported
        found = _explain_value(path, keyword, node, value, label)
        if found is not None:
            self.report.error(node, label, *found)

    # --- a workflow's values, and what the schema cannot check

    def _config_ref(self, path: _Path) -> ConfigRef | None:
        """The ``{config: KEY}`` at ``path`` when the schema found it valid."""
        key = _get(self.data, (*path, "config"))
        node = self._node((*path, "config"))
        if not isinstance(key, str) or node is None or not self._ok(path):
            return None
        return ConfigRef(key, *_position(node))

    def _check_id(self, path: _Path, workflow_id: Any, first_line_of_id: dict[str, int]) -> None:
        node = self._node((*path, "id"))
        if not isinstance(workflow_id, str) or node is None or not self._ok((*path, "id")):
            return
        if workflow_id in first_line_of_id:
            self._mark_bad((*path, "id"))
            self.report.error(
                node,
                workflow_id,
                f"Duplicate workflow id '{workflow_id}': already used by the workflow at line "
                f"{first_line_of_id[workflow_id]}.",
                "Give each workflow its own id (it becomes its own Endpoint URL), or delete the "
                "copy.",
            )
        else:
            first_line_of_id[workflow_id] = _position(node)[0]

    def _workflow(
        self, path: _Path, entry: dict[str, Any], refs: dict[str, ConfigRef | None]
    ) -> Workflow | None:
        """The entry as a Workflow when nothing is wrong with it."""
        label = self._label(path)
        url = entry.get("intercom_webhook_url")
        url_node = self._node((*path, "intercom_webhook_url"))
        if (
            isinstance(url, str)
            and url_node is not None
            and id(url_node) not in self.report.secret_nodes
        ):
            found = _url_problem(url)  # the schema's rule, worded, and the relay's host rule
            if found is not None:
                self._mark_bad((*path, "intercom_webhook_url"))
                self.report.error(url_node, label, f"'intercom_webhook_url': {found[0]}", found[1])
            else:
                key = _suggested_key(label, "IntercomUrl")
                self.report.warning(
                    url_node,
                    label,
                    "'intercom_webhook_url' is a literal URL committed in plain text; anyone who "
                    "can read the repository can resume this Fin workflow for any conversation.",
                    f"Move it to the stack config: `pulumi config set --secret {key}` (paste the "
                    f"URL when asked), then write `intercom_webhook_url: {{config: {key}}}`.",
                )
        if not self._ok(path):
            return None
        stacks = entry.get("stacks")
        return Workflow(
            id=entry["id"],
            description=entry.get("description", ""),
            intercom_webhook_url=refs["intercom_webhook_url"] or LiteralUrl(str(url)),
            jam_signing_secret=refs["jam_signing_secret"],
            events=tuple(entry.get("events", DEFAULT_EVENTS)),
            stacks=None if stacks is None else tuple(stacks),
            line=_position(self.entries[path[1]])[0] if isinstance(path[1], int) else 0,
        )


def _get(data: Any, path: _Path) -> Any:
    """The data at a path, or None."""
    for step in path:
        if isinstance(data, dict) and isinstance(step, str):
            data = data.get(step)
        elif isinstance(data, list) and isinstance(step, int) and step < len(data):
            data = data[step]
        else:
            return None
    return data


def _missing(path: _Path, name: str, label: str | None) -> tuple[str, str]:
    """(message, fix) for a required key the mapping at ``path`` lacks."""
    if not path:
        if name == "version":
            return "'version' is missing.", "Add `version: 1` as the first line of the file."
        return (
            "'workflows' is missing.",
            "Add a `workflows:` list with one entry per Fin workflow.",
        )
    if len(path) == 3:
        key = _suggested_key(label, _KEY_SUFFIX[str(path[2])])
        return (
            f"'{path[2]}' is a mapping without 'config'.",
            f"Write `{path[2]}: {{config: {key}}}`.",
        )
    if name == "id":
        return "'id' is missing.", (
            "Add `id: some-name` (lower-case letters, digits and hyphens; it becomes part of "
            "the Endpoint URL)."
        )
    key = _suggested_key(label, "IntercomUrl")
    return "'intercom_webhook_url' is missing.", (
        f"Add `intercom_webhook_url: {{config: {key}}}` and store the URL with "
        f"`pulumi config set --secret {key}`."
    )


def _explain_value(
    path: _Path, keyword: str, node: Node, value: Any, label: str | None
) -> tuple[str, str] | None:
    """(message, fix) for a value the schema rejected, by where it stands."""
    shown = f" ({_shown(value)})" if isinstance(node, ScalarNode) and isinstance(value, str) else ""
    if not path:
        return (
            "The top level of the file must be a mapping with 'version' and 'workflows', "
            f"not {_kind(node)}.",
            "Start the file with `version: 1` followed by a `workflows:` list.",
        )
    if path == ("version",):
        if isinstance(value, int) and not isinstance(value, bool):
            return (
                f"Unknown version {_shown(node.value)}; this loader reads version "
                f"{SUPPORTED_VERSION}.",
                f"Write `version: {SUPPORTED_VERSION}` (and the v{SUPPORTED_VERSION} fields).",
            )
        quoted = f" ({_shown(node.value)})" if isinstance(node, ScalarNode) else ""
        return (
            f"'version' must be the integer {SUPPORTED_VERSION}, not {_kind(node)}{quoted}.",
            f"Write `version: {SUPPORTED_VERSION}` without quotes.",
        )
    if path == ("workflows",):
        return (
            f"'workflows' must be a list, not {_kind(node)}.",
            "Write each workflow as a list item starting with `- id: ...` "
            "(or `workflows: []` for none).",
        )
    if len(path) == 2:
        return (
            f"Each entry of 'workflows' must be a mapping, not {_kind(node)}.",
            "Write the entry as `- id: ...` with its fields indented below it.",
        )
    name = str(path[2])
    if name == "id":
        return _id_problem(node, value)
    if name == "description":
        if keyword == "not":  # the Intercom URL (a signing secret is reported on its own)
            return (
                "'description' contains an Intercom webhook URL, committed in plain text.",
                "Remove the URL from the description, treat it as leaked and rotate it in "
                "Intercom, then store the new one with `pulumi config set --secret "
                f"{_suggested_key(label, 'IntercomUrl')}`.",
            )
        return (
            f"'description' must be a string, not {_kind(node)}.",
            "Write a line of text (quote it if it starts with a special character), "
            "or remove the key.",
        )
    if name in _KEY_SUFFIX:
        key = _suggested_key(label, _KEY_SUFFIX[name])
        if len(path) == 4:
            return _config_key_problem(name, node, value, key)
        if isinstance(value, str):  # jam_signing_secret (a string URL is worded elsewhere)
            return (
                "'jam_signing_secret' is a literal value; the signing secret must never be "
                "committed, only referenced as `{config: KEY}`.",
                f"Run `pulumi config set --secret {key}` (paste the whsec_... secret Jam "
                f"shows), write `jam_signing_secret: {{config: {key}}}`, and rotate the "
                "secret in Jam if it was ever pushed.",
            )
        return (
            f"'jam_signing_secret' must be `{{config: KEY}}`, not {_kind(node)}.",
            f"Write `jam_signing_secret: {{config: {key}}}`, or remove the key until the "
            "Jam endpoint exists.",
        )
    example = _LIST_EXAMPLES[name]
    if len(path) == 3:
        if keyword == "minItems":
            return f"'{name}' is an empty list.", (
                f"List at least one, e.g. `{name}: {example}`, or remove the key for the default."
            )
        return (
            f"'{name}' must be a list, not {_kind(node)}{shown}.",
            f"Write it as a list, e.g. `{name}: {example}`.",
        )
    if not isinstance(value, str):
        quoted = ""
        if isinstance(node, ScalarNode) and node.tag != f"{_TAG}null":
            quoted = f"; quote it if you meant the text {node.value!r}"[:120]
        return (
            f"Each item of '{name}' must be a string, not {_kind(node)}.",
            f"Write a name{quoted}, e.g. `{name}: {example}`.",
        )
    if name == "events":
        valid = ", ".join(KNOWN_EVENTS)
        suggestion = _closest(value, KNOWN_EVENTS)
        fix = f"Did you mean '{suggestion}'? Valid events: {valid}." if suggestion else ""
        return f"Unknown event {_shown(value)}.", fix or f"Use one of: {valid}."
    return _stack_problem(value)


def _id_problem(node: Node, value: Any) -> tuple[str, str]:
    if not isinstance(value, str):
        quoted = f" ({_shown(node.value)})" if isinstance(node, ScalarNode) else ""
        return (
            f"'id' must be a string, not {_kind(node)}{quoted}.",
            "Use lower-case letters, digits and hyphens, starting with a letter, "
            "e.g. `id: billing-handoff`.",
        )
    kind = secret_kind(value)
    if kind in (INTERCOM_URL, URL):
        return (
            f"The workflow id is {kind}, not an id; it is now committed in plain text.",
            "Write a name of lower-case letters, digits and hyphens, e.g. `id: billing-handoff`; "
            "if it is a Fin workflow's webhook URL, treat it as leaked and rotate it in "
            "Intercom, then store the new one with `pulumi config set --secret KEY`.",
        )
    suggestion = _suggested_id(value)
    return (
        f"Workflow id {_shown(value)} is not valid: {_id_rule_broken(value)}.",
        "Use 1 to 40 lower-case letters, digits and hyphens, starting with a letter and not "
        f"ending with a hyphen; e.g. `id: {suggestion or 'billing-handoff'}`.",
    )


def _id_rule_broken(workflow_id: str) -> str:
    """Which part of the id rule an id breaks, in words."""
    if not workflow_id:
        return "it is empty"
    if len(workflow_id) > WORKFLOW_ID_MAX_LENGTH:
        return f"it is {len(workflow_id)} characters long, the limit is {WORKFLOW_ID_MAX_LENGTH}"
    if not ("a" <= workflow_id[0] <= "z"):
        return f"it starts with {workflow_id[0]!r}, it must start with a lower-case letter"
    bad = sorted({c for c in workflow_id if not (c.isascii() and (c.islower() or c.isdigit()))})
    bad = [c for c in bad if c != "-"]
    if bad:
        listed = ", ".join(repr(c) for c in bad)
        return f"it contains {listed}; only lower-case letters, digits and '-' are allowed"
    return "it ends with a hyphen"


def _config_key_problem(name: str, node: Node, key: Any, example: str) -> tuple[str, str]:
    if not isinstance(key, str):
        return (
            f"The config key of '{name}' must be a string, not {_kind(node)}.",
            f"Write a Pulumi config key name, e.g. `config: {example}`.",
        )
    if _looks_sensitive(key):
        return (
            f"The config key of '{name}' looks like a value "
            f"({secret_kind(key) or 'a URL or a secret'}), not a key name. It is now committed "
            "in plain text.",
            f"Store the value with `pulumi config set --secret {example}` and write "
            f"`config: {example}`; treat the committed value as leaked and rotate it.",
        )
    if ":" in key:
        namespace, _, bare = key.partition(":")
        bare_ok = CONFIG_KEY_RE.fullmatch(bare) is not None
        return (
            f"The config key {_shown(key)} of '{name}' has a namespace ({namespace!r}:); "
            "keys here are read from this project's own config.",
            f"Write the bare key: `config: {bare if bare_ok else example}`.",
        )
    return (
        f"The config key {_shown(key)} of '{name}' is not a valid Pulumi config key name.",
        f"Start with a letter and use only letters, digits, '_' and '-', e.g. `config: {example}`.",
    )


def _stack_problem(name: str) -> tuple[str, str]:
    if len(name) > STACK_NAME_MAX_LENGTH:
        broken = f"it is {len(name)} characters long, the limit is {STACK_NAME_MAX_LENGTH}"
    elif not name:
        broken = "it is empty"
    else:
        bad = sorted({c for c in name if STACK_NAME_RE.fullmatch(c) is None})
        broken = "it contains " + ", ".join(repr(c) for c in bad)
        if "/" in name:
            broken += " (an org/project/stack name; only the stack's own name goes here)"
    return (
        f"Stack name {_shown(name)} is not valid: {broken}.",
        "Use the stack's short name (letters, digits, '.', '_' and '-', at most "
        f"{STACK_NAME_MAX_LENGTH} characters), as in `pulumi stack ls`.",
    )


STACK_NAME_RE = re.compile(_DEFS["workflow"]["properties"]["stacks"]["items"]["pattern"])


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


# --------------------------------------------------------------------------------------------
# Across workflows: what a schema cannot compare


@dataclass(frozen=True)
class _KeyUse:
    """Where a config key was first referenced, and for which field."""

    field_name: str
    line: int
    workflow_line: int  # identifies the workflow even when its id cannot be shown
    workflow_label: str | None


def _check_key_roles(
    refs: Mapping[str, ConfigRef | None],
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
    placed = sorted(
        ((ref.line, ref.column, name, ref) for name, ref in refs.items() if ref is not None),
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


def _check_env_budgets(workflows: list[Workflow], report: _Report) -> None:
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
# Intercom URLs: the schema's rule and the relay's host rule decide; the words say which part


def _url_problem(url: str) -> tuple[str, str] | None:
    """(what is wrong, fix) for an Intercom webhook URL, never quoting it; None when usable."""
    try:
        host_ok = is_valid_host(urlsplit(url).hostname or "")
    except ValueError:
        host_ok = False
    if _LITERAL_URL.is_valid(url) and host_ok:
        return None
    return _intercom_url_issue(url) or (
        "the value does not have the form of a workflow's webhook URL (https://, a host, a path "
        "of printable ASCII without '<', '>', '{' or '}').",
        "Copy the URL again from the Fin workflow's Wait for webhook step, without the "
        "trailing /<Conversation ID>.",
    )


def _intercom_url_issue(url: str) -> tuple[str, str] | None:
    """(what is wrong, fix) for an Intercom webhook URL, never quoting it; None when fine."""
    copy_again = "Copy the URL again from the Fin workflow's Wait for webhook step"
    if holds_signing_secret(url):
        return (
            "the value contains a Jam signing secret (whsec_...).",
            "Rotate the secret in Jam (it is exposed here) and keep it only in the stack config "
            "as the workflow's `jam_signing_secret`; put the Intercom webhook URL here.",
        )
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
    bracket = next((c for c in path if c in "<>{}"), None)
    if bracket is not None:
        return (
            f"the URL's path contains '{bracket}', which a webhook URL never has (a pasted "
            "placeholder?).",
            f"{copy_again}, without the trailing /<Conversation ID>.",
        )
    stripped = path.rstrip("/")
    if "//" in stripped:
        return "the URL's path has an empty segment ('//').", f"{copy_again}."
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

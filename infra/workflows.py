"""Load and validate ``workflows.yaml`` (version 1) against ``workflows.schema.json``.

Free of Pulumi imports, so a bad file fails before any resource is declared. Public API:
``load_workflows``, ``parse_workflows`` (both raise ``WorkflowsFileError`` with every problem),
``missing_config_problems`` and the frozen dataclasses.

Each rule and its wording are written once, in the schema: ``x-errors`` (failing keyword ->
[problem, fix, fix when a close match exists]), ``x-missing``, ``x-broken`` (which part of a
rule a value breaks), ``x-where``, ``x-messages`` (the checks made here) and ``x-problems`` (the
parts of an Intercom URL), with ``$placeholders``. The composed YAML is validated with the
schema stripped of its words (``jsonschema``), and each error is worded from the annotations on
its schema path, at the YAML node of its instance path, never quoting a possible secret. Not one
typed model generating the schema: its regular expressions are the rule editors read, so a model
would restate them (and pydantic is not a dependency).

Python keeps what a schema cannot express: YAML itself (duplicate and non-string keys, tabs,
``1.0`` is not the integer 1), a signing secret anywhere (reported once, saying what it is),
duplicate ids, one config key used twice and the file size, here; the relay's host rule and
which part of a URL is wrong (``infra.intercom_url``); each stack's environment budget
(``infra.relay_env``). The schema's validator and its words are ``infra.workflows_schema``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import yaml
from jsonschema import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from infra.intercom_url import url_problem
from infra.relay_env import stacks_over_budget
from infra.secret_patterns import holds_signing_secret, looks_sensitive, redact
from infra.workflows_schema import (
    DEFS,
    MESSAGES,
    SCHEMA,
    Validator,
    closest,
    error_words,
    inlined,
    matches,
    say,
    shown,
    suggested_id,
    suggested_key,
)
from relay_function import naming
from relay_function.naming import DEFAULT_EVENTS

SUPPORTED_VERSION: int = SCHEMA["properties"]["version"]["const"]
_CONFIG_KEY_PATTERN: str = DEFS["configRef"]["properties"]["config"]["pattern"]
# One stack's relay holds about seventy workflows: a file near this size is the wrong file, and
# it is refused before YAML builds a tree of it.
MAX_FILE_BYTES = 1024 * 1024
_URL = "intercom_webhook_url"
_KEY_SUFFIX = {_URL: "IntercomUrl", "jam_signing_secret": "JamSecret"}

_VALIDATOR = Validator(inlined(SCHEMA))
_WORDED = inlined(SCHEMA, words=True)  # the same paths, with the wording
# The C loader is several times faster; the pure-Python one gives the same nodes and marks.
_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR, _NULL, _MERGE = (f"tag:yaml.org,2002:{name}" for name in ("str", "null", "merge"))
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
# Only JSON's scalar types are built (by PyYAML's own constructors); others stay opaque.
_SCALARS = {
    tag: build
    for tag, build in yaml.constructor.SafeConstructor.yaml_constructors.items()
    if tag and tag.rpartition(":")[2] in ("int", "float", "bool", "null")
}
_OPAQUE = object()  # a value JSON has no type for (a date, a custom tag, a recursive alias)
# Space characters YAML reads as text: its white space is U+0020 and tab only (YAML 1.2.2, 5.5
# "White Space Characters"). Pasted where a space was meant, they break the structure, and the
# parser's error lands wherever the broken structure ends, often lines later.
UNICODE_SPACES = {
    "\u00a0": "A non-breaking space (U+00A0)",
    "\u2007": "A figure space (U+2007)",
    "\u202f": "A narrow non-breaking space (U+202F)",
    "\u3000": "An ideographic space (U+3000)",
}
# Where a space was meant: after indentation, a sequence's dash or a plain key's colon.
_SPACE_SLOT_RE = re.compile(r"(?:-[ \t]*)*(?:-|[A-Za-z0-9_.$-]+:)?")
_Path = tuple[str | int, ...]
_KeyUse = tuple[str, "ConfigRef", int]  # a config key's field, reference and workflow index


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
        who = f" workflow '{self.workflow_id}':" if self.workflow_id else ""
        return f"{self.file}:{self.line}:{self.column}:{who} {self.message} Fix: {self.fix}"


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

    def __repr__(self) -> str:  # a capability: keep it out of logs and test failure output
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
        return naming.env_suffix(self.id)

    @property
    def route_path(self) -> str:
        return naming.route_path(self.id)


@dataclass(frozen=True)
class WorkflowsFile:
    path: str
    version: int
    workflows: tuple[Workflow, ...]
    warnings: tuple[Problem, ...] = ()  # e.g. a literal URL

    def for_stack(self, stack: str) -> tuple[Workflow, ...]:
        return tuple(w for w in self.workflows if w.applies_to(stack))


def load_workflows(path: str | Path) -> WorkflowsFile:
    """Read and validate a file; raise WorkflowsFileError with every problem found."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise _fail(str(path), 0, "unreadable", reason=exc.strerror or type(exc).__name__) from None
    if len(raw) > MAX_FILE_BYTES:
        raise _fail(str(path), 0, "too_large", size=len(raw), limit=MAX_FILE_BYTES)
    try:
        return parse_workflows(raw.decode("utf-8"), str(path))
    except UnicodeDecodeError as exc:
        raise _fail(str(path), exc.start, "not_utf8", raw) from None


def parse_workflows(text: str, filename: str = "workflows.yaml") -> WorkflowsFile:
    """Validate the text of a workflows file; raise WorkflowsFileError with every problem."""
    if (size := len(text.encode("utf-8", "surrogatepass"))) > MAX_FILE_BYTES:
        raise _fail(filename, 0, "too_large", size=size, limit=MAX_FILE_BYTES)
    document = _Document(filename)
    workflows = document.read(text)
    if document.errors:
        unique = {(p.line, p.column, p.message): p for p in document.errors}
        raise WorkflowsFileError(tuple(sorted(unique.values(), key=lambda p: (p.line, p.column))))
    return WorkflowsFile(filename, SUPPORTED_VERSION, workflows, tuple(document.warnings))


def set_secret_command(key: str, stack: str) -> str:
    """How a workflow's value is stored: encrypted in the stack's config."""
    return f"pulumi config set --secret {key} --stack {stack}"


def missing_config_problems(
    workflows_file: WorkflowsFile, stack: str, present_keys: Mapping[str, bool]
) -> tuple[Problem, ...]:
    """Problems for config keys the stack's workflows reference but the stack lacks.

    ``present_keys`` maps each key set on the stack (without the project prefix) to whether it
    is a secret. A missing Intercom URL key is a problem, a missing signing secret is not (it
    is optional until the Jam endpoint exists); a key set in plain text is. Each fix is the
    exact ``pulumi config set --secret KEY --stack STACK`` command.
    """
    problems: list[Problem] = []
    for workflow in workflows_file.for_stack(stack):
        for name in _KEY_SUFFIX:
            ref = getattr(workflow, name)
            if not isinstance(ref, ConfigRef) or present_keys.get(ref.key, name != _URL):
                continue  # set as a secret, or an optional signing secret not set yet
            words = say(
                "config_plain" if ref.key in present_keys else "config_unset",
                key=ref.key,
                field=name,
                stack=stack,
                command=set_secret_command(ref.key, stack),
                what=MESSAGES[f"config_what_{name}"][0],
            )
            where = (ref.line or 1, ref.column or 1)
            problems.append(Problem(workflows_file.path, *where, workflow.id, *words))
    return tuple(problems)


def unicode_spaces(text: str) -> Iterator[tuple[int, int, str, str]]:
    """Each space character YAML takes for text where a space was meant (indentation, after a
    dash or a key's colon): (line, column, what it is, its code point), 1-based."""
    ignored = " \t" + "".join(UNICODE_SPACES)
    for number, line in enumerate(text.split("\n"), start=1):
        for column, char in enumerate(line):
            if char in UNICODE_SPACES and _SPACE_SLOT_RE.fullmatch(line[:column].strip(ignored)):
                yield number, column + 1, UNICODE_SPACES[char], f"U+{ord(char):04X}"


def _fail(filename: str, offset: int, name: str, text: str | bytes = "", **fields: Any) -> Any:
    """An error for one problem at a character (or byte) offset of the file."""
    newline: Any = b"\n" if isinstance(text, bytes) else "\n"
    line, column = text.count(newline, 0, offset) + 1, offset - text.rfind(newline, 0, offset)
    return WorkflowsFileError((Problem(filename, line, column, None, *say(name, **fields)),))


class _Document:
    """One file: YAML nodes -> data for the schema, and every problem located at its node."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self.quiet: set[int] = set()  # nodes already explained (a signing secret, a rule)
        self.built: dict[int, Any] = {}  # node -> data: an alias is built (and checked) once
        self.bad: set[_Path] = set()  # where problems were found, and every path above them
        self.root: Node | None = None
        self.labels: list[str | None] = []  # each workflow's id, when it can be shown

    def at(self, line: int, column: int, label: str | None, words: list[str]) -> None:
        self.errors.append(Problem(self.filename, line, column, label, *words))

    def error(self, node: Node, path: _Path, words: list[str], once: bool = False) -> None:
        if id(node) not in self.quiet:
            self.quiet.update([id(node)] if once else [])
            self.at(*_position(node), self._label(path), words)

    def read(self, text: str) -> tuple[Workflow, ...]:
        # A pasted non-breaking space misplaces every later message: it alone is reported.
        for line, column, what, code in unicode_spaces(text):
            self.at(line, column, None, say("unicode_space", what=what, code=code))
        self.root = None if self.errors else self._compose(text)
        if self.root is None:
            return ()
        entries = self._node(("workflows",))
        self.entries = entries.value if isinstance(entries, SequenceNode) else []
        for entry in self.entries:
            pairs = entry.value if isinstance(entry, MappingNode) else []
            ids = [v for k, v in pairs if _is_str(k) and k.value == "id"][:1]
            visible = [v.value for v in ids if _is_str(v) and _nameable(v.value)]
            self.labels.append(visible[0] if visible else None)
        for index, entry in enumerate(self.entries):
            self._dedented_config(entry, index)
        try:
            self.data = self._data(self.root, ())
        except RecursionError:
            self.at(1, 1, None, say("yaml_other", what="RecursionError"))
            return ()
        for error in _VALIDATOR.iter_errors(self.data):
            self._explain(error)
        return self._workflows()

    def _compose(self, text: str) -> Node | None:
        """The document's root node, or None after reporting why there is none."""
        try:
            root: Node | None = yaml.compose(text, Loader=_YamlLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark or yaml.Mark("", 0, 0, 0, "", 0)
            # The parser may quote the text it stopped at (an alias name, say): never a secret.
            what = redact(" ".join(part for part in (exc.context, exc.problem) if part))
            rows = text.split("\n")[mark.line : mark.line + 1] or [""]
            indentation = rows[0][: len(rows[0]) - len(rows[0].lstrip(" \t"))]
            tab = rows[0][mark.column : mark.column + 1] == "\t" or (
                mark.column <= len(indentation) and "\t" in indentation
            )  # a tab at the position, or in the indentation it is in
            self.at(mark.line + 1, mark.column + 1, None, say(f"yaml{'_tab' * tab}", what=what))
        except yaml.reader.ReaderError as exc:
            code = f"{exc.character:04x}"
            self.errors += _fail(self.filename, exc.position, "control", text, code=code).problems
        except UnicodeEncodeError as exc:  # a lone surrogate in text handed to parse_workflows
            self.errors += _fail(self.filename, exc.start, "surrogate", text).problems
        except (yaml.YAMLError, RecursionError) as exc:
            self.at(1, 1, None, say("yaml_other", what=type(exc).__name__))
        else:
            if root is not None and not (isinstance(root, ScalarNode) and root.tag == _NULL):
                return root
            self.at(1, 1, None, say("empty"))
        return None

    def _node(self, path: _Path, key: str | None = None) -> Node | None:
        """The node at a data path (the first of duplicate keys, as the data holds), or the
        key node of ``key`` in the mapping there."""
        node = self.root
        for step in (*path, key) if key is not None else path:
            if isinstance(node, MappingNode):
                pair = next(((k, v) for k, v in node.value if _is_str(k) and k.value == step), None)
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

    def _mark_bad(self, path: _Path) -> None:
        self.bad.update(path[:end] for end in range(len(path) + 1))

    def _data(self, node: Node, path: _Path) -> Any:
        """The node as the schema sees it (JSON's types). Kept lean: it visits every node."""
        if isinstance(node, ScalarNode):
            self._secret(node, path, "value")
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
            built: Any = [
                self._secret(item, path, "item")
                if item.tag == _STR
                else self._data(item, (*path, i))
                for i, item in enumerate(node.value)
            ]
        else:
            built, keys = {}, dict[str | None, Node]()
            for key_node, value_node in node.value:
                key = self._secret(key_node, path, "key") if key_node.tag == _STR else None
                if key is None or key in keys:
                    self._bad_key(path, key_node, None if key is None else keys[key])
                elif value_node.tag != _STR:
                    built[key] = self._data(value_node, (*path, key))
                elif len(path) == 2 and key == "jam_signing_secret":  # worded as a literal
                    built[key] = value_node.value
                else:
                    built[key] = self._secret(value_node, (*path, key), "value")
                keys.setdefault(key, key_node)
        self.built[id(node)] = built
        return built

    def _dedented_config(self, entry: Node, index: int) -> None:
        """``config:`` written level with its field instead of below it: the field reads as
        empty and ``config`` as a key of the workflow. Said once, as the indentation slip it is
        (the schema's two errors for it, empty field and unknown key, are kept quiet)."""
        pairs = entry.value if isinstance(entry, MappingNode) else []
        for (field_key, field_value), (key, _) in itertools.pairwise(pairs):
            if (
                _is_str(key)
                and key.value == "config"
                and _is_str(field_key)
                and field_key.value in _KEY_SUFFIX
                and isinstance(field_value, ScalarNode)
                and field_value.tag == _NULL
                and not field_value.value
            ):
                self.quiet.update((id(key), id(field_value)))
                words = say(
                    "config_dedented", field=field_key.value, field_line=_position(field_key)[0]
                )
                self.at(*_position(key), self.labels[index], words)

    def _secret(self, node: Any, path: _Path, role: str) -> Any:
        """A string's value; a ``whsec_`` signing secret in it is an error, reported once.

        The schema rejects these too, but a mapping key or a misspelt key's value only as an
        unknown key: this says what it is, and no other message describes the node.
        """
        value = node.value
        if "_" in value and holds_signing_secret(value):
            name = str(next((s for s in reversed(path) if isinstance(s, str)), ""))
            named = name and _nameable(name)
            what = {"key": "A key", "item": f"An item of '{name}'" if named else "A list item"}
            subject = what.get(role, f"The value of '{name}'" if named else "A value")
            key = suggested_key(self._label(path), "JamSecret")
            self.error(node, path, say("signing_secret", subject=subject, secret_key=key), True)
        return value

    def _bad_key(self, path: _Path, key_node: Node, first: Node | None) -> None:
        """A key the data cannot hold: a duplicate, a merge key or not a string."""
        self._mark_bad(path)
        if isinstance(key_node, ScalarNode):
            self._secret(key_node, path, "key")
        if len(path) == 3 and path[2] in _KEY_SUFFIX:  # the schema of the mapping here
            schema = DEFS["configRef"]
        elif not path or (len(path) == 2 and path[0] == "workflows"):
            schema = DEFS["workflow"] if path else SCHEMA
        else:
            return  # a mapping where none belongs: the schema says so
        name = "duplicate_key" if first else "merge_key" if key_node.tag == _MERGE else ""
        where = Template(schema["x-where"]).safe_substitute(field=path[-1] if path else "")
        words = say(
            name or "key_not_string",
            where=where,
            shown=shown(key_node.value) if first else "",
            first_line=_position(first)[0] if first else 0,
            kind=_kind(key_node),
            valid=", ".join(schema["properties"]),
        )
        self.error(key_node, path, words)

    def _explain(self, error: ValidationError) -> None:
        """Words a schema error from the annotations on its schema path, at its node."""
        path = tuple(error.absolute_path)
        self._mark_bad(path)
        node = self._node(path)
        keyword: Any = error.validator  # jsonschema types these loosely: set on every error
        value: Any = error.instance
        rule: Any = error.validator_value
        if node is None or id(node) in self.quiet or (keyword, type(value)) == ("oneOf", str):
            return  # a literal URL is worded with the relay's host rule, in _workflows
        schemas: list[Any] = [_WORDED]  # on the error's schema path, with the words
        for step in list(error.absolute_schema_path)[:-1]:
            schemas.append(schemas[-1][step])
        schemas = [s for s in reversed(schemas) if isinstance(s, dict)]  # innermost first
        schema = schemas[0]
        fields = _fields(path, node, value, self._label(path))
        if keyword == "oneOf" and isinstance(value, dict):
            for sub in error.context or ():
                if sub.relative_schema_path[0] == 0:  # the {config: KEY} branch's own errors
                    self._explain(sub)
        elif keyword == "additionalProperties":
            fields.update(valid=", ".join(schema["properties"]))
            fields.update(where=Template(schema["x-where"]).safe_substitute(fields))
            for key in value:
                if key not in schema["properties"] and (key_node := self._node(path, key)):
                    meant = closest(key, schema["properties"])
                    fields.update(shown=shown(key), closest=meant)
                    self.error(key_node, path, say("unknown_key", meant, **fields))
        elif keyword == "required":
            for name in rule:
                if name not in value:
                    words = schema["properties"][name]["x-missing"]
                    self.error(node, path, say(words, **fields))
        elif keyword == "uniqueItems":
            for index, item in enumerate(value):
                if isinstance(item, str) and (first := value.index(item)) < index:
                    line = _position(node.value[first])[0]
                    fields.update(shown=shown(item), first_line=line)
                    self.error(node.value[index], path, say("duplicate_item", **fields), True)
        else:
            self.error(node, path, error_words(error, schemas, fields), once=True)

    def _workflows(self) -> tuple[Workflow, ...]:
        """The valid entries as Workflows, after what the schema cannot compare."""
        workflows: list[Workflow] = []
        id_lines: dict[str, int] = {}
        key_uses: dict[str, _KeyUse] = {}  # a config key -> its first use
        data = self.data.get("workflows") if isinstance(self.data, dict) else None
        for index, entry in enumerate(data if isinstance(data, list) else ()):
            path: _Path = ("workflows", index)
            if not isinstance(entry, dict):
                continue
            label, line = self.labels[index], _position(self.entries[index])[0]
            refs: dict[str, ConfigRef] = {}
            for name in _KEY_SUFFIX:
                config_node = self._node((*path, name, "config"))
                if (*path, name) not in self.bad and config_node is not None:
                    refs[name] = ConfigRef(config_node.value, *_position(config_node))
            id_node = self._node((*path, "id"))
            if id_node is not None and (*path, "id") not in self.bad:
                first_line = id_lines.setdefault(entry["id"], _position(id_node)[0])
                if first_line != _position(id_node)[0]:
                    self._mark_bad((*path, "id"))
                    words = say("duplicate_id", id=entry["id"], first_line=first_line)
                    self.error(id_node, path, words)
                elif naming.reserved_by_front_end(route := naming.route_path(entry["id"])):
                    words = say("id_reserved_path", id=label, path=route, suggestion=f"{label}-1")
                    self.warnings.append(Problem(self.filename, *_position(id_node), label, *words))
            for name, ref in sorted(refs.items(), key=lambda r: (r[1].line, r[1].column)):
                first = key_uses.setdefault(ref.key, (name, ref, index))
                if first[1] is not ref:  # (a workflow holds one ref per field)
                    self._key_reused(ref, name, index, first)
            url, url_node = entry.get(_URL), self._node((*path, _URL))
            if isinstance(url, str) and url_node is not None and id(url_node) not in self.quiet:
                found = url_problem(url)  # the schema's rule, worded, and the relay's host rule
                if found is not None:
                    self._mark_bad((*path, _URL))
                    self.error(url_node, path, [f"'intercom_webhook_url': {found[0]}", found[1]])
                else:
                    words = say("literal_url", url_key=suggested_key(label, "IntercomUrl"))
                    self.warnings.append(
                        Problem(self.filename, *_position(url_node), label, *words)
                    )
            if path not in self.bad:
                stacks = entry.get("stacks")
                workflow = Workflow(
                    entry["id"],
                    entry.get("description", ""),
                    refs.get(_URL) or LiteralUrl(str(url)),
                    refs.get("jam_signing_secret"),
                    tuple(entry.get("events", DEFAULT_EVENTS)),
                    None if stacks is None else tuple(stacks),
                    line,
                )
                workflows.append(workflow)
        for over, problem in stacks_over_budget(workflows):
            self.at(over.line, 1, over.id, problem.split(" Fix: ", 1))
        return tuple(workflows)

    def _key_reused(self, ref: ConfigRef, field_name: str, index: int, first: _KeyUse) -> None:
        """One config key holds one value: one workflow's Intercom URL or one endpoint's secret.

        Reported at the second reference in file order. Two workflows sharing a key is always a
        copy-paste slip: each resumes its own Fin workflow, and each Jam endpoint (one per
        workflow) has its own signing secret, so a shared one would make a route reject every
        event. There is no legitimate use, so it is an error, not a warning.
        """
        first_field, first_ref, first_index = first
        label, first_label = self.labels[index], self.labels[first_index]
        url_key, secret_key = (suggested_key(label, suffix) for suffix in _KEY_SUFFIX.values())
        whose = f" of workflow '{first_label}'" if first_label else " of another workflow"
        words = say(
            "key_reused",
            index == first_index,
            key=ref.key,
            field=field_name,
            first_field=first_field,
            first_line=first_ref.line,
            whose="" if index == first_index else whose,
            why=MESSAGES[f"key_why_{'both' if first_field != field_name else field_name}"][0],
            url_key=url_key,
            secret_key=secret_key,
            own_key=url_key if field_name == _URL else secret_key,
        )
        self.at(ref.line, ref.column, label, words)


def _fields(path: _Path, node: Node, value: Any, label: str | None) -> dict[str, Any]:
    """The placeholders a schema's wording may use, for the value at ``path``."""
    scalar = isinstance(node, ScalarNode) and node.tag != _NULL
    field_name = str(path[2]) if len(path) > 2 else ""
    fields: dict[str, Any] = {
        "name": next((str(s) for s in reversed(path) if isinstance(s, str)), ""),
        "field": field_name,
        "kind": _kind(node),
        "shown": shown(node.value if isinstance(node, ScalarNode) else str(value)),
        "quoted": f" ({shown(node.value)})" if scalar else "",
        "quote_hint": f"; quote it if you meant the text {node.value!r}"[:120] if scalar else "",
        "url_key": suggested_key(label, "IntercomUrl"),
        "secret_key": suggested_key(label, "JamSecret"),
        "field_key": suggested_key(label, _KEY_SUFFIX.get(field_name, "")),
        "suggested_id": (isinstance(value, str) and suggested_id(value)) or "billing-handoff",
    }
    if isinstance(value, str):
        namespace, _, bare = value.partition(":")
        fields.update(first=repr(value[:1]), length=len(value), namespace=repr(namespace))
        fields["bare"] = bare if matches(_CONFIG_KEY_PATTERN, bare) else fields["field_key"]
    return fields


def _position(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _kind(node: Node) -> str:
    """What a node is, in words, for 'must be X, not Y' messages."""
    kind = "mapping" if isinstance(node, MappingNode) else node.tag
    kind = "list" if isinstance(node, SequenceNode) else kind
    return str(SCHEMA["x-kinds"].get(kind, f"a value tagged '{node.tag}'"))


def _nameable(name: str) -> bool:
    """Whether a name from the file (an id, valid or not, or a key) may be written as it is in
    a message: on one line, and not a possible secret."""
    return name.isprintable() and not looks_sensitive(name)


def _is_str(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _STR

"""Read a stack's ``Pulumi.<stack>.yaml`` offline: its keys, their lines, and the relay URL.

No Pulumi CLI and no network: the stack file is YAML in the project folder, and the relay's URL
is a function of ``gcp:project``, ``gcp:region`` and ``functionName`` (infra/urls.py). What
Pulumi itself would refuse in the file (a key without a ``namespace:``, a value that is not
YAML) is reported here with its line and fix, before any ``pulumi`` command meets it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from infra.secret_patterns import holds_signing_secret, redact
from infra.settings import PROJECT_NAME, RelaySettings, SettingsError, settings_from_config
from infra.urls import relay_url
from infra.workflows import unicode_spaces
from infra.workflows_schema import say
from relayctl.common import CommandError, usage_error

# A stack's short name, as workflows.yaml's `stacks:` items take it (workflows.schema.json):
# also what keeps `Pulumi.<stack>.yaml` a file name in the project folder.
STACK_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,100}")


def project_name(project_dir: Path) -> str:
    """The ``name:`` in Pulumi.yaml: the namespace of this project's config keys."""
    pulumi_yaml = project_dir / "Pulumi.yaml"
    if not pulumi_yaml.is_file():
        return PROJECT_NAME
    try:
        document = yaml.safe_load(_read_text(pulumi_yaml))
    except yaml.YAMLError:
        return PROJECT_NAME  # `pulumi` itself reports a broken Pulumi.yaml
    name = document.get("name") if isinstance(document, dict) else None
    return name if isinstance(name, str) and name else PROJECT_NAME


def stack_file(project_dir: Path, stack: str) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"


def check_stack_name(stack: str) -> str:
    if not STACK_NAME_RE.fullmatch(stack):
        raise usage_error(
            f"--stack {stack!r} is not a stack name: use the stack's short name (letters, "
            "digits, '.', '_' and '-'), as `pulumi stack ls` shows it."
        )
    return stack


def default_stack(project_dir: Path, given: str | None) -> str:
    """``--stack``, or the project's only ``Pulumi.<stack>.yaml`` when there is exactly one."""
    if given is not None:
        return check_stack_name(given)
    found = sorted(
        p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml")
    )
    if len(found) == 1:
        return found[0]
    which = f"one of: {', '.join(found)}" if found else "none found in the project folder"
    raise usage_error(f"say which stack with --stack NAME ({which}).")


@dataclass(frozen=True)
class Entry:
    """One ``config:`` entry: its full key as written, its value and its line."""

    key: str
    value: Any
    line: int

    @property
    def secure(self) -> bool:
        return isinstance(self.value, dict) and set(self.value) == {"secure"}


@dataclass(frozen=True)
class StackConfig:
    """A stack file's ``config:`` entries, read offline."""

    path: Path
    stack: str
    project: str  # the namespace of this project's keys
    entries: tuple[Entry, ...]

    def get(self, key: str) -> Entry | None:
        return next((e for e in self.entries if e.key == key), None)

    def present_keys(self) -> dict[str, bool]:
        """This project's keys (no prefix) -> stored as ``secure:``, as the loader takes them."""
        prefix = self.project + ":"
        return {
            e.key.removeprefix(prefix): e.secure for e in self.entries if e.key.startswith(prefix)
        }

    def plaintext_signing_secrets(self) -> tuple[Entry, ...]:
        """Entries holding a Jam signing secret in plain text, under any key."""
        return tuple(
            e
            for e in self.entries
            if not e.secure and holds_signing_secret(json.dumps(e.value, default=str))
        )

    def settings(self) -> RelaySettings | tuple[str, ...]:
        """The program's own settings rules (infra/settings.py) over this file: the settings,
        or every problem with its fix."""
        try:
            return settings_from_config(self.stack, self._lookup(self.project), self._lookup("gcp"))
        except SettingsError as error:
            return error.problems

    def usable_settings(self) -> RelaySettings:
        """The settings; CommandError listing every problem when they are not usable."""
        settings = self.settings()
        if isinstance(settings, tuple):
            lines = "\n".join(f"  {problem}" for problem in settings)
            raise CommandError(f"{self.path}: the stack's settings are not usable:\n{lines}")
        return settings

    def relay_url(self) -> str:
        """The relay URL the deployed stack exports (Google's deterministic function URL)."""
        settings = self.usable_settings()
        return relay_url(settings.project, settings.region, settings.function_name)

    def _lookup(self, namespace: str) -> Callable[[str], str | None]:
        def lookup(key: str) -> str | None:
            entry = self.get(f"{namespace}:{key}")
            if entry is None or entry.value is None:
                return None
            if entry.secure:
                raise CommandError(
                    f"{self.path}:{entry.line}: '{entry.key}' is stored encrypted, and relayctl "
                    "reads the stack file without Pulumi. It is a setting, not a secret: Fix: "
                    f"pulumi config set {entry.key} VALUE --stack {self.stack}"
                )
            return as_config_string(entry.value)

        return lookup


def as_config_string(value: Any) -> str:
    """A value as ``pulumi.Config.get`` returns it: text, lists and maps as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def read_stack(project_dir: Path, stack: str) -> StackConfig:
    """The stack file's entries; CommandError with the line, the reason and the fix."""
    path = stack_file(project_dir, check_stack_name(stack))
    if not path.is_file():
        raise CommandError(
            f"{path}: no such stack file. Create the stack with `pulumi stack init {stack}` "
            f"(or `pulumi new`), then `pulumi config set gcp:project YOUR_PROJECT_ID --stack "
            f"{stack}`."
        )
    root = _compose(path)
    config = _value_of(root, "config") if isinstance(root, MappingNode) else None
    if root is not None and not isinstance(root, MappingNode):
        raise CommandError(f"{path}:1: a stack file is a mapping with a `config:` key.")
    entries: list[Entry] = []
    if config is None or (isinstance(config, ScalarNode) and config.value in ("", "~", "null")):
        return StackConfig(path, stack, project_name(project_dir), ())
    if not isinstance(config, MappingNode):
        raise CommandError(
            f"{path}:{config.start_mark.line + 1}: `config:` must be a mapping of "
            "`namespace:key: value` lines."
        )
    for key_node, value_node in config.value:
        key = str(key_node.value) if isinstance(key_node, ScalarNode) else ""
        value = yaml.SafeLoader("").construct_document(value_node)
        entries.append(Entry(key, value, key_node.start_mark.line + 1))
    return StackConfig(path, stack, project_name(project_dir), tuple(entries))


def _value_of(mapping: MappingNode, key: str) -> Node | None:
    return next((v for k, v in mapping.value if isinstance(k, ScalarNode) and k.value == key), None)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path}: cannot read it ({exc.__class__.__name__}).") from None


def _compose(path: Path) -> Node | None:
    text = _read_text(path)
    # A pasted non-breaking space may still parse (as text), into a file Pulumi reads otherwise
    # than it looks: named at its line whether or not the parser stops.
    for line, column, what, code in unicode_spaces(text):  # the loader's rule and words
        problem, fix = say("unicode_space", what=what, code=code)
        raise CommandError(f"{path}:{line}:{column}: not valid YAML: {problem} Fix: {fix}")
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        # PyYAML's words name a token or a character, never a value; redacted all the same.
        reason = redact(
            " ".join(
                str(part)
                for part in (getattr(exc, "context", None), getattr(exc, "problem", None))
                if part
            )
            or exc.__class__.__name__
        )
        tab = "\t" in text
        fix = (
            "indent with spaces, not tabs"
            if tab
            else "check the indentation (each key under `config:` indented the same), quotes "
            "and colons at that position"
        )
        raise CommandError(
            f"{path}{where}: not valid YAML: {reason}. Fix: {fix}; or set the value again with "
            "`pulumi config set`, which writes the file for you."
        ) from None

"""``workflows.schema.json`` for Python: its validator, and its words filled in safely.

The schema holds each rule of ``workflows.yaml`` and, in ``x-`` annotations beside the rule, the
words that explain a broken one (see its description). This module compiles the rules for
``jsonschema``, with each ``pattern`` run as editors run it (ECMA-262, through ``regress``), and
fills the words' ``$placeholders``; the loader (``infra.workflows``) and the Intercom URL rule
(``infra.intercom_url``) say everything through it, and no value that may be a URL or a secret
is ever quoted (``shown``).
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from string import Template
from typing import Any

import regress
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.validators import extend

from infra.secret_patterns import looks_sensitive, secret_kind
from relay_function import naming

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "workflows.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
DEFS: dict[str, Any] = SCHEMA["$defs"]
MESSAGES: dict[str, list[str]] = SCHEMA["x-messages"]

# YAML's own types, faithfully: a YAML float (1.0) is not an integer, which JSON cannot tell.
_TYPES = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
)


@functools.cache
def _ecma(pattern: str) -> regress.Regex:
    return regress.Regex(pattern, "u")


def matches(pattern: str, text: str) -> bool:
    """Whether a schema pattern matches, as editors run it: an ECMA-262 regular expression.

    Through ``regress`` (an ECMAScript regex engine), not ``re``: Python's ``$`` also matches
    before a final newline (which let ``"billing\\n"`` pass as an id) and its ``\\s`` is
    another set. tests/test_workflows_schema.py checks every pattern against Node.js.
    """
    return _ecma(pattern).find(text) is not None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not matches(pattern, instance):
        yield ValidationError(f"the value does not match {pattern!r}")


Validator = extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, validators={"pattern": _pattern}, type_checker=_TYPES
)
_DROPPED = {"$schema", "title", "description", "default", "$defs"}


def inlined(schema: dict[str, Any], words: bool = False) -> Any:
    """The schema with each (local, non-recursive) ``$ref`` replaced by its target.

    jsonschema resolves a ``$ref`` on every use, which made validation several times slower.
    A target is merged in place when no keyword clashes, else added to ``allOf``. Without
    ``words`` the ``x-`` annotations go too: validation then never visits them.
    """

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        kept = {k: v for k, v in node.items() if k not in _DROPPED and (words or k[:2] != "x-")}
        out = {k: inline(v) for k, v in kept.items()}
        if "properties" in node:  # its keys are property names, not keywords
            out["properties"] = {k: inline(v) for k, v in node["properties"].items()}
        if "$ref" in node:
            target = inline(schema["$defs"][out.pop("$ref").removeprefix("#/$defs/")])
            if target.keys() & out.keys():
                out["allOf"] = [target, *out.get("allOf", [])]
            else:
                out.update(target)
        return out

    return inline(schema)


def say(words: str | list[str], /, alternative: Any = False, **fields: Any) -> list[str]:
    """[problem, fix] of a message (named in ``x-messages``, or given), placeholders filled in;
    the alternative fix (third) is for when a close match exists."""
    words = MESSAGES[words] if isinstance(words, str) else words
    fix = words[2] if alternative else words[1]
    return [Template(w).safe_substitute(fields) for w in (words[0], fix)]


def error_words(
    error: ValidationError, schemas: list[dict[str, Any]], fields: dict[str, Any]
) -> list[str]:
    """[problem, fix] for a failed keyword, from the nearest ``x-errors`` on its schema path."""
    keyword: Any = error.validator
    rule_value: Any = error.validator_value
    value, candidates = error.instance, [keyword, "*"]
    if isinstance(value, str):
        if kind := secret_kind(value):  # a URL where a name belongs has its own words
            candidates.insert(0, "url")
            fields["what"] = kind
        candidates.insert(-2, f"{keyword}:string")
        rule: dict[str, Any] = next((s for s in schemas if "x-broken" in s), {})  # which part
        pattern, broken = rule.get("pattern", "^$"), rule.get("x-broken", {}).get(keyword, "")
        if isinstance(broken, list):  # [part of the pattern, words]: the first part broken
            parts = ([part or pattern, *words] for part, *words in broken)
            pattern, broken, *fix = next(
                (p for p in parts if not matches(p[0], value)), [pattern, ""]
            )
            fields["broken_fix"] = Template(fix[0] if fix else "").safe_substitute(fields)
        bad = {c for c in value if not matches(pattern, c)}
        fields.update(bad_chars=", ".join(repr(c) for c in sorted(bad)), limit=rule_value)
        fields["broken"] = Template(broken).safe_substitute(fields)
        if keyword == "enum":
            fields["valid"] = ", ".join(rule_value)
            fields["closest"] = closest(value, rule_value)
    table: dict[str, list[str]] = next((s["x-errors"] for s in schemas if "x-errors" in s), {})
    words = next((table[c] for c in candidates if c in table), None)
    if words is None:  # a rule without words of its own (a schema change): never the value
        return say("unworded", keyword=keyword, **fields)
    return say(words, fields.get("closest"), **fields)


def shown(text: str) -> str:
    """A value quoted for a message, unless it may be a capability or a secret."""
    if looks_sensitive(text):
        return "(value not shown: it looks like a URL or a secret)"
    return repr(text[:57] + "...") if len(text) > 60 else repr(text)


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The valid choice a typo most likely meant, ignoring case, '_' and '-' first."""
    options = list(choices)

    def squash(s: str) -> str:
        return re.sub(r"[_\-\s.]", "", s.lower())

    for option in options:
        # 'recorded' for 'intercom.recorder.recorded': a known name's last part counts too.
        if squash(option) == squash(word) or option.rsplit(".", 1)[-1] == word.lower() != option:
            return option
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return matches[0] if matches else None


def suggested_id(workflow_id: str) -> str | None:
    """A valid id close to an invalid one (``Billing_Handoff`` -> ``billing-handoff``)."""
    if looks_sensitive(workflow_id):
        return None
    candidate = re.sub(r"[^a-z0-9]+", "-", workflow_id.lower())
    candidate = re.sub(r"^[^a-z]+", "", candidate)[: naming.WORKFLOW_ID_MAX_LENGTH].rstrip("-")
    return candidate if naming.is_valid_workflow_id(candidate) else None


def suggested_key(workflow_id: str | None, suffix: str) -> str:
    """``billing-handoff`` + ``IntercomUrl`` -> ``billingHandoffIntercomUrl``."""
    if workflow_id and not naming.is_valid_workflow_id(workflow_id):
        workflow_id = suggested_id(workflow_id)
    first, *rest = (workflow_id or "my-workflow").split("-")
    return first + "".join(part.capitalize() for part in rest) + suffix

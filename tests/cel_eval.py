"""Google's CEL, evaluated by a real interpreter (cel-python, module ``celpy``), for tests.

IAM conditions and Workload Identity Federation's attribute mappings and conditions are CEL.
Tests evaluate them instead of matching their text, so a ``&&`` turned ``||`` or a dropped
comparison changes an answer a test checks.

Standard CEL (operators, ``in``, ``has()``, ``startsWith()``, the ternary) is cel-python's.
Google adds a few functions; each is registered here with the semantics quoted from Google's
page, so a test of the helper can hold it to Google's own examples:

* ``api.getAttribute(name, default)`` and ``list.hasOnly(items)``: IAM conditions attribute
  reference, "API attributes" (https://cloud.google.com/iam/docs/conditions-attribute-reference),
  used by "Setting limits on granting roles"
  (https://cloud.google.com/iam/docs/setting-limits-on-granting-roles).
* ``string.extract(template)``: the same page, "Extract values from attributes".

Nothing else is added: ``hasAny`` is not a function Google documents for conditions, so an
expression using it fails here, as it would not mean what its author hoped there.

Any evaluation that ends in an error (a missing claim read without ``has()``, an unknown
function, a non-boolean condition) raises CelError: an expression that errors on a documented
input is a bug here, whatever Google would answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

# IAM API, WorkloadIdentityPoolProvider.attributeMapping: "google.subject: The principal IAM is
# authenticating. ... Cannot exceed 127 bytes."
# https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools.providers
GOOGLE_SUBJECT_MAX_BYTES = 127
IAM_HOST = "iam.googleapis.com"


class CelError(Exception):
    """The expression does not parse, or its evaluation ended in an error."""


def _get_attribute(api: celtypes.MapType, name: celtypes.StringType, default: Any) -> Any:
    # "api.getAttribute(attributeName: string, defaultValue: V<T>) -> V<T>: Gets the requested
    # API attribute. ... defaultValue: The default value (V) to use if the API attribute is not
    # available." For iam.googleapis.com/modifiedGrantsByRole: "For a request to set the allow
    # policy of a resource, this attribute contains the role names from the role bindings that
    # the request modifies. For other types of requests, the attribute is not defined."
    # A test's `api` variable maps each defined attribute to its value.
    return api.get(name, default)


def _has_only(values: celtypes.ListType, items: celtypes.ListType) -> celtypes.BoolType:
    # "hasOnly(items: list<T>) -> bool: Checks that a list contains only the allowed items, or
    # a subset of those items." Google's table: no roles modified -> true ("By definition, an
    # empty list does not contain values that are not on the allowlist"); one role on the
    # allowlist and one not -> false.
    if not isinstance(values, celtypes.ListType) or not isinstance(items, celtypes.ListType):
        raise TypeError("hasOnly is defined on lists")
    return celtypes.BoolType(all(value in items for value in values))


def _extract(value: celtypes.StringType, template: celtypes.StringType) -> celtypes.StringType:
    # "An extraction template contains ... An identifier, enclosed in curly braces ...
    # Optional: A prefix, which must appear before the substring to extract. Optional: A
    # suffix, which must appear after the substring to extract." Prefix only: "The characters
    # after the first occurrence of the prefix"; suffix only: "The characters before the first
    # occurrence of the suffix"; both: "The characters between the first occurrence of the
    # prefix and the first subsequent occurrence of the suffix"; neither: "The entire
    # attribute". "If you specify a prefix or suffix that don't appear in the attribute, or if
    # the suffix appears only before the prefix, the extract() function returns an empty
    # string."
    text, pattern = str(value), str(template)
    opening, closing = pattern.find("{"), pattern.find("}")
    if opening < 0 or closing < opening:
        raise ValueError(f"extraction template {pattern!r} has no {{identifier}}")
    prefix, suffix = pattern[:opening], pattern[closing + 1 :]
    start = 0
    if prefix:
        found = text.find(prefix)
        if found < 0:
            return celtypes.StringType("")
        start = found + len(prefix)
    end = len(text)
    if suffix:
        found = text.find(suffix, start)
        if found < 0:
            return celtypes.StringType("")
        end = found
    return celtypes.StringType(text[start:end])


GOOGLE_FUNCTIONS: dict[str, Any] = {
    "getAttribute": _get_attribute,
    "hasOnly": _has_only,
    "extract": _extract,
}


def evaluate(expression: str, **variables: Any) -> Any:
    """``expression``'s value, as plain Python, with each variable given as JSON-like data."""
    environment = celpy.Environment()
    try:
        program = environment.program(environment.compile(expression), functions=GOOGLE_FUNCTIONS)
        result = program.evaluate({name: json_to_cel(v) for name, v in variables.items()})
    except (CELEvalError, CELParseError) as error:
        raise CelError(f"{expression!r}: {error}") from None
    if isinstance(result, CELEvalError):
        raise CelError(f"{expression!r}: {result}")
    return _plain(result)


def evaluate_condition(expression: str, **variables: Any) -> bool:
    """A condition's verdict; anything but a boolean is an error."""
    result = evaluate(expression, **variables)
    if not isinstance(result, bool):
        raise CelError(f"{expression!r} gave {result!r}, not a boolean")
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.ListType):
        return [_plain(item) for item in value]
    if isinstance(value, celtypes.MapType):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


# Workload Identity Federation's token exchange, as the IAM API describes a provider: the
# attribute mapping is evaluated over `assertion`, "the JSON representation of the
# authentication credential issued by the provider"; the attribute condition may reference
# `assertion`, `google` ("The Google attributes mapped from the assertion") and `attribute`
# ("The custom attributes mapped from the assertion"), and "must output a boolean representing
# whether to allow the federation".


@dataclass(frozen=True)
class Federated:
    """The identity a token exchange produced."""

    subject: str
    attributes: dict[str, str] = field(default_factory=dict)  # attribute.NAME -> value


def map_attributes(mapping: Mapping[str, str], claims: Mapping[str, Any]) -> dict[str, Any]:
    """Each mapped key (google.subject, attribute.NAME) -> its value for these claims."""
    return {
        key: evaluate(expression, assertion=dict(claims)) for key, expression in mapping.items()
    }


def exchange(
    mapping: Mapping[str, str], condition: str, claims: Mapping[str, Any]
) -> Federated | None:
    """The federated identity for a token with these claims, or None when Google refuses it
    (a google.subject over 127 bytes, or the condition false)."""
    mapped = map_attributes(mapping, claims)
    subject = mapped["google.subject"]
    if not isinstance(subject, str):
        raise CelError(f"google.subject mapped to {subject!r}, not a string")
    if len(subject.encode()) > GOOGLE_SUBJECT_MAX_BYTES:
        return None
    google = {k.removeprefix("google."): v for k, v in mapped.items() if k.startswith("google.")}
    attribute = {
        k.removeprefix("attribute."): v for k, v in mapped.items() if k.startswith("attribute.")
    }
    allowed = evaluate_condition(
        condition, assertion=dict(claims), google=google, attribute=attribute
    )
    return Federated(subject, attribute) if allowed else None


def member_matches(member: str, pool: str, identity: Federated) -> bool:
    """Whether an IAM member names this federated identity of ``pool``
    (projects/NUMBER/locations/global/workloadIdentityPools/ID), per
    https://cloud.google.com/iam/docs/principal-identifiers: ``principal://…/subject/SUBJECT``
    is one subject; ``principalSet://…/attribute.NAME/VALUE`` every identity with that mapped
    attribute; ``principalSet://…/*`` every identity in the pool."""
    one = f"principal://{IAM_HOST}/{pool}/subject/"
    every = f"principalSet://{IAM_HOST}/{pool}/"
    if member.startswith(one):
        return member.removeprefix(one) == identity.subject
    if member == f"{every}*":
        return True
    if member.startswith(f"{every}attribute."):
        name, _, value = member.removeprefix(f"{every}attribute.").partition("/")
        return identity.attributes.get(name) == value
    return False

"""events.py in-process: each refusal's exact reason, the limits at their edge, and the exact
bytes and key Intercom receives.

The reason is what the relay answers and logs (``message``); over HTTP, test_relay_bodies.py
checks the statuses.
"""

from __future__ import annotations

import json
from typing import Any

# relay_function/ is on sys.path (conftest), as in the cloud; mypy checks that folder on its own.
import events  # type: ignore[import-not-found]
import pytest
from answers import BadRequest, InvalidEvent  # type: ignore[import-not-found]

from relay_function.naming import RECORDED

NON_FINITE = "body has a non-finite number (NaN or Infinity are not JSON)"
TOO_DEEP = "body nests JSON deeper than 64 levels"
NOT_A_STRING_OR_INTEGER = "data.conversationId must be a string or an integer"
BAD_CHARACTERS = "data.conversationId must be 1-64 characters from [A-Za-z0-9_-]"


def refusal(body: bytes) -> tuple[int, str]:
    with pytest.raises(BadRequest) as refused:
        events.decode_object(body)
    return refused.value.status, str(refused.value)


def objects_nested(levels: int) -> bytes:
    """``levels`` objects, each inside the one before."""
    return b'{"a":' * (levels - 1) + b"{}" + b"}" * (levels - 1)


def test_a_json_object_is_decoded() -> None:
    assert events.decode_object(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}


@pytest.mark.parametrize("body", [b"", b"not json", b"\xff\xfe", b'{"a": 1'])
def test_a_body_that_is_not_utf8_json_is_400(body: bytes) -> None:
    assert refusal(body) == (400, "body is not UTF-8 JSON")


@pytest.mark.parametrize("body", [b"[1]", b'"x"', b"null", b"5"])
def test_json_that_is_not_an_object_is_400(body: bytes) -> None:
    assert refusal(body) == (400, "body is not a JSON object")


@pytest.mark.parametrize(
    "number", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"1.5e400"]
)
def test_a_non_finite_number_is_400(number: bytes) -> None:
    assert refusal(b'{"n": %s}' % number) == (400, NON_FINITE)


@pytest.mark.parametrize(("text", "value"), [(b"1.5", 1.5), (b"-1e308", -1e308), (b"0.0", 0.0)])
def test_finite_numbers_are_kept(text: bytes, value: float) -> None:
    assert events.decode_object(b'{"n": %s}' % text) == {"n": value}


def test_the_nesting_limit_is_64() -> None:
    assert events.MAX_JSON_DEPTH == 64


def test_objects_nested_64_levels_are_decoded() -> None:
    assert events.decode_object(objects_nested(64))


def test_objects_nested_65_levels_are_400() -> None:
    assert refusal(objects_nested(65)) == (400, TOO_DEEP)


def test_arrays_count_as_levels_too() -> None:
    """One object, then arrays: 64 levels in all are decoded, 65 are refused."""
    assert events.decode_object(b'{"a":' + b"[" * 63 + b"]" * 63 + b"}")
    assert refusal(b'{"a":' + b"[" * 64 + b"]" * 64 + b"}") == (400, TOO_DEEP)


def test_a_deep_level_after_shallow_siblings_is_found() -> None:
    body = b'{"x":[1,{"y":2}],"z":' + b"[" * 64 + b"]" * 64 + b"}"

    assert refusal(body) == (400, TOO_DEEP)


def test_nesting_past_the_parsers_recursion_limit_is_the_same_400() -> None:
    assert refusal(b"[" * 200_000 + b"]" * 200_000) == (400, TOO_DEEP)


# The event: its type first, then the rest.


@pytest.mark.parametrize("document", [{}, {"type": 5}, {"type": ""}, {"type": None}])
def test_a_missing_or_empty_type_is_422(document: dict[str, Any]) -> None:
    with pytest.raises(InvalidEvent) as refused:
        events.event_type_of(document)

    assert (refused.value.status, str(refused.value)) == (422, "'type' must be a non-empty string")


def test_the_type_is_read() -> None:
    assert events.event_type_of({"type": RECORDED}) == RECORDED


def invalid(document: dict[str, Any]) -> str:
    with pytest.raises(InvalidEvent) as refused:
        events.event_from(document, RECORDED)
    assert refused.value.status == 422
    return str(refused.value)


@pytest.mark.parametrize("data", [None, [], "x", 5])
def test_data_that_is_not_an_object_is_422(data: object) -> None:
    assert invalid({"type": RECORDED, "data": data}) == "'data' must be an object"


@pytest.mark.parametrize("event_id", [5, [], {}, True])
def test_an_id_that_is_not_a_string_is_422(event_id: object) -> None:
    assert invalid({"id": event_id, "data": {"conversationId": "c1"}}) == "'id' must be a string"


@pytest.mark.parametrize("value", [True, False, 1.5, [], {}, ["c1"]])
def test_a_conversation_id_of_another_type_is_422(value: object) -> None:
    assert invalid({"data": {"conversationId": value}}) == NOT_A_STRING_OR_INTEGER


@pytest.mark.parametrize("value", ["x" * 65, "a b", "a/b", "\u0661", "abc\n", 10**64])
def test_a_conversation_id_outside_the_character_rule_is_422(value: object) -> None:
    assert invalid({"data": {"conversationId": value}}) == BAD_CHARACTERS


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("x" * 64, "x" * 64),
        ("a", "a"),
        ("AZaz09_-", "AZaz09_-"),
        (0, "0"),
        (10**63, "1" + "0" * 63),
    ],
)
def test_a_valid_conversation_id_is_kept_as_text(value: object, text: str) -> None:
    event = events.event_from({"id": "evt_1", "data": {"conversationId": value}}, RECORDED)

    assert event == events.JamEvent("evt_1", RECORDED, {"conversationId": value}, text)


@pytest.mark.parametrize("value", [None, ""])
def test_an_absent_null_or_empty_conversation_is_none(value: object) -> None:
    data = {} if value is None else {"conversationId": value}
    event = events.event_from({"data": data}, RECORDED)

    assert (event.event_id, event.conversation_id) == (None, None)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"data": {"conversationId": "c_1"}}, "c_1"),
        ({"data": {"conversationId": 42}}, "42"),
        ({"data": {"conversationId": "a b"}}, None),
        ({"data": {"conversationId": True}}, None),
        ({"data": {"conversationId": ""}}, None),
        ({"data": ["c_1"]}, None),
        ({}, None),
    ],
)
def test_valid_conversation_id_never_raises(document: dict[str, Any], expected: str | None) -> None:
    assert events.valid_conversation_id(document) == expected


# What Intercom receives.


def test_intercom_receives_the_type_and_the_data_with_the_event_id_as_compact_json() -> None:
    event = events.JamEvent("evt_1", RECORDED, {"conversationId": "c1", "jamEventId": "x"}, "c1")

    assert events.intercom_body(event) == (
        b'{"event":"intercom.recorder.recorded",'
        b'"payload":{"conversationId":"c1","jamEventId":"evt_1"}}'
    )
    assert event.data == {"conversationId": "c1", "jamEventId": "x"}  # the event is not changed


def test_an_event_without_an_id_sends_a_null_event_id() -> None:
    event = events.JamEvent(None, RECORDED, {"conversationId": "c1"}, "c1")

    assert json.loads(events.intercom_body(event))["payload"]["jamEventId"] is None


def test_intercom_never_receives_a_non_finite_number() -> None:
    """Parsing refuses them already; serialising refuses them again (strict JSON only)."""
    event = events.JamEvent("evt_1", RECORDED, {"conversationId": "c1", "n": float("nan")}, "c1")

    with pytest.raises(ValueError, match="not JSON compliant"):
        events.intercom_body(event)


def test_the_idempotency_key_is_fixed_for_a_workflow_and_message() -> None:
    """A fixed namespace: every retry, and every deploy, gives the same key for one message."""
    assert events.idempotency_key("billing-handoff", "msg_1") == (
        "29d17af2-ee67-5dd3-9a6b-fb2b990d92f2"
    )


def test_the_idempotency_key_differs_per_workflow_and_per_message() -> None:
    keys = {
        events.idempotency_key("billing-handoff", "msg_1"),
        events.idempotency_key("other-flow", "msg_1"),
        events.idempotency_key("billing-handoff", "msg_2"),
    }

    assert len(keys) == 3

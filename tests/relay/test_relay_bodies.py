"""Signed but malformed bodies and conversation ids: 400/422, never a forward, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from relay_function.naming import JAM_CREATED, OPTED_OUT, RECORDED
from tests.relay.harness import ALL_EVENTS, MAIN, Suite, new_conversation_id


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 400),
        (b"not json", 400),
        (b"\xff\xfe\xfd", 400),  # not UTF-8
        (b"[1, 2]", 400),
        (b'"a string"', 400),
        (b"null", 400),
        (b"[" * 5000 + b"]" * 5000, 400),  # nesting deep enough to overflow a naive parser
        (b"1" * 5000, 400),  # an integer too long to convert
        (b"{}", 422),
        (b'{"type": 5, "data": {"conversationId": "c1"}}', 422),
        (b'{"type": "", "data": {"conversationId": "c1"}}', 422),
        (b'{"type": "intercom.recorder.recorded"}', 422),
        (b'{"type": "intercom.recorder.recorded", "data": []}', 422),
        (b'{"type": "intercom.recorder.recorded", "data": "x"}', 422),
        (b'{"id": 7, "type": "intercom.recorder.recorded", "data": {"conversationId": "c"}}', 422),
    ],
)
def test_malformed_body_is_rejected_without_forwarding(
    suite: Suite, body: bytes, status: int
) -> None:
    before = len(suite.intercom.received())

    answer = suite.post(MAIN, body)

    assert (answer.status_code, answer.json()["outcome"]) == (status, "bad_request")
    assert len(suite.intercom.received()) == before


@pytest.mark.parametrize(
    "conversation_id",
    [
        "../../admin",
        "..",
        "a/b",
        "a?b=1",
        "a#frag",
        "a b",
        "a%2Fb",
        "",
        "x" * 65,
        "\u0661\u0662\u0663",  # Arabic-Indic digits: str.isdigit() says yes
        "\uff11\uff12\uff13",  # full-width digits
        "abc\n",  # a regex `$` would let the newline through
        "\u01c5",  # a title-case letter: \w matches it
        True,
        False,
        1.5,
        [],
        {},
        ["c1"],
        10**70,  # 71 digits
    ],
)
def test_bad_conversation_id_is_422_and_never_reaches_a_url(
    suite: Suite, conversation_id: Any
) -> None:
    event = {"id": "evt_1", "type": RECORDED, "data": {"conversationId": conversation_id}}
    before = len(suite.intercom.received())

    answer = suite.post(MAIN, json.dumps(event).encode())

    assert (answer.status_code, answer.json()["outcome"]) == (422, "bad_request")
    assert len(suite.intercom.received()) == before


@pytest.mark.parametrize("conversation_id", ["a", "x" * 64, "AZaz09_-", 0, -1, 10**63])
def test_edge_valid_conversation_ids_are_forwarded(suite: Suite, conversation_id: Any) -> None:
    suffix = new_conversation_id()[-6:]
    if isinstance(conversation_id, str) and len(conversation_id) < 50:
        conversation_id = f"{conversation_id}{suffix}"  # unique per run, still valid
    event = {"id": "evt_1", "type": RECORDED, "data": {"conversationId": conversation_id}}

    answer = suite.post(MAIN, json.dumps(event).encode())

    assert answer.status_code == 200
    assert any(r.path.endswith(f"/{conversation_id}") for r in suite.intercom.received())


def test_payload_keeps_the_jam_data_and_adds_the_event_id(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    data = {
        "conversationId": conversation_id,
        "jamId": "j1",
        "recording_url": "https://jam.dev/c/j1",
    }
    event = {"id": "evt_abc", "type": RECORDED, "data": data, "created_at": "2026-01-01T00:00:00Z"}

    suite.post(MAIN, json.dumps(event).encode())

    [received] = suite.intercom.received(conversation_id)
    assert received.json() == {"event": RECORDED, "payload": {**data, "jamEventId": "evt_abc"}}


def test_body_exactly_at_the_limit_is_not_413(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    event = {"id": "e", "type": RECORDED, "data": {"conversationId": conversation_id, "pad": ""}}
    padding = 65536 - len(json.dumps(event).encode())
    event["data"]["pad"] = "x" * padding  # type: ignore[index]
    body = json.dumps(event).encode()
    assert len(body) == 65536

    answer = suite.post(MAIN, body)

    assert answer.status_code == 200
    assert len(suite.intercom.received(conversation_id)) == 1


def test_one_byte_over_the_limit_is_413(suite: Suite) -> None:
    answer = suite.post(MAIN, b"x" * 65537)

    assert answer.status_code == 413


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999"])
def test_non_finite_number_is_400_and_never_forwarded(suite: Suite, number: bytes) -> None:
    conversation_id = new_conversation_id()
    body = b'{"id": "e", "type": "%s", "data": {"conversationId": "%s", "score": %s}}' % (
        RECORDED.encode(),
        conversation_id.encode(),
        number,
    )

    answer = suite.post(MAIN, body)

    assert (answer.status_code, answer.json()["outcome"]) == (400, "bad_request")
    assert "non-finite" in answer.json()["message"]
    assert suite.intercom.received(conversation_id) == []


@pytest.mark.parametrize(
    "data",
    [
        {"conversationId": "ab.cd"},
        {"conversationId": ""},
        {"conversationId": 12.0},
        {"conversationId": True},
        None,
        [],
    ],
)
@pytest.mark.parametrize("event_type", [JAM_CREATED, OPTED_OUT, "some.future.event"])
def test_unsubscribed_event_is_ignored_before_its_data_is_checked(
    suite: Suite, event_type: str, data: Any
) -> None:
    """MAIN takes only `recorded`: anything else is 200 ignored, however odd its data."""
    before = len(suite.intercom.received())

    answer = suite.post(MAIN, json.dumps({"type": event_type, "data": data}).encode())

    assert (answer.status_code, answer.json()["outcome"]) == (200, "ignored")
    assert len(suite.intercom.received()) == before


@pytest.mark.parametrize("data", [{}, {"conversationId": None}, {"conversationId": ""}])
def test_subscribed_jam_created_without_a_conversation_is_ignored(
    suite: Suite, data: dict[str, Any]
) -> None:
    before = len(suite.intercom.received())

    answer = suite.post(ALL_EVENTS, json.dumps({"type": JAM_CREATED, "data": data}).encode())

    assert (answer.status_code, answer.json()["outcome"]) == (200, "ignored")
    assert len(suite.intercom.received()) == before


@pytest.mark.parametrize("conversation_id", ["ab.cd", 12.0, True, "x" * 65])
def test_subscribed_jam_created_with_a_bad_conversation_is_422(
    suite: Suite, conversation_id: Any
) -> None:
    event = {"type": JAM_CREATED, "data": {"conversationId": conversation_id}}

    answer = suite.post(ALL_EVENTS, json.dumps(event).encode())

    assert (answer.status_code, answer.json()["outcome"]) == (422, "bad_request")


def test_subscribed_recorder_event_with_empty_conversation_is_422(suite: Suite) -> None:
    event = {"type": RECORDED, "data": {"conversationId": ""}}

    answer = suite.post(MAIN, json.dumps(event).encode())

    assert (answer.status_code, answer.json()["outcome"]) == (422, "bad_request")

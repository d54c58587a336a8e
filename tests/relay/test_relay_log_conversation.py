"""Every log line of a parsed event carries its conversation id (support traces by it)."""

from __future__ import annotations

import pytest

from relay_function.naming import OPTED_OUT, RECORDED
from relayctl import jam_events
from tests.relay.harness import (
    MAIN,
    NO_URL,
    REFUSED,
    Suite,
    new_conversation_id,
    new_event,
)


def _send(suite: Suite, workflow_id: str, event: dict[str, object]) -> dict[str, object]:
    message_id = jam_events.new_message_id()
    suite.send_event(workflow_id, event, message_id=message_id)
    return suite.log_line(message_id)


@pytest.mark.parametrize(
    ("workflow_id", "event_type", "intercom_answer", "outcome"),
    [
        (MAIN, RECORDED, 200, "delivered"),
        (MAIN, RECORDED, 404, "refused_by_intercom"),
        (MAIN, RECORDED, 500, "failed"),
        (REFUSED, RECORDED, None, "failed"),
        (MAIN, OPTED_OUT, None, "ignored"),
        (NO_URL, RECORDED, None, "not_configured"),
    ],
)
def test_each_outcome_after_parsing_logs_the_conversation_id(
    suite: Suite, workflow_id: str, event_type: str, intercom_answer: int | None, outcome: str
) -> None:
    conversation_id = new_conversation_id()
    if intercom_answer is not None:
        suite.intercom.script(conversation_id, intercom_answer)

    line = _send(suite, workflow_id, new_event(event_type, conversation_id))

    assert line["outcome"] == outcome
    assert line["conversation_id"] == conversation_id
    assert line["workflow_id"] == workflow_id


def test_an_integer_conversation_id_is_logged_as_its_digits(suite: Suite) -> None:
    line = _send(suite, MAIN, new_event(RECORDED, 215470686832743))

    assert line["conversation_id"] == "215470686832743"


def test_an_event_refused_for_another_field_still_carries_its_conversation_id(
    suite: Suite,
) -> None:
    conversation_id = new_conversation_id()
    event = new_event(RECORDED, conversation_id)
    event["id"] = 12345  # 'id' must be a string: 422

    line = _send(suite, MAIN, event)

    assert line["outcome"] == "bad_request"
    assert line["conversation_id"] == conversation_id


def test_an_invalid_conversation_id_is_never_logged(suite: Suite) -> None:
    event = new_event(RECORDED, "has spaces/and slashes")

    line = _send(suite, MAIN, event)

    assert line["outcome"] == "bad_request"
    assert "conversation_id" not in line


def test_an_unverified_request_logs_no_conversation_id(suite: Suite) -> None:
    body = jam_events.encode(new_event(RECORDED, new_conversation_id()))
    before = len(suite.relay.log_records())

    answer = suite.post(MAIN, body, {"Content-Type": "application/json"})

    [line] = suite.relay.log_records()[before:]
    assert answer.status_code == 401
    assert line["outcome"] == "signature_rejected"
    assert "conversation_id" not in line

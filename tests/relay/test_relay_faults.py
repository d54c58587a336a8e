"""Intercom misbehaving: the relay answers per contract every time, and recovers with Intercom."""

from __future__ import annotations

import pytest

from relay_function.naming import RECORDED
from relayctl import jam_events
from relayctl.fake_intercom import HANG, FakeIntercom
from tests.relay.harness import (
    DROPPING,
    MAIN,
    REFUSED,
    RESET,
    Suite,
    new_conversation_id,
    new_event,
)


@pytest.mark.parametrize(
    ("intercom_status", "relay_status", "outcome"),
    [
        (200, 200, "delivered"),
        (202, 200, "delivered"),
        (204, 200, "delivered"),
        (400, 200, "refused_by_intercom"),
        (404, 200, "refused_by_intercom"),
        (410, 200, "refused_by_intercom"),
        (408, 502, "failed"),
        (429, 502, "failed"),
        (500, 502, "failed"),
        (503, 502, "failed"),
    ],
)
def test_intercom_status_maps_to_the_answer_table(
    suite: Suite, intercom_status: int, relay_status: int, outcome: str
) -> None:
    conversation_id = new_conversation_id()
    suite.intercom.script(conversation_id, intercom_status)

    answer = suite.send_event(MAIN, new_event(RECORDED, conversation_id))

    assert (answer.status_code, answer.json()["outcome"]) == (relay_status, outcome)
    assert len(suite.intercom.received(conversation_id)) == 1  # tried exactly once


def test_hanging_intercom_times_out_as_502_within_the_budget(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    suite.intercom.script(conversation_id, HANG)

    answer = suite.send_event(MAIN, new_event(RECORDED, conversation_id))

    assert (answer.status_code, answer.json()["outcome"]) == (502, "failed")
    assert "in time" in answer.json()["message"]


def test_connection_reset_is_502(suite: Suite) -> None:
    answer = suite.send_event(RESET, new_event())

    assert (answer.status_code, answer.json()["outcome"]) == (502, "failed")


def test_refused_connection_is_502_and_recovers_when_intercom_listens(suite: Suite) -> None:
    event = new_event()
    message_id = jam_events.new_message_id()

    refused = suite.send_event(REFUSED, event, message_id=message_id)
    # Not kept alive: once it stops, nothing of it stays in the relay's pool.
    with FakeIntercom(port=suite.refused_port, mode="close") as intercom:
        # Jam's retry: same message id, fresh timestamp and signature.
        delivered = suite.send_event(REFUSED, event, message_id=message_id)

    assert (refused.status_code, refused.json()["outcome"]) == (502, "failed")
    assert (delivered.status_code, delivered.json()["outcome"]) == (200, "delivered")
    assert [r.json()["event"] for r in intercom.received()] == [RECORDED]


def test_retries_carry_one_idempotency_key_and_recover(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    suite.intercom.script(conversation_id, 500, 429, HANG, 200)
    event = new_event(RECORDED, conversation_id)
    message_id = jam_events.new_message_id()

    statuses = [suite.send_event(MAIN, event, message_id=message_id).status_code for _ in range(4)]

    assert statuses == [502, 502, 502, 200]
    keys = {r.headers["Idempotency-Key"] for r in suite.intercom.received(conversation_id)}
    assert len(keys) == 1


def test_different_messages_get_different_idempotency_keys(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    for _ in range(3):
        suite.send_event(MAIN, new_event(RECORDED, conversation_id))

    keys = [r.headers["Idempotency-Key"] for r in suite.intercom.received(conversation_id)]
    assert len(keys) == len(set(keys)) == 3


def test_relay_keeps_answering_after_every_fault(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    suite.intercom.script(conversation_id, 500)
    suite.send_event(MAIN, new_event(RECORDED, conversation_id))
    suite.send_event(RESET, new_event())
    suite.send_event(REFUSED, new_event())

    answer = suite.send_event(MAIN, new_event())

    assert answer.status_code == 200
    assert suite.relay.running


def test_an_unanswered_close_is_a_502_sent_once_and_jams_retry_delivers(suite: Suite) -> None:
    """Intercom reads the second request on a kept-alive connection and closes it unanswered.

    It may have acted on it, so the relay does not resend: 502, and Jam's retry (at once, same
    message id) goes out on a new connection. A resend here would be a second delivery.
    """
    first_event, second_event = new_event(), new_event()
    second_id = jam_events.new_message_id()

    first = suite.send_event(DROPPING, first_event)  # a new connection, kept alive
    dropped = suite.send_event(DROPPING, second_event, message_id=second_id)  # reuses it
    retried = suite.send_event(DROPPING, second_event, message_id=second_id)  # Jam's retry

    assert (first.status_code, first.json()["outcome"]) == (200, "delivered")
    assert dropped.status_code == 502
    assert dropped.json() == {
        "outcome": "failed",
        "message": "Intercom unreachable (RemoteDisconnected)",
    }
    assert (retried.status_code, retried.json()["outcome"]) == (200, "delivered")
    conversations = [r.conversation_id for r in suite.dropping.received()]
    first_id = first_event["data"]["conversationId"]
    second_conversation = second_event["data"]["conversationId"]
    assert conversations == [first_id, second_conversation, second_conversation]
    assert suite.dropping.dropped == 1
    assert len(suite.dropping.answered_keys) == 2


@pytest.mark.parametrize("interim", [(103,), (100, 103)], ids=["early-hints", "continue-hints"])
def test_interim_answers_before_intercoms_answer_are_skipped(
    suite: Suite, interim: tuple[int, ...]
) -> None:
    """RFC 9110, 15.2: a 103 Early Hints is not Intercom's answer; the 200 after it is."""
    conversation_id = new_conversation_id()
    message_id = jam_events.new_message_id()
    suite.intercom.interim_statuses = interim
    try:
        answer = suite.send_event(MAIN, new_event(RECORDED, conversation_id), message_id=message_id)
    finally:
        suite.intercom.interim_statuses = ()

    assert (answer.status_code, answer.json()["outcome"]) == (200, "delivered")
    assert suite.log_line(message_id)["intercom_status"] == 200
    assert len(suite.intercom.received(conversation_id)) == 1

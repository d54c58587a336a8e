"""Every row of the answer table (DESIGN.md), over real HTTP, plus the log line each one writes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import requests

from relay_function.naming import JAM_CREATED, OPTED_OUT, RECORDED
from relayctl import jam_events
from tests.relay.harness import (
    ALL_EVENTS,
    BAD_SECRET,
    HTTP_TIMEOUT,
    INTERCOM_PATH_TOKEN,
    MAIN,
    NO_SECRET,
    NO_URL,
    OTHER_SECRET,
    PLAIN_HTTP_REMOTE,
    SECRET,
    Suite,
    new_conversation_id,
    new_event,
)


def test_delivered_forwards_once_with_the_documented_shape(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    event = new_event(RECORDED, conversation_id)
    message_id = jam_events.new_message_id()

    answer = suite.send_event(MAIN, event, message_id=message_id)

    assert answer.status_code == 200
    assert answer.json()["outcome"] == "delivered"
    [received] = suite.intercom.received(conversation_id)
    assert received.path == f"/hooks/{INTERCOM_PATH_TOKEN}/main/{conversation_id}"
    assert received.json() == {
        "event": RECORDED,
        "payload": {**event["data"], "jamEventId": event["id"]},
    }
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["User-Agent"].startswith("jam-fin-relay/")
    assert uuid.UUID(received.headers["Idempotency-Key"]).version == 5
    line = suite.log_line(message_id)
    assert line["severity"] == "INFO"
    assert line["outcome"] == "delivered"
    assert line["workflow_id"] == MAIN
    assert line["event_type"] == RECORDED
    assert line["intercom_status"] == 200
    assert isinstance(line["latency_ms"], int | float)


def test_integer_conversation_id_is_forwarded_as_its_digits(suite: Suite) -> None:
    conversation_id = 215470686832743 + uuid.uuid4().int % 10**6

    answer = suite.send_event(MAIN, new_event(RECORDED, conversation_id))

    assert answer.status_code == 200
    assert len(suite.intercom.received(str(conversation_id))) == 1


def test_unsubscribed_event_type_is_ignored_with_200(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    message_id = jam_events.new_message_id()

    answer = suite.send_event(MAIN, new_event(OPTED_OUT, conversation_id), message_id=message_id)

    assert answer.status_code == 200
    assert answer.json()["outcome"] == "ignored"
    assert suite.intercom.received(conversation_id) == []
    assert suite.log_line(message_id)["outcome"] == "ignored"


def test_unknown_event_type_is_ignored_with_200(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    event = new_event(RECORDED, conversation_id)
    event["type"] = "jam.deleted"

    answer = suite.send_event(ALL_EVENTS, event)

    assert (answer.status_code, answer.json()["outcome"]) == (200, "ignored")
    assert suite.intercom.received(conversation_id) == []


def test_jam_created_without_conversation_is_ignored(suite: Suite) -> None:
    for data in ({}, {"conversationId": None}):
        event = {"id": "evt_1", "type": JAM_CREATED, "data": data}
        before = len(suite.intercom.received())

        answer = suite.send_event(ALL_EVENTS, event)

        assert (answer.status_code, answer.json()["outcome"]) == (200, "ignored")
        assert len(suite.intercom.received()) == before


def test_jam_created_with_conversation_is_forwarded_when_subscribed(suite: Suite) -> None:
    conversation_id = new_conversation_id()

    answer = suite.send_event(ALL_EVENTS, new_event(JAM_CREATED, conversation_id))

    assert (answer.status_code, answer.json()["outcome"]) == (200, "delivered")
    [received] = suite.intercom.received(conversation_id)
    assert received.json()["event"] == JAM_CREATED


def test_recorder_event_without_conversation_is_invalid(suite: Suite) -> None:
    event = {"id": "evt_1", "type": RECORDED, "data": {"jamId": "x"}}

    answer = suite.send_event(MAIN, event)

    assert (answer.status_code, answer.json()["outcome"]) == (422, "bad_request")


def test_permanent_refusal_is_acknowledged_and_logged_at_error(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    suite.intercom.script(conversation_id, 404)
    message_id = jam_events.new_message_id()

    answer = suite.send_event(MAIN, new_event(RECORDED, conversation_id), message_id=message_id)

    assert (answer.status_code, answer.json()["outcome"]) == (200, "refused_by_intercom")
    assert len(suite.intercom.received(conversation_id)) == 1
    line = suite.log_line(message_id)
    assert (line["severity"], line["intercom_status"]) == ("ERROR", 404)


def test_intercom_failure_answers_502_so_jam_retries(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    suite.intercom.script(conversation_id, 500)
    message_id = jam_events.new_message_id()

    answer = suite.send_event(MAIN, new_event(RECORDED, conversation_id), message_id=message_id)

    assert (answer.status_code, answer.json()["outcome"]) == (502, "failed")
    line = suite.log_line(message_id)
    assert (line["severity"], line["outcome"], line["intercom_status"]) == ("ERROR", "failed", 500)


def test_wrong_signature_is_401_and_not_forwarded(suite: Suite) -> None:
    conversation_id = new_conversation_id()

    answer = suite.send_event(MAIN, new_event(RECORDED, conversation_id), secret=OTHER_SECRET)

    assert (answer.status_code, answer.json()["outcome"]) == (401, "signature_rejected")
    assert suite.intercom.received(conversation_id) == []


def test_unknown_workflow_is_404(suite: Suite) -> None:
    for path in ("/workflows/nope", "/workflows/", "/workflows", "/", "/other/billing-handoff"):
        answer = requests.post(suite.relay.url + path, data=b"{}", timeout=HTTP_TIMEOUT)
        assert (answer.status_code, answer.json()["outcome"]) == (404, "unknown_route"), path


def test_missing_or_invalid_signing_secret_is_503(suite: Suite) -> None:
    for workflow_id in (NO_SECRET, BAD_SECRET):
        conversation_id = new_conversation_id()

        answer = suite.send_event(workflow_id, new_event(RECORDED, conversation_id))

        assert (answer.status_code, answer.json()["outcome"]) == (503, "not_configured")
        assert "jam_signing_secret config key" in answer.json()["message"]  # says the fix
        assert suite.intercom.received(conversation_id) == []


def test_missing_or_plain_http_intercom_url_is_503_after_verification(suite: Suite) -> None:
    for workflow_id in (NO_URL, PLAIN_HTTP_REMOTE):
        answer = suite.send_event(workflow_id, new_event())
        assert (answer.status_code, answer.json()["outcome"]) == (503, "not_configured")
        assert "intercom_webhook_url config key" in answer.json()["message"]
        # An unsigned caller learns nothing about the configuration.
        unsigned = suite.post(workflow_id, b"{}", headers={})
        assert unsigned.status_code == 401


def test_start_up_problems_are_logged_once_each_with_the_fix(suite: Suite) -> None:
    config_lines = [r for r in suite.relay.log_records() if r.get("outcome") == "config_error"]
    by_workflow = {line.get("workflow_id"): line for line in config_lines}

    assert len(config_lines) == len(by_workflow) == 4
    assert set(by_workflow) == {NO_SECRET, BAD_SECRET, NO_URL, PLAIN_HTTP_REMOTE}
    assert all(line["severity"] == "ERROR" for line in config_lines)
    assert "JAM_SIGNING_SECRET__NO_SECRET is not set" in str(by_workflow[NO_SECRET]["message"])
    assert "not base64" in str(by_workflow[BAD_SECRET]["message"])
    assert "INTERCOM_WEBHOOK_URL__NO_URL is not set" in str(by_workflow[NO_URL]["message"])
    assert "https" in str(by_workflow[PLAIN_HTTP_REMOTE]["message"])


def test_body_over_the_limit_is_413(suite: Suite) -> None:
    body = b'{"pad":"' + b"x" * 70_000 + b'"}'

    answer = suite.post(MAIN, body)

    assert (answer.status_code, answer.json()["outcome"]) == (413, "too_large")


def test_body_over_the_limit_without_content_length_is_413(suite: Suite) -> None:
    def chunks() -> Iterator[
        bytes
    ]:  # a generator body makes requests send Transfer-Encoding: chunked
        for _ in range(20):
            yield b"x" * 8192

    answer = requests.post(
        suite.url(MAIN), data=chunks(), headers={"svix-id": "msg_1"}, timeout=HTTP_TIMEOUT
    )

    assert (answer.status_code, answer.json()["outcome"]) == (413, "too_large")


def test_signed_chunked_body_under_the_limit_is_delivered(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    body = jam_events.encode(new_event(RECORDED, conversation_id))
    headers = jam_events.signed_headers(SECRET, body)

    answer = requests.post(
        suite.url(MAIN), data=iter([body[:10], body[10:]]), headers=headers, timeout=HTTP_TIMEOUT
    )

    assert (answer.status_code, answer.json()["outcome"]) == (200, "delivered")
    assert len(suite.intercom.received(conversation_id)) == 1


def test_other_methods_on_a_route_are_405(suite: Suite) -> None:
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        answer = requests.request(method, suite.url(MAIN), timeout=HTTP_TIMEOUT)
        assert answer.status_code == 405, method
        assert answer.headers["Allow"] == "POST"


def test_health_answers_200_and_reveals_nothing(suite: Suite) -> None:
    answer = requests.get(suite.relay.url + "/health", timeout=HTTP_TIMEOUT)

    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
    assert INTERCOM_PATH_TOKEN not in answer.text
    assert "whsec_" not in answer.text


def test_every_route_answer_is_json_and_logged_exactly_once(suite: Suite) -> None:
    message_id = jam_events.new_message_id()
    before = len(suite.relay.log_records())

    answer = suite.send_event(MAIN, new_event(), message_id=message_id)

    records = suite.relay.log_records()
    assert json.loads(answer.text)["outcome"] == "delivered"
    assert len(records) == before + 1
    assert records[-1]["jam_message_id"] == message_id

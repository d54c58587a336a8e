"""Intercom misbehaving: the relay answers per contract every time, and recovers with Intercom."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from relay_function.naming import RECORDED
from relayctl import jam_events
from relayctl.fake_intercom import HANG
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
    with _listening_on(suite.refused_port) as received:
        # Jam's retry: same message id, fresh timestamp and signature.
        delivered = suite.send_event(REFUSED, event, message_id=message_id)

    assert (refused.status_code, refused.json()["outcome"]) == (502, "failed")
    assert (delivered.status_code, delivered.json()["outcome"]) == (200, "delivered")
    assert len(received) == 1
    assert "allow_reuse_address" not in vars(ThreadingHTTPServer)  # no process-wide change


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


def test_stale_pooled_connection_loses_no_event(suite: Suite) -> None:
    """Intercom drops every kept-alive connection on its second request; the relay resends."""
    answers = []
    for _ in range(6):
        message_id = jam_events.new_message_id()
        answers.append(suite.send_event(DROPPING, new_event(), message_id=message_id))

    assert [a.status_code for a in answers] == [200] * 6
    assert suite.dropping.dropped >= 1  # the stale path was really taken
    keys = suite.dropping.answered_keys
    assert len(keys) == len(set(keys)) == 6  # each event answered exactly once


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: list[dict[str, object]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        # Not kept alive: once this server stops, nothing of it lingers in the relay's pool.
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


class _ReusableServer(ThreadingHTTPServer):
    """Rebinds the port a refused-connection test just probed; the stdlib class is untouched."""

    allow_reuse_address = True
    daemon_threads = True


class _listening_on:  # noqa: N801 (used like a function: `with _listening_on(port)`)
    """Serve 200s on ``port`` for the duration of a ``with`` block; yields the received bodies."""

    def __init__(self, port: int) -> None:
        self.port = port

    def __enter__(self) -> list[dict[str, object]]:
        received: list[dict[str, object]] = []
        handler = type("Handler", (_Recorder,), {"received": received})
        self.server = _ReusableServer(("127.0.0.1", self.port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return received

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

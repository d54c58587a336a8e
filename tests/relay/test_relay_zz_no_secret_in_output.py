"""No secret in anything the relay printed or answered during the whole suite.

Named ``zz`` so it runs after the other relay tests (pytest runs files in name order) and scans
their output too; it also drives every outcome itself, so it checks something when run alone.
"""

from __future__ import annotations

import re

import requests

from relay_function.naming import OPTED_OUT, RECORDED
from relayctl import jam_events
from relayctl.fake_intercom import HANG
from tests.relay.harness import (
    BAD_SECRET,
    HTTP_TIMEOUT,
    MAIN,
    NO_SECRET,
    NO_URL,
    OTHER_SECRET,
    PLAIN_HTTP_REMOTE,
    REFUSED,
    RESET,
    SECRET,
    Suite,
    new_conversation_id,
    new_event,
    secret_values,
)


def _every_outcome(suite: Suite) -> list[requests.Response]:
    answers = [
        suite.send_event(MAIN),
        suite.send_event(MAIN, new_event(OPTED_OUT)),
        suite.send_event(MAIN, secret=OTHER_SECRET),
        suite.post(MAIN, b"not json"),
        suite.post(MAIN, b"x" * 70_000),
        suite.send_event(RESET),
        suite.send_event(REFUSED),
        suite.send_event(NO_SECRET),
        suite.send_event(BAD_SECRET),
        suite.send_event(NO_URL),
        suite.send_event(PLAIN_HTTP_REMOTE),
        requests.get(suite.url(MAIN), timeout=HTTP_TIMEOUT),
        requests.post(suite.relay.url + "/workflows/nope", timeout=HTTP_TIMEOUT),
        requests.get(suite.relay.url + "/health", timeout=HTTP_TIMEOUT),
    ]
    for status in (404, 500, HANG):
        conversation_id = new_conversation_id()
        suite.intercom.script(conversation_id, status)
        answers.append(suite.send_event(MAIN, new_event(RECORDED, conversation_id)))
    # A signature made with the configured secret but sent with a tampered body.
    body = jam_events.encode(new_event())
    answers.append(suite.post(MAIN, body + b" ", jam_events.signed_headers(SECRET, body)))
    return answers


def test_no_secret_in_relay_output_or_answers(suite: Suite) -> None:
    answers = _every_outcome(suite)
    output = suite.relay.output()
    outcomes = {r.get("outcome") for r in suite.relay.log_records()}

    # The scan covers every kind of line the relay writes.
    assert {
        "delivered",
        "ignored",
        "refused_by_intercom",
        "failed",
        "signature_rejected",
        "bad_request",
        "too_large",
        "unknown_route",
        "method_not_allowed",
        "not_configured",
        "config_error",
    } <= outcomes
    texts = [output] + [a.text for a in answers] + [str(dict(a.headers)) for a in answers]
    for secret in secret_values():
        for text in texts:
            assert secret not in text
    # Fix hints may say "whsec_..."; no actual secret-shaped value may appear.
    assert re.search(r"whsec_[A-Za-z0-9+/=]{8,}", output) is None
    assert "Traceback" not in output

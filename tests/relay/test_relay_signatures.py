"""Every way a Standard Webhooks signature can be wrong is a 401 and never a forward."""

from __future__ import annotations

import base64
import time

import pytest

from relay_function.naming import RECORDED
from relayctl import jam_events
from tests.relay.harness import (
    MAIN,
    OLD_SECRET,
    OTHER_SECRET,
    ROTATING,
    SECRET,
    Suite,
    new_conversation_id,
    new_event,
)


def signed_body(conversation_id: str) -> bytes:
    return jam_events.encode(new_event(RECORDED, conversation_id))


def good_headers(body: bytes, prefix: str = "svix", **kwargs: object) -> dict[str, str]:
    return jam_events.signed_headers(SECRET, body, prefix=prefix, **kwargs)  # type: ignore[arg-type]


def assert_rejected(suite: Suite, conversation_id: str, body: bytes, headers: dict[str, str]):
    answer = suite.post(MAIN, body, headers)
    assert answer.status_code == 401, answer.text
    assert answer.json()["outcome"] == "signature_rejected"
    assert suite.intercom.received(conversation_id) == []


@pytest.mark.parametrize("prefix", ["svix", "webhook"])
def test_both_header_sets_are_accepted(suite: Suite, prefix: str) -> None:
    conversation_id = new_conversation_id()
    body = signed_body(conversation_id)

    answer = suite.post(MAIN, body, good_headers(body, prefix))

    assert answer.status_code == 200
    assert len(suite.intercom.received(conversation_id)) == 1


@pytest.mark.parametrize("missing", ["id", "timestamp", "signature"])
def test_missing_header_is_rejected(suite: Suite, missing: str) -> None:
    conversation_id = new_conversation_id()
    body = signed_body(conversation_id)
    headers = good_headers(body)
    del headers[f"svix-{missing}"]

    assert_rejected(suite, conversation_id, body, headers)


def test_no_headers_at_all_is_rejected(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    assert_rejected(suite, conversation_id, signed_body(conversation_id), {})


def test_mixed_header_sets_are_rejected(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    body = signed_body(conversation_id)
    svix = good_headers(body, "svix")
    mixed = {
        "svix-id": svix["svix-id"],
        "webhook-timestamp": svix["svix-timestamp"],
        "svix-signature": svix["svix-signature"],
    }

    assert_rejected(suite, conversation_id, body, mixed)


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "v1",  # comma-less
        "v1,",  # empty signature
        "v1,not base64!!",
        "v1,@@@@",
        "v2," + base64.b64encode(b"x" * 32).decode(),  # unknown version only
        "v1," + base64.b64encode(b"x" * 32).decode(),  # well-formed, wrong
        "v1a,abc",
        "garbage",
        "v1,\u00e9\u00e9\u00e9\u00e9",  # latin-1, not base64
    ],
)
def test_malformed_or_wrong_signature_is_rejected(suite: Suite, signature: str) -> None:
    conversation_id = new_conversation_id()
    body = signed_body(conversation_id)
    headers = good_headers(body)
    headers["svix-signature"] = signature

    assert_rejected(suite, conversation_id, body, headers)


@pytest.mark.parametrize(
    "timestamp", ["", "abc", "1e9", "-5", "12 ", "+12", "١٢٣", "9" * 30, "12.5"]
)
def test_malformed_timestamp_is_rejected(suite: Suite, timestamp: str) -> None:
    conversation_id = new_conversation_id()
    body = signed_body(conversation_id)
    headers = good_headers(body)
    headers["svix-timestamp"] = timestamp.encode("utf-8").decode("latin-1")  # raw bytes on the wire

    assert_rejected(suite, conversation_id, body, headers)


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86_400])
def test_stale_and_future_timestamps_are_rejected(suite: Suite, offset: int) -> None:
    conversation_id = new_conversation_id()
    body = signed_body(conversation_id)
    # Correctly signed for that timestamp: only the window rejects it.
    headers = good_headers(body, timestamp=int(time.time()) + offset)

    assert_rejected(suite, conversation_id, body, headers)


@pytest.mark.parametrize("offset", [-240, 240])
def test_timestamps_inside_the_window_are_accepted(suite: Suite, offset: int) -> None:
    conversation_id = new_conversation_id()
    body = signed_body(conversation_id)

    answer = suite.post(MAIN, body, good_headers(body, timestamp=int(time.time()) + offset))

    assert answer.status_code == 200


def test_wrong_secret_is_rejected(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    body = signed_body(conversation_id)

    assert_rejected(suite, conversation_id, body, jam_events.signed_headers(OTHER_SECRET, body))


def test_body_changed_after_signing_is_rejected(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    body = signed_body(conversation_id)
    headers = good_headers(body)

    assert_rejected(suite, conversation_id, body + b" ", headers)


def test_signature_over_another_message_id_is_rejected(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    body = signed_body(conversation_id)
    headers = good_headers(body)
    headers["svix-id"] = jam_events.new_message_id()

    assert_rejected(suite, conversation_id, body, headers)


@pytest.mark.parametrize("message_id", ["msg with space", "m\u00e9", "x" * 300])
def test_malformed_message_id_is_rejected(suite: Suite, message_id: str) -> None:
    conversation_id = new_conversation_id()
    body = signed_body(conversation_id)
    headers = good_headers(body)
    headers["svix-id"] = message_id.encode("utf-8").decode("latin-1")

    assert_rejected(suite, conversation_id, body, headers)


def test_non_utf8_body_unsigned_is_401_and_signed_is_400(suite: Suite) -> None:
    body = b'{"type": "\xff\xfe"}'

    unsigned = suite.post(MAIN, body, {"svix-id": "msg_1", "svix-timestamp": "1"})
    signed = suite.post(MAIN, body)

    assert unsigned.status_code == 401
    assert (signed.status_code, signed.json()["outcome"]) == (400, "bad_request")


def test_any_of_several_signatures_may_match(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    body = signed_body(conversation_id)
    headers = good_headers(body)
    wrong = jam_events.signed_headers(
        OTHER_SECRET,
        body,
        message_id=headers["svix-id"],
        timestamp=int(headers["svix-timestamp"]),
    )["svix-signature"]
    headers["svix-signature"] = f"v2,abc {wrong} junk {headers['svix-signature']}"

    answer = suite.post(MAIN, body, headers)

    assert answer.status_code == 200
    assert len(suite.intercom.received(conversation_id)) == 1


def test_rotation_accepts_either_configured_secret(suite: Suite) -> None:
    for secret in (OLD_SECRET, SECRET):
        conversation_id = new_conversation_id()
        body = signed_body(conversation_id)

        answer = suite.post(ROTATING, body, jam_events.signed_headers(secret, body))

        assert answer.status_code == 200
        assert len(suite.intercom.received(conversation_id)) == 1


def test_rotation_accepts_two_signatures_in_one_header(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    body = signed_body(conversation_id)
    old = jam_events.signed_headers(OLD_SECRET, body)
    new = jam_events.signed_headers(
        SECRET, body, message_id=old["svix-id"], timestamp=int(old["svix-timestamp"])
    )
    old["svix-signature"] = f"{old['svix-signature']} {new['svix-signature']}"

    answer = suite.post(ROTATING, body, old)

    assert answer.status_code == 200


def test_rotation_route_still_rejects_an_unconfigured_secret(suite: Suite) -> None:
    conversation_id = new_conversation_id()
    body = signed_body(conversation_id)

    answer = suite.post(ROTATING, body, jam_events.signed_headers(OTHER_SECRET, body))

    assert answer.status_code == 401
    assert suite.intercom.received(conversation_id) == []

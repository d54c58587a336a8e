"""verification.py in-process: each rule at its exact edge, and each rejection's exact reason.

The reason is what the relay answers and logs (``message``), so a changed text is a changed
answer. Headers are werkzeug's ``Headers``, as the handler passes them (case-insensitive names);
signatures come from the independent signer in ``relayctl/jam_events.py``.
"""

from __future__ import annotations

import base64

import pytest

# relay_function/ is on sys.path (conftest), as in the cloud; mypy checks that folder on its own.
import verification  # type: ignore[import-not-found]
from answers import SignatureRejected  # type: ignore[import-not-found]
from werkzeug.datastructures import Headers

from relayctl import jam_events
from tests.relay.harness import OLD_SECRET, OTHER_SECRET, SECRET

KEY = base64.b64decode(SECRET.removeprefix("whsec_"))
OLD_KEY = base64.b64decode(OLD_SECRET.removeprefix("whsec_"))
BODY = b'{"type":"intercom.recorder.recorded","data":{"conversationId":"c1"}}'
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
MESSAGE_ID = "msg_2f1e0c"

MISSING = "missing signature headers (svix-* or webhook-* set)"
MALFORMED_HEADER = "malformed signature header (want 'v1,<base64>')"
NO_MATCH = "no signature matched"


def signed(
    secret: str = SECRET,
    *,
    message_id: str = MESSAGE_ID,
    timestamp: int = NOW,
    prefix: str = "svix",
    body: bytes = BODY,
) -> Headers:
    return Headers(
        jam_events.signed_headers(
            secret, body, message_id=message_id, timestamp=timestamp, prefix=prefix
        )
    )


def sig(secret: str = SECRET, *, message_id: str = MESSAGE_ID, timestamp: int = NOW) -> str:
    return jam_events.signature(secret, message_id, timestamp, BODY)


def rejection(headers: Headers, keys: tuple[bytes, ...] = (KEY,), now: float = NOW) -> str:
    with pytest.raises(SignatureRejected) as rejected:
        verification.verify(headers, BODY, keys, now)
    return str(rejected.value)


def test_a_valid_svix_delivery_returns_its_message_id() -> None:
    assert verification.verify(signed(), BODY, (KEY,), NOW) == MESSAGE_ID


def test_a_valid_webhook_set_returns_its_message_id() -> None:
    assert verification.verify(signed(prefix="webhook"), BODY, (KEY,), NOW) == MESSAGE_ID


@pytest.mark.parametrize("prefix", ["svix", "webhook"])
@pytest.mark.parametrize("missing", ["id", "timestamp", "signature"])
def test_an_incomplete_set_is_missing_headers(prefix: str, missing: str) -> None:
    headers = signed(prefix=prefix)
    del headers[f"{prefix}-{missing}"]

    assert rejection(headers) == MISSING


def test_an_empty_header_counts_as_missing() -> None:
    headers = signed()
    headers["svix-id"] = ""

    assert rejection(headers) == MISSING


def test_a_mixed_set_is_missing_headers() -> None:
    headers = signed()
    headers["webhook-timestamp"] = headers.pop("svix-timestamp")

    assert rejection(headers) == MISSING


WRONG = "v1," + base64.b64encode(b"x" * 32).decode()


@pytest.mark.parametrize(
    ("complete", "stray"), [("svix", "webhook"), ("webhook", "svix")], ids=["svix", "webhook"]
)
def test_a_stray_signature_header_beside_a_complete_set_is_ignored(
    complete: str, stray: str
) -> None:
    """The complete set is the one verified; a lone header of the other set is not a set."""
    headers = signed(prefix=complete)
    headers[f"{stray}-signature"] = WRONG

    assert verification.verify(headers, BODY, (KEY,), NOW) == MESSAGE_ID


def test_with_both_sets_complete_the_svix_set_is_the_one_verified() -> None:
    """docs/relay.md: the svix-* set, else the webhook-* set."""
    svix_valid = Headers({**signed(prefix="svix"), **signed(prefix="webhook")})
    svix_valid["webhook-signature"] = WRONG
    assert verification.verify(svix_valid, BODY, (KEY,), NOW) == MESSAGE_ID

    webhook_valid = Headers({**signed(prefix="svix"), **signed(prefix="webhook")})
    webhook_valid["svix-signature"] = WRONG
    assert rejection(webhook_valid) == NO_MATCH


# Message id: 1-256 printable ASCII characters ("!" 0x21 to "~" 0x7E), no spaces.


@pytest.mark.parametrize("message_id", ["!", "~", "x" * 256, "msg_!~"])
def test_message_ids_at_the_edges_verify(message_id: str) -> None:
    headers = signed(message_id=message_id)

    assert verification.verify(headers, BODY, (KEY,), NOW) == message_id


@pytest.mark.parametrize(
    "message_id", ["x" * 257, "msg 1", "msg\x7f", "m\u00e9"], ids=["257", "space", "del", "latin1"]
)
def test_message_ids_past_the_edges_are_malformed(message_id: str) -> None:
    headers = signed()
    headers["svix-id"] = message_id

    assert rejection(headers) == "malformed message id"


# Timestamp: 1-12 ASCII digits, within 300 s of the relay's clock either way.


def test_a_twelve_digit_timestamp_is_read() -> None:
    timestamp = 999_999_999_999
    headers = signed(timestamp=timestamp)

    assert verification.verify(headers, BODY, (KEY,), timestamp) == MESSAGE_ID


def test_a_thirteen_digit_timestamp_is_malformed() -> None:
    """Leading zero: the same instant as a valid 12-digit one, but 13 characters."""
    headers = signed(timestamp=100_000_000_000)
    headers["svix-timestamp"] = "0100000000000"

    assert rejection(headers, now=100_000_000_000) == "malformed timestamp"


@pytest.mark.parametrize("timestamp", ["1.5", "-5", "+12", "12 ", "1e9", "abc"])
def test_a_timestamp_that_is_not_digits_is_malformed(timestamp: str) -> None:
    headers = signed()
    headers["svix-timestamp"] = timestamp

    assert rejection(headers) == "malformed timestamp"


def test_the_tolerance_is_five_minutes() -> None:
    assert verification.TIMESTAMP_TOLERANCE_SECONDS == 300


@pytest.mark.parametrize("offset", [-300, 300, -299.5, 299.5])
def test_a_timestamp_at_the_edge_of_the_window_verifies(offset: float) -> None:
    assert verification.verify(signed(), BODY, (KEY,), NOW + offset) == MESSAGE_ID


@pytest.mark.parametrize("offset", [-301, 301, -300.5, 300.5])
def test_a_timestamp_one_step_past_the_window_is_rejected(offset: float) -> None:
    assert rejection(signed(), now=NOW + offset) == "timestamp outside the 5-minute tolerance"


# Signature header: space-separated entries; each decodable "v1,<base64>" is a candidate.


@pytest.mark.parametrize(
    "header",
    ["v1", "v2," + sig().removeprefix("v1,"), "garbage", "v1a,abc", "V1," + sig()[3:]],
    ids=["comma-less", "v2-with-a-valid-mac", "garbage", "v1a", "upper-case-version"],
)
def test_a_header_without_a_v1_entry_is_malformed(header: str) -> None:
    headers = signed()
    headers["svix-signature"] = header

    assert rejection(headers) == MALFORMED_HEADER


def test_a_valid_signature_with_a_junk_character_inside_is_not_a_signature() -> None:
    """base64 is decoded strictly: a decoder that dropped the junk would accept it."""
    encoded = sig().removeprefix("v1,")
    headers = signed()
    headers["svix-signature"] = f"v1,{encoded[:8]}!{encoded[8:]}"

    assert rejection(headers) == MALFORMED_HEADER


def test_entries_are_separated_by_spaces_only() -> None:
    """A tab is not a separator: the whole header is one entry, and not base64."""
    headers = signed()
    headers["svix-signature"] = f"v2,abc\t{sig()}"

    assert rejection(headers) == MALFORMED_HEADER


def test_a_well_formed_wrong_signature_matches_nothing() -> None:
    headers = signed()
    headers["svix-signature"] = "v1," + base64.b64encode(b"x" * 32).decode()

    assert rejection(headers) == NO_MATCH


@pytest.mark.parametrize(
    "before",
    ["v2,abc", "v1,@@@@", "junk", "v1,", "v1,Zm9v"],
    ids=["other-version", "bad-base64", "comma-less", "empty", "wrong"],
)
def test_a_valid_signature_after_an_unusable_entry_verifies(before: str) -> None:
    headers = signed()
    headers["svix-signature"] = f"{before} {sig()}"

    assert verification.verify(headers, BODY, (KEY,), NOW) == MESSAGE_ID


def test_a_valid_signature_before_a_wrong_one_verifies() -> None:
    """Any candidate matching is enough, whatever comes after it."""
    headers = signed()
    headers["svix-signature"] = f"{sig()} {sig(OTHER_SECRET)}"

    assert verification.verify(headers, BODY, (KEY,), NOW) == MESSAGE_ID


@pytest.mark.parametrize("keys", [(KEY, OLD_KEY), (OLD_KEY, KEY)], ids=["first", "last"])
def test_any_configured_key_may_match(keys: tuple[bytes, ...]) -> None:
    assert verification.verify(signed(), BODY, keys, NOW) == MESSAGE_ID


def test_no_configured_key_matching_is_rejected() -> None:
    assert rejection(signed(OTHER_SECRET), keys=(KEY, OLD_KEY)) == NO_MATCH


def test_the_signed_content_is_id_dot_timestamp_dot_body() -> None:
    """Signed over another id, timestamp or body: no match."""
    for headers in (
        signed(message_id="msg_other"),
        signed(timestamp=NOW - 1),
        signed(body=BODY + b" "),
    ):
        headers["svix-id"], headers["svix-timestamp"] = MESSAGE_ID, str(NOW)
        assert rejection(headers) == NO_MATCH

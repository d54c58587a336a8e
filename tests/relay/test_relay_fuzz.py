"""Property-based: arbitrary bodies, headers and paths never get a 500 or an unsigned forward."""

from __future__ import annotations

import base64
import string
import time

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relayctl import jam_events
from tests.relay.harness import HTTP_TIMEOUT, MAIN, SECRET, Suite

FUZZ_SETTINGS = settings(
    max_examples=150,
    deadline=None,  # real HTTP: latency is not the property under test
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Latin-1 text without surrounding whitespace (requests refuses to send that).
HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0xFF), min_size=0, max_size=80
).map(str.strip)
SIGNATURE_ENTRY = st.one_of(
    HEADER_TEXT,
    st.builds(lambda s: "v1," + s, HEADER_TEXT),
    st.binary(min_size=0, max_size=40).map(lambda b: "v1," + base64.b64encode(b).decode()),
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "svix-id": HEADER_TEXT,
        "svix-timestamp": st.one_of(HEADER_TEXT, st.integers(0, 2**40).map(str)),
        "svix-signature": st.lists(SIGNATURE_ENTRY, max_size=4).map(" ".join).map(str.strip),
        "webhook-id": HEADER_TEXT,
        "webhook-timestamp": st.integers(0, 2**40).map(str),
        "webhook-signature": SIGNATURE_ENTRY,
        "Content-Type": st.sampled_from(["application/json", "text/plain", "", "\x7f"]),
    },
)
PATH = st.text(alphabet=string.ascii_letters + string.digits + "-_./%~!$&'()*+,;=:@", max_size=60)


def _forwards(suite: Suite) -> int:
    return len(suite.intercom.received())


@FUZZ_SETTINGS
@given(body=st.binary(max_size=2048), headers=HEADERS)
def test_unsigned_garbage_is_never_500_nor_forwarded(
    suite: Suite, body: bytes, headers: dict[str, str]
) -> None:
    before = _forwards(suite)
    wire_headers = {k: v.encode("latin-1") for k, v in headers.items()}

    answer = requests.post(suite.url(MAIN), data=body, headers=wire_headers, timeout=HTTP_TIMEOUT)

    if answer.status_code == 400:  # gunicorn's own answer to a header it cannot parse
        assert "outcome" not in answer.text
    else:
        assert answer.status_code == 401  # nothing here carries a valid signature
    assert _forwards(suite) == before


@FUZZ_SETTINGS
@given(body=st.binary(max_size=2048))
def test_signed_garbage_is_a_client_error_not_a_500(suite: Suite, body: bytes) -> None:
    before = _forwards(suite)

    answer = suite.post(MAIN, body, jam_events.signed_headers(SECRET, body))

    assert answer.status_code in (400, 422)
    assert _forwards(suite) == before


@FUZZ_SETTINGS
@given(
    event=st.fixed_dictionaries(
        {
            "type": st.one_of(st.text(max_size=30), st.integers(), st.none()),
            "data": st.one_of(
                st.fixed_dictionaries(
                    {
                        "conversationId": st.one_of(
                            st.text(max_size=70),
                            st.integers(),
                            st.booleans(),
                            st.floats(),
                            st.none(),
                            st.lists(st.integers(), max_size=2),
                        )
                    }
                ),
                st.lists(st.integers(), max_size=2),
                st.text(max_size=5),
            ),
        },
        optional={"id": st.one_of(st.text(max_size=20), st.integers())},
    )
)
def test_signed_json_events_never_500_and_forward_only_valid_ids(
    suite: Suite, event: dict[str, object]
) -> None:
    body = jam_events.encode(event)
    before = _forwards(suite)

    answer = suite.post(MAIN, body, jam_events.signed_headers(SECRET, body))

    assert answer.status_code in (200, 400, 422)
    if _forwards(suite) > before:
        assert answer.status_code == 200
        forwarded = suite.intercom.received()[-1].path.rsplit("/", 1)[-1]
        assert forwarded == str(event["data"]["conversationId"])  # type: ignore[index]
        assert set(forwarded) <= set(string.ascii_letters + string.digits + "_-")


@FUZZ_SETTINGS
@given(path=PATH, method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]))
def test_arbitrary_paths_and_methods_never_500(suite: Suite, path: str, method: str) -> None:
    body = b"{}"
    headers = jam_events.signed_headers(SECRET, body, timestamp=int(time.time()))
    before = _forwards(suite)

    answer = requests.request(
        method, f"{suite.relay.url}/{path}", data=body, headers=headers, timeout=HTTP_TIMEOUT
    )

    assert answer.status_code < 500
    assert _forwards(suite) == before

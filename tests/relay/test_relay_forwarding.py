"""forwarding.py in-process, against the one stand-in: every forward is sent once, and the
answer read is the final one.

The relay suite covers the same over HTTP; these pin the rules themselves: nothing is resent
(Jam retries; bench/stale.py shows why a resend could deliver twice), and interim (1xx)
answers are skipped (RFC 9110, 15.2).
"""

from __future__ import annotations

from typing import Any

# relay_function/ is on sys.path (conftest), as in the cloud; mypy checks that folder on its own.
import answers  # type: ignore[import-not-found]
import configuration  # type: ignore[import-not-found]
import forwarding  # type: ignore[import-not-found]
import pytest

from relayctl.fake_intercom import FakeIntercom

HEADERS = {"Content-Type": "application/json", "Idempotency-Key": "k"}


@pytest.fixture
def forwarder() -> Any:
    return forwarding.Forwarder()  # its own pools: nothing shared with other tests


def _target(intercom: FakeIntercom) -> Any:
    return configuration.parse_intercom_url(intercom.url_for("raw"))


def test_a_fresh_connection_that_fails_unanswered_is_not_resent(forwarder: Any) -> None:
    with FakeIntercom(mode="reset") as intercom:
        with pytest.raises(answers.ForwardFailed, match="unreachable"):
            forwarder.post(_target(intercom), "/hooks/raw/c1", b"{}", HEADERS, 2.0)

        assert intercom.post_count == 1


def test_a_reused_connection_closed_unanswered_is_a_failure_not_a_resend(forwarder: Any) -> None:
    """The stand-in reads the second request on a kept-alive connection and closes it without
    answering: Intercom may have acted on it, so it is not sent again (Jam retries)."""
    with FakeIntercom(mode="drop_second") as intercom:
        target = _target(intercom)
        first = forwarder.post(target, "/hooks/raw/c0", b"{}", HEADERS, 2.0)
        with pytest.raises(answers.ForwardFailed) as failed:
            forwarder.post(target, "/hooks/raw/c1", b"{}", HEADERS, 2.0)

        assert first == 200
        assert str(failed.value) == "Intercom unreachable (RemoteDisconnected)"
        assert failed.value.intercom_status is None
        assert intercom.dropped == 1  # the second went out on the kept-alive connection
        assert intercom.post_count == 2  # ... and only there
        assert intercom.connections == 1


def test_the_forward_after_an_unanswered_close_goes_out_on_a_new_connection(
    forwarder: Any,
) -> None:
    """What Jam's retry meets: the closed connection is gone from the pool."""
    with FakeIntercom(mode="drop_second") as intercom:
        target = _target(intercom)
        forwarder.post(target, "/hooks/raw/c0", b"{}", HEADERS, 2.0)
        with pytest.raises(answers.ForwardFailed):
            forwarder.post(target, "/hooks/raw/c1", b"{}", HEADERS, 2.0)

        retried = forwarder.post(target, "/hooks/raw/c1", b"{}", HEADERS, 2.0)

        assert retried == 200
        assert intercom.connections == 2
        assert [r.conversation_id for r in intercom.received()] == ["c0", "c1", "c1"]


def test_a_scripted_refusal_is_returned_not_resent(forwarder: Any) -> None:
    with FakeIntercom() as intercom:
        intercom.script("c1", 404)

        status = forwarder.post(_target(intercom), "/hooks/raw/c1", b"{}", HEADERS, 2.0)

        assert status == 404
        assert intercom.post_count == 1


def test_a_chunked_answer_is_read_and_its_connection_reused(forwarder: Any) -> None:
    with FakeIntercom(mode="chunked") as intercom:
        target = _target(intercom)
        statuses = [
            forwarder.post(target, f"/hooks/raw/c{n}", b"{}", HEADERS, 2.0) for n in range(3)
        ]

        assert statuses == [200, 200, 200]
        assert intercom.post_count == 3  # nothing resent: each answer was read to its end


def test_an_answer_dripped_past_the_deadline_is_a_timeout(forwarder: Any) -> None:
    with FakeIntercom(mode="drip", drip_seconds=30.0) as intercom:
        with pytest.raises(answers.ForwardFailed, match="did not answer in time"):
            forwarder.post(_target(intercom), "/hooks/raw/c1", b"{}", HEADERS, 0.5)

        assert intercom.post_count == 1  # not resent


@pytest.mark.parametrize(
    "interim",
    [(103,), (100,), (102,), (199,), (100, 102, 103)],
    ids=["early-hints", "continue", "processing", "199", "three"],
)
def test_interim_answers_before_the_final_one_are_skipped(
    forwarder: Any, interim: tuple[int, ...]
) -> None:
    """RFC 9110, 15.2: 1xx answers before the final one are read and ignored."""
    with FakeIntercom() as intercom:
        intercom.interim_statuses = interim
        intercom.script("c2", 500)
        target = _target(intercom)

        statuses = [
            forwarder.post(target, f"/hooks/raw/c{n}", b"{}", HEADERS, 2.0) for n in range(3)
        ]

        assert statuses == [200, 200, 500]  # each final answer, on one kept-alive connection
        assert intercom.post_count == 3
        assert intercom.connections == 1


def test_switching_protocols_is_not_skipped(forwarder: Any) -> None:
    """101 is interim only after a request to upgrade, which the relay never makes."""
    with FakeIntercom() as intercom:
        intercom.interim_statuses = (101,)

        status = forwarder.post(_target(intercom), "/hooks/raw/c1", b"{}", HEADERS, 2.0)

        assert status == 101  # the handler answers 502 for it (any 1xx or 3xx)
        assert intercom.post_count == 1

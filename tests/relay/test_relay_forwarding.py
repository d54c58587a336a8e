"""forwarding.py in-process, against the one stand-in: what is resent, and what is not.

The relay suite covers the same over HTTP; these pin the rule itself: only a *reused*
connection that fails before any answer is resent, once.
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


def test_a_reused_connection_that_fails_unanswered_is_resent_once(forwarder: Any) -> None:
    with FakeIntercom(mode="drop_second") as intercom:
        target = _target(intercom)
        statuses = [
            forwarder.post(target, f"/hooks/raw/c{n}", b"{}", HEADERS, 2.0) for n in range(2)
        ]

        assert statuses == [200, 200]
        assert intercom.dropped == 1  # the second went out on the kept-alive connection first
        assert intercom.post_count == 3  # ... and once more, answered, on a new one


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

"""The whole forward has one deadline: an Intercom that drips its answer cannot stretch it.

The stand-ins drip a valid 200 one byte at a time over DRIP_SECONDS (30 s), each byte well
within any per-read socket timeout, so only a deadline on the whole forward stops it. The
suite's forward timeout is 1.5 s; every test request gives up after HTTP_TIMEOUT (15 s, as Jam
does). Without the deadline the relay holds Jam's request until Jam gives up.
"""

from __future__ import annotations

from tests.relay.harness import DRIPPING, DRIPS_ON_REUSE, MAIN, Suite, new_event


def test_dripping_intercom_answer_is_a_timeout_not_a_delivery(suite: Suite) -> None:
    answer = suite.send_event(DRIPPING, new_event())

    assert (answer.status_code, answer.json()["outcome"]) == (502, "failed")
    assert "in time" in answer.json()["message"]
    assert suite.raw[DRIPPING].requests == 1  # tried once, not resent


def test_deadline_on_a_reused_connection_is_not_taken_for_a_stale_one(suite: Suite) -> None:
    """A read the deadline stopped on a kept-alive connection must not trigger the stale resend.

    The stand-in answers a connection's first request at once and drips the second; a resend
    on a fresh connection would be answered at once and turn the timeout into a delivery.
    """
    standin = suite.raw[DRIPS_ON_REUSE]

    first = suite.send_event(DRIPS_ON_REUSE, new_event())  # fresh connection, kept alive
    second = suite.send_event(DRIPS_ON_REUSE, new_event())  # reuses it; the answer drips

    assert (first.status_code, first.json()["outcome"]) == (200, "delivered")
    assert (second.status_code, second.json()["outcome"]) == (502, "failed")
    assert "in time" in second.json()["message"]
    assert standin.requests == 2  # the second event was sent once: no resend


def test_relay_answers_at_once_after_a_deadline(suite: Suite) -> None:
    """A deadline leaves nothing behind: the next forward on the route is unaffected."""
    suite.send_event(DRIPPING, new_event())

    answer = suite.send_event(MAIN, new_event())

    assert (answer.status_code, answer.json()["outcome"]) == (200, "delivered")

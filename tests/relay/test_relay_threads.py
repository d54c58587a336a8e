"""The server's threads follow the deployed request concurrency (THREADS, as the deploy sets it).

Cloud Run sends an instance at most `concurrency` requests at once (16 by default). With
THREADS equal to it, slow forwards for one workflow filling every other slot must not make an
event for another workflow wait. Ordering, not timing: the slow forwards are held open by the
stand-in until the other event has been answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from relay_function.naming import RECORDED
from relayctl import jam_events
from relayctl.fake_intercom import HANG, FakeIntercom
from relayctl.local_relay import LocalRelay, relay_env
from tests.relay.harness import HTTP_TIMEOUT, new_conversation_id, new_event

CONCURRENCY = 16  # infra.settings.DEFAULT_CONCURRENCY, deployed as THREADS
SLOW, OTHER = "slow-workflow", "other-workflow"
HOLD_LIMIT_SECONDS = 12.0  # a held forward is released by the test, or after this at worst


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def gated() -> Iterator[tuple[LocalRelay, FakeIntercom, str]]:
    """A relay with THREADS=16 in front of a stand-in that holds scripted (HANG) forwards."""
    intercom = FakeIntercom(hang_seconds=HOLD_LIMIT_SECONDS).start()
    secret = jam_events.new_signing_secret()
    env = relay_env(
        {SLOW: [RECORDED], OTHER: [RECORDED]},
        {wid: intercom.url_for(wid) for wid in (SLOW, OTHER)},
        {SLOW: secret, OTHER: secret},
        threads=CONCURRENCY,
    )
    env["RELAY_FORWARD_TIMEOUT_SECONDS"] = str(HOLD_LIMIT_SECONDS + 2)
    relay = LocalRelay(env).start()
    try:
        yield relay, intercom, secret
    finally:
        relay.stop()
        intercom.stop()


def _post(
    relay: LocalRelay, workflow_id: str, secret: str, timeout: float, conversation_id: str
) -> int:
    body = jam_events.encode(new_event(RECORDED, conversation_id))
    answer = requests.post(
        f"{relay.url}/workflows/{workflow_id}",
        data=body,
        headers=jam_events.signed_headers(secret, body),
        timeout=timeout,
    )
    return answer.status_code


def test_the_local_relay_sets_threads_as_the_deploy_does() -> None:
    env = relay_env({SLOW: [RECORDED]}, {}, {}, threads=7)
    assert env["THREADS"] == "7"
    assert relay_env({SLOW: [RECORDED]}, {}, {})["THREADS"] == str(CONCURRENCY)


def test_slow_forwards_filling_the_concurrency_do_not_delay_another_workflow(
    gated: tuple[LocalRelay, FakeIntercom, str],
) -> None:
    relay, intercom, secret = gated
    slow_count = CONCURRENCY - 1  # with the other event: every request Cloud Run may send
    slow_ids = [new_conversation_id() for _ in range(slow_count)]
    for conversation_id in slow_ids:
        intercom.script(conversation_id, HANG)  # held until released
    with ThreadPoolExecutor(max_workers=slow_count) as pool:
        slow = [
            pool.submit(_post, relay, SLOW, secret, HTTP_TIMEOUT + 10, conversation_id)
            for conversation_id in slow_ids
        ]
        all_held = _wait_for(lambda: intercom.post_count == slow_count, 10)
        other_status = _post(relay, OTHER, secret, 5, new_conversation_id()) if all_held else None
        still_held = not intercom.release.is_set() and intercom.post_count == slow_count + 1
        intercom.release.set()
        slow_statuses = [future.result() for future in slow]

    assert all_held, "the slow forwards never all reached Intercom: too few server threads"
    assert other_status == 200
    assert still_held  # answered while every slow forward was still held at Intercom
    assert slow_statuses == [200] * slow_count

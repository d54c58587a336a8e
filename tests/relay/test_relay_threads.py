"""The server's threads follow the deployed request concurrency (THREADS, as the deploy sets it).

Cloud Run sends an instance at most `concurrency` requests at once (16 by default). With
THREADS equal to it, slow forwards for one workflow filling every other slot must not make an
event for another workflow wait. Ordering, not timing: the slow forwards are held open by the
stand-in until the other event has been answered.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from relay_function.naming import RECORDED
from relayctl import jam_events
from relayctl.local_relay import LocalRelay, relay_env
from tests.relay.harness import HTTP_TIMEOUT, new_event

CONCURRENCY = 16  # infra.settings.DEFAULT_CONCURRENCY, deployed as THREADS
SLOW, OTHER = "slow-workflow", "other-workflow"
HOLD_LIMIT_SECONDS = 12.0  # a held forward is released by the test, or after this at worst


class _Gate:
    """Holds every forward to the slow workflow's URL until released; answers others at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._held = 0
        self.all_held = threading.Event()
        self.expected = 0
        self.released_early = False

    def __call__(self, request: Request) -> Response:
        if request.path.startswith(f"/hooks/{SLOW}/"):
            with self._lock:
                self._held += 1
                if self._held == self.expected:
                    self.all_held.set()
            if not self.release.wait(HOLD_LIMIT_SECONDS):
                self.released_early = True
        return Response("{}", status=200, mimetype="application/json")


@pytest.fixture
def gated() -> Iterator[tuple[LocalRelay, _Gate, str]]:
    gate = _Gate()
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(re.compile(r"/hooks/.*"), method="POST").respond_with_handler(gate)
    server.start()
    secret = jam_events.new_signing_secret()
    env = relay_env(
        {SLOW: [RECORDED], OTHER: [RECORDED]},
        {wid: f"http://127.0.0.1:{server.port}/hooks/{wid}" for wid in (SLOW, OTHER)},
        {SLOW: secret, OTHER: secret},
        threads=CONCURRENCY,
    )
    env["RELAY_FORWARD_TIMEOUT_SECONDS"] = str(HOLD_LIMIT_SECONDS + 2)
    relay = LocalRelay(env).start()
    try:
        yield relay, gate, secret
    finally:
        gate.release.set()
        relay.stop()
        server.clear()
        server.stop()


def _post(relay: LocalRelay, workflow_id: str, secret: str, timeout: float) -> int:
    body = jam_events.encode(new_event())
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
    gated: tuple[LocalRelay, _Gate, str],
) -> None:
    relay, gate, secret = gated
    slow_count = CONCURRENCY - 1  # with the other event: every request Cloud Run may send
    gate.expected = slow_count
    with ThreadPoolExecutor(max_workers=slow_count) as pool:
        slow = [
            pool.submit(_post, relay, SLOW, secret, HTTP_TIMEOUT + 10) for _ in range(slow_count)
        ]
        all_held = gate.all_held.wait(10)
        other_status = _post(relay, OTHER, secret, 5) if all_held else None
        still_held = not gate.release.is_set() and not gate.released_early
        gate.release.set()
        slow_statuses = [future.result() for future in slow]

    assert all_held, "the slow forwards never all reached Intercom: too few server threads"
    assert other_status == 200
    assert still_held  # answered while every slow forward was still in flight
    assert slow_statuses == [200] * slow_count

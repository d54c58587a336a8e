"""Concurrent signed deliveries through the running relay: every event delivered exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from relay_function.naming import RECORDED
from relayctl import jam_events
from tests.relay.harness import HTTP_TIMEOUT, MAIN, SECRET, Suite, new_conversation_id, new_event

CONCURRENCY = 16
_sessions = threading.local()


def _deliver(url: str, conversation_id: str) -> int:
    session = getattr(_sessions, "session", None)
    if session is None:
        session = _sessions.session = requests.Session()
    body = jam_events.encode(new_event(RECORDED, conversation_id))
    answer = session.post(
        url, data=body, headers=jam_events.signed_headers(SECRET, body), timeout=HTTP_TIMEOUT
    )
    return answer.status_code


@pytest.mark.parametrize("count", [300, 1000])
def test_concurrent_events_are_each_delivered_exactly_once(suite: Suite, count: int) -> None:
    conversation_ids = [new_conversation_id() for _ in range(count)]
    errors_before = sum(1 for r in suite.relay.log_records() if r.get("severity") == "ERROR")

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        statuses = list(pool.map(lambda c: _deliver(suite.url(MAIN), c), conversation_ids))

    assert Counter(statuses) == {200: count}
    wanted = set(conversation_ids)
    delivered = Counter(
        r.path.rsplit("/", 1)[-1]
        for r in suite.intercom.received()
        if r.path.rsplit("/", 1)[-1] in wanted
    )
    assert set(delivered) == wanted
    assert set(delivered.values()) == {1}
    errors_after = sum(1 for r in suite.relay.log_records() if r.get("severity") == "ERROR")
    assert errors_after == errors_before

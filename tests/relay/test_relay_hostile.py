"""Hostile clients over real HTTP: refused bodies are never buffered, silent clients cost nothing.

Each test talks raw HTTP/1.1 over a loopback socket, so it controls exactly what is sent and
when, and reads the relay worker's resident memory from /proc while it sends.
"""

from __future__ import annotations

import contextlib
import json
import select
from collections.abc import Iterator
from pathlib import Path

import pytest

from relayctl.local_relay import LocalRelay
from tests.relay.harness import (
    MAIN,
    NO_SECRET,
    SOCKET_TIMEOUT,
    Answer,
    Suite,
    connect,
    head,
    new_event,
    read_answer,
)

MIB = 1 << 20
BIG = 256 * MIB  # "hundreds of MiB", still about a second each over loopback
REJECTED_SIZE = 32 * MIB  # the most Google's front end passes on over HTTP/1
MEMORY_SLACK = 8 * MIB  # worker growth allowed while a refused body streams in


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _worker(relay: LocalRelay) -> int:
    workers = relay.worker_pids()
    assert len(workers) == 1, f"expected one server worker, found {workers}"
    return workers[0]


def _chunks(total: int, chunked: bool) -> Iterator[bytes]:
    block = b"x" * MIB
    for _ in range(total // MIB):
        yield b"%x\r\n%s\r\n" % (len(block), block) if chunked else block
    if chunked:
        yield b"0\r\n\r\n"


def _send_watching(
    relay: LocalRelay, head: bytes, total: int, *, chunked: bool
) -> tuple[Answer, int, int]:
    """Send ``head`` and ``total`` body bytes, reading the answer whenever it comes.

    Returns the answer, how many body bytes had been sent when it was complete, and the worker's
    peak resident-memory growth over its size before the request.
    """
    worker = _worker(relay)
    idle = _rss(worker)
    peak = idle
    answer = Answer()
    sent_when_answered = -1
    sent = 0
    with connect(relay) as sock:
        sock.sendall(head)
        for number, chunk in enumerate(_chunks(total, chunked)):
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                # Once answered, the relay discards the refused rest for at most its request
                # read deadline (relay_function/serving.py), then closes: nothing to measure.
                if sent_when_answered < 0:
                    raise
                break
            sent += len(chunk)
            while sent_when_answered < 0 and select.select([sock], [], [], 0)[0]:
                answer.feed(sock)
                if answer.complete:
                    sent_when_answered = sent
            if number % 8 == 0:
                peak = max(peak, _rss(worker))
        peak = max(peak, _rss(worker))
        if sent_when_answered < 0:  # not answered while sending: the test fails below
            sock.settimeout(2)
            # A late answer, if any, still fails the caller's check on when it came.
            with contextlib.suppress(OSError):
                answer = read_answer(sock)
            sent_when_answered = sent
    return answer, sent_when_answered, peak - idle


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_oversized_body_is_answered_413_at_once_without_growing_the_worker(
    suite: Suite, chunked: bool
) -> None:
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BIG}"
    request = head("POST", f"/workflows/{MAIN}", framing, "Content-Type: application/json")

    answer, sent_when_answered, growth = _send_watching(suite.relay, request, BIG, chunked=chunked)

    assert answer.status == 413
    assert answer.document["outcome"] == "too_large"
    assert sent_when_answered < BIG // 4, "the 413 came only after most of the body was sent"
    assert growth < MEMORY_SLACK, f"worker grew {growth / MIB:.1f} MiB"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/workflows/no-such-workflow", 404),
        ("PUT", f"/workflows/{MAIN}", 405),
        ("POST", f"/workflows/{NO_SECRET}", 503),
        ("POST", "/", 404),
    ],
    ids=["unknown-route", "method", "not-configured", "root"],
)
def test_a_body_refused_before_reading_is_never_buffered(
    suite: Suite, method: str, path: str, status: int
) -> None:
    request = head(method, path, f"Content-Length: {REJECTED_SIZE}")

    answer, sent_when_answered, growth = _send_watching(
        suite.relay, request, REJECTED_SIZE, chunked=False
    )

    assert answer.status == status
    assert sent_when_answered < REJECTED_SIZE // 4
    assert growth < MEMORY_SLACK, f"worker grew {growth / MIB:.1f} MiB"


def test_the_pinned_server_discards_an_unread_body_and_keeps_the_connection(suite: Suite) -> None:
    """gunicorn 23 reads and drops what the relay left unread, then serves the next request."""
    size = 8 * MIB
    with connect(suite.relay) as sock:
        sock.sendall(head("POST", "/workflows/nope", f"Content-Length: {size}"))
        first = read_answer(sock)  # answered before any body byte was sent
        for chunk in _chunks(size, chunked=False):
            sock.sendall(chunk)
        sock.sendall(head("GET", "/health"))
        second = read_answer(sock)

    assert first.status == 404
    assert second.status == 200
    assert second.document["status"] == "ok"


def test_a_declared_huge_body_that_never_comes_gets_413_and_holds_no_thread(suite: Suite) -> None:
    """More silent clients than the server has threads: each gets its 413, then events flow."""
    silent = [connect(suite.relay) for _ in range(20)]  # the suite's relay has THREADS=16
    try:
        answers = []
        for sock in silent:
            sock.sendall(head("POST", f"/workflows/{MAIN}", "Content-Length: 1000000000000"))
            answers.append(read_answer(sock).status)

        delivered = suite.send_event()

        closed = []
        for sock in silent:  # the server gives up on each after its keep-alive timeout
            sock.settimeout(SOCKET_TIMEOUT)
            try:
                closed.append(sock.recv(1) == b"")
            except ConnectionResetError:
                closed.append(True)
    finally:
        for sock in silent:
            sock.close()

    assert answers == [413] * len(silent)
    assert delivered.status_code == 200
    assert delivered.json()["outcome"] == "delivered"
    assert all(closed)


def _nested(depth: int) -> bytes:
    """A Jam event whose JSON nests exactly ``depth`` levels (the event object is level 1)."""
    event = new_event()
    inner = "[" * (depth - 2) + "]" * (depth - 2)  # data is level 2
    text = json.dumps(event, separators=(",", ":"))
    return text.replace('"data":{', f'"data":{{"deep":{inner},', 1).encode()


@pytest.mark.parametrize("depth", [65, 100, 974, 975, 976, 5000, 30000])
def test_a_signed_body_nested_too_deep_is_a_documented_400(suite: Suite, depth: int) -> None:
    body = _nested(depth)
    assert len(body) <= 64 * 1024  # within the size limit: only the depth is wrong

    answer = suite.post(MAIN, body)

    assert answer.status_code == 400
    assert answer.json() == {
        "outcome": "bad_request",
        "message": "body nests JSON deeper than 64 levels",
    }


def test_a_signed_body_nested_to_the_limit_is_delivered(suite: Suite) -> None:
    answer = suite.post(MAIN, _nested(64))

    assert answer.status_code == 200
    assert answer.json()["outcome"] == "delivered"


def test_the_nesting_helper_builds_what_it_says() -> None:
    def depth(value: object) -> int:
        if isinstance(value, dict):
            return 1 + max((depth(v) for v in value.values()), default=0)
        if isinstance(value, list):
            return 1 + max((depth(v) for v in value), default=0)
        return 0

    assert depth(json.loads(_nested(64))) == 64
    assert depth(json.loads(_nested(65))) == 65


def test_a_malformed_request_line_or_header_never_gets_a_500(suite: Suite) -> None:
    requests = [
        b"POST /workflows/" + MAIN.encode() + b" HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        b"POST /workflows/%zz HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST /workflows/" + MAIN.encode() + b" HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\n",
    ]
    statuses = []
    for raw in requests:
        with connect(suite.relay) as sock:
            sock.sendall(raw)
            try:
                statuses.append(read_answer(sock).status)
            except (ConnectionError, TimeoutError):
                statuses.append(0)  # closed without an answer: not a 500 either

    assert all(status != 500 for status in statuses), statuses

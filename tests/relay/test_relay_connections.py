"""Client connections over real HTTP: none holds the server for good (relay_function/serving.py).

A relay of its own (THREADS=16, as deployed), so the tests that hold its threads for a few
seconds delay no other test. Each test talks raw HTTP/1.1 over loopback sockets; every socket
operation is bounded (harness.SOCKET_TIMEOUT), and so is every request (HTTP_TIMEOUT).

What gunicorn 23.0.0 did before each change, measured: docs/relay.md, "Edge cases (issue 20)".
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import gunicorn.config  # type: ignore[import-untyped]
import pytest
import requests

from relay_function.naming import RECORDED
from relayctl import jam_events
from relayctl.fake_intercom import FakeIntercom
from relayctl.local_relay import LocalRelay, relay_env
from tests.relay.harness import (
    HTTP_TIMEOUT,
    MAIN,
    SECRET,
    closed_by_peer,
    connect,
    head,
    new_event,
    read_answer,
)

THREADS = 16  # infra.settings.DEFAULT_CONCURRENCY, deployed as THREADS
# gunicorn's default, which functions-framework does not change: the worker stops polling at it.
WORKER_CONNECTIONS = gunicorn.config.WorkerConnections.default
MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[LocalRelay, FakeIntercom]]:
    intercom = FakeIntercom().start()
    env = relay_env({MAIN: [RECORDED]}, {MAIN: intercom.url_for(MAIN)}, {MAIN: SECRET})
    relay = LocalRelay(env).start()
    try:
        yield relay, intercom
    finally:
        relay.stop()
        intercom.stop()


@contextlib.contextmanager
def held(sockets: list[socket.socket]) -> Iterator[list[socket.socket]]:
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def signed_event(relay: LocalRelay) -> requests.Response:
    body = jam_events.encode(new_event())
    return requests.post(
        f"{relay.url}/workflows/{MAIN}",
        data=body,
        headers=jam_events.signed_headers(SECRET, body),
        timeout=HTTP_TIMEOUT,
    )


def signed_request(*extra_headers: str, body: bytes | None = None, chunked: bool = False) -> bytes:
    """A signed event as raw bytes: its head (with ``extra_headers``) and its body."""
    event = body if body is not None else jam_events.encode(new_event())
    signing = [f"{k}: {v}" for k, v in jam_events.signed_headers(SECRET, event).items()]
    if chunked:
        framing = [*extra_headers]
        payload = b"%x\r\n%s\r\n0\r\n\r\n" % (len(event), event)
    else:
        framing = [f"Content-Length: {len(event)}", *extra_headers]
        payload = event
    return head("POST", f"/workflows/{MAIN}", *signing, *framing) + payload


def test_the_default_worker_connections_is_the_one_measured() -> None:
    assert WORKER_CONNECTIONS == 1000


def test_as_many_silent_connections_as_the_worker_takes_wedge_nothing(
    served: tuple[LocalRelay, FakeIntercom],
) -> None:
    """1,000 connections that never send a byte: gunicorn 23.0.0 stopped polling at that many
    and never answered again, even after they closed. Each is now closed as an idle kept-alive
    connection is, and the relay answers meanwhile."""
    relay, _ = served
    with held([connect(relay) for _ in range(WORKER_CONNECTIONS)]) as silent:
        health = requests.get(f"{relay.url}/health", timeout=HTTP_TIMEOUT)
        closed = [closed_by_peer(sock) for sock in silent]

    assert health.status_code == 200
    assert closed == [True] * WORKER_CONNECTIONS
    assert signed_event(relay).json()["outcome"] == "delivered"


def test_connections_stopped_mid_head_hold_no_thread_for_good(
    served: tuple[LocalRelay, FakeIntercom],
) -> None:
    """As many half-sent request heads as there are threads, then silence: each is closed at
    the request's read deadline, and an event sent meanwhile is delivered."""
    relay, _ = served
    with held([connect(relay) for _ in range(THREADS)]) as stalled:
        for sock in stalled:
            sock.sendall(b"POST /workflows/" + MAIN.encode() + b" HTTP/1.1\r\nHost: a\r\n")
        delivered = signed_event(relay)
        closed = [closed_by_peer(sock) for sock in stalled]

    assert (delivered.status_code, delivered.json()["outcome"]) == (200, "delivered")
    assert closed == [True] * THREADS


def test_an_answered_413_left_idle_holds_no_thread_for_good(
    served: tuple[LocalRelay, FakeIntercom],
) -> None:
    """A complete over-limit request, answered 413 before its body was read, then silence (the
    issue's example): the unread body is discarded, the connection closed at the deadline."""
    relay, _ = served
    body = b"x" * (MAX_BODY + 1)
    with held([connect(relay) for _ in range(THREADS)]) as idle:
        statuses = []
        for sock in idle:
            sock.sendall(head("POST", f"/workflows/{MAIN}", f"Content-Length: {len(body)}") + body)
            statuses.append(read_answer(sock).status)
        delivered = signed_event(relay)
        closed = [closed_by_peer(sock) for sock in idle]

    assert statuses == [413] * THREADS
    assert (delivered.status_code, delivered.json()["outcome"]) == (200, "delivered")
    assert closed == [True] * THREADS


def test_a_body_that_stops_short_is_a_400_at_the_read_deadline(
    served: tuple[LocalRelay, FakeIntercom],
) -> None:
    relay, intercom = served
    posts = intercom.post_count
    event = jam_events.encode(new_event())
    signing = [f"{k}: {v}" for k, v in jam_events.signed_headers(SECRET, event).items()]
    request = head("POST", f"/workflows/{MAIN}", *signing, f"Content-Length: {len(event)}")

    with connect(relay) as sock:
        sock.sendall(request + event[:10])  # then nothing
        answer = read_answer(sock)

    assert answer.status == 400
    assert answer.document == {
        "outcome": "bad_request",
        "message": "body could not be read (broken framing, or ended early)",
    }
    assert intercom.post_count == posts


def test_pipelined_requests_are_each_answered_in_order(
    served: tuple[LocalRelay, FakeIntercom],
) -> None:
    """Several requests in one write: gunicorn 23.0.0 answered the first and dropped the rest."""
    relay, intercom = served
    posts = intercom.post_count
    pipelined = (
        signed_request()
        + head("GET", "/health")
        + head("POST", "/workflows/no-such-workflow", "Content-Length: 0")
        + signed_request()
    )
    with connect(relay) as sock:
        sock.sendall(pipelined)
        answers = [read_answer(sock)]
        for _ in range(3):
            answers.append(read_answer(sock, answers[-1].rest()))

    assert [a.status for a in answers] == [200, 200, 404, 200]
    assert [a.document.get("outcome") for a in answers] == [
        "delivered",
        None,
        "unknown_route",
        "delivered",
    ]
    assert intercom.post_count == posts + 2


DISGUISES = [b"chunked\x0b", b"chunked\x0c", b"chunked\xa0", b"chunked\x1c", b"\x85chunked"]


def _chunked_request_with(coding: bytes) -> bytes:
    """A signed chunked delivery that also carries ``Transfer-Encoding: <coding>``."""
    return signed_request(chunked=True).replace(
        b"\r\n\r\n", b"\r\nTransfer-Encoding: " + coding + b"\r\n\r\n", 1
    )


@pytest.mark.parametrize("coding", DISGUISES, ids=lambda c: repr(c)[2:-1])
def test_a_disguised_chunked_coding_is_refused(
    served: tuple[LocalRelay, FakeIntercom], coding: bytes
) -> None:
    """gunicorn strips every character Python calls whitespace and reads these as chunked."""
    relay, intercom = served
    posts = intercom.post_count
    request = _chunked_request_with(coding)
    with connect(relay) as sock:
        sock.sendall(request)
        answer = read_answer(sock)

    assert answer.status == 400
    assert answer.document == {
        "outcome": "bad_request",
        "message": "Transfer-Encoding is not a plain list of codings",
    }
    assert intercom.post_count == posts


@pytest.mark.parametrize("coding", DISGUISES[:2], ids=lambda c: repr(c)[2:-1])
def test_the_connection_of_a_disguised_coding_is_closed_after_its_answer(
    served: tuple[LocalRelay, FakeIntercom], coding: bytes
) -> None:
    """Where its body ended is in doubt, so nothing more is read from that connection."""
    relay, _ = served
    request = _chunked_request_with(coding)
    with connect(relay) as sock:
        sock.sendall(request)
        first = read_answer(sock)
        sock.sendall(head("GET", "/health"))
        closed = first.rest() == b"" and closed_by_peer(sock)

    assert first.status == 400
    assert closed


@pytest.mark.parametrize("coding", [b"chunked", b" chunked\t", b"CHUNKED"])
def test_a_plain_chunked_coding_is_read_and_keeps_the_connection(
    served: tuple[LocalRelay, FakeIntercom], coding: bytes
) -> None:
    relay, _ = served
    request = _chunked_request_with(coding)
    with connect(relay) as sock:
        sock.sendall(request)
        first = read_answer(sock)
        sock.sendall(head("GET", "/health"))
        second = read_answer(sock, first.rest())

    assert (first.status, first.document["outcome"]) == (200, "delivered")
    assert second.status == 200

"""serving.py in-process: the read deadline's arithmetic, the coding-list rule, the install.

The worker's behaviour over real connections is in test_relay_connections.py; these pin the
exact edges with a fake clock and socket (no timing measured).
"""

from __future__ import annotations

import selectors
import sys
import threading
from typing import Any

import gunicorn  # type: ignore[import-untyped]
import pytest

# relay_function/ is on sys.path (conftest), as in the cloud; mypy checks that folder on its own.
import serving  # type: ignore[import-not-found]
from gunicorn.workers import gthread  # type: ignore[import-untyped]

from tests.relay.test_relay_pins import pins


class FakeSocket:
    """Records what the reads asked of the socket; answers from a script."""

    def __init__(self, *answers: bytes | BaseException) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, object]] = []

    def settimeout(self, seconds: float) -> None:
        self.calls.append(("settimeout", seconds))

    def recv(self, size: int) -> bytes:
        self.calls.append(("recv", size))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def reads(sock: FakeSocket, clock: Clock, seconds: float = 5.0) -> Any:
    return serving.RequestReads(sock, 8192, seconds, clock)


def test_the_default_read_deadline_is_five_seconds() -> None:
    assert serving.REQUEST_READ_SECONDS == 5.0
    clock = Clock(100.0)
    assert serving.RequestReads(FakeSocket(), 8192, clock=clock).deadline == 105.0


def test_a_read_waits_for_exactly_the_time_left() -> None:
    sock, clock = FakeSocket(b"abc"), Clock(100.0)
    chunked = reads(sock, clock, 5.0)
    clock.now = 101.5

    assert chunked.chunk() == b"abc"
    assert sock.calls == [("settimeout", 3.5), ("recv", 8192)]


def test_each_read_gets_less_as_time_passes() -> None:
    """A trickle cannot stretch the request: the budget is for all its reads together."""
    sock, clock = FakeSocket(b"a", b"b"), Clock(0.0)
    chunked = reads(sock, clock, 5.0)
    clock.now = 1.0
    chunked.chunk()
    clock.now = 4.75
    chunked.chunk()

    assert [c for c in sock.calls if c[0] == "settimeout"] == [
        ("settimeout", 4.0),
        ("settimeout", 0.25),
    ]


def test_at_the_deadline_the_connection_reads_as_closed_without_touching_the_socket() -> None:
    """settimeout(0) would make the socket non-blocking (BlockingIOError), not time out."""
    sock, clock = FakeSocket(b"never read"), Clock(10.0)
    chunked = reads(sock, clock, 5.0)
    clock.now = 15.0

    assert chunked.chunk() == b""
    assert sock.calls == []


def test_just_before_the_deadline_a_read_is_still_made() -> None:
    sock, clock = FakeSocket(b"x"), Clock(10.0)
    chunked = reads(sock, clock, 5.0)
    clock.now = 14.75

    assert chunked.chunk() == b"x"
    assert sock.calls == [("settimeout", 0.25), ("recv", 8192)]


def test_a_read_that_times_out_reads_as_closed() -> None:
    sock = FakeSocket(TimeoutError("timed out"))

    assert reads(sock, Clock(0.0)).chunk() == b""


def test_a_reset_is_not_hidden() -> None:
    """gunicorn has its own quiet path for a reset; only the deadline is turned into an end."""
    with pytest.raises(ConnectionResetError):
        reads(FakeSocket(ConnectionResetError()), Clock(0.0)).chunk()


def test_restart_gives_the_next_request_a_whole_deadline() -> None:
    clock = Clock(0.0)
    chunked = reads(FakeSocket(), clock, 5.0)
    clock.now = 4.0

    chunked.restart()

    assert chunked.deadline == 9.0


@pytest.mark.parametrize(
    "value",
    ["chunked", "CHUNKED", " chunked", "chunked\t", "gzip, chunked", "gzip,chunked", "a , b"],
)
def test_a_plain_list_of_codings_is_not_disguised(value: str) -> None:
    assert serving.disguised_transfer_encoding(value) is False


@pytest.mark.parametrize(
    "value",
    [
        "chunked\x0b",
        "chunked\x0c",
        "chunked\xa0",
        "chunked\x1c",
        "\x85chunked",
        "chunked\r",
        "chun ked",
        "chunked;q=1",
        "",
        " ",
        ",chunked",
        "chunked,",
        "gzip,,chunked",
        "chunkéd",
    ],
)
def test_anything_else_is_disguised(value: str) -> None:
    assert serving.disguised_transfer_encoding(value) is True


def test_the_worker_is_built_for_the_pinned_gunicorn() -> None:
    """Moving the gunicorn pin means re-reading the overrides (they follow 23.0.0's code)."""
    assert serving.PINNED_GUNICORN == pins()["gunicorn"] == gunicorn.__version__


def test_install_puts_the_relays_worker_where_gunicorn_looks_up_gthread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = gthread.ThreadWorker
    while getattr(original, "relay_worker", False):  # main, imported in-process, installed it
        original = original.__mro__[1]
    monkeypatch.setattr(gthread, "ThreadWorker", original)

    assert serving.install() is None
    installed = gthread.ThreadWorker
    assert installed is not original
    assert issubclass(installed, original)
    assert installed.relay_worker is True
    assert serving.install() is None
    assert gthread.ThreadWorker is installed  # installing twice keeps the one worker


def test_another_gunicorn_is_left_alone_and_said(monkeypatch: pytest.MonkeyPatch) -> None:
    before = gthread.ThreadWorker
    monkeypatch.setattr(gunicorn, "__version__", "27.0.1")

    problem = serving.install()

    assert problem == (
        "gunicorn 27.0.1 is installed, not 23.0.0: the server keeps its own handling of "
        "silent, idle and pipelined connections; install the pinned "
        "relay_function/requirements.txt"
    )
    assert gthread.ThreadWorker is before


def test_without_gunicorn_there_is_nothing_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gunicorn", None)  # import gunicorn raises ImportError

    assert serving.install() is None


# The worker's three overrides, on a stand-in for gunicorn's ThreadWorker (the real one needs a
# running arbiter); test_relay_connections.py runs them on the real worker over HTTP.


class FakePoller:
    def __init__(self) -> None:
        self.registered: dict[object, tuple[int, Any]] = {}

    def register(self, sock: object, events: int, callback: Any) -> None:
        self.registered[sock] = (events, callback)

    def unregister(self, sock: object) -> None:
        del self.registered[sock]


class FakeConnection:
    def __init__(self, cfg: object, sock: object, client: object, server: object) -> None:
        self.cfg, self.sock, self.client, self.server = cfg, sock, client, server
        self.timeout_set = False

    def set_timeout(self) -> None:
        self.timeout_set = True


class FakeListener:
    def __init__(self, result: tuple[object, object] | BaseException) -> None:
        self.result = result

    def accept(self) -> tuple[object, object]:
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


class FakeThreadWorker:
    """The attributes and calls of gunicorn 23.0.0's ThreadWorker the overrides use."""

    def __init__(self, *handled: tuple[bool, Any]) -> None:
        self.cfg = object()
        self.nr_conns = 0
        self._lock = threading.RLock()
        self._keep: list[Any] = []
        self.poller = FakePoller()
        self.enqueued: list[Any] = []
        self.handled = list(handled)

    def enqueue_req(self, conn: Any) -> None:
        self.enqueued.append(conn)

    def on_client_socket_readable(self, conn: Any, client: Any) -> None:
        raise AssertionError("the override must be used")

    def handle(self, conn: Any) -> tuple[bool, Any]:
        keepalive, buffered = self.handled.pop(0)
        conn.parser.unreader.buf = _Buffer(buffered)
        return keepalive, conn


class _Buffer:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def getvalue(self) -> bytes:
        return self.data


class _Unreader:
    mxchunk = 8192
    buf = _Buffer(b"")
    chunk: Any = None  # gunicorn's SocketUnreader.chunk; the worker replaces it


class _Request:
    def __init__(self, *headers: tuple[str, str]) -> None:
        self.headers = list(headers)


class _Parser:
    def __init__(self, request: _Request | None) -> None:
        self.unreader = _Unreader()
        self.mesg = request


class _ServedConnection:
    def __init__(self, request: _Request | None = None) -> None:
        self.sock = FakeSocket()
        self.parser = _Parser(request or _Request(("HOST", "a")))


def worker(*handled: tuple[bool, Any]) -> Any:
    return serving._worker_class(FakeThreadWorker, FakeConnection)(*handled)


def test_a_new_connection_is_queued_for_its_idle_timeout_and_polled() -> None:
    relay_worker = worker()
    sock, client = object(), ("127.0.0.1", 5000)

    relay_worker.accept(("127.0.0.1", 8080), FakeListener((sock, client)))

    [conn] = relay_worker._keep
    assert (conn.sock, conn.client, conn.server) == (sock, client, ("127.0.0.1", 8080))
    assert conn.timeout_set is True
    assert relay_worker.nr_conns == 1
    events, callback = relay_worker.poller.registered[sock]
    assert events == selectors.EVENT_READ
    callback(sock)  # readable: handed to a thread
    assert relay_worker.enqueued == [conn]


def test_each_accepted_connection_is_counted_and_queued() -> None:
    relay_worker = worker()
    for port in (5000, 5001):
        relay_worker.accept(("127.0.0.1", 8080), FakeListener((object(), ("127.0.0.1", port))))

    assert relay_worker.nr_conns == 2
    assert [conn.client[1] for conn in relay_worker._keep] == [5000, 5001]


@pytest.mark.parametrize("error", [BlockingIOError(), InterruptedError(), ConnectionAbortedError()])
def test_an_accept_that_finds_no_connection_changes_nothing(error: OSError) -> None:
    relay_worker = worker()

    relay_worker.accept(("127.0.0.1", 8080), FakeListener(error))

    assert (relay_worker.nr_conns, relay_worker._keep, relay_worker.poller.registered) == (
        0,
        [],
        {},
    )


def test_any_other_accept_error_is_raised() -> None:
    with pytest.raises(OSError, match="too many open files"):
        worker().accept(("127.0.0.1", 8080), FakeListener(OSError(24, "too many open files")))


def test_a_readable_connection_leaves_the_idle_queue_for_a_thread() -> None:
    relay_worker = worker()
    conn, sock = object(), object()
    relay_worker._keep.append(conn)
    relay_worker.poller.register(sock, selectors.EVENT_READ, None)

    relay_worker.on_client_socket_readable(conn, sock)

    assert (relay_worker._keep, relay_worker.poller.registered) == ([], {})
    assert relay_worker.enqueued == [conn]


def test_a_connection_closed_as_idle_meanwhile_is_not_served() -> None:
    relay_worker = worker()
    sock = object()
    relay_worker.poller.register(sock, selectors.EVENT_READ, None)

    relay_worker.on_client_socket_readable(object(), sock)

    assert (relay_worker.poller.registered, relay_worker.enqueued) == ({}, [])


def test_handle_reads_through_the_request_deadline() -> None:
    relay_worker = worker((True, b""))
    conn = _ServedConnection()

    assert relay_worker.handle(conn) == (True, conn)
    chunk = conn.parser.unreader.chunk
    assert isinstance(chunk.__self__, serving.RequestReads)
    assert chunk.__self__._sock is conn.sock
    assert chunk.__self__._max_chunk == 8192


@pytest.mark.parametrize("keepalive", [True, False])
def test_a_served_request_with_nothing_buffered_ends_the_turn(keepalive: bool) -> None:
    relay_worker = worker((keepalive, b""), (True, b""))
    conn = _ServedConnection()

    assert relay_worker.handle(conn) == (keepalive, conn)
    assert len(relay_worker.handled) == 1  # the second was not asked for


def test_a_buffered_pipelined_request_is_served_at_once_on_a_new_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    restarts: list[float] = []
    monkeypatch.setattr(serving.RequestReads, "restart", lambda self: restarts.append(1.0))
    relay_worker = worker((True, b"GET /health HTTP/1.1\r\n"), (True, b"GET /"), (True, b""))
    conn = _ServedConnection()

    assert relay_worker.handle(conn) == (True, conn)
    assert relay_worker.handled == []  # all three served in this turn
    assert len(restarts) == 2


def test_bytes_buffered_after_a_closing_answer_are_not_served() -> None:
    relay_worker = worker((False, b"GET /health HTTP/1.1\r\n"), (True, b""))
    conn = _ServedConnection()

    assert relay_worker.handle(conn) == (False, conn)
    assert len(relay_worker.handled) == 1


@pytest.mark.parametrize(
    ("headers", "keepalive"),
    [
        ((("TRANSFER-ENCODING", "chunked\x0b"),), False),
        ((("TRANSFER-ENCODING", "chunked"), ("TRANSFER-ENCODING", "chunked\xa0")), False),
        ((("TRANSFER-ENCODING", "chunked"),), True),
        ((("X-TRANSFER-ENCODING", "chunked\x0b"),), True),
        ((("CONTENT-TYPE", "chunked\x0b"),), True),
    ],
)
def test_a_request_with_a_disguised_coding_closes_its_connection(
    headers: tuple[tuple[str, str], ...], keepalive: bool
) -> None:
    relay_worker = worker((True, b"GET / HTTP/1.1\r\n"), (True, b""))
    conn = _ServedConnection(_Request(*headers))

    assert relay_worker.handle(conn) == (keepalive, conn)


def test_a_connection_without_a_parsed_request_is_not_disguised() -> None:
    relay_worker = worker((True, b""))
    conn = _ServedConnection()
    conn.parser.mesg = None

    assert relay_worker.handle(conn) == (True, conn)

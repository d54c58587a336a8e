"""serving.py in-process: the read deadline's arithmetic, the coding-list rule, the install.

The worker's behaviour over real connections is in test_relay_connections.py; these pin the
exact edges with a fake clock and socket (no timing measured).
"""

from __future__ import annotations

import sys
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

"""forwarding.py in-process, against the one stand-in: every forward is sent once, and the
answer read is the final one.

The relay suite covers the same over HTTP; these pin the rules themselves: nothing is resent
(Jam retries; bench/stale.py shows why a resend could deliver twice), and interim (1xx)
answers are skipped (RFC 9110, 15.2).
"""

from __future__ import annotations

import contextlib
import selectors
import shutil
import socket
import ssl
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# relay_function/ is on sys.path (conftest), as in the cloud; mypy checks that folder on its own.
import answers  # type: ignore[import-not-found]
import configuration  # type: ignore[import-not-found]
import events  # type: ignore[import-not-found]
import forwarding  # type: ignore[import-not-found]
import pytest
import urllib3

from relayctl.fake_intercom import FakeIntercom
from tests.relay.harness import SOCKET_TIMEOUT
from tests.relay.test_relay_https import _self_signed

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


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_returned_not_followed(forwarder: Any, status: int) -> None:
    """Intercom's webhook URL does not move; a 3xx goes back to the handler (a 502, so Jam
    retries), and the event is not sent where the answer points."""
    requests = 0

    def answer(conn: socket.socket, port: int) -> None:
        nonlocal requests
        while RawIntercom.read_request(conn):
            requests += 1
            conn.sendall(
                f"HTTP/1.1 {status} Moved\r\nLocation: http://127.0.0.1:{port}/elsewhere\r\n"
                "Content-Length: 0\r\n\r\n".encode()
            )

    with RawIntercom(answer=answer) as intercom:
        assert forwarder.post(intercom.target(), "/hooks/c1", b"{}", HEADERS, 5.0) == status

    assert requests == 1


# Raw loopback stand-ins: what is sent, and when, is exactly what each test says.


class RawIntercom:
    """Loopback listeners (one per port) whose connections a test scripts.

    ``answer(conn, port)`` serves one accepted connection on its own thread; by default every
    request on it gets an empty 200 and the connection is kept alive. ``connections`` counts
    the connections accepted per port.
    """

    def __init__(self, ports: int = 1, answer: Any = None) -> None:
        self.listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(ports)]
        self.ports = [listener.getsockname()[1] for listener in self.listeners]
        self.connections: Counter[int] = Counter()
        self._answer = answer or self.keep_answering
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._selector = selectors.DefaultSelector()
        for listener in self.listeners:
            self._selector.register(listener, selectors.EVENT_READ)
        threading.Thread(target=self._accept, daemon=True).start()

    def target(self, index: int = 0) -> Any:
        return configuration.parse_intercom_url(f"http://127.0.0.1:{self.ports[index]}/hooks")

    def _accept(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.1):
                listener = key.fileobj
                assert isinstance(listener, socket.socket)
                with contextlib.suppress(OSError):
                    conn, _ = listener.accept()
                    conn.settimeout(SOCKET_TIMEOUT)
                    port = listener.getsockname()[1]
                    with self._lock:
                        self.connections[port] += 1
                        self._open.append(conn)
                    threading.Thread(target=self._serve, args=(conn, port), daemon=True).start()

    def _serve(self, conn: socket.socket, port: int) -> None:
        with contextlib.suppress(OSError), conn:
            self._answer(conn, port)

    @staticmethod
    def read_request(conn: socket.socket) -> bool:
        """One whole request (head and Content-Length body); False when the client closed."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += conn.recv(65536)
        return True

    def keep_answering(self, conn: socket.socket, port: int) -> None:
        while self.read_request(conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            for sock in [*self.listeners, *self._open]:
                with contextlib.suppress(OSError):
                    sock.close()

    def __enter__(self) -> RawIntercom:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _head_then(rest: Any) -> Any:
    """An answer whose status line and headers come at once (a 200 of 10 body bytes), then
    ``rest(conn)``."""

    def answer(conn: socket.socket, port: int) -> None:
        RawIntercom.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
        rest(conn)

    return answer


def _stall(conn: socket.socket) -> None:
    time.sleep(3.0)  # one silence, longer than the 0.5 s forward deadline


def _drip(conn: socket.socket) -> None:
    for _ in range(10):
        time.sleep(0.2)  # each byte well within any per-read timeout; all ten past the deadline
        conn.sendall(b"x")


def _cut_short(conn: socket.socket) -> None:
    conn.sendall(b"abc")  # 3 of the 10 bytes, then the connection closes


@pytest.mark.parametrize("rest", [_stall, _drip], ids=["stalled", "dripped"])
def test_a_body_the_deadline_stops_is_a_timeout_not_a_delivery(forwarder: Any, rest: Any) -> None:
    """docs/relay.md: a read the deadline stopped answers 502 "did not answer in time", also
    after a 200's head has arrived (the body is Intercom's answer too)."""
    with (
        RawIntercom(answer=_head_then(rest)) as intercom,
        pytest.raises(answers.ForwardFailed) as failed,
    ):
        forwarder.post(intercom.target(), "/hooks/c1", b"{}", HEADERS, 0.5)

    assert str(failed.value) == "Intercom did not answer in time"
    assert failed.value.intercom_status is None


def test_a_body_cut_short_by_a_close_keeps_the_status(forwarder: Any) -> None:
    """Intercom answered 200 before its connection ended: only the body was lost."""
    with RawIntercom(answer=_head_then(_cut_short)) as intercom:
        assert forwarder.post(intercom.target(), "/hooks/c1", b"{}", HEADERS, 2.0) == 200


def test_a_connect_that_hangs_ends_at_the_forward_deadline(forwarder: Any) -> None:
    """A listener whose accept queue is full never completes a handshake (Linux drops the
    SYN): only the connect timeout ends the forward."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    filler = socket.create_connection(listener.getsockname(), timeout=SOCKET_TIMEOUT)
    target = configuration.parse_intercom_url(f"http://127.0.0.1:{listener.getsockname()[1]}/hooks")
    outcome: list[BaseException] = []

    def post() -> None:
        try:
            forwarder.post(target, "/hooks/c1", b"{}", HEADERS, 0.5)
        except BaseException as error:  # kept for the assertion
            outcome.append(error)

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    thread.join(SOCKET_TIMEOUT)  # bounds the test; without a connect timeout, ~2 minutes
    listener.close()  # a connect still hanging is refused from here on
    filler.close()

    assert not thread.is_alive()
    [error] = outcome
    assert isinstance(error, answers.ForwardFailed)
    assert str(error) == "Intercom did not answer in time"


@pytest.mark.parametrize(("timeout", "connect"), [(10.0, 3.0), (0.5, 0.5)])
def test_the_connect_gets_three_seconds_or_the_time_left_if_less(
    forwarder: Any, monkeypatch: pytest.MonkeyPatch, timeout: float, connect: float
) -> None:
    """RELAY_FORWARD_TIMEOUT_SECONDS bounds the whole forward; the connect, at most 3 s of it."""
    given: list[float] = []
    real = urllib3.util.connection.create_connection

    def create_connection(address: Any, timeout: Any = None, *args: Any, **kwargs: Any) -> Any:
        given.append(timeout)
        return real(address, timeout, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    with RawIntercom() as intercom:
        assert forwarder.post(intercom.target(), "/hooks/c1", b"{}", HEADERS, timeout) == 200

    [seconds] = given
    assert connect - 0.25 < seconds <= connect


def test_sixteen_idle_connections_per_host_are_kept(forwarder: Any) -> None:
    """17 forwards at once need 17 connections; 16 stay open for the next 17 (one new)."""
    together = threading.Barrier(17)

    def answer_together(conn: socket.socket, port: int) -> None:
        while RawIntercom.read_request(conn):
            together.wait(SOCKET_TIMEOUT)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    opened = []
    with RawIntercom(answer=answer_together) as intercom, ThreadPoolExecutor(17) as pool:
        target = intercom.target()
        for _ in range(2):
            statuses = pool.map(
                lambda n: forwarder.post(target, f"/hooks/c{n}", b"{}", HEADERS, 8.0), range(17)
            )
            assert list(statuses) == [200] * 17
            opened.append(intercom.connections[intercom.ports[0]])

    assert opened == [17, 18]


def _pools_kept(forwarder: Any, others: int) -> int:
    """Connections host 0 needed for two forwards with ``others`` other hosts between them."""
    with RawIntercom(ports=1 + others) as intercom:
        for index in (0, *range(1, 1 + others), 0):
            assert forwarder.post(intercom.target(index), "/hooks/c", b"{}", HEADERS, 2.0) == 200
        return intercom.connections[intercom.ports[0]]


def test_pools_for_64_hosts_are_kept() -> None:
    """Host 0 and 63 others: 64 pools, host 0's connection is still there for its next forward."""
    assert _pools_kept(forwarding.Forwarder(), 63) == 1


def test_the_65th_host_evicts_the_least_recently_used_pool() -> None:
    assert _pools_kept(forwarding.Forwarder(), 64) == 2


class OptionSocket:
    def __init__(self, error: OSError | None = None) -> None:
        self.options: list[tuple[int, int, int]] = []
        self.error = error

    def setsockopt(self, level: int, option: int, value: int) -> None:
        if self.error is not None:
            raise self.error
        self.options.append((level, option, value))


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="Linux only")
def test_quick_ack_turns_on_tcp_quickack() -> None:
    """tcp(7): TCP_QUICKACK, not sticky; set before each answer is read (bench/keepalive.py)."""
    sock = OptionSocket()

    forwarding._quick_ack(sock)

    assert sock.options == [(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)]


def test_quick_ack_without_a_socket_or_with_a_refusing_one_does_nothing() -> None:
    forwarding._quick_ack(None)
    forwarding._quick_ack(OptionSocket(OSError("not a TCP socket")))


def test_quick_ack_where_the_system_has_no_tcp_quickack_does_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """macOS and Windows have no TCP_QUICKACK; `make demo` runs the relay there too."""
    monkeypatch.delattr(forwarding.socket, "TCP_QUICKACK", raising=False)
    sock = OptionSocket()

    forwarding._quick_ack(sock)

    assert sock.options == []


# The deadline's arithmetic, on a fake clock.


def test_the_time_left_is_the_deadline_less_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forwarding.time, "monotonic", lambda: 99.75)
    forward = forwarding._Forward(100.0)

    assert forward.remaining() == 0.25
    assert forward.expired is False


@pytest.mark.parametrize("now", [100.0, 100.5])
def test_at_the_deadline_no_time_is_left(monkeypatch: pytest.MonkeyPatch, now: float) -> None:
    """At the edge too: a socket timeout of 0 would make the socket non-blocking."""
    monkeypatch.setattr(forwarding.time, "monotonic", lambda: now)
    forward = forwarding._Forward(100.0)

    with pytest.raises(TimeoutError):
        forward.remaining()
    assert forward.expired is True


# What is read of Intercom's answer.


def _stalled_after(sent: int) -> Any:
    """A 200 announcing 64 KiB + 1 bytes, of which ``sent`` come; the rest never does."""

    def answer(conn: socket.socket, port: int) -> None:
        RawIntercom.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 65537\r\n\r\n" + b"x" * sent)
        time.sleep(3.0)

    return answer


def test_64_kib_of_an_answer_are_read_and_no_more(forwarder: Any) -> None:
    """The relay reads at most 64 KiB of Intercom's answer: with those in, the status stands
    though the rest never comes."""
    with RawIntercom(answer=_stalled_after(65536)) as intercom:
        assert forwarder.post(intercom.target(), "/hooks/c1", b"{}", HEADERS, 0.5) == 200


def test_an_answer_short_of_64_kib_is_waited_for(forwarder: Any) -> None:
    """One byte short: the relay is still reading when the deadline stops it."""
    with (
        RawIntercom(answer=_stalled_after(65535)) as intercom,
        pytest.raises(answers.ForwardFailed, match=r"^Intercom did not answer in time$"),
    ):
        forwarder.post(intercom.target(), "/hooks/c1", b"{}", HEADERS, 0.5)


def test_a_connection_goes_back_to_the_pool_only_once_its_answer_is_read(forwarder: Any) -> None:
    """A forward meeting another one still reading its answer's body opens its own connection."""
    head_sent = threading.Event()

    def slow_body(conn: socket.socket, port: int) -> None:
        first = True
        while RawIntercom.read_request(conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
            if first:
                head_sent.set()
                time.sleep(1.0)  # the body, after the second forward has started
            first = False
            conn.sendall(b"ok")

    with RawIntercom(answer=slow_body) as intercom, ThreadPoolExecutor(1) as pool:
        target = intercom.target()
        slow = pool.submit(forwarder.post, target, "/hooks/c0", b"{}", HEADERS, 5.0)
        assert head_sent.wait(SOCKET_TIMEOUT)
        time.sleep(0.2)  # the first forward has its answer's head; its body is still to come
        assert forwarder.post(target, "/hooks/c1", b"{}", HEADERS, 5.0) == 200
        assert slow.result(SOCKET_TIMEOUT) == 200

    assert intercom.connections[intercom.ports[0]] == 2


def test_a_refused_connection_names_the_socket_error(forwarder: Any) -> None:
    with RawIntercom() as intercom:
        target = intercom.target()
    # closed: nothing listens on the port any more

    with pytest.raises(answers.ForwardFailed) as failed:
        forwarder.post(target, "/hooks/c1", b"{}", HEADERS, 2.0)

    assert str(failed.value) == "Intercom unreachable (ConnectionRefusedError)"


def _answer_once_then_stop_reading(conn: socket.socket, port: int) -> None:
    RawIntercom.read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    time.sleep(SOCKET_TIMEOUT + 5)  # the next request is never read (the test closes it)


def test_a_send_on_a_reused_connection_ends_at_the_forward_deadline(forwarder: Any) -> None:
    """A kept-alive socket keeps the timeout of its last read (here about 30 s): the next
    forward's send gets only its own time left, so an Intercom that stops reading costs one
    deadline, and the answer says so."""
    body = b"x" * (32 * 1024 * 1024)  # more than loopback's socket buffers hold
    outcome: list[BaseException] = []
    with RawIntercom(answer=_answer_once_then_stop_reading) as intercom:
        target = intercom.target()
        assert forwarder.post(target, "/hooks/c1", b"{}", HEADERS, 30.0) == 200

        def post() -> None:
            try:
                forwarder.post(target, "/hooks/c2", body, HEADERS, 0.5)
            except BaseException as error:  # kept for the assertion
                outcome.append(error)

        thread = threading.Thread(target=post, daemon=True)
        thread.start()
        thread.join(SOCKET_TIMEOUT)  # bounds the test; a send without a timeout waits for good
        assert not thread.is_alive()

    [error] = outcome
    assert isinstance(error, answers.ForwardFailed)
    assert str(error) == "Intercom did not answer in time"
    assert intercom.connections[intercom.ports[0]] == 1


def test_only_urllib3s_protocol_error_is_unwrapped_by_its_second_argument() -> None:
    """urllib3 wraps a socket error as ProtocolError("Connection aborted.", error); another
    error's arguments are its own, and its cause is what it was raised from."""
    inner = ConnectionResetError()
    assert (
        forwarding._cause(urllib3.exceptions.ProtocolError("Connection aborted.", inner)) is inner
    )
    other = OSError("a message", inner)
    assert forwarding._cause(other) is other


# The request Intercom receives, from forward() itself.


def test_forward_posts_the_event_to_the_conversations_url_with_its_headers(
    forwarder: Any,
) -> None:
    seen: list[bytes] = []

    def record(conn: socket.socket, port: int) -> None:
        data = b""
        while b"\r\n\r\n" not in data or not data.endswith(b"}}"):
            data += conn.recv(65536)
        seen.append(data)
        conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")

    with RawIntercom(answer=record) as intercom:
        route = configuration.Route("billing-handoff", frozenset(), intercom.target(), (b"k",))
        event = events.JamEvent("evt_1", "intercom.recorder.recorded", {"conversationId": 7}, "7")

        status = forwarding.forward(forwarder, route, event, "msg_1", 2.0)

    assert status == 202
    [request] = seen
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /hooks/7 HTTP/1.1"
    fields = {name.lower(): value for name, _, value in (x.partition(": ") for x in lines[1:])}
    assert fields["content-type"] == "application/json"
    assert fields["user-agent"] == "jam-fin-relay/0.1 (+Jam to Intercom Fin relay)"
    assert fields["idempotency-key"] == "29d17af2-ee67-5dd3-9a6b-fb2b990d92f2"
    assert body == (
        b'{"event":"intercom.recorder.recorded","payload":{"conversationId":7,"jamEventId":"evt_1"}}'
    )


@pytest.mark.parametrize("missing", ["target", "conversation"])
def test_forward_refuses_a_route_without_a_url_or_an_event_without_a_conversation(
    forwarder: Any, missing: str
) -> None:
    """The handler checks both first; forward() does not rely on it."""
    target = None if missing == "target" else configuration.parse_intercom_url("https://x/h")
    route = configuration.Route("a", frozenset(), target, (b"k",))
    conversation = None if missing == "conversation" else "c1"
    event = events.JamEvent("evt_1", "intercom.recorder.recorded", {}, conversation)

    with pytest.raises(answers.NotConfigured) as refused:
        forwarding.forward(forwarder, route, event, "msg_1", 2.0)

    assert str(refused.value) == "route has no usable Intercom URL"


# Over HTTPS: the same connection classes (the deadline, interim answers).


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ssl.SSLContext]:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    cert, key = _self_signed(tmp_path_factory.mktemp("tls"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return str(cert), context


def test_interim_answers_are_skipped_over_https_too(tls: tuple[str, ssl.SSLContext]) -> None:
    cert, context = tls
    with FakeIntercom(tls_context=context) as intercom:
        intercom.interim_statuses = (103,)
        target = configuration.parse_intercom_url(intercom.url_for("tls"))

        status = forwarding.Forwarder(cert).post(target, "/hooks/tls/c1", b"{}", HEADERS, 5.0)

    assert status == 200


def test_an_answer_dripped_over_https_is_a_timeout(tls: tuple[str, ssl.SSLContext]) -> None:
    cert, context = tls
    with FakeIntercom(mode="drip", drip_seconds=30.0, tls_context=context) as intercom:
        target = configuration.parse_intercom_url(intercom.url_for("tls"))

        with pytest.raises(answers.ForwardFailed, match="did not answer in time"):
            forwarding.Forwarder(cert).post(target, "/hooks/tls/c1", b"{}", HEADERS, 0.5)

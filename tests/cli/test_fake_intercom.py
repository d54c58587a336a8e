"""The Intercom stand-in's connection handling, over real HTTP: kept alive, or closed."""

from __future__ import annotations

import http.client

from relayctl.fake_intercom import FakeIntercom


def _post_twice(intercom: FakeIntercom) -> tuple[str | None, bool]:
    """The first answer's Connection header, and whether a second POST fit on the same socket."""
    conn = http.client.HTTPConnection("127.0.0.1", intercom.port, timeout=5)
    try:
        conn.request("POST", "/hooks/a/c1", body=b"{}")
        first = conn.getresponse()
        first.read()
        socket_after_first = conn.sock
        conn.request("POST", "/hooks/a/c2", body=b"{}")  # reconnects if the first was closed
        conn.getresponse().read()
        return first.getheader("Connection"), conn.sock is socket_after_first is not None
    finally:
        conn.close()


def test_answer_mode_keeps_the_connection_alive() -> None:
    with FakeIntercom() as intercom:
        header, reused = _post_twice(intercom)
    assert (header, reused) == (None, True)
    assert [r.conversation_id for r in intercom.received()] == ["c1", "c2"]


def test_close_mode_answers_then_closes_the_connection() -> None:
    with FakeIntercom(mode="close") as intercom:
        header, reused = _post_twice(intercom)
    assert (header, reused) == ("close", False)
    assert [r.conversation_id for r in intercom.received()] == ["c1", "c2"]

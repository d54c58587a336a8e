"""The local relay (tests, demo, `relayctl serve`) listens on loopback only.

functions-framework runs gunicorn with an unbounded request line (limit_request_line=0): a
16 MiB line costs seconds of parser CPU. In production only Google's front end reaches the
instance; locally, nothing but this machine may.
"""

from __future__ import annotations

import socket

# relay_function/ is on sys.path (conftest), as in the cloud.
import configuration  # type: ignore[import-not-found]
import pytest

from relayctl.local_relay import LocalRelay, NotLoopbackError
from relayctl.send_test_event import is_local
from relayctl.serve import local_url_problem
from tests.relay.harness import Suite


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])  # noqa: S104
def test_a_local_relay_refuses_to_listen_beyond_loopback(host: str) -> None:
    with pytest.raises(NotLoopbackError):
        LocalRelay({}, host=host)


def _non_loopback_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address  # noqa: S104


def test_the_running_relay_is_not_reachable_on_another_interface(suite: Suite) -> None:
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, suite.relay.port), timeout=2).close()
    assert suite.relay.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("intercom.example", False),
    ],
)
def test_the_relay_and_the_cli_share_one_loopback_rule(host: str, loopback: bool) -> None:
    # The relay takes plain http only to a loopback host; `serve` must judge a stand-in URL as
    # the relay will, and `send-test-event` must give local fixes exactly for such a relay.
    url = f"http://{host}:8080/hooks/abc"
    try:
        configuration.parse_intercom_url(url)
        relay_accepts_http = True
    except ValueError:
        relay_accepts_http = False

    assert relay_accepts_http is loopback
    assert (local_url_problem(url) is None) is loopback
    assert is_local(url) is loopback

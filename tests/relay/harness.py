"""Shared constants and helpers of the relay suite (one import path: ``tests.relay.harness``).

Routes (all in one RELAY_ROUTES) cover each configuration case; the Intercom stand-ins are
``relayctl.fake_intercom.FakeIntercom`` servers, one scriptable and one per misbehaving mode.
"""

from __future__ import annotations

import base64
import json
import socket
import uuid
from typing import Any

import requests

from relay_function.naming import RECORDED
from relayctl import jam_events
from relayctl.fake_intercom import FakeIntercom
from relayctl.local_relay import LocalRelay

FORWARD_TIMEOUT_SECONDS = 1.5  # short, so "Intercom hangs" tests stay quick
HANG_SECONDS = 3.0
HTTP_TIMEOUT = 15  # every test request is bounded

SECRET = jam_events.new_signing_secret()
OLD_SECRET = jam_events.new_signing_secret()  # rotation: both valid on "rotating"
OTHER_SECRET = jam_events.new_signing_secret()  # valid shape, configured nowhere
INTERCOM_PATH_TOKEN = f"cap-{uuid.uuid4().hex}"  # the capability part of each Intercom URL

MAIN = "billing-handoff"
ALL_EVENTS = "all-events"
ROTATING = "rotating"
RESET = "resets"
DROPPING = "drops-idle"
REFUSED = "refused"
NO_SECRET = "no-secret"
BAD_SECRET = "bad-secret"
NO_URL = "no-url"
PLAIN_HTTP_REMOTE = "plain-http-remote"
DRIPPING = "drips"  # Intercom drips a valid 200 slower than the forward deadline allows
DRIPS_ON_REUSE = "drips-on-reuse"  # ... only on a kept-alive connection's second request
BAD_SECRET_VALUE = "whsec_this*is*not*base64"
REMOTE_HTTP_URL = f"http://intercom.example.com/hooks/{INTERCOM_PATH_TOKEN}"


class Suite:
    """What the tests need: the relay, the stand-ins and a signed-POST helper."""

    def __init__(
        self,
        relay: LocalRelay,
        intercom: FakeIntercom,
        reset: FakeIntercom,
        dropping: FakeIntercom,
        refused_port: int,
        intercom_urls: dict[str, str],
        raw: dict[str, FakeIntercom] | None = None,
    ) -> None:
        self.relay = relay
        self.intercom = intercom
        self.reset = reset
        self.dropping = dropping
        self.refused_port = refused_port
        self.intercom_urls = intercom_urls
        self.raw = raw or {}  # workflow id -> its raw-socket stand-in (the drip modes)
        self.session = requests.Session()

    def url(self, workflow_id: str) -> str:
        return f"{self.relay.url}/workflows/{workflow_id}"

    def post(
        self,
        workflow_id: str,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        secret: str = SECRET,
        **signing: Any,
    ) -> requests.Response:
        """POST ``body`` signed with ``secret`` unless explicit ``headers`` are given."""
        if headers is None:
            headers = jam_events.signed_headers(secret, body, **signing)
        return self.session.post(
            self.url(workflow_id), data=body, headers=headers, timeout=HTTP_TIMEOUT
        )

    def send_event(
        self, workflow_id: str = MAIN, event: dict[str, Any] | None = None, **signing: Any
    ) -> requests.Response:
        return self.post(workflow_id, jam_events.encode(event or new_event()), **signing)

    def log_line(self, message_id: str) -> dict[str, object]:
        """The relay's one log line for the delivery with ``message_id``."""
        lines = [r for r in self.relay.log_records() if r.get("jam_message_id") == message_id]
        assert len(lines) == 1, lines
        return lines[0]


def new_conversation_id() -> str:
    return f"conv_{uuid.uuid4().hex[:20]}"


def new_event(
    event_type: str = RECORDED, conversation_id: str | int | None = None
) -> dict[str, Any]:
    return jam_events.sample_event(event_type, conversation_id or new_conversation_id())


def secret_values() -> list[str]:
    """Every secret the suite configures, and the decoded keys, as they could be printed."""
    values = [SECRET, OLD_SECRET, BAD_SECRET_VALUE, INTERCOM_PATH_TOKEN]
    for secret in (SECRET, OLD_SECRET):
        key = base64.b64decode(secret.removeprefix("whsec_"))
        values += [secret.removeprefix("whsec_"), key.hex(), repr(key)[2:-1]]
    return values


# Raw HTTP/1.1 over a loopback socket, for tests that control exactly what is sent and when.
SOCKET_TIMEOUT = 10.0  # every raw socket operation is bounded


def connect(relay: LocalRelay, timeout: float = SOCKET_TIMEOUT) -> socket.socket:
    sock = socket.create_connection((relay.host, relay.port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def head(method: str, path: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


class Answer:
    """Reads one HTTP answer (status line, headers, Content-Length body) as bytes arrive."""

    def __init__(self, data: bytes = b"") -> None:
        self.data = data

    def feed(self, sock: socket.socket) -> None:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the relay closed the connection before answering")
        self.data += chunk

    @property
    def length(self) -> int | None:
        """The whole answer's length in bytes, once its head has arrived."""
        head, sep, _ = self.data.partition(b"\r\n\r\n")
        if not sep:
            return None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                return len(head) + len(sep) + int(value)
        return None

    @property
    def complete(self) -> bool:
        return self.length is not None and len(self.data) >= self.length

    @property
    def status(self) -> int:
        return int(self.data.split(b" ", 2)[1])

    @property
    def document(self) -> dict[str, object]:
        assert self.length is not None
        decoded = json.loads(self.data[: self.length].partition(b"\r\n\r\n")[2])
        assert isinstance(decoded, dict)
        return decoded

    def rest(self) -> bytes:
        """Bytes that arrived after this answer (the next answer on the connection)."""
        assert self.length is not None
        return self.data[self.length :]


def read_answer(sock: socket.socket, already: bytes = b"") -> Answer:
    answer = Answer(already)
    while not answer.complete:
        answer.feed(sock)
    return answer


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the relay closes the connection (within the socket's timeout) with no answer."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False

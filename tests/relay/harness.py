"""Shared constants and helpers of the relay suite (one import path: ``tests.relay.harness``).

Routes (all in one RELAY_ROUTES) cover each configuration case; the Intercom stand-ins are
``relayctl.fake_intercom.FakeIntercom`` servers, one scriptable and one per misbehaving mode.
"""

from __future__ import annotations

import base64
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

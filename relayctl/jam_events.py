"""Jam-shaped events, signed the way Jam signs them (Standard Webhooks, delivered by Svix).

Used by the demo, ``send-test-event`` and the tests. It signs; it never verifies: the relay's
verifier is separate code, so a test that signs here and verifies there checks something.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any

from relay_function.naming import OPTED_OUT, RECORDED

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
EVENT_ALIASES = {"recorded": RECORDED, "opted_out": OPTED_OUT}


def new_signing_secret() -> str:
    """A fresh ``whsec_...`` secret of the kind Jam shows after an endpoint is registered."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def sample_event(
    event_type: str = RECORDED,
    conversation_id: str | int = "215470686832743",
    *,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A Jam webhook event: ``id``, ``type``, ``created_at`` and ``data``."""
    data: dict[str, Any] = {"conversationId": conversation_id}
    if event_type != OPTED_OUT:
        jam_id = str(uuid.uuid4())
        data.update(jamId=jam_id, recording_url=f"https://jam.dev/c/{jam_id}")
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
        "type": event_type,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data": data,
    }


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` over ``id.timestamp.body`` with the secret's decoded key."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = b"%s.%d.%s" % (message_id.encode(), timestamp, body)
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secret: str,
    body: bytes,
    *,
    message_id: str | None = None,
    timestamp: int | None = None,
    prefix: str = "svix",
) -> dict[str, str]:
    """Headers for one delivery; Jam (via Svix) uses the ``svix-`` set."""
    message_id = message_id or new_message_id()
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        f"{prefix}-id": message_id,
        f"{prefix}-timestamp": str(timestamp),
        f"{prefix}-signature": signature(secret, message_id, timestamp, body),
    }


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()

"""Standard Webhooks verification of a Jam delivery, over the raw body.

Written here rather than taken from ``svix`` (whose 2.x pulls in a large tree): HMAC-SHA256 over
``<id>.<timestamp>.<body>``, either header set (``svix-*`` or ``webhook-*``), several ``v1,``
signatures and several keys (rotation), a 5-minute timestamp tolerance. Tested against the
independent signer in ``relayctl/jam_events.py``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Protocol

from answers import SignatureRejected

TIMESTAMP_TOLERANCE_SECONDS = 5 * 60
MESSAGE_ID_RE = re.compile(r"[!-~]{1,256}")  # printable ASCII, no spaces
TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")


class HeaderLookup(Protocol):
    """Case-insensitive header access (werkzeug's Headers, or a dict in unit use)."""

    def get(self, key: str) -> str | None: ...


def _header_set(headers: HeaderLookup) -> tuple[str, str, str]:
    """(id, timestamp, signature) from one complete header set: ``svix-*`` or ``webhook-*``."""
    for prefix in ("svix", "webhook"):
        values = [headers.get(f"{prefix}-{name}") for name in ("id", "timestamp", "signature")]
        if all(values):
            return values[0] or "", values[1] or "", values[2] or ""
    raise SignatureRejected("missing signature headers (svix-* or webhook-* set)")


def _candidate_signatures(header: str) -> list[bytes]:
    """The decodable ``v1,<base64>`` entries of a space-separated signature header."""
    candidates = []
    for entry in header.split(" "):
        version, comma, encoded = entry.partition(",")
        if version != "v1" or not comma:
            continue
        try:
            candidates.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return candidates


def verify(headers: HeaderLookup, body: bytes, keys: Sequence[bytes], now: float) -> str:
    """Check a Standard Webhooks signature over the raw body; return the verified message id."""
    message_id, timestamp, signature_header = _header_set(headers)
    if MESSAGE_ID_RE.fullmatch(message_id) is None:
        raise SignatureRejected("malformed message id")
    if TIMESTAMP_RE.fullmatch(timestamp) is None:
        raise SignatureRejected("malformed timestamp")
    if abs(now - int(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS:
        raise SignatureRejected("timestamp outside the 5-minute tolerance")
    candidates = _candidate_signatures(signature_header)
    if not candidates:
        raise SignatureRejected("malformed signature header (want 'v1,<base64>')")
    signed_content = b"%s.%s.%s" % (message_id.encode("ascii"), timestamp.encode("ascii"), body)
    matched = False
    for key in keys:
        expected = hmac.new(key, signed_content, hashlib.sha256).digest()
        for candidate in candidates:
            # No early exit: the work done does not depend on which entry matches.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureRejected("no signature matched")
    return message_id

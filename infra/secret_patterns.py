"""What a secret looks like: the one rule the loader, the CLI and `plan` all apply.

Two kinds of value must never be committed, printed or posted:
- a Jam signing secret: a Standard Webhooks secret, ``whsec_`` followed by base64
  (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md);
- an Intercom webhook URL: a bearer capability (whoever holds it can resume the Fin workflow).
Any other URL is treated with the same care wherever a value is quoted, because a URL pasted
in the wrong place is most often the Intercom one. Stdlib only, no Pulumi: imported everywhere.
"""

from __future__ import annotations

import re

__all__ = [
    "INTERCOM_URL",
    "INTERCOM_URL_PATTERN",
    "REDACTED",
    "SIGNING_SECRET",
    "SIGNING_SECRET_PATTERN",
    "URL",
    "holds_signing_secret",
    "looks_sensitive",
    "redact",
    "secret_kind",
]

SIGNING_SECRET = "a Jam signing secret"  # noqa: S105 (a description, not a secret)
INTERCOM_URL = "an Intercom webhook URL"
URL = "a URL"
REDACTED = "[redacted]"

# The two patterns below are also workflows.schema.json's (tests/test_workflows_schema.py checks
# they are the same strings), so they are written without flags, in the regex syntax JSON Schema
# and Python share.
# ``whsec_`` then a base64 character (standard or URL-safe alphabet), the prefix in any case: a
# secret re-typed in capitals is still the secret. ``whsec_...`` (the placeholder our own help
# text uses) has no base64 character after the prefix, so it is not a secret.
_BASE64_CHAR = "[A-Za-z0-9+/=_-]"
SIGNING_SECRET_PATTERN = "[Ww][Hh][Ss][Ee][Cc]_" + _BASE64_CHAR
# An absolute URL whose authority (host, or user info) names Intercom, like ``api.intercom.io``:
# the host of a Fin workflow's Wait for webhook URL.
INTERCOM_URL_PATTERN = "[A-Za-z][A-Za-z0-9+.-]*://[^/?#\\s]*[Ii][Nn][Tt][Ee][Rr][Cc][Oo][Mm]"

SIGNING_SECRET_RE = re.compile(SIGNING_SECRET_PATTERN + _BASE64_CHAR + "*")
INTERCOM_URL_RE = re.compile(INTERCOM_URL_PATTERN)
# Any absolute URL (``scheme://``), in any case (``HTTPS://`` is still a URL).
ABSOLUTE_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*")
# What `redact` removes: an http(s) URL up to the next whitespace, whatever its host. Greedy on
# purpose (a URL path may hold quotes and brackets); trailing punctuation is given back below.
_HTTP_URL_RE = re.compile(r"https?://\S*", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?'\")]}>`|*_"


def secret_kind(value: str) -> str | None:
    """Which kind of secret ``value`` contains, in words for a message; None when it holds none.

    A signing secret (``whsec_...``) anywhere wins; then an Intercom webhook URL (any absolute
    URL naming Intercom before its path); then any other absolute URL.
    """
    if holds_signing_secret(value):
        return SIGNING_SECRET
    if INTERCOM_URL_RE.search(value):
        return INTERCOM_URL
    if ABSOLUTE_URL_RE.search(value):
        return URL
    return None


def holds_signing_secret(value: str) -> bool:
    """True when ``value`` contains a ``whsec_`` signing secret (fast for ordinary values)."""
    return "_" in value and SIGNING_SECRET_RE.search(value) is not None


def looks_sensitive(text: str) -> bool:
    """True for text that may be or hold a URL or a secret: a message never quotes it.

    Broader than `secret_kind`: an ``@`` (``user:password@host``) or a long path-like value
    (``intercom.example/hooks/<token>`` pasted without its scheme) is not quoted either.
    """
    lowered = text.lower()
    return (  # a superset of secret_kind(text) is not None, by cheap substring tests
        "://" in lowered or "whsec_" in lowered or "@" in text or ("/" in text and len(text) > 40)
    )


def _redact_url(match: re.Match[str]) -> str:
    url = match.group(0)
    kept = url.rstrip(_TRAILING_PUNCTUATION)
    if kept.lower() in ("http://", "https://"):
        return url  # a scheme alone names no host, so holds no secret ("start with https://")
    # Give back closing punctuation only (a sentence's full stop, a closing quote or bracket).
    return REDACTED + url[len(kept) :]


def redact(text: str) -> str:
    """``text`` with every signing-secret token and every http(s) URL replaced by [redacted].

    A bare scheme (``https://`` followed by nothing but punctuation) names no URL and stays.
    """
    # URLs first: a secret inside a URL goes with the URL, leaving one marker, not two.
    without_urls = _HTTP_URL_RE.sub(_redact_url, text)
    return SIGNING_SECRET_RE.sub(REDACTED, without_urls)

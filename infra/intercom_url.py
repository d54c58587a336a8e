"""An Intercom webhook URL: the schema's rule (``literalIntercomUrl``) and the relay's host rule
decide whether it is usable; the schema's ``x-problems`` say which part is wrong, never quoting it.

Used for a literal URL in ``workflows.yaml``, and for URLs from a stack's config or a local
secrets file (``relayctl serve``).
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import SplitResult, quote, unquote, urlsplit

from infra.secret_patterns import holds_signing_secret
from infra.workflows_schema import DEFS, Validator, inlined, say
from relay_function import naming

_RULE = Validator(inlined({"$defs": DEFS, "$ref": "#/$defs/literalIntercomUrl"}))
_WORDS: dict[str, list[str]] = DEFS["literalIntercomUrl"]["x-problems"]


def intercom_url_problem(url: str) -> str | None:
    """What is wrong with an Intercom webhook URL and the fix, never quoting it; None if usable."""
    found = url_problem(url)
    return None if found is None else " Fix: ".join(found)


# What Intercom's docs put after the URL, however it was pasted: ``<Conversation ID>``,
# ``{conversation_id}``, ``{{conversationId}}``, ``:conversation_id``, ``<id>``...
_PLACEHOLDER_RE = re.compile(
    r"[<{\[(:$]*\s*conversations?[\s_.-]*id\s*[>}\])]*"
    r"|[<{\[(:$]+\s*(?:conversations?|id)\s*[>}\])]*",
    re.IGNORECASE,
)


def url_problem(url: str) -> list[str] | None:
    """[what is wrong, fix] from the first of the schema's ``x-problems`` the URL has ("other"
    when only the schema's pattern tells), never quoting it; None when usable."""
    parts: SplitResult | None = None
    host: str | None = None
    with contextlib.suppress(ValueError):  # an unparsable URL: worded below, in its turn
        split = urlsplit(url)
        host, parts = split.hostname, split
    broken = naming.host_problem(host) if host else None
    if host and broken is None and _RULE.is_valid(url):
        return None
    stripped_url = url.strip().rstrip("/")
    last = stripped_url.rsplit("/", 1)[-1]
    if holds_signing_secret(url) or not url.strip():
        return say(_WORDS["secret" if url.strip() else "empty"])
    if "/" in stripped_url and _PLACEHOLDER_RE.fullmatch(unquote(unquote(last))):
        # Safe to quote: it matched the placeholder pattern, so it holds no part of the token.
        removed = "/" + last + "/" * (len(url.strip()) - len(stripped_url))
        return say(_WORDS["placeholder"], removed=removed)
    if url != url.strip() or any(c.isspace() for c in url):
        return say(_WORDS["padded" if url != url.strip() else "whitespace"])
    if parts is None:
        return say(_WORDS["unparsable"])
    scheme, path, netloc = parts.scheme.lower(), parts.path, parts.netloc
    stripped, unusable = path.rstrip("/"), next((c for c in path if not "!" <= c <= "~"), "")
    trailing, bracket = (
        "/" * (len(path) - len(stripped)),
        next(filter("<>{}".__contains__, path), ""),
    )
    # The port read by hand: SplitResult.port raises on a bad one and, depending on the Python
    # version, accepts signs and non-ASCII digits.
    port = (netloc.rpartition("]")[2] if netloc.startswith("[") else netloc).partition(":")[2]
    checks: list[tuple[object, str]] = [
        (not parts.scheme or not netloc, "relative"),
        (scheme != "https", "scheme"),
        ("@" in netloc, "credentials"),
        (not host, "no_host"),
        (broken, "host"),
        (port and not (re.fullmatch("[0-9]{1,5}", port) and 1 <= int(port) <= 65535), "port"),
        (parts.query or url.endswith("?"), "query"),
        (parts.fragment or url.endswith("#"), "fragment"),
        (unusable, "non_ascii" if unusable.isprintable() else "control"),
        (bracket, "bracket"),
        ("//" in stripped, "empty_segment"),
        (not stripped, "no_path"),
        (trailing, "trailing"),
    ]
    name = next((name for failed, name in checks if failed), "other")
    return say(
        _WORDS[name],
        bracket=bracket,
        trailing=trailing,
        encoded=quote(unusable, safe=""),
        scheme=scheme if re.fullmatch("[a-z][a-z0-9+.-]{0,15}", scheme) else "another scheme",
        broken=broken or "",
        code=f"U+{ord(unusable):04X}" if unusable else "",
        what=f"{len(trailing)} trailing slashes" if trailing[1:] else "a trailing slash",
    )

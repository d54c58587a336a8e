"""infra.secret_patterns: the one rule for what a secret looks like, and redaction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.secret_patterns import (
    INTERCOM_URL,
    REDACTED,
    SIGNING_SECRET,
    URL,
    looks_sensitive,
    redact,
    secret_kind,
)

# Fake values: a test fails if any part of them survives redaction.
TOKEN = "TESTONLY-token-9f8e7d"
SECRET = "whsec_TESTONLYc2VjcmV0LXZhbHVlLTEyMzQ="


@pytest.mark.parametrize(
    "value",
    [SECRET, f"my key {SECRET} here", SECRET.upper(), "whsec_abc", "whsec_a-b_c"],
)
def test_a_whsec_token_anywhere_is_a_signing_secret(value: str) -> None:
    assert secret_kind(value) == SIGNING_SECRET


@pytest.mark.parametrize(
    "value",
    [
        f"https://intercom.example/fin/hooks/{TOKEN}",
        f"HTTPS://api.INTERCOM.io/hooks/{TOKEN}",
        f"see https://u:p@api.eu.intercom.io:8443/x/{TOKEN} now",
        "http://intercom.example",
    ],
)
def test_a_url_whose_host_names_intercom_is_an_intercom_webhook_url(value: str) -> None:
    assert secret_kind(value) == INTERCOM_URL


@pytest.mark.parametrize(
    "value", ["https://jam.dev/docs", "docs at ftp://files.example/a", "HTTP://x.example"]
)
def test_any_other_absolute_url_is_a_url(value: str) -> None:
    assert secret_kind(value) == URL


def test_a_signing_secret_wins_over_a_url_in_the_same_text() -> None:
    assert secret_kind(f"https://intercom.example/{SECRET}") == SIGNING_SECRET


@pytest.mark.parametrize(
    "value",
    ["billingHandoffIntercomUrl", "", "paste the whsec_... secret Jam shows", "intercom.example"],
)
def test_ordinary_text_holds_no_secret(value: str) -> None:
    assert secret_kind(value) is None


@pytest.mark.parametrize(
    "value", ["a@b", "intercom.example/hooks/TESTONLY-token-9f8e7d-abcdefghij", "x://y"]
)
def test_looks_sensitive_also_covers_credentials_and_schemeless_paths(value: str) -> None:
    assert looks_sensitive(value)


def test_looks_sensitive_is_false_for_a_plain_name() -> None:
    assert not looks_sensitive("billing-handoff")


def test_redact_replaces_a_signing_secret_and_keeps_the_rest() -> None:
    assert redact(f"secret: {SECRET}, ok") == f"secret: {REDACTED}, ok"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"url https://intercom.example/h/{TOKEN}.", f"url {REDACTED}."),
        (f"'https://intercom.example/h/{TOKEN}'", f"'{REDACTED}'"),
        (f"[link](https://jam.dev/{TOKEN})", f"[link]({REDACTED})"),
        (f"| HTTPS://x.example/{TOKEN} |", f"| {REDACTED} |"),
        (f"`http://127.0.0.1:8080/{TOKEN}`", f"`{REDACTED}`"),
    ],
)
def test_redact_replaces_every_http_url_whatever_its_host(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_leaves_a_secret_inside_a_url_as_one_marker() -> None:
    assert redact(f"https://x.example/{SECRET}") == REDACTED


def test_redact_keeps_text_without_secrets_unchanged() -> None:
    text = "workflow 'billing-handoff': paste the whsec_... secret Jam shows. Fix: `relayctl plan`"
    assert redact(text) == text


@given(st.text(alphabet=st.characters(blacklist_categories=("Zs", "Cc", "Zl", "Zp")), max_size=40))
def test_redacted_text_never_holds_the_token(noise: str) -> None:
    text = f"{noise} https://intercom.example/h/{TOKEN}{noise} {SECRET}{noise}"
    redacted = redact(text)
    assert TOKEN not in redacted
    assert "whsec_TESTONLY" not in redacted


@pytest.mark.parametrize(
    "text",
    [
        "it must start with https://.",
        "(https://)",
        "use 'http://' only for 127.0.0.1",
        "HTTPS:// then the host",
    ],
)
def test_redact_keeps_a_bare_scheme_which_names_no_host(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "a Jam signing secret"),
        ("https://api.intercom.io/fin/workflows/webhooks/tok", "an Intercom webhook URL"),
        ("https://hooks.example.com/x", "a URL"),
        ("billing-handoff", None),
    ],
    ids=["signing-secret", "intercom-url", "other-url", "none"],
)
def test_each_kind_is_named_in_the_words_messages_print(value: str, words: str | None) -> None:
    """Messages say "looks like a Jam signing secret"; the words are pinned here as text."""
    assert secret_kind(value) == words


def test_redacted_text_says_redacted() -> None:
    """What a log line or PR comment shows in place of a URL or secret, pinned as text."""
    assert redact("sent to https://api.intercom.io/x/tok.") == "sent to [redacted]."


@pytest.mark.parametrize(
    ("text", "sensitive"),
    [("a/" + "b" * 38, False), ("a/" + "b" * 39, True)],
    ids=["40-characters", "41-characters"],
)
def test_a_path_like_value_is_sensitive_from_41_characters(text: str, sensitive: bool) -> None:
    """A scheme-less path (intercom.example/hooks/<token>) longer than 40 characters is never
    quoted; a short one (a file path in a message) may be."""
    assert looks_sensitive(text) is sensitive


def test_a_url_ending_in_a_letter_is_redacted_whole() -> None:
    """Only closing punctuation is given back after a URL, never a character of the URL."""
    assert redact("see https://intercom.example/h/tokX") == "see [redacted]"

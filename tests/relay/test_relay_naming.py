"""naming.py in-process: the host rule at each of its edges, with its exact words, and the names
derived from a workflow id.

The loader quotes ``host_problem``'s words to the user (tests/test_workflows_loader.py checks a
few in context); the relay logs them at start-up.
"""

from __future__ import annotations

import pytest

from relay_function import naming

EMPTY_LABEL = "it has an empty label (two dots in a row, or a dot at the start)"
NOT_IDNA = "a label is not a valid international (IDNA) name, or is too long"
HYPHEN = "a label starts or ends with a hyphen"
CHARACTER = "it contains a character other than letters, digits, hyphens and dots"


def dns_name(length: int) -> str:
    """A valid DNS name of exactly ``length`` characters (labels of at most 63)."""
    labels, left = [], length
    while left > 0:
        size = min(63, left)
        labels.append("a" * size)
        left -= size + 1
    name = ".".join(labels)
    return name if len(name) == length else name[:-1] + "b"  # never ends in a dot


@pytest.mark.parametrize(
    "host",
    [
        "intercom.example.com",
        "intercom.example.com.",  # one final dot: the root
        "x.a.",
        "a",
        "a-b.c",
        "a1.b2",
        "127.0.0.1",
        "::1",
        "2001:db8::1",
        "b\u00fccher.example",  # IDNA: xn--bcher-kva
        "a" * 63 + ".example",
    ],
)
def test_valid_hosts_have_no_problem(host: str) -> None:
    assert naming.host_problem(host) is None


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("a..b", EMPTY_LABEL),
        (".a", EMPTY_LABEL),
        ("a.b..", EMPTY_LABEL),
        ("", EMPTY_LABEL),
        ("a" * 64 + ".example", "a label is 64 characters long, the limit is 63"),
        ("example." + "a" * 70, "a label is 70 characters long, the limit is 63"),
        ("\u00f6" * 70 + ".example", NOT_IDNA),
        ("-intercom.example", HYPHEN),
        ("intercom-.example", HYPHEN),
        ("intercom.example-", HYPHEN),
        ("intercom_x.example", CHARACTER),
        ("intercom.ex ample", CHARACTER),
        ("intercom.ex*ample", CHARACTER),
    ],
)
def test_each_broken_rule_is_named(host: str, problem: str) -> None:
    assert naming.host_problem(host) == problem


def test_a_label_of_63_characters_is_the_longest() -> None:
    assert naming.host_problem("a" * 63) is None
    assert naming.host_problem("a" * 64) == "a label is 64 characters long, the limit is 63"


def test_a_non_ascii_label_too_long_in_its_ascii_form_is_not_idna() -> None:
    """60 characters, but longer than 63 once IDNA-encoded: the codec refuses it."""
    assert naming.host_problem("\u00fc" * 10 + "a" * 50) == NOT_IDNA


def test_a_host_of_253_characters_is_the_longest() -> None:
    assert naming.host_problem(dns_name(253)) is None
    assert naming.host_problem(dns_name(253) + ".") is None  # the final dot is not counted
    assert naming.host_problem(dns_name(254)) == "it is 254 characters long, the limit is 253"


def test_the_host_length_is_of_the_ascii_form() -> None:
    host = "b\u00fccher." + dns_name(243)  # 250 characters; xn--bcher-kva is 13, not 6

    assert len(host) == 250
    assert naming.host_problem(host) == "it is 257 characters long, the limit is 253"


def test_the_limits_are_dns_limits() -> None:
    """RFC 1035: 63 octets a label; 253 characters a name written without its final dot."""
    assert (naming.HOST_LABEL_MAX_LENGTH, naming.HOST_MAX_LENGTH) == (63, 253)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("128.0.0.1", False),
        ("10.0.0.1", False),
        ("LOCALHOST", False),
        ("localhost.example", False),
        ("intercom.example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_hosts(host: str | None, loopback: bool) -> None:
    assert naming.is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("workflow_id", "valid"),
    [
        ("a", True),
        ("a" * 40, True),
        ("a" * 41, False),
        ("billing-handoff", True),
        ("b2", True),
        ("a-", False),
        ("-a", False),
        ("1a", False),
        ("a_b", False),
        ("A", False),
        ("", False),
    ],
)
def test_workflow_ids(workflow_id: str, valid: bool) -> None:
    assert naming.is_valid_workflow_id(workflow_id) is valid


def test_the_names_derived_from_a_workflow_id() -> None:
    assert naming.env_suffix("billing-hand-off") == "BILLING_HAND_OFF"
    assert naming.intercom_url_env("billing-handoff") == "INTERCOM_WEBHOOK_URL__BILLING_HANDOFF"
    assert naming.signing_secret_env("billing-handoff") == "JAM_SIGNING_SECRET__BILLING_HANDOFF"
    assert naming.route_path("billing-handoff") == "/workflows/billing-handoff"
    assert (naming.ROUTES_ENV, naming.HEALTH_PATH) == ("RELAY_ROUTES", "/health")


def test_the_event_types() -> None:
    assert naming.KNOWN_EVENTS == (
        "intercom.recorder.recorded",
        "intercom.recorder.opted_out",
        "jam.created",
    )
    assert naming.DEFAULT_EVENTS == ("intercom.recorder.recorded", "intercom.recorder.opted_out")


@pytest.mark.parametrize(
    ("path", "reserved"),
    [
        ("/eventlog", True),
        ("/eventlog/x", False),
        ("/_ah/health", True),
        ("/_ah", False),
        ("/healthz", True),
        ("/workflows/fizz", True),
        ("/workflows/a", False),
        ("/health", False),
    ],
)
def test_paths_the_front_end_answers_itself(path: str, reserved: bool) -> None:
    """https://cloud.google.com/run/docs/issues ("Reserved URL paths")."""
    assert naming.reserved_by_front_end(path) is reserved


@pytest.mark.parametrize(
    ("path", "service_name", "served"),
    [
        ("/fn/workflows/a", "fn", "/workflows/a"),
        ("/fn/", "fn", "/"),
        ("/fn", "fn", "/fn"),
        ("/fnx/health", "fn", "/fnx/health"),
        ("/None/health", None, "/None/health"),
        ("//health", "", "//health"),
    ],
)
def test_served_path_edges(path: str, service_name: str | None, served: str) -> None:
    assert naming.served_path(path, service_name) == served

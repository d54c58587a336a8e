"""Naming rules (and the one URL-host rule) shared by the Pulumi program and the relay.

The relay is deployed from this folder on its own, so the rules live here and the Pulumi side
imports them from ``relay_function.naming``: both sides derive names from one place, and a URL
the loader accepts is one the relay can use.
"""

from __future__ import annotations

import ipaddress
import re

ROUTES_ENV = "RELAY_ROUTES"
INTERCOM_URL_ENV_PREFIX = "INTERCOM_WEBHOOK_URL__"
SIGNING_SECRET_ENV_PREFIX = "JAM_SIGNING_SECRET__"  # noqa: S105 (a name, not a secret)
ROUTE_PREFIX = "/workflows/"
# Not /healthz: Cloud Run's front end answers some paths itself (below), and /healthz is one.
HEALTH_PATH = "/health"
# The Cloud Run service's name, which Cloud Run sets in the container's environment ("Container
# runtime contract", Environment variables: https://cloud.google.com/run/docs/container-contract).
SERVICE_NAME_ENV = "K_SERVICE"


def served_path(path: str, service_name: str | None) -> str:
    """The path the relay routes: ``path`` without one leading ``/<service_name>`` segment.

    No Google page says which path a 2nd-gen function receives through
    ``https://REGION-PROJECT.cloudfunctions.net/FUNCTION/...`` (1st gen strips the function
    name: functions-framework-python #54), so ``/workflows/<id>`` and
    ``/<service_name>/workflows/<id>`` (and the health path) are the same route. Only that one
    segment is removed, once: ``/other/workflows/<id>`` and a doubled prefix route nowhere.
    Without a service name (a local run with no ``K_SERVICE``) the path is used as it is.
    """
    if service_name and path.startswith(f"/{service_name}/"):
        return path[len(service_name) + 1 :]
    return path


# Paths Cloud Run's front end answers itself, so a request for them never reaches the relay:
# /eventlog, paths under /_ah/, and "some paths ending in z"; Google advises avoiding every path
# that ends in z ("Known issues", Reserved URL paths: https://cloud.google.com/run/docs/issues).
# The relay serves none of them; a workflow id ending in z stays valid (only some such paths are
# reserved), and the loader warns about it.
RESERVED_PATHS = ("/eventlog",)
RESERVED_PATH_PREFIX = "/_ah/"
RESERVED_PATH_SUFFIX = "z"


def reserved_by_front_end(path: str) -> bool:
    """Whether Google's front end may answer ``path`` itself instead of passing it on."""
    return (
        path in RESERVED_PATHS
        or path.startswith(RESERVED_PATH_PREFIX)
        or path.endswith(RESERVED_PATH_SUFFIX)
    )


RECORDED = "intercom.recorder.recorded"
OPTED_OUT = "intercom.recorder.opted_out"
JAM_CREATED = "jam.created"
KNOWN_EVENTS = (RECORDED, OPTED_OUT, JAM_CREATED)
DEFAULT_EVENTS = (RECORDED, OPTED_OUT)

# The only conversation ids put into an outgoing URL or a log query: an explicit ASCII class
# (not \w, which matches non-ASCII letters), 1-64 characters.
CONVERSATION_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")

WORKFLOW_ID_MAX_LENGTH = 40
# Lower-case letter first, then letters, digits and hyphens, no trailing hyphen. Ids never
# contain "_", so the env suffix below maps distinct ids to distinct names.
WORKFLOW_ID_RE = re.compile(r"[a-z](?:[a-z0-9-]*[a-z0-9])?")


def is_valid_workflow_id(workflow_id: str) -> bool:
    return (
        len(workflow_id) <= WORKFLOW_ID_MAX_LENGTH
        and WORKFLOW_ID_RE.fullmatch(workflow_id) is not None
    )


def env_suffix(workflow_id: str) -> str:
    """``billing-handoff`` -> ``BILLING_HANDOFF``."""
    return workflow_id.upper().replace("-", "_")


def intercom_url_env(workflow_id: str) -> str:
    return INTERCOM_URL_ENV_PREFIX + env_suffix(workflow_id)


def signing_secret_env(workflow_id: str) -> str:
    return SIGNING_SECRET_ENV_PREFIX + env_suffix(workflow_id)


def route_path(workflow_id: str) -> str:
    """``billing-handoff`` -> ``/workflows/billing-handoff``."""
    return ROUTE_PREFIX + workflow_id


def is_loopback_host(host: str | None) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1): a host only this machine reaches.

    The relay allows plain http to such a host (a local Intercom stand-in); the CLI's local
    relay listens only on one.
    """
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


HOST_LABEL_MAX_LENGTH = 63  # DNS (RFC 1035)
HOST_MAX_LENGTH = 253


def host_problem(host: str) -> str | None:
    """Which part of the host rule ``host`` breaks, in words that never quote it; None for an
    IP address or a DNS name whose ASCII (IDNA) labels are valid.

    The relay checks each Intercom URL's host with it at start-up (a host IDNA cannot encode
    would fail every forward) and the loader uses it to explain a literal URL: one rule.
    """
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return None
    ascii_labels = []
    for label in (host[:-1] if host.endswith(".") else host).split("."):  # one final dot is fine
        if not label:
            return "it has an empty label (two dots in a row, or a dot at the start)"
        try:
            ascii_label = label.encode("idna").decode("ascii")
        except UnicodeError:  # also an ASCII label that is too long: measured below
            ascii_label = label if label.isascii() else ""
        if not ascii_label:
            return "a label is not a valid international (IDNA) name, or is too long"
        if len(ascii_label) > HOST_LABEL_MAX_LENGTH:
            return f"a label is {len(ascii_label)} characters long, the limit is 63"
        if ascii_label.startswith("-") or ascii_label.endswith("-"):
            return "a label starts or ends with a hyphen"
        if not all(c.isascii() and (c.isalnum() or c == "-") for c in ascii_label):
            return "it contains a character other than letters, digits, hyphens and dots"
        ascii_labels.append(ascii_label)
    if (length := len(".".join(ascii_labels))) > HOST_MAX_LENGTH:
        return f"it is {length} characters long, the limit is {HOST_MAX_LENGTH}"
    return None

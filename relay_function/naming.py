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
HEALTH_PATH = "/healthz"

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


HOST_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
HOST_MAX_LENGTH = 253


def is_valid_host(host: str) -> bool:
    """An IP address, or a DNS name whose ASCII (IDNA) form has valid labels."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_host.rstrip(".").split(".")
    return len(ascii_host) <= HOST_MAX_LENGTH and all(HOST_LABEL_RE.fullmatch(x) for x in labels)

"""Naming rules shared by the Pulumi program and the relay.

The relay is deployed from this folder on its own, so the rules live here and the Pulumi side
imports them from ``relay_function.naming``: both sides derive names from one place.
"""

from __future__ import annotations

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

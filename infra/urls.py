"""The relay's public URLs, known before anything is deployed. Imports no Pulumi.

Google assigns every 2nd-gen function a URL of a deterministic form,
``https://REGION-PROJECT_ID.cloudfunctions.net/FUNCTION_NAME``, "so you can predict the URL
before deploying the function" (Cloud Functions, "HTTP triggers", Function URL:
https://cloud.google.com/functions/docs/calling/http). Its Cloud Run URL
(``https://FUNCTION_NAME-RANDOM_HASH-REGION.a.run.app``, ``service_config.uri``) carries a hash
assigned at creation, so it cannot be registered in Jam before the first deploy. The program's
``relay_url`` and ``endpoints`` outputs and ``relayctl endpoints`` all come from here, so the URL
a user pastes into Jam before deploying is the one the deployed stack reports.

No page says which path a 2nd-gen function receives through ``cloudfunctions.net`` (1st gen
strips the function name: functions-framework-python #54), so the relay answers its routes with
and without a leading ``/<K_SERVICE>`` segment (relay_function/naming.py).
"""

from __future__ import annotations

from relay_function.naming import HEALTH_PATH, route_path

FUNCTION_URL_DOMAIN = "cloudfunctions.net"


def relay_url(project: str, region: str, function_name: str) -> str:
    """``https://us-central1-acme-relay.cloudfunctions.net/jam-fin-relay-dev``."""
    return f"https://{region}-{project}.{FUNCTION_URL_DOMAIN}/{function_name}"


def endpoint_url(base_url: str, workflow_id: str) -> str:
    """The Endpoint URL to register in Jam for one workflow, under a relay URL."""
    return base_url.rstrip("/") + route_path(workflow_id)


def health_url(base_url: str) -> str:
    return base_url.rstrip("/") + HEALTH_PATH

"""Secret Manager's rules for the workflow secrets' ids and locations.

Secret ids: "A secret ID is a string with a maximum length of 255 characters and can contain
uppercase and lowercase letters, numerals, and the hyphen (-) and underscore (_) characters",
unique within the project (CreateSecretRequest.secret_id,
https://cloud.google.com/python/docs/reference/secretmanager/latest/google.cloud.secretmanager_v1.types.CreateSecretRequest).
Locations: automatic replication creates a secret in `global`, which an organisation's
gcp.resourceLocations policy may refuse (firebase-tools #6454).
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from infra.relay_env import (
    AUTOMATIC_SECRET_LOCATION,
    FUNCTION_NAME_MAX,
    INTERCOM_URL_SECRET_SUFFIX,
    SECRET_ID_MAX,
    SECRET_ID_SEPARATOR,
    SIGNING_SECRET_SUFFIX,
    RouteEvents,
    env_budget,
    secret_id,
    secret_location,
)
from infra.settings import FUNCTION_NAME_RE, REGION_MAX, REGION_RE

SECRET_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,255}")
WORKFLOW_ID_MAX = 40  # workflows.schema.json
# The loader's and settings' own shapes: what a function name, a workflow id and a region may be.
WORKFLOW_ID = st.from_regex(r"\A[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?\Z")
FUNCTION_NAME = st.from_regex(r"\A[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
LOCATION = st.one_of(st.just(AUTOMATIC_SECRET_LOCATION), st.from_regex(r"\A[a-z]+-[a-z]+[0-9]\Z"))
SUFFIX = st.sampled_from([INTERCOM_URL_SECRET_SUFFIX, SIGNING_SECRET_SUFFIX])


def test_the_longest_accepted_id_fits_secret_managers_limit() -> None:
    """CreateSecretRequest.secret_id: at most 255 characters of [A-Za-z0-9_-]."""
    longest = secret_id(
        "f" * FUNCTION_NAME_MAX, "w" * WORKFLOW_ID_MAX, SIGNING_SECRET_SUFFIX, "r" * REGION_MAX
    )
    assert len(longest) == 63 + 40 + len(SIGNING_SECRET_SUFFIX) + REGION_MAX + 3
    assert len(longest) <= SECRET_ID_MAX == 255
    assert SECRET_ID_RE.fullmatch(longest)


def test_the_separator_occurs_in_no_part() -> None:
    """What makes ids unambiguous: '_' is a secret-id character that no part can contain."""
    assert SECRET_ID_RE.fullmatch(SECRET_ID_SEPARATOR)
    for rule in (FUNCTION_NAME_RE, REGION_RE):
        assert SECRET_ID_SEPARATOR not in rule.pattern
    for part in (INTERCOM_URL_SECRET_SUFFIX, SIGNING_SECRET_SUFFIX, AUTOMATIC_SECRET_LOCATION):
        assert SECRET_ID_SEPARATOR not in part


def test_the_collision_of_issue_19_7_is_gone() -> None:
    """Stack prod + workflow eu-billing and stack prod-eu + workflow billing (one project)."""
    a = secret_id("jam-fin-relay-prod", "eu-billing", INTERCOM_URL_SECRET_SUFFIX, "global")
    b = secret_id("jam-fin-relay-prod-eu", "billing", INTERCOM_URL_SECRET_SUFFIX, "global")
    assert a != b


@given(FUNCTION_NAME, WORKFLOW_ID, SUFFIX, LOCATION)
def test_an_id_names_exactly_one_function_workflow_secret_and_location(
    function: str, workflow: str, suffix: str, location: str
) -> None:
    """Unique per project (CreateSecretRequest): the id splits back into its parts, so two
    different (stack, workflow, secret, location) never share one."""
    made = secret_id(function, workflow, suffix, location)
    assert SECRET_ID_RE.fullmatch(made)
    assert made.split(SECRET_ID_SEPARATOR) == [function, workflow, suffix, location]


def test_automatic_replication_lives_in_global_and_user_managed_in_the_region() -> None:
    """firebase-tools #6454: automatic replication is created in [global]."""
    assert secret_location("automatic", "europe-west1") == "global"
    assert secret_location("userManaged", "europe-west1") == "europe-west1"


def test_the_environment_budget_counts_the_ids_the_program_declares() -> None:
    """The secret references in Cloud Run's 32 KiB count the new, longer ids: the budget with
    the stack's location is below the one assuming the longest, and grows with the location."""
    workflows = [
        RouteEvents(f"workflow-{i:02d}", ("intercom.recorder.recorded",)) for i in range(5)
    ]
    unknown = env_budget(workflows, function_name="jam-fin-relay-dev")
    short = env_budget(workflows, function_name="jam-fin-relay-dev", location="global")
    longer = env_budget(workflows, function_name="jam-fin-relay-dev", location="europe-west1")
    assert short.bytes < longer.bytes <= unknown.bytes
    # Two references per workflow, each holding the location once.
    assert longer.bytes - short.bytes == 2 * 5 * (len("europe-west1") - len("global"))
    worst = "r" * REGION_MAX
    assert env_budget(workflows, function_name="jam-fin-relay-dev", location=worst) == unknown

"""How preflight reads an effective organization policy (Org Policy API v2), rule by rule.

Sources: the API's ``GoogleCloudOrgpolicyV2PolicySpec`` and ``PolicyRule`` (orgpolicy.v2.json in
google-api-python-client 2.202.0); the resource-locations constraint's description ("To include
sub-locations, use the in: prefix. For example, allowing in:us-east1-locations allows all of
the locations that exist within us-east1", and "Allowing or denying a multi-region or region
does not imply that all included sub-locations should also be allowed or denied"); Google's
"Restricting resource locations" page (a bare region entered in a policy becomes
``in:REGION-locations``).
"""

from __future__ import annotations

from typing import Any

import pytest

from relayctl.preflight_policies import decide, enforced, exact, location, restricted


def policy(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"name": "projects/428913057716/policies/x", "spec": {"rules": list(rules)}}


# --- gcp.resourceLocations membership --------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "place", "member"),
    [
        ("in:europe-west1-locations", "europe-west1", True),
        ("in:europe-west1-locations", "europe-west12", False),  # a prefix is not the region
        ("in:europe-west12-locations", "europe-west1", False),
        ("in:us-east1-locations", "us-central1", False),
        ("in:us-east1-locations", "global", False),  # global is within no region
        ("europe-west1", "europe-west1", True),
        ("is:europe-west1", "europe-west1", True),
        ("europe", "europe-west1", False),  # a multi-region does not imply its regions
        ("global", "global", True),
        ("is:global", "global", True),
        ("in:us-locations", "us-central1", True),
        ("in:us-locations", "northamerica-northeast1", False),
        ("in:northamerica-locations", "northamerica-northeast1", True),
        ("in:northamerica-locations", "us-west4", True),
        ("in:europe-locations", "europe-north1", True),
        ("in:europe-locations", "asia-east1", False),
        ("in:asia-locations", "asia-southeast1", True),
        ("in:asia-locations", "australia-southeast1", None),  # Asia-Pacific or not: unknown
        ("in:europe-locations", "me-west1", None),
        ("in:eu-locations", "europe-west1", None),  # EU membership is not a naming rule
        ("in:eu-locations", "us-central1", False),  # every EU region is in Europe
        ("in:eu-locations", "asia-east1", False),
        ("in:eu-locations", "europe-west2", None),  # London: Europe, not the EU
        ("in:eu-locations", "me-west1", None),
        ("in:us-locations", "global", None),
        ("in:nam4-locations", "us-central1", None),
    ],
)
def test_location_membership(entry, place, member):
    assert location(entry, place) is member


def test_plain_values_match_exactly_with_or_without_is():
    assert exact("is:ALLOW_ALL", "ALLOW_ALL") is True
    assert exact("ALLOW_ALL", "ALLOW_ALL") is True
    assert exact("ALLOW_INTERNAL_ONLY", "ALLOW_ALL") is False


# --- list constraints -------------------------------------------------------------------------


def test_no_policy_allows_everything():
    assert decide({"name": "x", "spec": {}}, "v").allowed is True
    assert decide({"name": "x"}, "v").allowed is True
    assert decide({"name": "x", "spec": {"reset": True}}, "v").allowed is True


def test_allowed_values_allow_only_themselves():
    rules = policy({"values": {"allowedValues": ["a", "b"]}})
    assert decide(rules, "b").allowed is True
    assert decide(rules, "c").allowed is False


def test_denied_values_win_over_allow_all():
    rules = policy({"allowAll": True}, {"values": {"deniedValues": ["c"]}})
    assert decide(rules, "c").allowed is False
    assert decide(rules, "d").allowed is True


def test_only_denied_values_allow_the_rest():
    rules = policy({"values": {"deniedValues": ["c"]}})
    assert decide(rules, "d").allowed is True


def test_deny_all_denies_everything():
    assert decide(policy({"denyAll": True}), "a").allowed is False


def test_an_undecidable_allowed_group_is_unknown_unless_another_entry_allows():
    unsure = policy({"values": {"allowedValues": ["in:eu-locations"]}})
    assert decide(unsure, "europe-west1", location).allowed is None
    settled = policy({"values": {"allowedValues": ["in:eu-locations", "europe-west1"]}})
    assert decide(settled, "europe-west1", location).allowed is True


def test_an_undecidable_denied_group_is_unknown_even_when_allowed_elsewhere():
    rules = policy(
        {"values": {"allowedValues": ["europe-west1"]}},
        {"values": {"deniedValues": ["in:eu-locations"]}},
    )
    assert decide(rules, "europe-west1", location).allowed is None


@pytest.mark.parametrize(
    "document",
    [
        policy({"condition": {"expression": "resource.matchTag('1/env', 'prod')"}}),
        {"name": "x", "spec": []},
        {"name": "x", "spec": {"rules": "allowAll"}},
        policy({"values": {"allowedValues": "a"}}),
        "not an object",
    ],
)
def test_a_conditional_or_undocumented_policy_is_unknown(document):
    assert decide(document, "a").allowed is None


def test_restricted_is_anything_but_no_rules_or_allow_all():
    assert restricted({"spec": {}}) is False
    assert restricted(policy({"allowAll": True})) is False
    assert restricted(policy({"values": {"deniedValues": ["x"]}})) is True
    assert restricted(policy({"condition": {"expression": "x"}})) is None


# --- boolean and managed constraints ----------------------------------------------------------


def test_enforcement():
    assert enforced({"spec": {}}) is False
    assert enforced(policy({"enforce": False})) is False
    assert enforced(policy({"enforce": True})) is True
    assert enforced(policy({"enforce": "true"})) is None  # not the documented boolean
    assert enforced(policy({"enforce": True, "condition": {"expression": "x"}})) is None

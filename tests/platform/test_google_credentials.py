"""The Org Policy API's quota-project rule for user credentials, and how credentials are found.

Sources: terraform-provider-google #18281 and pulumi-gcp #2032 (``billing_project`` is ignored
for ``gcp.orgpolicy.Policy``); terraform-google-org-policy #94 (``gcloud auth
application-default set-quota-project`` is not enough; ``GOOGLE_CLOUD_QUOTA_PROJECT`` works);
Application Default Credentials' search order,
https://cloud.google.com/docs/authentication/application-default-credentials.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from infra.credentials import (
    ACCESS_TOKEN,
    IMPERSONATED,
    METADATA_SERVER,
    UNREADABLE,
    credential_type,
    quota_project_problem,
)

USER = {"type": "authorized_user", "client_id": "x", "refresh_token": "y"}
USER_WITH_QUOTA = {**USER, "quota_project_id": "acme-billing"}  # set-quota-project wrote it
SERVICE_ACCOUNT = {"type": "service_account", "client_email": "d@p.iam.gserviceaccount.com"}
# What google-github-actions/auth writes for Workload Identity Federation (CI).
WORKLOAD_IDENTITY = {"type": "external_account", "audience": "//iam.googleapis.com/x"}


def _no_config(key: str) -> str | None:
    return None


def _adc_home(tmp_path: Path, document: Mapping[str, object]) -> dict[str, str]:
    folder = tmp_path / ".config" / "gcloud"
    folder.mkdir(parents=True)
    (folder / "application_default_credentials.json").write_text(json.dumps(document))
    return {"HOME": str(tmp_path)}


def test_user_adc_without_quota_project_is_refused_with_the_fix(tmp_path: Path) -> None:
    """terraform-google-org-policy #94: with user ADC, the Org Policy API needs
    GOOGLE_CLOUD_QUOTA_PROJECT."""
    problem = quota_project_problem("acme-relay", True, _adc_home(tmp_path, USER), _no_config)
    assert problem is not None
    assert "export GOOGLE_CLOUD_QUOTA_PROJECT=acme-relay" in problem
    assert "serviceusage.services.use" in problem
    assert "orgpolicy.googleapis.com" in problem
    assert "authorized_user" in problem


def test_quota_project_in_the_adc_file_is_not_enough(tmp_path: Path) -> None:
    """terraform-google-org-policy #94: `set-quota-project` (quota_project_id in the ADC file)
    did not make the provider's Org Policy calls work; only the variable did."""
    environ = _adc_home(tmp_path, USER_WITH_QUOTA)
    assert quota_project_problem("acme-relay", True, environ, _no_config) is not None


def test_the_variable_is_the_fix(tmp_path: Path) -> None:
    """terraform-google-org-policy #94: GOOGLE_CLOUD_QUOTA_PROJECT works."""
    environ = _adc_home(tmp_path, USER) | {"GOOGLE_CLOUD_QUOTA_PROJECT": "acme-billing"}
    assert quota_project_problem("acme-relay", True, environ, _no_config) is None


def test_a_blank_variable_is_no_fix(tmp_path: Path) -> None:
    environ = _adc_home(tmp_path, USER) | {"GOOGLE_CLOUD_QUOTA_PROJECT": "  "}
    assert quota_project_problem("acme-relay", True, environ, _no_config) is not None


def test_no_org_policy_call_needs_no_quota_project(tmp_path: Path) -> None:
    """Only the policy exception calls the Org Policy API (publicAccess allUsers does not)."""
    assert quota_project_problem("acme-relay", False, _adc_home(tmp_path, USER), _no_config) is None


@pytest.mark.parametrize("document", [SERVICE_ACCOUNT, WORKLOAD_IDENTITY])
def test_ci_and_service_account_credentials_keep_working(
    tmp_path: Path, document: Mapping[str, object]
) -> None:
    """https://cloud.google.com/docs/quotas/quota-project: a service account's calls are
    billed to its own project; CI's workload identity credentials are an external_account."""
    key = tmp_path / "key.json"
    key.write_text(json.dumps(document))
    environ = _adc_home(tmp_path, USER) | {"GOOGLE_APPLICATION_CREDENTIALS": str(key)}
    assert quota_project_problem("acme-relay", True, environ, _no_config) is None


def test_credentials_are_found_in_the_providers_order(tmp_path: Path) -> None:
    """gcp:credentials, then GOOGLE_CREDENTIALS, an access token, impersonation,
    GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, the metadata server."""
    key = tmp_path / "sa.json"
    key.write_text(json.dumps(SERVICE_ACCOUNT))
    home = _adc_home(tmp_path, USER)
    assert credential_type(home, _no_config) == "authorized_user"
    assert credential_type({"HOME": str(tmp_path / "nobody")}, _no_config) == METADATA_SERVER
    assert credential_type(home | {"GOOGLE_APPLICATION_CREDENTIALS": str(key)}, _no_config) == (
        "service_account"
    )
    assert credential_type(home | {"GOOGLE_IMPERSONATE_SERVICE_ACCOUNT": "d@p"}, _no_config) == (
        IMPERSONATED
    )
    assert credential_type(home | {"GOOGLE_OAUTH_ACCESS_TOKEN": "ya29.x"}, _no_config) == (
        ACCESS_TOKEN
    )
    assert credential_type(home | {"GOOGLE_CREDENTIALS": json.dumps(USER)}, _no_config) == (
        "authorized_user"
    )
    config = {"credentials": str(key)}
    environ = home | {"GOOGLE_CREDENTIALS": json.dumps(USER)}
    assert credential_type(environ, config.get) == "service_account"
    assert credential_type(
        {"CLOUDSDK_CONFIG": str(tmp_path / ".config" / "gcloud")}, _no_config
    ) == ("authorized_user")


def test_an_unreadable_key_is_not_taken_for_a_user(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("not json")
    environ = {"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "bad.json"), "HOME": "/nonexistent"}
    assert credential_type(environ, _no_config) == UNREADABLE
    assert credential_type(
        {"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "none.json")}, _no_config
    ) == (UNREADABLE)


def test_a_workforce_identity_user_is_a_user_too(tmp_path: Path) -> None:
    """ADC's external_account_authorized_user (workforce identity federation's
    `gcloud auth application-default login`) is a person's credential: same rule."""
    document = {"type": "external_account_authorized_user", "audience": "//iam.googleapis.com/x"}
    problem = quota_project_problem("acme-relay", True, _adc_home(tmp_path, document), _no_config)
    assert problem is not None
    assert "external_account_authorized_user" in problem

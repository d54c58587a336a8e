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


# --- Each kind's name, each variable's name, each source's place in the order ------------------
# `relayctl preflight` prints the kind ("not needed: access_token credentials carry their own
# project"), so the names are what a user reads: pinned as text, not as the module's constants.


@pytest.mark.parametrize(
    ("environ", "config", "kind"),
    [
        ({"GOOGLE_OAUTH_ACCESS_TOKEN": "ya29.x"}, {}, "access_token"),
        ({}, {"accessToken": "ya29.x"}, "access_token"),
        ({"GOOGLE_IMPERSONATE_SERVICE_ACCOUNT": "d@p"}, {}, "impersonated_service_account"),
        ({}, {"impersonateServiceAccount": "d@p"}, "impersonated_service_account"),
        ({"GOOGLE_CREDENTIALS": "not json, not a file"}, {}, "unreadable"),
        ({}, {}, "metadata_server"),
    ],
    ids=["token-env", "token-config", "imp-env", "imp-config", "unreadable", "metadata"],
)
def test_each_kind_is_named_as_preflight_prints_it(
    tmp_path: Path, environ: dict[str, str], config: dict[str, str], kind: str
) -> None:
    home = {"HOME": str(tmp_path / "nobody")}
    assert credential_type(home | environ, config.get) == kind


@pytest.mark.parametrize(
    "name", ["GOOGLE_CREDENTIALS", "GOOGLE_CLOUD_KEYFILE_JSON", "GCLOUD_KEYFILE_JSON"]
)
def test_each_of_the_providers_key_variables_is_read(tmp_path: Path, name: str) -> None:
    """Pulumi's Google Cloud provider reads a key (JSON or a path) from these variables."""
    environ = {"HOME": str(tmp_path / "nobody"), name: json.dumps(USER)}
    assert credential_type(environ, _no_config) == "authorized_user"


def test_the_key_variables_are_read_in_the_providers_order(tmp_path: Path) -> None:
    user, account = json.dumps(USER), json.dumps(SERVICE_ACCOUNT)
    home = {"HOME": str(tmp_path / "nobody")}
    environ = home | {"GOOGLE_CLOUD_KEYFILE_JSON": account, "GCLOUD_KEYFILE_JSON": user}
    assert credential_type(environ, _no_config) == "service_account"
    environ = home | {"GOOGLE_CREDENTIALS": user, "GOOGLE_CLOUD_KEYFILE_JSON": account}
    assert credential_type(environ, _no_config) == "authorized_user"


def test_an_access_token_comes_before_impersonation(tmp_path: Path) -> None:
    config = {"accessToken": "ya29.x", "impersonateServiceAccount": "d@p"}
    assert credential_type({"HOME": str(tmp_path)}, config.get) == "access_token"


def test_key_json_with_leading_whitespace_is_json_not_a_path(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path / "nobody"), "GOOGLE_CREDENTIALS": "\n  " + json.dumps(USER)}
    assert credential_type(environ, _no_config) == "authorized_user"


@pytest.mark.parametrize("text", ["[1, 2]", '"authorized_user"', '{"type": 5}', "{}"])
def test_a_key_that_is_not_an_object_with_a_string_type_is_unreadable(
    tmp_path: Path, text: str
) -> None:
    key = tmp_path / "key.json"
    key.write_text(text)
    environ = {"HOME": str(tmp_path / "nobody"), "GOOGLE_APPLICATION_CREDENTIALS": str(key)}
    assert credential_type(environ, _no_config) == "unreadable"


def test_without_home_in_the_environment_the_users_home_is_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider's (and gcloud's) default: ~/.config/gcloud, ~ being the user's home."""
    monkeypatch.setenv("HOME", _adc_home(tmp_path, USER)["HOME"])
    assert credential_type({}, _no_config) == "authorized_user"


def test_appdata_is_not_read_outside_windows(tmp_path: Path) -> None:
    appdata = tmp_path / "appdata"
    (appdata / "gcloud").mkdir(parents=True)
    (appdata / "gcloud" / "application_default_credentials.json").write_text(json.dumps(USER))
    environ = {"HOME": str(tmp_path / "nobody"), "APPDATA": str(appdata)}
    assert credential_type(environ, _no_config) == "metadata_server"


def test_on_windows_gcloud_keeps_its_configuration_under_appdata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADC's user credentials file: %APPDATA%\\gcloud\\application_default_credentials.json on
    Windows (Application Default Credentials page). Only os.name is Windows' here."""
    import types

    from infra import credentials

    monkeypatch.setattr(credentials, "os", types.SimpleNamespace(name="nt"))
    appdata = tmp_path / "appdata"
    (appdata / "gcloud").mkdir(parents=True)
    (appdata / "gcloud" / "application_default_credentials.json").write_text(json.dumps(USER))
    environ = {"HOME": str(tmp_path / "nobody"), "APPDATA": str(appdata)}
    assert credentials.gcloud_config_dir(environ) == appdata / "gcloud"
    assert credential_type(environ, _no_config) == "authorized_user"


def test_a_key_file_is_read_as_utf8_whatever_the_locale(tmp_path: Path) -> None:
    """A key file holding a non-ASCII name is still read, under an ASCII locale too."""
    import subprocess
    import sys

    key = tmp_path / "key.json"
    key.write_text(json.dumps({**USER, "account": "zoë@example.com"}, ensure_ascii=False), "utf-8")
    code = (
        "from infra.credentials import credential_type; "
        f"print(credential_type({{'GOOGLE_APPLICATION_CREDENTIALS': {str(key)!r}}}, "
        "lambda k: None))"
    )
    env = {"LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0", "PATH": "/usr/bin"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "authorized_user"


def test_the_quota_project_problem_says_why_and_the_exact_fix(tmp_path: Path) -> None:
    problem = quota_project_problem("acme-relay", True, _adc_home(tmp_path, USER), _no_config)
    assert problem == (
        "publicAccess allUsersWithPolicyException sets this project's organization policy "
        "through the Org Policy API, and you are deploying with user credentials "
        "(authorized_user) without GOOGLE_CLOUD_QUOTA_PROJECT: Google refuses such calls "
        "without a quota project, and the provider takes one only from that variable (not from "
        "billing_project, nor from `gcloud auth application-default set-quota-project`; "
        'docs/deploy.md, "Public access"). Fix: export GOOGLE_CLOUD_QUOTA_PROJECT=acme-relay '
        "(the caller needs serviceusage.services.use on that project, for example through "
        "roles/serviceusage.serviceUsageConsumer, and the Org Policy API enabled there: gcloud "
        "services enable orgpolicy.googleapis.com --project acme-relay), then run `pulumi up` "
        "again."
    )

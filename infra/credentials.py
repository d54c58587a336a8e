"""Which Google credentials a deploy will use, and the one rule that depends on it. No Pulumi.

The rule: with user credentials, calls to the Org Policy API need a quota project, and only the
``GOOGLE_CLOUD_QUOTA_PROJECT`` environment variable supplies one. The provider ignores
``billing_project`` for ``gcp.orgpolicy.Policy`` (terraform-provider-google #18281, pulumi-gcp
#2032), and ``gcloud auth application-default set-quota-project`` is reported not to be enough
(terraform-google-org-policy #94). Service-account and workload-identity credentials (CI) are
billed to their own project and need nothing. The program (``__main__.py``, before any resource
is declared) and ``relayctl preflight`` both ask ``quota_project_problem``.

The credentials are found in the order the provider looks for them (Pulumi's Google Cloud
provider setup, https://www.pulumi.com/registry/packages/gcp/installation-configuration/;
Application Default Credentials, https://cloud.google.com/docs/authentication/application-default-credentials):
``gcp:credentials`` or ``GOOGLE_CREDENTIALS`` (and its older names), an access token, an account
to impersonate, ``GOOGLE_APPLICATION_CREDENTIALS``, then gcloud's ADC file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

QUOTA_PROJECT_ENV = "GOOGLE_CLOUD_QUOTA_PROJECT"
# Key files or their JSON, by the provider's names, in its order.
CREDENTIALS_ENVS = ("GOOGLE_CREDENTIALS", "GOOGLE_CLOUD_KEYFILE_JSON", "GCLOUD_KEYFILE_JSON")
ACCESS_TOKEN_ENV = "GOOGLE_OAUTH_ACCESS_TOKEN"  # noqa: S105 (a variable's name)
IMPERSONATE_ENV = "GOOGLE_IMPERSONATE_SERVICE_ACCOUNT"
ADC_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
ADC_FILE = "application_default_credentials.json"
GCLOUD_CONFIG_ENV = "CLOUDSDK_CONFIG"
# Every variable that changes which credentials, or which quota project, a run sees.
READ_ENVS = (
    GCLOUD_CONFIG_ENV,
    ADC_ENV,
    *CREDENTIALS_ENVS,
    ACCESS_TOKEN_ENV,
    IMPERSONATE_ENV,
    QUOTA_PROJECT_ENV,
)

# A credentials file's "type": a person signed in (gcloud auth application-default login, or
# workforce identity federation's equivalent).
USER_TYPES = ("authorized_user", "external_account_authorized_user")
# What is said when no file names the type: a token or an impersonated account (not a user's
# own quota), or no file at all (the metadata server: a service account).
ACCESS_TOKEN = "access_token"  # noqa: S105 (a kind, not a token)
IMPERSONATED = "impersonated_service_account"
METADATA_SERVER = "metadata_server"
UNREADABLE = "unreadable"

Lookup = Callable[[str], str | None]


def gcloud_config_dir(environ: Mapping[str, str]) -> Path:
    """gcloud's configuration folder: ``CLOUDSDK_CONFIG``, else the platform's default."""
    if configured := environ.get(GCLOUD_CONFIG_ENV):
        return Path(configured)
    if os.name == "nt" and (appdata := environ.get("APPDATA")):
        return Path(appdata) / "gcloud"
    return Path(environ.get("HOME", str(Path.home()))) / ".config" / "gcloud"


def _type_of(text: str) -> str:
    try:
        document = json.loads(text)
    except ValueError:
        return UNREADABLE
    kind = document.get("type") if isinstance(document, dict) else None
    return kind if isinstance(kind, str) else UNREADABLE


def _type_of_file(path: Path) -> str | None:
    """The file's credential type; None when there is no such file."""
    try:
        return _type_of(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return UNREADABLE


def _type_of_key(value: str) -> str:
    """``gcp:credentials`` and ``GOOGLE_CREDENTIALS`` hold a key file's path or its JSON."""
    if value.lstrip().startswith("{"):
        return _type_of(value)
    return _type_of_file(Path(value).expanduser()) or UNREADABLE


def credential_type(environ: Mapping[str, str], gcp_config: Lookup) -> str:
    """The type of the credentials the provider will use (a key file's ``type``, or one of
    ACCESS_TOKEN, IMPERSONATED, METADATA_SERVER, UNREADABLE)."""
    key = gcp_config("credentials") or next(
        (environ[name] for name in CREDENTIALS_ENVS if environ.get(name)), None
    )
    if key:
        return _type_of_key(key)
    if gcp_config("accessToken") or environ.get(ACCESS_TOKEN_ENV):
        return ACCESS_TOKEN
    if gcp_config("impersonateServiceAccount") or environ.get(IMPERSONATE_ENV):
        return IMPERSONATED
    if path := environ.get(ADC_ENV):
        return _type_of_file(Path(path).expanduser()) or UNREADABLE
    found = _type_of_file(gcloud_config_dir(environ) / ADC_FILE)
    return found or METADATA_SERVER


def is_user_credential(kind: str) -> bool:
    return kind in USER_TYPES


def quota_project_fix(project: str) -> str:
    return (
        f"export {QUOTA_PROJECT_ENV}={project} (the caller needs serviceusage.services.use on "
        f"that project, for example through roles/serviceusage.serviceUsageConsumer, and the "
        f"Org Policy API enabled there: gcloud services enable orgpolicy.googleapis.com "
        f"--project {project})"
    )


def quota_project_problem(
    project: str, uses_org_policy_api: bool, environ: Mapping[str, str], gcp_config: Lookup
) -> str | None:
    """Why the Org Policy API call would fail for lack of a quota project, with the fix; None
    when it will not (no such call, a quota project set, or not a user's credentials)."""
    if not uses_org_policy_api or environ.get(QUOTA_PROJECT_ENV, "").strip():
        return None
    kind = credential_type(environ, gcp_config)
    if not is_user_credential(kind):
        return None
    return (
        "publicAccess allUsersWithPolicyException sets this project's organization policy "
        f"through the Org Policy API, and you are deploying with user credentials ({kind}) "
        f"without {QUOTA_PROJECT_ENV}: Google refuses such calls without a quota project, and "
        "the provider takes one only from that variable (not from billing_project, nor from "
        '`gcloud auth application-default set-quota-project`; docs/deploy.md, "Public '
        f'access"). Fix: {quota_project_fix(project)}, then run `pulumi up` again.'
    )

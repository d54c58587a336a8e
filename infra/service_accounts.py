"""A service account the programs create: its email and resource name, never missing.

A user-managed service account's email is ``ACCOUNT_ID@PROJECT_ID.iam.gserviceaccount.com``
(IAM, "Types of service accounts", https://cloud.google.com/iam/docs/service-account-types) and
its resource name ``projects/PROJECT_ID/serviceAccounts/EMAIL`` (IAM REST reference,
projects.serviceAccounts). Google answers both when it creates the account, and the programs
use its answer; where an answer lacks them (a mock that computes nothing), these documented
forms stand in, so no grant is ever declared for ``serviceAccount:None``. Domain-scoped project
ids (``example.com:p``) give emails of another form; the relay's settings refuse them.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

SERVICE_ACCOUNT_DOMAIN = "iam.gserviceaccount.com"


def service_account_email(account_id: str, project: str) -> str:
    """``relay-run`` in ``acme`` -> ``relay-run@acme.iam.gserviceaccount.com``."""
    return f"{account_id}@{project}.{SERVICE_ACCOUNT_DOMAIN}"


def service_account_name(email: str, project: str) -> str:
    """The account's resource name, as the IAM API and the provider take it."""
    return f"projects/{project}/serviceAccounts/{email}"


def answered_email(
    account: gcp.serviceaccount.Account, account_id: str, project: str
) -> pulumi.Output[str]:
    """The account's email: Google's answer, else the documented form."""
    documented = service_account_email(account_id, project)
    return account.email.apply(lambda answered: answered or documented)


def answered_name(
    account: gcp.serviceaccount.Account, account_id: str, project: str
) -> pulumi.Output[str]:
    """The account's resource name: Google's answer, else the documented form."""
    documented = service_account_name(service_account_email(account_id, project), project)
    return account.name.apply(lambda answered: answered or documented)

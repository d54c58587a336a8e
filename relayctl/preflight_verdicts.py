"""One pre-flight verdict per check, written as ``relayctl check`` writes its lines
(``subject: verdict``), and what a read that got no usable answer means: "could not tell",
never "ok" (a refusal or an error says nothing about the thing that was to be read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relayctl.google_api import GCLOUD_CLIENT_PROJECT, Answer

OK = "ok"
WILL_FAIL = "will fail"
UNKNOWN = "could not tell"


@dataclass(frozen=True)
class Verdict:
    subject: str
    outcome: str  # OK, WILL_FAIL or UNKNOWN
    detail: str  # ok: what was seen; will fail: what will; could not tell: why not
    fix: str = ""  # will fail only
    how_to_check: str = ""  # could not tell only

    def line(self) -> str:
        if self.outcome == WILL_FAIL:
            return f"{self.subject}: {WILL_FAIL}: {self.detail} Fix: {self.fix}"
        if self.outcome == UNKNOWN:
            return f"{self.subject}: {UNKNOWN}: {self.detail} ({self.how_to_check})"
        return f"{self.subject}: {OK} ({self.detail})" if self.detail else f"{self.subject}: {OK}"

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "check": self.subject,
            "verdict": self.outcome,
            "detail": self.detail,
        }
        if self.outcome == WILL_FAIL:
            document["fix"] = self.fix
        if self.outcome == UNKNOWN:
            document["how_to_check"] = self.how_to_check
        return document


def ok(subject: str, detail: str = "") -> Verdict:
    return Verdict(subject, OK, detail)


def will_fail(subject: str, detail: str, fix: str) -> Verdict:
    return Verdict(subject, WILL_FAIL, detail, fix=fix)


def unknown(subject: str, detail: str, how_to_check: str) -> Verdict:
    return Verdict(subject, UNKNOWN, detail, how_to_check=how_to_check)


def unread(
    subject: str,
    answer: Answer,
    what: str,
    permission: str,
    role: str,
    project: str,
    project_number: str = "",
) -> Verdict:
    """``subject`` could not be told: ``what`` got no usable answer. Says why, and how to
    check by hand or what lets preflight read it next time. ``project_number`` lets a
    consumer Google names by number be named by the project's id."""
    if not answer.reached:
        return unknown(
            subject,
            f"{what}: no answer from Google ({answer.problem}).",
            "check your network and proxy settings, then run preflight again",
        )
    if answer.service_disabled:
        return unknown(subject, *_service_disabled(answer, what, project, project_number))
    if answer.status == 401:
        return unknown(
            subject,
            f"{what}: Google refused the credentials (401 {answer.error_status}).",
            "gcloud auth application-default login, then run preflight again",
        )
    if answer.status == 403:
        said = f": {answer.message}" if answer.message else ""
        return unknown(
            subject,
            f"{what}: Google refused the read (403 {answer.error_status or 'Forbidden'}{said}).",
            f"reading it needs {permission} on project {project}, in {role}; or ask someone "
            "who holds it",
        )
    if answer.status == 200:
        return unknown(
            subject,
            f"{what}: the answer was not the JSON Google documents.",
            "run preflight again; if it persists, read it with gcloud",
        )
    status = f"{answer.status} {answer.error_status}".strip()
    said = f": {answer.message}" if answer.message else ""
    return unknown(
        subject,
        f"{what}: Google answered HTTP {status}{said}.",
        "run preflight again; if it persists, read it with gcloud",
    )


def _service_disabled(
    answer: Answer, what: str, project: str, project_number: str
) -> tuple[str, str]:
    named_service, consumer = answer.disabled_service()
    service = named_service or "the API"
    consumer = consumer or project
    if project_number and consumer == project_number:
        consumer = project
    if consumer == GCLOUD_CLIENT_PROJECT or "quota project" in answer.message.lower():
        # The call was billed to gcloud's own client: user credentials without a quota project.
        return (
            f"{what}: {service} needs a quota project for your user credentials "
            "(403 SERVICE_DISABLED).",
            f"export GOOGLE_CLOUD_QUOTA_PROJECT={project} (with {service} enabled there: "
            f"gcloud services enable {service} --project {project}), then run preflight again",
        )
    return (
        f"{what}: {service} is not enabled in project {consumer}, which your calls are billed "
        "to (403 SERVICE_DISABLED).",
        f"gcloud services enable {service} --project {consumer}, then run preflight again",
    )

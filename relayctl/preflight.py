"""``relayctl preflight``: read the stack's real Google Cloud project, read-only, and say what
would stop ``pulumi up`` before it runs.

It reads ``gcp:project``, ``gcp:region`` and the stack's settings from ``Pulumi.<stack>.yaml``
(the program's own rules: ``infra.settings.settings_from_config``), then makes, all at once, the
read-only calls listed in relayctl/google_api.py with Application Default Credentials, and
judges: the project, billing, the organisation policies the stack's resources are subject to
(relayctl/preflight_policies.py), the caller's permissions for every resource the stack
declares (relayctl/preflight_permissions.py), the APIs to enable, and the quota-project rule
(infra/credentials.py, the condition the program itself refuses).

Each check is one line, ``subject: ok (...)``, ``subject: will fail: ... Fix: ...`` or
``subject: could not tell: ... (how to check)``, then one summary line, as ``relayctl check``
writes them. A read that is refused or fails is "could not tell", never "ok".
Exit codes: 0 every check is ok; 1 something will fail, or Google cannot be reached at all;
2 usage; 3 nothing will fail, but something could not be told.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from relayctl.common import (
    EXIT_FAILED,
    EXIT_OK,
    NO_PROJECT,
    CommandError,
    find_project,
    usage_error,
)

if TYPE_CHECKING:  # relayctl builds its parser from this module for every command: keep it light
    from infra.settings import RelaySettings
    from relayctl.google_api import Answer, Call, Caller, Endpoint
    from relayctl.preflight_policies import StackFacts
    from relayctl.preflight_verdicts import Verdict

EXIT_COULD_NOT_TELL = 3
DEFAULT_TIMEOUT_SECONDS = 10.0
# services.list serves 50 a page by default and may serve fewer (AIP-158): a bound on a
# server's paging, not on a project's size. Past it the APIs are "could not tell".
MAX_SERVICE_PAGES = 100
DOC = 'docs/deploy.md, "Pre-flight: `relayctl preflight`"'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this subcommand's arguments."""
    parser.add_argument(
        "--stack",
        required=True,
        metavar="NAME",
        help="the stack to check: reads Pulumi.NAME.yaml (gcp:project, gcp:region, settings) "
        "from the project folder you are in",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text (default): one line per check, then a summary line; json: the same verdicts "
        "as one JSON object, for CI",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"seconds to wait for each Google answer (default {DEFAULT_TIMEOUT_SECONDS:g})",
    )


@dataclass(frozen=True)
class StackConfig:
    """The stack file's config: values as Pulumi hands them to the program (strings; lists
    and maps as JSON), and which keys are stored encrypted (``secure:``)."""

    values: Mapping[str, str]
    secure: frozenset[str]
    prefix: str  # this project's namespace, "jam-fin-relay"

    def project_value(self, key: str) -> str | None:
        return self.values.get(f"{self.prefix}:{key}")

    def gcp_value(self, key: str) -> str | None:
        return self.values.get(f"gcp:{key}")


def read_stack(project_dir: Path, stack: str) -> StackConfig:
    """The stack file as Pulumi hands it to the program, read by relayctl.stack_config (one
    reader for every command: its line-numbered errors and fixes)."""
    from relayctl import stack_config

    read = stack_config.read_stack(project_dir, stack)
    values = {
        e.key: stack_config.as_config_string(e.value)
        for e in read.entries
        if not e.secure and e.value is not None
    }
    secure = frozenset(e.key for e in read.entries if e.secure)
    return StackConfig(values, secure, read.project)


def stack_settings(config: StackConfig, stack: str) -> RelaySettings:
    from infra.settings import SettingsError, settings_from_config

    try:
        return settings_from_config(stack, config.project_value, config.gcp_value)
    except SettingsError as error:
        raise CommandError(
            "the stack's settings are invalid, and `pulumi up` refuses them before declaring "
            f"anything:\n{error}\n(`relayctl validate --stack {stack}` checks them offline)"
        ) from None


@dataclass(frozen=True)
class Report:
    stack: str
    project: str
    region: str
    endpoint: str
    caller: str
    verdicts: tuple[Verdict, ...]
    unreachable: str  # why, when no call got an HTTP answer at all; else ""

    def exit_code(self) -> int:
        from relayctl.preflight_verdicts import UNKNOWN, WILL_FAIL

        outcomes = [v.outcome for v in self.verdicts]
        if self.unreachable or WILL_FAIL in outcomes:
            return EXIT_FAILED
        if UNKNOWN in outcomes:
            return EXIT_COULD_NOT_TELL
        return EXIT_OK

    def summary(self) -> str:
        from relayctl.preflight_verdicts import UNKNOWN, WILL_FAIL

        failing = sum(v.outcome == WILL_FAIL for v in self.verdicts)
        unsure = sum(v.outcome == UNKNOWN for v in self.verdicts)
        total = len(self.verdicts)
        if self.unreachable:
            return f"failed: Google's APIs could not be reached at all ({self.unreachable})."
        if failing:
            also = f"; {unsure} could not be told" if unsure else ""
            return f"failed: {failing} of {total} checks will fail{also}. `pulumi up` would stop."
        if unsure:
            return (
                f"could not tell: {unsure} of {total} checks could not be told; nothing else "
                "will fail as far as preflight can see."
            )
        return f"ok: all {total} checks passed."

    def header(self) -> str:
        return (
            f"Pre-flight of stack '{self.stack}': project {self.project}, region {self.region}; "
            f"Google APIs at {self.endpoint}, called as {self.caller}."
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "project": self.project,
            "region": self.region,
            "api_base": self.endpoint,
            "caller": self.caller,
            "checks": [v.as_json() for v in self.verdicts],
            "summary": self.summary(),
            "exit_code": self.exit_code(),
        }


def run(args: argparse.Namespace) -> int:
    from relayctl.common import err
    from relayctl.google_api import caller, endpoint_from_env

    endpoint, warnings = endpoint_from_env(os.environ)  # a refused base exits 2 here
    for warning in warnings:
        err(warning)
    project_dir = find_project()
    if project_dir is None:
        raise usage_error(NO_PROJECT)
    config = read_stack(project_dir, args.stack)
    settings = stack_settings(config, args.stack)
    who = caller(endpoint, os.environ)
    report = preflight(settings, config, endpoint, who, args.timeout, os.environ)
    if args.format == "json":
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(report.header())
        for verdict in report.verdicts:
            print(verdict.line())
        print(report.summary())
    return report.exit_code()


def calls(settings: RelaySettings) -> list[Call]:
    """Every read, made at once; the permissions asked for assume APIs are still to enable."""
    from relayctl.google_api import Call
    from relayctl.preflight_permissions import needed_permissions
    from relayctl.preflight_policies import CONSTRAINTS

    project = settings.project
    wanted = list(needed_permissions(settings, apis_to_enable=True))
    return [
        Call("project", "cloudresourcemanager", "GET", f"/v3/projects/{project}"),
        Call(
            "permissions",
            "cloudresourcemanager",
            "POST",
            f"/v3/projects/{project}:testIamPermissions",
            {"permissions": wanted},
        ),
        Call("billing", "cloudbilling", "GET", f"/v1/projects/{project}/billingInfo"),
        *(
            Call(
                f"policy:{constraint}",
                "orgpolicy",
                "GET",
                f"/v2/projects/{project}/policies/{constraint}:getEffectivePolicy",
            )
            for constraint in CONSTRAINTS
        ),
        Call("services", "serviceusage", "GET", _services_path(project, "")),
    ]


def _services_path(project: str, page_token: str) -> str:
    path = f"/v1/projects/{project}/services?filter=state:ENABLED"
    # A page token is opaque and may hold "+", "/", "=" or "&": sent as it came, a "+" reads
    # back as a space and the next page is refused.
    return f"{path}&pageToken={quote(page_token, safe='')}" if page_token else path


def preflight(
    settings: RelaySettings,
    config: StackConfig,
    endpoint: Endpoint,
    who: Caller,
    timeout: float,
    environ: Mapping[str, str],
) -> Report:
    from relayctl.google_api import send_all

    answers = send_all(endpoint, who, calls(settings), timeout)
    enabled, services_answer = _enabled_services(
        settings.project, answers["services"], endpoint, who, timeout
    )
    unreachable = ""
    if not any(answer.reached for answer in answers.values()):
        problems = sorted({answer.problem for answer in answers.values()})
        unreachable = f"{', '.join(problems)} at {endpoint.describe()}"
    verdicts = _judge(settings, config, answers, services_answer, enabled, environ)
    return Report(
        settings.stack,
        settings.project,
        settings.region,
        endpoint.describe(),
        who.description,
        tuple(verdicts),
        unreachable,
    )


def _enabled_services(
    project: str, first: Answer, endpoint: Endpoint, who: Caller, timeout: float
) -> tuple[frozenset[str] | None, Answer]:
    """The enabled services, following pages; None (and the failing answer) if unreadable."""
    from relayctl.google_api import Call, send

    enabled: set[str] = set()
    answer = first
    for _ in range(MAX_SERVICE_PAGES):
        if not answer.ok:
            return None, answer
        services = answer.document.get("services", [])
        if not isinstance(services, list):
            return None, answer
        for service in services:
            name = service.get("name") if isinstance(service, dict) else None
            if isinstance(name, str) and service.get("state") == "ENABLED":
                enabled.add(name.rsplit("/", 1)[-1])
        token = answer.document.get("nextPageToken")
        if not isinstance(token, str) or not token:
            return frozenset(enabled), answer
        path = _services_path(project, token)
        answer = send(endpoint, who, Call("services", "serviceusage", "GET", path), timeout)
    return None, answer


def _judge(
    settings: RelaySettings,
    config: StackConfig,
    answers: Mapping[str, Answer],
    services_answer: Answer,
    enabled: frozenset[str] | None,
    environ: Mapping[str, str],
) -> list[Verdict]:
    from relayctl.preflight_permissions import program_apis
    from relayctl.preflight_policies import CONSTRAINTS, evaluate
    from relayctl.preflight_verdicts import unread

    project = settings.project
    number = _project_number(answers["project"])
    apis = program_apis(settings)
    to_enable = None if enabled is None else tuple(a for a in apis if a not in enabled)
    verdicts = [
        _project(answers["project"], project),
        _billing(answers["billing"], project, number),
    ]
    facts = _facts(settings)
    for constraint in CONSTRAINTS:
        answer = answers[f"policy:{constraint}"]
        if answer.ok:
            verdicts.extend(evaluate(constraint, answer.document, facts))
        else:
            verdicts.append(
                unread(
                    f"policy {constraint}",
                    answer,
                    f"its effective policy ({constraint})",
                    "orgpolicy.policy.get",
                    "roles/orgpolicy.policyViewer",
                    project,
                    number,
                )
            )
    granted = _granted(answers["permissions"])
    verdicts.append(
        _permissions(
            settings,
            answers,
            granted,
            to_enable,
            _identity_note(config, environ),
            _deploys_as_user(config, environ),
            number,
        )
    )
    verdicts.append(_apis(project, number, services_answer, apis, to_enable, granted))
    verdicts.append(_quota_project(settings, config, environ))
    return verdicts


def _facts(settings: RelaySettings) -> StackFacts:
    from infra.relay import POLICY_EXCEPTIONS
    from infra.settings import (
        PUBLIC_ACCESS_NONE,
        PUBLIC_ACCESS_WITH_POLICY_EXCEPTION,
        SECRET_REPLICATION_AUTOMATIC,
    )
    from relayctl.preflight_permissions import program_apis
    from relayctl.preflight_policies import ALSO_USED_APIS, StackFacts

    exempted = (
        frozenset(exception.constraint for exception in POLICY_EXCEPTIONS)
        if settings.public_access == PUBLIC_ACCESS_WITH_POLICY_EXCEPTION
        else frozenset()
    )
    return StackFacts(
        project=settings.project,
        stack=settings.stack,
        region=settings.region,
        # Automatic replication is created in `global` (firebase-tools #6454; Secret Manager's
        # "Choose a replication policy": allowed only "if resource creation in global is
        # allowed"); userManaged keeps the one replica in the stack's region.
        secret_location=(
            "global"
            if settings.secret_replication == SECRET_REPLICATION_AUTOMATIC
            else settings.region
        ),
        public_access=settings.public_access,
        public_access_grants=settings.public_access != PUBLIC_ACCESS_NONE,
        ingress=settings.ingress,
        used_apis=tuple(sorted({*program_apis(settings), *ALSO_USED_APIS})),
        exempted=exempted,
    )


def _project_number(answer: Answer) -> str:
    """The number in a Project's ``name`` (projects/NUMBER), or '' when it holds none."""
    name = answer.document.get("name") if answer.ok else None
    number = name.removeprefix("projects/") if isinstance(name, str) else ""
    return number if number.isdigit() else ""


def _project(answer: Answer, project: str) -> Verdict:
    from relayctl.preflight_verdicts import ok, unknown, unread, will_fail

    if answer.status == 404:
        return will_fail(
            "project",
            f"project {project} does not exist (404).",
            f"pulumi config set gcp:project PROJECT_ID (the id `gcloud projects list` shows; "
            f"not {project!r})",
        )
    if not answer.ok:
        return unread(
            "project",
            answer,
            f"project {project} (Resource Manager answers 403 both when it does not exist and "
            "when you cannot see it)",
            "resourcemanager.projects.get",
            "roles/browser",
            project,
        )
    state = answer.document.get("state")
    number = _project_number(answer)
    if state == "ACTIVE":
        numbered = f"number {number}, " if number else ""
        return ok("project", f"{project} exists and you can see it: {numbered}ACTIVE")
    if state == "DELETE_REQUESTED":
        return will_fail(
            "project",
            f"project {project} is scheduled for deletion (DELETE_REQUESTED).",
            f"gcloud projects undelete {project}",
        )
    return unknown(
        "project",
        f"project {project} is in state {state!r}, which Resource Manager does not document.",
        f"gcloud projects describe {project}",
    )


def _billing(answer: Answer, project: str, number: str) -> Verdict:
    from relayctl.preflight_verdicts import ok, unread, will_fail

    if not answer.ok:
        return unread(
            "billing",
            answer,
            f"project {project}'s billing information",
            "resourcemanager.projects.get",
            "roles/browser",
            project,
            number,
        )
    # proto3 JSON leaves false out: no billingEnabled is "not enabled".
    enabled = answer.document.get("billingEnabled") is True
    account = answer.document.get("billingAccountName")
    if enabled:
        return ok("billing", f"enabled ({account})" if isinstance(account, str) else "enabled")
    why = (
        f"its billing account {account} is closed"
        if isinstance(account, str) and account
        else "it has no billing account"
    )
    return will_fail(
        "billing",
        f"billing is not enabled on {project}: {why}, and the APIs the relay needs (Cloud "
        "Functions, Cloud Build, Artifact Registry, Secret Manager) cannot be enabled without "
        "it.",
        f"gcloud billing projects link {project} --billing-account=BILLING_ACCOUNT_ID "
        "(`gcloud billing accounts list` shows yours; linking needs roles/billing.user on the "
        "account and roles/billing.projectManager or Owner on the project)",
    )


def _granted(answer: Answer) -> frozenset[str] | None:
    if not answer.ok:
        return None
    permissions = answer.document.get("permissions", [])  # proto3: none granted, no field
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        return None
    return frozenset(permissions)


def _permissions(
    settings: RelaySettings,
    answers: Mapping[str, Answer],
    granted: frozenset[str] | None,
    to_enable: tuple[str, ...] | None,
    identity_note: str,
    caller_is_user: bool,
    number: str,
) -> Verdict:
    from relayctl.preflight_permissions import needed_permissions, role_for
    from relayctl.preflight_verdicts import ok, unknown, unread, will_fail

    project = settings.project
    if granted is None:
        return unread(
            "permissions",
            answers["permissions"],
            "testIamPermissions on the project (it needs no permission of its own)",
            "resourcemanager.projects.get",
            "roles/browser",
            project,
            number,
        )
    needed = needed_permissions(
        settings,
        apis_to_enable=to_enable is None or bool(to_enable),
        caller_is_user=caller_is_user,
    )
    missing = [p for p in needed if p not in granted]
    if missing:
        listed = ", ".join(f"{p} ({role_for(p)})" for p in missing)
        roles = sorted({role_for(p) for p in missing})
        return will_fail(
            "permissions",
            f"you lack {len(missing)} of the {len(needed)} permissions a first `pulumi up` of "
            f"this stack needs on {project}: {listed}.",
            _grant_fix(roles, project, answers["project"]),
        )
    if identity_note:
        return unknown(
            "permissions",
            f"you hold all {len(needed)} permissions, but {identity_note}",
            "run preflight with the same identity `pulumi up` uses (point "
            "GOOGLE_APPLICATION_CREDENTIALS at its key or configuration)",
        )
    return ok(
        "permissions",
        f"you hold all {len(needed)} permissions a first `pulumi up` of this stack needs",
    )


def _grant_fix(roles: list[str], project: str, project_answer: Answer) -> str:
    from relayctl.preflight_permissions import ORGANIZATION_LEVEL_ROLES

    parent = project_answer.document.get("parent") if project_answer.ok else None
    organization = (
        parent.removeprefix("organizations/")
        if isinstance(parent, str) and parent.startswith("organizations/")
        else "ORGANIZATION_ID"
    )
    fixes = []
    for role in roles:
        if role in ORGANIZATION_LEVEL_ROLES:
            fixes.append(
                f"an organisation administrator runs gcloud organizations add-iam-policy-binding "
                f"{organization} --member=PRINCIPAL --role={role}"
            )
        else:
            fixes.append(
                f"gcloud projects add-iam-policy-binding {project} --member=PRINCIPAL --role={role}"
            )
    return "; ".join(fixes) + " (PRINCIPAL: user:EMAIL, or serviceAccount:EMAIL for CI)"


def _apis(
    project: str,
    number: str,
    answer: Answer,
    apis: tuple[str, ...],
    to_enable: tuple[str, ...] | None,
    granted: frozenset[str] | None,
) -> Verdict:
    from relayctl.preflight_permissions import ENABLE_PERMISSION, role_for
    from relayctl.preflight_verdicts import ok, unknown, unread, will_fail

    if to_enable is None:
        return unread(
            "apis",
            answer,
            "the project's enabled services",
            "serviceusage.services.list",
            role_for("serviceusage.services.list"),
            project,
            number,
        )
    if not to_enable:
        return ok("apis", f"all {len(apis)} APIs the program uses are enabled")
    off = ", ".join(to_enable)
    if granted is None:
        return unknown(
            "apis",
            f"{len(to_enable)} of {len(apis)} APIs are not enabled yet ({off}); whether you may "
            "enable them is not known (testIamPermissions got no answer).",
            f"ask whether you hold {ENABLE_PERMISSION} on {project} "
            f"({role_for(ENABLE_PERMISSION)}), or enable them first: gcloud services enable "
            f"{' '.join(to_enable)} --project {project}",
        )
    if ENABLE_PERMISSION in granted:
        return ok(
            "apis",
            f"{len(to_enable)} of {len(apis)} APIs are not enabled yet ({off}); `pulumi up` "
            f"enables them, and you may ({ENABLE_PERMISSION})",
        )
    return will_fail(
        "apis",
        f"{len(to_enable)} of {len(apis)} APIs are not enabled ({off}), and you lack "
        f"{ENABLE_PERMISSION} to let `pulumi up` enable them.",
        f"gcloud services enable {' '.join(to_enable)} --project {project} (by someone "
        f"who may), or grant {role_for(ENABLE_PERMISSION)}",
    )


def _quota_project(
    settings: RelaySettings, config: StackConfig, environ: Mapping[str, str]
) -> Verdict:
    from infra.credentials import (
        QUOTA_PROJECT_ENV,
        UNREADABLE,
        credential_type,
        quota_project_problem,
    )
    from infra.relay import ORG_POLICY_API
    from relayctl.preflight_permissions import program_apis
    from relayctl.preflight_verdicts import ok, unknown, will_fail

    uses_api = ORG_POLICY_API[1] in program_apis(settings)
    if not uses_api:
        return ok(
            "quota project",
            f"not needed: publicAccess {settings.public_access} makes no Org Policy API call",
        )
    if environ.get(QUOTA_PROJECT_ENV, "").strip():
        return ok("quota project", f"{QUOTA_PROJECT_ENV} is set")
    if "gcp:credentials" in config.secure:
        return unknown(
            "quota project",
            "gcp:credentials is stored encrypted, so preflight cannot see which kind of "
            "credentials `pulumi up` uses.",
            f"with user credentials, export {QUOTA_PROJECT_ENV}={settings.project}",
        )
    gcp_value = _gcp_config_as_the_program_sees_it(config)
    problem = quota_project_problem(settings.project, uses_api, environ, gcp_value)
    if problem:
        detail, _, fix = problem.partition(" Fix: ")
        return will_fail("quota project", detail, fix)
    kind = credential_type(environ, gcp_value)
    if kind == UNREADABLE:
        return unknown(
            "quota project",
            "the credentials `pulumi up` will use could not be read to tell their kind.",
            f"with user credentials, export {QUOTA_PROJECT_ENV}={settings.project}",
        )
    return ok("quota project", f"not needed: {kind} credentials carry their own project")


def _gcp_config_as_the_program_sees_it(config: StackConfig) -> Callable[[str], str | None]:
    """``gcp:`` config as the program reads it: an encrypted value is there (only its
    content is unknown here), which is all the credential rule asks of gcp:accessToken and
    gcp:impersonateServiceAccount."""

    def lookup(key: str) -> str | None:
        if f"gcp:{key}" in config.secure:
            return "(encrypted)"
        return config.gcp_value(key)

    return lookup


def _deploys_as_user(config: StackConfig, environ: Mapping[str, str]) -> bool:
    """Will ``pulumi up`` run with a person's credentials (what grantCallerActAs grants to)?"""
    from infra.credentials import credential_type, is_user_credential

    if "gcp:credentials" in config.secure:
        return False  # unknown kind: keep asking for project-wide actAs
    return is_user_credential(credential_type(environ, _gcp_config_as_the_program_sees_it(config)))


def _identity_note(config: StackConfig, environ: Mapping[str, str]) -> str:
    """Why ``pulumi up`` may act as someone other than the caller checked here, or ''.

    The provider prefers, in order, credentials in its config or GOOGLE_CREDENTIALS, an access
    token, an account to impersonate, and only then Application Default Credentials
    (infra/credentials.py lists the order and its source).
    """
    from infra.credentials import ACCESS_TOKEN_ENV, ADC_ENV, CREDENTIALS_ENVS, IMPERSONATE_ENV

    for key in ("credentials", "accessToken", "impersonateServiceAccount"):
        if config.gcp_value(key) or f"gcp:{key}" in config.secure:
            return f"the stack sets gcp:{key}, so `pulumi up` does not act as you."
    adc = environ.get(ADC_ENV, "")
    for name in CREDENTIALS_ENVS:
        if environ.get(name) and environ.get(name) != adc:
            return f"{name} is set, so `pulumi up` uses it rather than your default credentials."
    for name in (ACCESS_TOKEN_ENV, IMPERSONATE_ENV):
        if environ.get(name):
            return f"{name} is set, so `pulumi up` does not act as the identity checked here."
    return ""

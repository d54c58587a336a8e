"""Stack settings: every ``pulumi config`` key the program reads, its default, and validation.

Reading is split from Pulumi (``settings_from_config`` takes a plain lookup function) so the
rules can be checked without an engine, and every problem is reported at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

PROJECT_NAME = "jam-fin-relay"

DEFAULT_WORKFLOWS_FILE = "workflows.yaml"
DEFAULT_REGION = "us-central1"
DEFAULT_RUNTIME = "python312"
DEFAULT_MEMORY = "256Mi"
DEFAULT_CPU = "1"
DEFAULT_TIMEOUT_SECONDS = 30
DEFAULT_MIN_INSTANCES = 0
DEFAULT_MAX_INSTANCES = 10
DEFAULT_CONCURRENCY = 16
DEFAULT_INGRESS = "ALLOW_ALL"
DEFAULT_ALERT_FAILED_THRESHOLD = 0
DEFAULT_ALERT_SIGNATURE_REJECTED_THRESHOLD = 5
DEFAULT_ALERT_NOT_CONFIGURED_THRESHOLD = 0
DEFAULT_ALERT_REFUSED_THRESHOLD = 5
DEFAULT_ALERT_REFUSED_WINDOW_MINUTES = 60
DEFAULT_UPTIME_CHECK_PERIOD_SECONDS = 60
UPTIME_CHECK_PERIODS = (60, 300, 600, 900)  # the periods Cloud Monitoring accepts
# Monitoring may answer 404 for up to 10 minutes after a log metric is created
# (terraform-provider-google #11102), so alert policies wait this long after new metrics.
DEFAULT_ALERT_METRIC_WAIT_SECONDS = 600

# IAM changes take effect "typically within 2 minutes", sometimes 7 or more (Google, "Access
# change propagation": https://cloud.google.com/iam/docs/access-change-propagation); a 60 s wait
# still failed half its runs (terraform-provider-google #20571). Only new grants wait for it.
DEFAULT_IAM_PROPAGATION_SECONDS = 180
# How Jam reaches the relay: docs/deploy.md ("Public access") explains each value, and why the
# default stays the plain grant (the exception needs an organisation-level role and opens the
# whole project, so it is a choice made in the stack config, not a default).
PUBLIC_ACCESS_ALL_USERS = "allUsers"
PUBLIC_ACCESS_WITH_POLICY_EXCEPTION = "allUsersWithPolicyException"
PUBLIC_ACCESS_NONE = "none"
PUBLIC_ACCESS_VALUES = (
    PUBLIC_ACCESS_ALL_USERS,
    PUBLIC_ACCESS_WITH_POLICY_EXCEPTION,
    PUBLIC_ACCESS_NONE,
)
# The two organisation-policy constraints that refuse an allUsers grant (domain-restricted
# sharing): the program exempts the project from both, and preflight reads both.
MANAGED_DOMAIN_RESTRICTION = "iam.managed.allowedPolicyMembers"
DOMAIN_RESTRICTION = "iam.allowedPolicyMemberDomains"  # the legacy list constraint
DEFAULT_PUBLIC_ACCESS = PUBLIC_ACCESS_ALL_USERS
# Google: an organization policy set with `gcloud org-policies set-policy` "can take up to 15
# minutes to propagate" (https://docs.cloud.google.com/dataproc/docs/guides/fleet-management),
# so the allUsers grant waits this long after the project's exception is created or changed.
DEFAULT_ORG_POLICY_PROPAGATION_SECONDS = 900
# Secret Manager replication of the workflow secrets. Automatic replication is created in the
# `global` location, which an organisation's gcp.resourceLocations policy may refuse
# (firebase-tools #6454); user-managed replication keeps the one replica in the stack's region.
SECRET_REPLICATION_AUTOMATIC = "automatic"  # noqa: S105 (a mode, not a secret)
SECRET_REPLICATION_USER_MANAGED = "userManaged"  # noqa: S105 (a mode, not a secret)
SECRET_REPLICATION_VALUES = (SECRET_REPLICATION_AUTOMATIC, SECRET_REPLICATION_USER_MANAGED)
DEFAULT_SECRET_REPLICATION = SECRET_REPLICATION_AUTOMATIC
DEFAULT_GRANT_CALLER_ACT_AS = False
BOOLEAN_VALUES = ("true", "false")

# Google Cloud project ids: 6-30 characters, a lower-case letter first, then lower-case letters,
# digits and hyphens, no hyphen last (https://cloud.google.com/resource-manager/docs/creating-managing-projects).
# Domain-scoped ids (example.com:project) are refused: their function URL cannot be predicted.
PROJECT_ID_RE = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
# The value Pulumi.dev.yaml ships with, for a new user to replace.
PLACEHOLDER_PROJECT = "my-gcp-project-id"

INGRESS_VALUES = ("ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB")
# Cloud Run accepts up to 60 min for HTTP functions; Jam gives up far sooner, so cap lower.
MAX_TIMEOUT_SECONDS = 3600
MAX_CONCURRENCY = 1000
MEMORY_RE = re.compile(r"[1-9][0-9]*(Mi|Gi|M|G)")
LABEL_KEY_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE_RE = re.compile(r"[a-z0-9_-]{0,63}")
# "No more than 64 labels can be associated with a given resource" (Google's label requirements,
# https://cloud.google.com/resource-manager/docs/labels-overview#requirements). The program adds
# its own (BASE_LABEL_KEYS on every resource, WORKFLOW_LABEL on a workflow's secrets), so the
# user's labels are counted together with them where they are accepted.
LABELS_MAX = 64
BASE_LABEL_KEYS = ("app", "stack", "managed-by")
WORKFLOW_LABEL = "workflow"
PROGRAM_LABEL_KEYS = (*BASE_LABEL_KEYS, WORKFLOW_LABEL)
# Google Cloud region names: a lower-case area, a hyphen, a lower-case direction and a number
# (us-central1, northamerica-northeast1, europe-west10; https://cloud.google.com/run/docs/locations).
# The region becomes part of URLs and, with userManaged replication, of secret ids, so a value
# of another shape is refused here rather than by Google mid-deploy. REGION_MAX bounds it for the
# environment budget (the longest region today has 23 characters).
REGION_RE = re.compile(r"[a-z]+-[a-z]+[0-9]{1,2}")
REGION_MAX = 30
FUNCTION_NAME_RE = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")


class SettingsError(Exception):
    """Every invalid stack setting, one per line, each with its fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class RelaySettings:
    stack: str
    project: str
    region: str
    workflows_file: str
    function_name: str
    runtime: str
    memory: str
    cpu: str
    timeout_seconds: int
    min_instances: int
    max_instances: int
    concurrency: int
    ingress: str
    labels: Mapping[str, str] = field(default_factory=dict)
    alert_notification_channels: tuple[str, ...] = ()
    alert_failed_threshold: int = DEFAULT_ALERT_FAILED_THRESHOLD
    alert_signature_rejected_threshold: int = DEFAULT_ALERT_SIGNATURE_REJECTED_THRESHOLD
    alert_not_configured_threshold: int = DEFAULT_ALERT_NOT_CONFIGURED_THRESHOLD
    alert_refused_threshold: int = DEFAULT_ALERT_REFUSED_THRESHOLD
    alert_refused_window_minutes: int = DEFAULT_ALERT_REFUSED_WINDOW_MINUTES
    uptime_check_period_seconds: int = DEFAULT_UPTIME_CHECK_PERIOD_SECONDS
    alert_metric_wait_seconds: int = DEFAULT_ALERT_METRIC_WAIT_SECONDS
    iam_propagation_seconds: int = DEFAULT_IAM_PROPAGATION_SECONDS
    public_access: str = DEFAULT_PUBLIC_ACCESS
    org_policy_propagation_seconds: int = DEFAULT_ORG_POLICY_PROPAGATION_SECONDS
    secret_replication: str = DEFAULT_SECRET_REPLICATION
    grant_caller_act_as: bool = DEFAULT_GRANT_CALLER_ACT_AS


# key (in this project's namespace) -> (default shown in docs, meaning). docs/configuration.md
# (Stack settings) and Pulumi.yaml describe the same keys; tests check the three agree.
SETTING_KEYS: dict[str, str] = {
    "workflowsFile": DEFAULT_WORKFLOWS_FILE,
    "functionName": "jam-fin-relay-<stack>",
    "runtime": DEFAULT_RUNTIME,
    "memory": DEFAULT_MEMORY,
    "cpu": DEFAULT_CPU,
    "timeoutSeconds": str(DEFAULT_TIMEOUT_SECONDS),
    "minInstances": str(DEFAULT_MIN_INSTANCES),
    "maxInstances": str(DEFAULT_MAX_INSTANCES),
    "concurrency": str(DEFAULT_CONCURRENCY),
    "ingress": DEFAULT_INGRESS,
    "labels": "",
    "alertNotificationChannels": "[]",
    "alertFailedThreshold": str(DEFAULT_ALERT_FAILED_THRESHOLD),
    "alertSignatureRejectedThreshold": str(DEFAULT_ALERT_SIGNATURE_REJECTED_THRESHOLD),
    "alertNotConfiguredThreshold": str(DEFAULT_ALERT_NOT_CONFIGURED_THRESHOLD),
    "alertRefusedByIntercomThreshold": str(DEFAULT_ALERT_REFUSED_THRESHOLD),
    "alertRefusedByIntercomWindowMinutes": str(DEFAULT_ALERT_REFUSED_WINDOW_MINUTES),
    "uptimeCheckPeriodSeconds": str(DEFAULT_UPTIME_CHECK_PERIOD_SECONDS),
    "alertMetricWaitSeconds": str(DEFAULT_ALERT_METRIC_WAIT_SECONDS),
    "iamPropagationSeconds": str(DEFAULT_IAM_PROPAGATION_SECONDS),
    "publicAccess": DEFAULT_PUBLIC_ACCESS,
    "orgPolicyPropagationSeconds": str(DEFAULT_ORG_POLICY_PROPAGATION_SECONDS),
    "secretReplication": DEFAULT_SECRET_REPLICATION,
    "grantCallerActAs": str(DEFAULT_GRANT_CALLER_ACT_AS).lower(),
}

# Whole-number settings: key -> (RelaySettings field, default, lowest, highest).
INT_SETTINGS: dict[str, tuple[str, int, int, int]] = {
    "timeoutSeconds": ("timeout_seconds", DEFAULT_TIMEOUT_SECONDS, 1, MAX_TIMEOUT_SECONDS),
    "minInstances": ("min_instances", DEFAULT_MIN_INSTANCES, 0, 1000),
    "maxInstances": ("max_instances", DEFAULT_MAX_INSTANCES, 1, 1000),
    "concurrency": ("concurrency", DEFAULT_CONCURRENCY, 1, MAX_CONCURRENCY),
    "alertFailedThreshold": (
        "alert_failed_threshold",
        DEFAULT_ALERT_FAILED_THRESHOLD,
        0,
        1_000_000,
    ),
    "alertSignatureRejectedThreshold": (
        "alert_signature_rejected_threshold",
        DEFAULT_ALERT_SIGNATURE_REJECTED_THRESHOLD,
        0,
        1_000_000,
    ),
    "alertNotConfiguredThreshold": (
        "alert_not_configured_threshold",
        DEFAULT_ALERT_NOT_CONFIGURED_THRESHOLD,
        0,
        1_000_000,
    ),
    "alertRefusedByIntercomThreshold": (
        "alert_refused_threshold",
        DEFAULT_ALERT_REFUSED_THRESHOLD,
        0,
        1_000_000,
    ),
    # An alerting policy's alignment period is at most 90,000 s (25 h):
    # https://cloud.google.com/monitoring/api/ref_v3/rest/v3/Aggregation
    "alertRefusedByIntercomWindowMinutes": (
        "alert_refused_window_minutes",
        DEFAULT_ALERT_REFUSED_WINDOW_MINUTES,
        5,
        1440,
    ),
    "uptimeCheckPeriodSeconds": (
        "uptime_check_period_seconds",
        DEFAULT_UPTIME_CHECK_PERIOD_SECONDS,
        min(UPTIME_CHECK_PERIODS),
        max(UPTIME_CHECK_PERIODS),
    ),
    "alertMetricWaitSeconds": (
        "alert_metric_wait_seconds",
        DEFAULT_ALERT_METRIC_WAIT_SECONDS,
        0,
        3600,
    ),
    "iamPropagationSeconds": ("iam_propagation_seconds", DEFAULT_IAM_PROPAGATION_SECONDS, 0, 1800),
    "orgPolicyPropagationSeconds": (
        "org_policy_propagation_seconds",
        DEFAULT_ORG_POLICY_PROPAGATION_SECONDS,
        0,
        3600,
    ),
}

Lookup = Callable[[str], str | None]


def _set_command(key: str, stack: str, example: str) -> str:
    return f"pulumi config set {key} {example} --stack {stack}"


def _int_setting(
    lookup: Lookup,
    key: str,
    default: int,
    low: int,
    high: int,
    stack: str,
    problems: list[str],
) -> int:
    raw = lookup(key)
    if raw is None:
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        problems.append(
            f"config '{key}' must be a whole number from {low} to {high}, got {raw!r}. "
            f"Fix: {_set_command(key, stack, str(default))}"
        )
        return default
    return value


def _choice_setting(
    lookup: Lookup,
    key: str,
    default: str,
    values: tuple[str, ...],
    stack: str,
    problems: list[str],
    see: str = "",
) -> str:
    value = lookup(key) or default
    if value not in values:
        problems.append(
            f"config '{key}' must be one of {', '.join(values)}, got {value!r}{see}. "
            f"Fix: {_set_command(key, stack, default)}"
        )
    return value


def _json_setting(lookup: Lookup, key: str, stack: str, problems: list[str]) -> Any:
    raw = lookup(key)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        problems.append(
            f"config '{key}' must be a list (a YAML sequence in Pulumi.{stack}.yaml). "
            f"Fix: pulumi config set --path '{key}[0]' VALUE --stack {stack}"
        )
        return None


def _labels(lookup: Lookup, stack: str, problems: list[str]) -> dict[str, str]:
    """``team=support,cost-center=cx``: a string, because Pulumi.yaml cannot declare maps."""
    raw = (lookup("labels") or "").strip()
    labels: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not LABEL_KEY_RE.fullmatch(key) or not LABEL_VALUE_RE.fullmatch(value):
            problems.append(
                f"config 'labels' entry {item!r} is not NAME=VALUE with Google Cloud label "
                "characters (lower-case letters, digits, '_' and '-'; names start with a "
                "letter; at most 63 each). "
                f"Fix: pulumi config set labels team=support,cost-center=cx --stack {stack}"
            )
            continue
        labels[key] = value
    carried = set(labels) | set(PROGRAM_LABEL_KEYS)
    if len(carried) > LABELS_MAX:
        room = LABELS_MAX - len(PROGRAM_LABEL_KEYS)
        problems.append(
            f"config 'labels' has {len(labels)} labels; with the program's own "
            f"({', '.join(PROGRAM_LABEL_KEYS)}) a resource would carry {len(carried)}, and Google "
            f"Cloud allows at most {LABELS_MAX} per resource. Fix: keep at most {room} labels "
            f"of your own: pulumi config set labels team=support,cost-center=cx --stack {stack}"
        )
    return labels


def _channels(lookup: Lookup, stack: str, problems: list[str]) -> tuple[str, ...]:
    value = _json_setting(lookup, "alertNotificationChannels", stack, problems)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(c, str) and c.startswith("projects/") and "/notificationChannels/" in c
        for c in value
    ):
        problems.append(
            "config 'alertNotificationChannels' must be a list of notification channel names "
            "like projects/PROJECT/notificationChannels/ID. Fix: pulumi config set --path "
            "'alertNotificationChannels[0]' projects/PROJECT/notificationChannels/ID "
            f"--stack {stack}"
        )
        return ()
    return tuple(dict.fromkeys(value))  # order kept, duplicates dropped


def _cpu_value(cpu: str) -> float | None:
    try:
        value = float(cpu)
    except ValueError:
        return None
    return value if value > 0 else None


def default_function_name(stack: str) -> str:
    """The function (and Cloud Run service) name when config 'functionName' is not set."""
    return f"{PROJECT_NAME}-{stack}".lower()


def project_problem(project: str | None, stack: str) -> str | None:
    """What is wrong with ``gcp:project`` (unset, the shipped placeholder, not a project id)."""
    fix = f"Fix: pulumi config set gcp:project YOUR_PROJECT_ID --stack {stack}"
    if not project:
        return f"config 'gcp:project' is not set. {fix}"
    if project == PLACEHOLDER_PROJECT:
        return (
            f"config 'gcp:project' is still the example value '{PLACEHOLDER_PROJECT}'. {fix} "
            "(the id, not the name or number: `gcloud projects list` shows it)"
        )
    if not PROJECT_ID_RE.fullmatch(project):
        return (
            f"config 'gcp:project' {project!r} is not a Google Cloud project id (6-30 lower-case "
            "letters, digits and hyphens, starting with a letter; domain-scoped ids are not "
            f"supported). {fix}"
        )
    return None


def _bool_setting(lookup: Lookup, key: str, default: bool, stack: str, problems: list[str]) -> bool:
    raw = lookup(key)
    if raw is None or not str(raw).strip():
        return default
    value = str(raw).strip().lower()
    if value not in BOOLEAN_VALUES:
        problems.append(
            f"config '{key}' must be true or false, got {raw!r}. "
            f"Fix: {_set_command(key, stack, str(default).lower())}"
        )
        return default
    return value == "true"


def settings_from_config(stack: str, project_lookup: Lookup, gcp_lookup: Lookup) -> RelaySettings:
    """Build the settings from this project's and the ``gcp:`` config; raise SettingsError."""
    problems: list[str] = []
    project = gcp_lookup("project")
    if (wrong := project_problem(project, stack)) is not None:
        problems.append(wrong)
    region = gcp_lookup("region") or DEFAULT_REGION
    if len(region) > REGION_MAX or not REGION_RE.fullmatch(region):
        problems.append(
            f"config 'gcp:region' {region!r} is not a Google Cloud region name (such as "
            f"us-central1 or europe-west1). Fix: pulumi config set gcp:region {DEFAULT_REGION} "
            f"--stack {stack}"
        )

    configured_name = project_lookup("functionName")
    function_name = configured_name or default_function_name(stack)
    if not FUNCTION_NAME_RE.fullmatch(function_name):
        # Unset, the name comes from the stack's: say so, or the message names a key nobody set.
        which = (
            f"config 'functionName' {function_name!r} is"
            if configured_name
            else f"the stack name {stack!r} gives the default function name {function_name!r}, "
            "which is"
        )
        problems.append(
            f"{which} not a valid Cloud Run service name "
            "(lower-case letters, digits and '-', starting with a letter, at most 63). "
            f"Fix: {_set_command('functionName', stack, f'{PROJECT_NAME}-relay')}"
        )

    runtime = project_lookup("runtime") or DEFAULT_RUNTIME
    if not re.fullmatch(r"python3[0-9]+", runtime):
        problems.append(
            f"config 'runtime' must be a Python runtime such as python312, got {runtime!r}. "
            f"Fix: {_set_command('runtime', stack, DEFAULT_RUNTIME)}"
        )

    memory = project_lookup("memory") or DEFAULT_MEMORY
    if not MEMORY_RE.fullmatch(memory):
        problems.append(
            f"config 'memory' must look like 256Mi or 1Gi, got {memory!r}. "
            f"Fix: {_set_command('memory', stack, DEFAULT_MEMORY)}"
        )

    cpu = project_lookup("cpu") or DEFAULT_CPU
    cpu_value = _cpu_value(cpu)
    if cpu_value is None:
        problems.append(
            f"config 'cpu' must be a positive number of vCPUs such as 0.167 or 1, got {cpu!r}. "
            f"Fix: {_set_command('cpu', stack, DEFAULT_CPU)}"
        )

    numbers = {
        field: _int_setting(project_lookup, key, default, low, high, stack, problems)
        for key, (field, default, low, high) in INT_SETTINGS.items()
    }
    min_instances, max_instances = numbers["min_instances"], numbers["max_instances"]
    if min_instances > max_instances:
        problems.append(
            f"config 'minInstances' ({min_instances}) is above 'maxInstances' "
            f"({max_instances}). Fix: {_set_command('minInstances', stack, '0')}"
        )
    concurrency = numbers["concurrency"]
    # Cloud Run (and so 2nd-gen functions) serve one request at a time below one vCPU.
    if concurrency > 1 and cpu_value is not None and cpu_value < 1:
        problems.append(
            f"config 'concurrency' {concurrency} needs 'cpu' of at least 1 (got {cpu}): "
            "below one vCPU an instance serves one request at a time. "
            f"Fix: {_set_command('cpu', stack, '1')} or {_set_command('concurrency', stack, '1')}"
        )

    ingress = _choice_setting(
        project_lookup, "ingress", DEFAULT_INGRESS, INGRESS_VALUES, stack, problems
    )

    labels = _labels(project_lookup, stack, problems)
    channels = _channels(project_lookup, stack, problems)
    if numbers["uptime_check_period_seconds"] not in UPTIME_CHECK_PERIODS:
        problems.append(
            f"config 'uptimeCheckPeriodSeconds' must be one of "
            f"{', '.join(map(str, UPTIME_CHECK_PERIODS))}, got "
            f"{numbers['uptime_check_period_seconds']}. "
            f"Fix: {_set_command('uptimeCheckPeriodSeconds', stack, '60')}"
        )
    public_access = _choice_setting(
        project_lookup,
        "publicAccess",
        DEFAULT_PUBLIC_ACCESS,
        PUBLIC_ACCESS_VALUES,
        stack,
        problems,
        see=' (docs/deploy.md, "Public access")',
    )
    secret_replication = _choice_setting(
        project_lookup,
        "secretReplication",
        DEFAULT_SECRET_REPLICATION,
        SECRET_REPLICATION_VALUES,
        stack,
        problems,
    )
    grant_caller_act_as = _bool_setting(
        project_lookup, "grantCallerActAs", DEFAULT_GRANT_CALLER_ACT_AS, stack, problems
    )

    if problems:
        raise SettingsError(problems)
    assert project is not None  # checked above; narrows the type
    return RelaySettings(
        stack=stack,
        project=project,
        region=region,
        workflows_file=project_lookup("workflowsFile") or DEFAULT_WORKFLOWS_FILE,
        function_name=function_name,
        runtime=runtime,
        memory=memory,
        cpu=cpu,
        ingress=ingress,
        labels=labels,
        alert_notification_channels=channels,
        public_access=public_access,
        secret_replication=secret_replication,
        grant_caller_act_as=grant_caller_act_as,
        **numbers,
    )


def resource_labels(settings: RelaySettings) -> dict[str, str]:
    """Labels for cost tracking on every resource that takes them; user labels win."""
    app, stack, managed_by = BASE_LABEL_KEYS
    base = {
        app: PROJECT_NAME,
        stack: re.sub(r"[^a-z0-9_-]", "-", settings.stack.lower())[:63],
        managed_by: "pulumi",
    }
    return {**base, **settings.labels}

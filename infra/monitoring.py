"""What the relay's log lines say, and the Cloud Logging filters built on them (no Pulumi here).

The relay writes one JSON object per answered request to stdout; Cloud Run stores it as
``jsonPayload`` on a ``cloud_run_revision`` entry (https://cloud.google.com/run/docs/logging).
The field and outcome names below are the relay's (docs/CONTRACTS.md). The relay folder is
deployed on its own and cannot import this module, so tests/test_log_filters.py drives the real
relay through every outcome over HTTP and checks each line against these filters.

Every filter uses a small subset of the Logging query language, on purpose: terms joined by
``AND``, each ``FIELD="value"``, ``FIELD=("a" OR "b")`` or ``FIELD:*`` (the field exists)
(https://cloud.google.com/logging/docs/view/logging-query-language).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from relay_function.naming import CONVERSATION_ID_RE

# The relay's structured log fields (relay_function/main.py `log(...)`).
FIELD_OUTCOME = "outcome"
FIELD_WORKFLOW = "workflow_id"
FIELD_LATENCY = "latency_ms"
FIELD_INTERCOM_STATUS = "intercom_status"
FIELD_CONVERSATION = "conversation_id"
FIELD_MESSAGE_ID = "jam_message_id"
FIELD_EVENT_TYPE = "event_type"

# The relay's outcomes (its answer table, docs/CONTRACTS.md).
DELIVERED = "delivered"
IGNORED = "ignored"
REFUSED_BY_INTERCOM = "refused_by_intercom"
FAILED = "failed"
SIGNATURE_REJECTED = "signature_rejected"
NOT_CONFIGURED = "not_configured"
BAD_REQUEST = "bad_request"
UNKNOWN_ROUTE = "unknown_route"
METHOD_NOT_ALLOWED = "method_not_allowed"
TOO_LARGE = "too_large"
INTERNAL_ERROR = "error"
CONFIG_ERROR = "config_error"  # logged once at start-up per broken route, not per request
# Outcomes on the dashboard, in the order the issue lists them.
DASHBOARD_OUTCOMES = (
    DELIVERED,
    IGNORED,
    REFUSED_BY_INTERCOM,
    FAILED,
    SIGNATURE_REJECTED,
    NOT_CONFIGURED,
)
# Lines whose latency includes a forward to Intercom (tried, whatever Intercom answered).
FORWARDED_OUTCOMES = (DELIVERED, REFUSED_BY_INTERCOM, FAILED)

RESOURCE_TYPE = "cloud_run_revision"
LOG_METRIC_PREFIX = "logging.googleapis.com/user/"

# Service names and workflow ids never need quoting either; checked so no filter is injectable.
_SAFE_VALUE_RE = re.compile(r"[A-Za-z0-9_.:/-]{1,256}")


def _value(value: str) -> str:
    if not _SAFE_VALUE_RE.fullmatch(value):
        raise ValueError(f"{value!r} cannot be used in a log filter")
    return f'"{value}"'


def payload(field: str) -> str:
    return f"jsonPayload.{field}"


def equals(path: str, value: str) -> str:
    return f"{path}={_value(value)}"


def one_of(path: str, values: tuple[str, ...]) -> str:
    return f"{path}=({' OR '.join(_value(v) for v in values)})"


def exists(path: str) -> str:
    return f"{path}:*"


def all_of(*terms: str) -> str:
    return " AND ".join(terms)


def relay_lines(service_name: str) -> str:
    """Every log line of the relay's Cloud Run service."""
    return all_of(
        equals("resource.type", RESOURCE_TYPE),
        equals("resource.labels.service_name", service_name),
    )


def outcome_lines(service_name: str) -> str:
    """The relay's answered-request lines (and start-up config problems): they carry outcome."""
    return all_of(relay_lines(service_name), exists(payload(FIELD_OUTCOME)))


def forwarded_lines(service_name: str) -> str:
    """Lines of requests the relay forwarded to Intercom: their latency is the forward's."""
    return all_of(
        relay_lines(service_name),
        one_of(payload(FIELD_OUTCOME), FORWARDED_OUTCOMES),
        exists(payload(FIELD_LATENCY)),
    )


def intercom_status_lines(service_name: str) -> str:
    """Lines on which Intercom answered (with any status)."""
    return all_of(relay_lines(service_name), exists(payload(FIELD_INTERCOM_STATUS)))


def lines_with_outcome(service_name: str, outcome: str) -> str:
    """The exact query an operator pastes into Logs Explorer to see one outcome's lines."""
    return all_of(relay_lines(service_name), equals(payload(FIELD_OUTCOME), outcome))


def conversation_lines(conversation_id: str, service_name: str | None = None) -> str:
    """One conversation's relay lines; the id is checked with the relay's own rule."""
    if not CONVERSATION_ID_RE.fullmatch(conversation_id):
        raise ValueError(
            "a conversation id is 1-64 characters of letters, digits, '_' and '-', "
            f"got {conversation_id!r}"
        )
    base = (
        relay_lines(service_name)
        if service_name is not None
        else equals("resource.type", RESOURCE_TYPE)
    )
    return all_of(base, equals(payload(FIELD_CONVERSATION), conversation_id))


def logs_explorer_url(project: str, query: str) -> str:
    """A Logs Explorer link that opens with ``query`` filled in."""
    # https://cloud.google.com/logging/docs/view/logs-explorer-interface (query in the URL)
    return (
        f"https://console.cloud.google.com/logs/query;query={quote(query, safe='')}"
        f"?project={quote(project, safe='')}"
    )


# --------------------------------------------------------------------------------------------
# The log-based metrics: one place for their names, filters and labels.


@dataclass(frozen=True)
class LogMetricSpec:
    suffix: str  # the metric is named "<function name>-<suffix>"
    description: str
    labels: tuple[tuple[str, str], ...]  # (metric label, jsonPayload field it is extracted from)

    def name(self, function_name: str) -> str:
        return f"{function_name}-{self.suffix}"


OUTCOMES = LogMetricSpec(
    "outcomes",
    "Requests answered by the Jam to Intercom Fin relay, by outcome and workflow",
    ((FIELD_OUTCOME, FIELD_OUTCOME), (FIELD_WORKFLOW, FIELD_WORKFLOW)),
)
LATENCY = LogMetricSpec(
    "forward-latency",
    "Time the relay took to answer requests it forwarded to Intercom, in milliseconds",
    ((FIELD_OUTCOME, FIELD_OUTCOME), (FIELD_WORKFLOW, FIELD_WORKFLOW)),
)
INTERCOM_STATUS = LogMetricSpec(
    "intercom-status",
    "Intercom's HTTP status codes on the relay's forwards, by workflow",
    ((FIELD_INTERCOM_STATUS, FIELD_INTERCOM_STATUS), (FIELD_WORKFLOW, FIELD_WORKFLOW)),
)
LOG_METRICS = (OUTCOMES, LATENCY, INTERCOM_STATUS)

# Latency buckets: exponential from 1 ms, x1.25 each, 48 finite buckets (upper bound ~45 s).
# Forwards take tens to hundreds of ms and are cut at the relay's 8 s deadline (30 s request
# timeout), so every bucket that matters is at most 25% wide and nothing real overflows.
LATENCY_SCALE_MS = 1.0
LATENCY_GROWTH_FACTOR = 1.25
LATENCY_FINITE_BUCKETS = 48


def metric_filter(metric_name: str, **labels: str) -> str:
    """A Monitoring filter on one of our log-based metrics (and optionally its labels)."""
    terms = [
        f'metric.type="{LOG_METRIC_PREFIX}{metric_name}"',
        f'resource.type="{RESOURCE_TYPE}"',
    ]
    terms += [f'metric.label.{key}="{value}"' for key, value in labels.items()]
    return " AND ".join(terms)

"""Monitoring as code: log-based metrics, the stack's dashboard, an uptime check and alerts.

The relay logs one structured line per answered request (docs/CONTRACTS.md); infra/monitoring.py
holds the field names and filters. Three log-based metrics count those lines (outcomes by
workflow, Intercom's status codes) and measure forward latency (a distribution). The dashboard
shows them with instance count and links to the exact log queries. Alert policies, one per way
events can silently stop reaching Fin, exist only when the stack lists notification channels
(an alert nobody receives is noise), and so does the /health uptime check they use.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time as time

from infra import monitoring as m
from infra.dashboard import DashboardInputs, dashboard_console_url, dashboard_json
from infra.settings import RelaySettings
from infra.urls import health_url
from relay_function.naming import HEALTH_PATH

COMPONENT_TYPE = "jam-fin-relay:index:RelayAlerting"
OUTCOME_LABEL = m.FIELD_OUTCOME
WORKFLOW_LABEL = m.FIELD_WORKFLOW
ALERT_WINDOW_SECONDS = 300
# Outcome alerts, in the order they are declared; "relay_down" is the uptime check's policy.
ALERTED_OUTCOMES = (m.FAILED, m.SIGNATURE_REJECTED, m.NOT_CONFIGURED, m.REFUSED_BY_INTERCOM)
RELAY_DOWN = "relay_down"
UPTIME_TIMEOUT = "10s"
# /health answers {"status": "ok", "routes": N} (relay_function/main.py, docs/CONTRACTS.md).
# Monitoring's JSON-path matcher compares the JSON value at the path with ``content`` read as
# JSON, so a string is written quoted: the provider's own example has `content = "\"example\""`
# with EXACT_MATCH (google_monitoring_uptime_check_config, uptime_check_config_http). An
# unquoted `ok` is not the JSON string "ok" and never matches.
HEALTH_STATUS_PATH = "$.status"
HEALTH_STATUS_CONTENT = json.dumps("ok")


@dataclass(frozen=True)
class AlertingArgs:
    settings: RelaySettings  # project, function name, channels and thresholds
    service_name: pulumi.Input[str]  # the relay's Cloud Run service (short name)
    # The relay URL Jam's endpoints are under (infra/urls.py: https://REGION-PROJECT.
    # cloudfunctions.net/FUNCTION, known before deploying): the uptime check probes its health
    # URL, so "relay down" watches the very host and path prefix Jam posts to.
    relay_url: str
    labels: Mapping[str, str]
    # The APIs: a component's depends_on does not reach its children, so they carry it.
    depends_on: Sequence[pulumi.Resource]


def outcome_metric_filter(metric_name: str, outcome: str) -> str:
    return m.metric_filter(metric_name, **{OUTCOME_LABEL: outcome})


def uptime_target(relay_url: str) -> tuple[str, str]:
    """The uptime check's (host, path): the relay's health URL (``infra.urls.health_url``),
    e.g. (``us-central1-p.cloudfunctions.net``, ``/jam-fin-relay-dev/health``). The relay
    answers its health path with and without the function-name segment (naming.served_path)."""
    parts = urlsplit(health_url(relay_url))
    return parts.hostname or "", parts.path


def uptime_metric_filter(check_id: str) -> str:
    return (
        'metric.type="monitoring.googleapis.com/uptime_check/check_passed" '
        f'AND resource.type="uptime_url" AND metric.label.check_id="{check_id}"'
    )


@dataclass(frozen=True)
class PolicyText:
    title: str
    meaning: str
    first_step: str
    runbook: str  # the whole runbook: its section of docs/operations.md, by anchor


POLICY_TEXT: dict[str, PolicyText] = {
    m.FAILED: PolicyText(
        "Jam events are not reaching Intercom",
        "The relay answered `failed` (502): Intercom was unreachable, timed out, or answered "
        "5xx, 408 or 429. Jam retries for about a day, then marks the event failed and, if "
        "failures go on for days, disables the endpoint. Fin stays waiting meanwhile.",
        "Open the failed lines (link below) and read `intercom_status`: none means Intercom "
        "could not be reached in time; 429 or 5xx means Intercom is limiting or failing. Check "
        "Intercom's status page, then recover the failed events from Jam's Webhook Portal.",
        "docs/operations.md#alert-failed",
    ),
    m.SIGNATURE_REJECTED: PolicyText(
        "Jam deliveries rejected for their signature",
        "The relay answered 401 for a bad or missing signature. If the deliveries come from "
        "Jam, the workflow's signing secret in the stack config is wrong or was rotated, and "
        "every event is being retried into 401.",
        "Copy the endpoint's signing secret from Jam's Webhook Portal, store it with `pulumi "
        "config set --secret KEY` (the key is in the jam_setup output) and run `pulumi up`.",
        "docs/operations.md#alert-signature-rejected",
    ),
    m.NOT_CONFIGURED: PolicyText(
        "A workflow's relay route is not configured",
        "The relay answered 503 `not_configured`: the route has no signing secret or no valid "
        "Intercom URL. Jam retries into the 503 and disables the endpoint after days of it.",
        "Read the line's message (link below): it names the missing config key. Set it with "
        "`pulumi config set --secret KEY --stack STACK`, run `pulumi up`, then "
        "`relayctl check --stack STACK`.",
        "docs/operations.md#alert-not-configured",
    ),
    m.REFUSED_BY_INTERCOM: PolicyText(
        "Intercom refuses a workflow's events",
        "Intercom keeps answering a permanent 4xx (usually 404) for one workflow. Single 404s "
        "are normal (the conversation no longer waits); a sustained run means the workflow's "
        "Intercom URL is wrong or revoked, and every event is acknowledged to Jam and dropped.",
        "Open the Wait for webhook step in Intercom, check the workflow is live and its URL "
        "matches the stored one; store the right URL with `pulumi config set --secret KEY` and "
        "run `pulumi up`.",
        "docs/operations.md#alert-refused-by-intercom",
    ),
    RELAY_DOWN: PolicyText(
        "The relay does not answer /health",
        "The uptime check on the relay's /health fails from more than one region: Jam's "
        "deliveries are failing too, and Jam will retry and eventually disable the endpoints.",
        "Open the Cloud Run service's logs and revisions: a failed deploy, a crash at start-up "
        "or a 403 (the service is no longer public) are the usual causes; then run "
        "`relayctl check --stack STACK`.",
        "docs/operations.md#alert-relay-down",
    ),
}


def policy_documentation(outcome: str, logs_link: str) -> str:
    text = POLICY_TEXT[outcome]
    return (
        f"{text.meaning}\n\n**First step:** {text.first_step}\n\n"
        f"[The log lines]({logs_link}). Runbook: {text.runbook} in the relay's repository."
    )


class RelayAlerting(pulumi.ComponentResource):
    """Metrics and dashboard always; uptime check, metric wait and policies with channels."""

    metric_name: pulumi.Output[str]
    metric_names: dict[str, pulumi.Output[str]]
    dashboard_url: pulumi.Output[str]
    policy_names: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: AlertingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        settings = args.settings
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        service_name = pulumi.Output.from_input(args.service_name)
        self._service_name = service_name

        metrics = {spec.suffix: self._metric(spec, service_name) for spec in m.LOG_METRICS}
        self.metric_names = {suffix: metric.name for suffix, metric in metrics.items()}
        self.metric_name = self.metric_names[m.OUTCOMES.suffix]

        channels = settings.alert_notification_channels
        uptime = self._uptime_check() if channels else None
        self.policy_names = {}
        if channels:
            wait = self._metric_wait(list(metrics.values()))
            after = [*metrics.values(), *([wait] if wait else [])]
            outcomes = metrics[m.OUTCOMES.suffix]
            for outcome in ALERTED_OUTCOMES:
                self.policy_names[outcome] = self._outcome_policy(outcome, outcomes, after).name
            assert uptime is not None
            self.policy_names[RELAY_DOWN] = self._relay_down_policy(uptime).name

        check_id = uptime.uptime_check_id if uptime is not None else None
        dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard",
            project=settings.project,
            dashboard_json=pulumi.Output.all(service_name, check_id).apply(
                lambda v: dashboard_json(
                    DashboardInputs(settings.project, settings.function_name, v[0], v[1])
                )
            ),
            opts=pulumi.ResourceOptions.merge(
                self._child, pulumi.ResourceOptions(depends_on=list(metrics.values()))
            ),
        )
        self.dashboard_url = dashboard.id.apply(
            lambda i: dashboard_console_url(settings.project, i)
        )
        self.register_outputs(
            {
                "metric_name": self.metric_name,
                "dashboard_url": self.dashboard_url,
                **self.policy_names,
            }
        )

    # ----------------------------------------------------------------------------------------

    def _metric(self, spec: m.LogMetricSpec, service: pulumi.Output[str]) -> gcp.logging.Metric:
        settings = self._args.settings
        labels = [
            gcp.logging.MetricMetricDescriptorLabelArgs(
                key=label, value_type="STRING", description=f"jsonPayload.{field}"
            )
            for label, field in spec.labels
        ]
        extractors = {label: f"EXTRACT(jsonPayload.{field})" for label, field in spec.labels}
        if spec is m.LATENCY:
            # A distribution of the logged latency: Monitoring computes p50/p95/p99 from it.
            # https://cloud.google.com/logging/docs/logs-based-metrics/distribution-metrics
            value_type, unit, title = "DISTRIBUTION", "ms", "forward latency"
            value_extractor: str | None = f"EXTRACT(jsonPayload.{m.FIELD_LATENCY})"
            buckets: gcp.logging.MetricBucketOptionsArgs | None = (
                gcp.logging.MetricBucketOptionsArgs(
                    exponential_buckets=gcp.logging.MetricBucketOptionsExponentialBucketsArgs(
                        num_finite_buckets=m.LATENCY_FINITE_BUCKETS,
                        growth_factor=m.LATENCY_GROWTH_FACTOR,
                        scale=m.LATENCY_SCALE_MS,
                    )
                )
            )
            log_filter = service.apply(m.forwarded_lines)
        else:
            value_type, unit, title = "INT64", "1", spec.suffix.replace("-", " ")
            value_extractor, buckets = None, None
            log_filter = service.apply(
                m.outcome_lines if spec is m.OUTCOMES else m.intercom_status_lines
            )
        descriptor = gcp.logging.MetricMetricDescriptorArgs(
            metric_kind="DELTA",
            value_type=value_type,
            unit=unit,
            display_name=f"{settings.function_name} {title}",
            labels=labels,
        )
        return gcp.logging.Metric(
            f"{self._name}-{spec.suffix}",
            project=settings.project,
            name=spec.name(settings.function_name),
            description=spec.description,
            filter=log_filter,
            metric_descriptor=descriptor,
            label_extractors=extractors,
            value_extractor=value_extractor,
            bucket_options=buckets,
            opts=self._child,
        )

    def _metric_wait(self, metrics: list[gcp.logging.Metric]) -> time.Sleep | None:
        """A wait between new log metrics and the policies on them, re-armed on a new set.

        Monitoring answers 404 "Cannot find metric(s) ... could take up to 10 minutes" to a
        policy on a log metric created moments before (terraform-provider-google #11102). The
        Sleep is created (and so waits) once, and again only when the set of metric names, its
        trigger, changes; an ordinary `pulumi up` never waits. Stacks without channels have
        no policies and no wait.
        """
        settings = self._args.settings
        if settings.alert_metric_wait_seconds == 0:
            return None
        names = sorted(spec.name(settings.function_name) for spec in m.LOG_METRICS)
        return time.Sleep(
            f"{self._name}-metric-wait",
            create_duration=f"{settings.alert_metric_wait_seconds}s",
            triggers={"log_metrics": ",".join(names)},
            opts=pulumi.ResourceOptions.merge(
                self._child, pulumi.ResourceOptions(depends_on=list(metrics))
            ),
        )

    def _uptime_check(self) -> gcp.monitoring.UptimeCheckConfig:
        settings = self._args.settings
        host, path = uptime_target(self._args.relay_url)
        return gcp.monitoring.UptimeCheckConfig(
            f"{self._name}-health",
            project=settings.project,
            display_name=f"{settings.function_name} {HEALTH_PATH}",
            period=f"{settings.uptime_check_period_seconds}s",
            timeout=UPTIME_TIMEOUT,
            http_check=gcp.monitoring.UptimeCheckConfigHttpCheckArgs(
                path=path,
                port=443,
                use_ssl=True,
                validate_ssl=True,
                request_method="GET",
                accepted_response_status_codes=[
                    gcp.monitoring.UptimeCheckConfigHttpCheckAcceptedResponseStatusCodeArgs(
                        status_class="STATUS_CLASS_2XX"
                    )
                ],
            ),
            content_matchers=[
                gcp.monitoring.UptimeCheckConfigContentMatcherArgs(
                    content=HEALTH_STATUS_CONTENT,
                    matcher="MATCHES_JSON_PATH",
                    json_path_matcher=gcp.monitoring.UptimeCheckConfigContentMatcherJsonPathMatcherArgs(
                        json_path=HEALTH_STATUS_PATH, json_matcher="EXACT_MATCH"
                    ),
                )
            ],
            monitored_resource=gcp.monitoring.UptimeCheckConfigMonitoredResourceArgs(
                type="uptime_url",
                labels={
                    "project_id": settings.project,
                    "host": host,
                },
            ),
            user_labels=dict(self._args.labels),
            opts=self._child,
        )

    def _threshold(self, outcome: str) -> tuple[int, int]:
        """(count above which to alert, window in seconds) for an outcome alert."""
        s = self._args.settings
        return {
            m.FAILED: (s.alert_failed_threshold, ALERT_WINDOW_SECONDS),
            m.SIGNATURE_REJECTED: (s.alert_signature_rejected_threshold, ALERT_WINDOW_SECONDS),
            m.NOT_CONFIGURED: (s.alert_not_configured_threshold, ALERT_WINDOW_SECONDS),
            m.REFUSED_BY_INTERCOM: (s.alert_refused_threshold, s.alert_refused_window_minutes * 60),
        }[outcome]

    def _policy(
        self,
        key: str,
        condition: gcp.monitoring.AlertPolicyConditionArgs,
        logs_query: pulumi.Output[str],
        severity: str,
        after: Sequence[pulumi.Resource],
    ) -> gcp.monitoring.AlertPolicy:
        settings = self._args.settings
        return gcp.monitoring.AlertPolicy(
            f"{self._name}-{key.replace('_', '-')}",
            project=settings.project,
            display_name=f"{settings.function_name}: {POLICY_TEXT[key].title}",
            combiner="OR",
            severity=severity,
            conditions=[condition],
            alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close="1800s"),
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                content=logs_query.apply(
                    lambda q: policy_documentation(key, m.logs_explorer_url(settings.project, q))
                ),
                mime_type="text/markdown",
                subject=f"{settings.function_name}: {POLICY_TEXT[key].title}",
            ),
            notification_channels=list(settings.alert_notification_channels),
            user_labels=dict(self._args.labels),
            opts=pulumi.ResourceOptions.merge(
                self._child, pulumi.ResourceOptions(depends_on=list(after))
            ),
        )

    def _outcome_policy(
        self, outcome: str, metric: gcp.logging.Metric, after: Sequence[pulumi.Resource]
    ) -> gcp.monitoring.AlertPolicy:
        threshold, window = self._threshold(outcome)
        minutes = window // 60
        condition = gcp.monitoring.AlertPolicyConditionArgs(
            display_name=f"{outcome} per workflow above {threshold} in {minutes} min",
            condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                filter=metric.name.apply(lambda name: outcome_metric_filter(name, outcome)),
                comparison="COMPARISON_GT",
                threshold_value=float(threshold),
                duration="0s",
                aggregations=[
                    gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                        alignment_period=f"{window}s",
                        per_series_aligner="ALIGN_SUM",
                        cross_series_reducer="REDUCE_SUM",
                        group_by_fields=[f"metric.label.{WORKFLOW_LABEL}"],
                    )
                ],
                trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(count=1),
            ),
        )
        severity = "WARNING" if outcome == m.SIGNATURE_REJECTED else "ERROR"
        logs_query = self._service_name.apply(lambda s: m.lines_with_outcome(s, outcome))
        return self._policy(outcome, condition, logs_query, severity, after)

    def _relay_down_policy(
        self, uptime: gcp.monitoring.UptimeCheckConfig
    ) -> gcp.monitoring.AlertPolicy:
        # Google's recommended uptime condition: count the regions whose latest check failed
        # (https://cloud.google.com/monitoring/uptime-checks/uptime-alerting-policies).
        condition = gcp.monitoring.AlertPolicyConditionArgs(
            display_name=f"{HEALTH_PATH} failing from more than one region",
            condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                filter=uptime.uptime_check_id.apply(uptime_metric_filter),
                comparison="COMPARISON_GT",
                threshold_value=1.0,
                duration="60s",
                aggregations=[
                    gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                        alignment_period="1200s",
                        per_series_aligner="ALIGN_NEXT_OLDER",
                        cross_series_reducer="REDUCE_COUNT_FALSE",
                        group_by_fields=["resource.label.host"],
                    )
                ],
                trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(count=1),
            ),
        )
        logs_query = self._service_name.apply(m.relay_lines)
        return self._policy(RELAY_DOWN, condition, logs_query, "CRITICAL", [uptime])

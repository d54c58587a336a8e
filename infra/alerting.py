"""Alerting as code: a log-based metric of relay outcomes and alert policies on the bad ones.

The relay logs one structured line per answered request with ``outcome`` and ``workflow_id``
(docs/CONTRACTS.md). The metric counts those lines by both labels; the policies fire on
``failed`` (Intercom unreachable, so Jam is retrying and may disable the endpoint) and on
``signature_rejected`` (a misconfigured secret, or someone probing the endpoint). Policies are
only declared when the stack lists notification channels: an alert nobody receives is noise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.settings import RelaySettings

COMPONENT_TYPE = "jam-fin-relay:index:RelayAlerting"
OUTCOME_LABEL = "outcome"
WORKFLOW_LABEL = "workflow_id"
ALERTED_OUTCOMES = ("failed", "signature_rejected")
ALIGNMENT_PERIOD = "300s"


@dataclass(frozen=True)
class AlertingArgs:
    settings: RelaySettings  # project, function name, channels and thresholds
    service_name: pulumi.Input[str]  # the relay's Cloud Run service (short name)
    relay_url: pulumi.Input[str]  # the relay's base URL (https://...run.app)
    labels: Mapping[str, str]
    # The APIs: a component's depends_on does not reach its children, so they carry it.
    depends_on: Sequence[pulumi.Resource]


def outcome_log_filter(service_name: str) -> str:
    """Cloud Logging filter for this function's request lines that carry an outcome."""
    return (
        'resource.type="cloud_run_revision" '
        f'AND resource.labels.service_name="{service_name}" '
        "AND jsonPayload.outcome:*"
    )


def outcome_metric_filter(metric_name: str, outcome: str) -> str:
    return (
        f'metric.type="logging.googleapis.com/user/{metric_name}" '
        'AND resource.type="cloud_run_revision" '
        f'AND metric.label.{OUTCOME_LABEL}="{outcome}"'
    )


def dashboard_json(function_name: str, metric_name: str) -> str:
    """A minimal dashboard of outcomes per workflow (expanded in the next commit)."""
    return json.dumps(
        {
            "displayName": f"{function_name} relay",
            "mosaicLayout": {
                "columns": 12,
                "tiles": [
                    {
                        "width": 12,
                        "height": 4,
                        "widget": {
                            "title": "Outcomes per workflow",
                            "xyChart": {
                                "dataSets": [
                                    {
                                        "timeSeriesQuery": {
                                            "timeSeriesFilter": {
                                                "filter": (
                                                    'metric.type="logging.googleapis.com/user/'
                                                    f'{metric_name}"'
                                                ),
                                            }
                                        },
                                        "plotType": "STACKED_BAR",
                                    }
                                ]
                            },
                        },
                    }
                ],
            },
        }
    )


def dashboard_console_url(project: str, dashboard_id: str) -> str:
    """The console page of a dashboard whose resource id is projects/N/dashboards/ID."""
    return (
        "https://console.cloud.google.com/monitoring/dashboards/builder/"
        f"{dashboard_id.rsplit('/', 1)[-1]}?project={project}"
    )


_POLICY_TEXT = {
    "failed": (
        "Jam events are not reaching Intercom",
        "The relay answered `failed` (Intercom unreachable, timed out, 5xx, 408 or 429), so Jam "
        "will retry and, if failures continue for about a day, disable the endpoint. Check the "
        "relay's ERROR log lines for the workflow and Intercom's status.",
    ),
    "signature_rejected": (
        "Jam deliveries rejected for their signature",
        "The relay answered 401 for a bad or missing signature. If the workflow's deliveries "
        "come from Jam, its signing secret in the stack config is wrong or was rotated: set it "
        "again with `pulumi config set --secret KEY` (see the jam_setup output) and `pulumi up`.",
    ),
}


class RelayAlerting(pulumi.ComponentResource):
    """The outcome metric, plus one alert policy per alerted outcome when channels exist."""

    metric_name: pulumi.Output[str]
    policy_names: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: AlertingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        metric = gcp.logging.Metric(
            f"{name}-outcomes",
            project=args.settings.project,
            name=f"{args.settings.function_name}-outcomes",
            description="Requests answered by the Jam to Intercom Fin relay, by outcome",
            filter=pulumi.Output.from_input(args.service_name).apply(outcome_log_filter),
            metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                metric_kind="DELTA",
                value_type="INT64",
                unit="1",
                display_name=f"{args.settings.function_name} outcomes",
                labels=[
                    gcp.logging.MetricMetricDescriptorLabelArgs(
                        key=OUTCOME_LABEL, value_type="STRING", description="relay outcome"
                    ),
                    gcp.logging.MetricMetricDescriptorLabelArgs(
                        key=WORKFLOW_LABEL, value_type="STRING", description="workflow id"
                    ),
                ],
            ),
            label_extractors={
                OUTCOME_LABEL: "EXTRACT(jsonPayload.outcome)",
                WORKFLOW_LABEL: "EXTRACT(jsonPayload.workflow_id)",
            },
            opts=child,
        )
        self.metric_name = metric.name
        dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard",
            project=args.settings.project,
            dashboard_json=metric.name.apply(
                lambda m: dashboard_json(args.settings.function_name, m)
            ),
            opts=child,
        )
        self.dashboard_url = dashboard.id.apply(
            lambda i: dashboard_console_url(args.settings.project, i)
        )
        self.policy_names = {}
        if args.settings.alert_notification_channels:
            for outcome in ALERTED_OUTCOMES:
                policy = self._policy(name, args, metric, outcome, child)
                self.policy_names[outcome] = policy.name
        self.register_outputs(
            {
                "metric_name": self.metric_name,
                "dashboard_url": self.dashboard_url,
                **self.policy_names,
            }
        )

    @staticmethod
    def _policy(
        name: str,
        args: AlertingArgs,
        metric: gcp.logging.Metric,
        outcome: str,
        opts: pulumi.ResourceOptions,
    ) -> gcp.monitoring.AlertPolicy:
        title, runbook = _POLICY_TEXT[outcome]
        threshold = {
            "failed": args.settings.alert_failed_threshold,
            "signature_rejected": args.settings.alert_signature_rejected_threshold,
        }[outcome]
        return gcp.monitoring.AlertPolicy(
            f"{name}-{outcome.replace('_', '-')}",
            project=args.settings.project,
            display_name=f"{args.settings.function_name}: {title}",
            combiner="OR",
            severity="ERROR" if outcome == "failed" else "WARNING",
            conditions=[
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name=f"{outcome} outcomes above {threshold} in 5 min",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        # Reading metric.name makes the policy wait for the metric to exist.
                        filter=metric.name.apply(lambda m: outcome_metric_filter(m, outcome)),
                        comparison="COMPARISON_GT",
                        threshold_value=float(threshold),
                        duration="0s",
                        aggregations=[
                            gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                                alignment_period=ALIGNMENT_PERIOD,
                                per_series_aligner="ALIGN_SUM",
                                cross_series_reducer="REDUCE_SUM",
                                group_by_fields=[f"metric.label.{WORKFLOW_LABEL}"],
                            )
                        ],
                        trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(
                            count=1
                        ),
                    ),
                )
            ],
            alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close="1800s"),
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                content=runbook, mime_type="text/markdown"
            ),
            notification_channels=list(args.settings.alert_notification_channels),
            user_labels=dict(args.labels),
            opts=opts,
        )

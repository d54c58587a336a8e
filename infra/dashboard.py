"""The relay's Cloud Monitoring dashboard, as the Dashboards API's JSON (no Pulumi here).

Schema: https://cloud.google.com/monitoring/api/ref_v3/rest/v1/projects.dashboards (a
``mosaicLayout`` of tiles; charts are ``xyChart`` data sets of ``timeSeriesFilter`` queries,
logs are a ``logsPanel``). tests/pulumi/test_monitoring_dashboard.py parses the result with
Google's own Dashboard message, so an unknown field or enum value fails there, not at deploy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from infra import monitoring as m

COLUMNS = 12
TILE_HEIGHT = 4
# Built-in metrics the dashboard reads besides the program's own log-based ones.
# https://cloud.google.com/monitoring/api/metrics_gcp (run, monitoring)
INSTANCE_COUNT_METRIC = "run.googleapis.com/container/instance_count"
UPTIME_PASSED_METRIC = "monitoring.googleapis.com/uptime_check/check_passed"
BUILT_IN_METRICS = (INSTANCE_COUNT_METRIC, UPTIME_PASSED_METRIC)


@dataclass(frozen=True)
class DashboardInputs:
    project: str
    function_name: str
    service_name: str
    uptime_check_id: str | None  # only stacks with alert channels have an uptime check


def _series(
    filter_: str,
    aligner: str,
    reducer: str = "REDUCE_SUM",
    group_by: tuple[str, ...] = (),
    plot: str = "LINE",
    legend: str = "",
) -> dict[str, Any]:
    aggregation: dict[str, Any] = {
        "alignmentPeriod": "60s",
        "perSeriesAligner": aligner,
        "crossSeriesReducer": reducer,
    }
    if group_by:
        aggregation["groupByFields"] = list(group_by)
    data_set: dict[str, Any] = {
        "timeSeriesQuery": {"timeSeriesFilter": {"filter": filter_, "aggregation": aggregation}},
        "plotType": plot,
    }
    if legend:
        data_set["legendTemplate"] = legend
    return data_set


def _chart(title: str, *data_sets: dict[str, Any], y_label: str = "") -> dict[str, Any]:
    chart: dict[str, Any] = {"dataSets": list(data_sets)}
    if y_label:
        chart["yAxis"] = {"label": y_label, "scale": "LINEAR"}
    return {"title": title, "xyChart": chart}


def _outcome_charts(metric: str) -> list[dict[str, Any]]:
    by_workflow = (f"metric.label.{m.FIELD_WORKFLOW}",)
    return [
        _chart(
            f"{outcome} per workflow (per minute)",
            _series(
                m.metric_filter(metric, **{m.FIELD_OUTCOME: outcome}),
                "ALIGN_SUM",
                group_by=by_workflow,
                plot="STACKED_BAR",
            ),
            y_label="requests",
        )
        for outcome in m.DASHBOARD_OUTCOMES
    ]


def _latency_chart(metric: str) -> dict[str, Any]:
    return _chart(
        "Forward latency p50 / p95 / p99 (ms)",
        *(
            _series(
                m.metric_filter(metric),
                "ALIGN_DELTA",
                reducer=f"REDUCE_PERCENTILE_{p}",
                group_by=(f"metric.label.{m.FIELD_WORKFLOW}",),
                legend=f"p{p} ${{metric.labels.{m.FIELD_WORKFLOW}}}",
            )
            for p in ("50", "95", "99")
        ),
        y_label="ms",
    )


def _links_text(inputs: DashboardInputs) -> dict[str, Any]:
    links = [
        f"- [{outcome}]({m.logs_explorer_url(inputs.project, q)})"
        for outcome in (m.FAILED, m.NOT_CONFIGURED, m.REFUSED_BY_INTERCOM, m.SIGNATURE_REJECTED)
        for q in (m.lines_with_outcome(inputs.service_name, outcome),)
    ]
    all_lines = m.logs_explorer_url(inputs.project, m.outcome_lines(inputs.service_name))
    content = "\n".join(
        [
            f"Jam to Intercom Fin relay `{inputs.function_name}`: one log line per request.",
            "Each alert's runbook: docs/operations.md, Runbook per alert. Logs of one outcome:",
            *links,
            f"- [every request line]({all_lines})",
            "Trace one conversation: `relayctl trace --conversation ID --stack STACK`.",
        ]
    )
    return {"title": "Runbook links", "text": {"content": content, "format": "MARKDOWN"}}


def dashboard_document(inputs: DashboardInputs) -> dict[str, Any]:
    outcomes = m.OUTCOMES.name(inputs.function_name)
    latency = m.LATENCY.name(inputs.function_name)
    statuses = m.INTERCOM_STATUS.name(inputs.function_name)
    service = inputs.service_name
    widgets: list[dict[str, Any]] = [
        _links_text(inputs),
        *_outcome_charts(outcomes),
        _latency_chart(latency),
        _chart(
            "Intercom status codes (per minute)",
            _series(
                m.metric_filter(statuses),
                "ALIGN_SUM",
                group_by=(f"metric.label.{m.FIELD_INTERCOM_STATUS}",),
                plot="STACKED_BAR",
            ),
            y_label="answers",
        ),
        _chart(
            "Instances",
            _series(
                f'metric.type="{INSTANCE_COUNT_METRIC}" AND resource.type="{m.RESOURCE_TYPE}" '
                f'AND resource.label.service_name="{service}"',
                "ALIGN_MAX",
                group_by=("metric.label.state",),
                plot="STACKED_AREA",
            ),
            y_label="instances",
        ),
    ]
    if inputs.uptime_check_id is not None:
        widgets.append(
            _chart(
                "/health uptime check: fraction of regions passing",
                _series(
                    f'metric.type="{UPTIME_PASSED_METRIC}" AND resource.type="uptime_url" '
                    f'AND metric.label.check_id="{inputs.uptime_check_id}"',
                    "ALIGN_FRACTION_TRUE",
                    reducer="REDUCE_MEAN",
                ),
            )
        )
    widgets.append(
        {
            "title": "Relay warnings and errors",
            "logsPanel": {
                "filter": m.all_of(m.relay_lines(service), 'severity>="WARNING"'),
                "resourceNames": [f"projects/{inputs.project}"],
            },
        }
    )
    return {
        "displayName": f"{inputs.function_name} relay",
        "mosaicLayout": {"columns": COLUMNS, "tiles": _tiles(widgets)},
    }


def _tiles(widgets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Row by row: text and logs full width on their own row, charts two per row."""
    tiles: list[dict[str, Any]] = []
    x = y = 0
    for widget in widgets:
        width = COLUMNS if "text" in widget or "logsPanel" in widget else COLUMNS // 2
        if x + width > COLUMNS:  # no room left on this row
            x, y = 0, y + TILE_HEIGHT
        tiles.append(
            {"xPos": x, "yPos": y, "width": width, "height": TILE_HEIGHT, "widget": widget}
        )
        x += width
    return tiles


def dashboard_json(inputs: DashboardInputs) -> str:
    return json.dumps(dashboard_document(inputs), sort_keys=True)


def dashboard_console_url(project: str, dashboard_id: str) -> str:
    """The console page of a dashboard whose resource id is projects/N/dashboards/ID."""
    # The id after /monitoring/dashboards/custom/ (GoogleCloudPlatform/monitoring-dashboard-samples)
    return (
        "https://console.cloud.google.com/monitoring/dashboards/custom/"
        f"{dashboard_id.rsplit('/', 1)[-1]}?project={project}"
    )

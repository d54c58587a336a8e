"""Issue 12 under Pulumi's mocks: metrics, dashboard, uptime check, alert policies, metric wait."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from google.cloud import monitoring_dashboard_v1

from infra import monitoring as m
from infra.dashboard import BUILT_IN_METRICS
from tests.golden import assert_matches_golden

METRIC = "gcp:logging/metric:Metric"
POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
DASHBOARD = "gcp:monitoring/dashboard:Dashboard"
UPTIME = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
SLEEP = "time:index/sleep:Sleep"
METRIC_WAIT = "relay-alerting-metric-wait"
CHANNELS = ["projects/acme-support-dev/notificationChannels/123"]
URL_KEY = "billingHandoffIntercomUrl"
ALL_POLICIES = {
    "relay-alerting-failed",
    "relay-alerting-signature-rejected",
    "relay-alerting-not-configured",
    "relay-alerting-refused-by-intercom",
    "relay-alerting-relay-down",
}


def _run(kit: Any, **config: str) -> Any:
    run = kit.run("dev", kit.fixtures / "one.yaml", config=config, secrets=kit.secrets(URL_KEY))
    assert run.error is None, run.error
    return run


# The two runs most tests read are made once per module (for speed; the records are plain
# data). Runs no longer leak descriptors: tests/pulumi_mocks.ThreadLoops, test_harness.py.
_RUNS: dict[str, Any] = {}


def _once(kit: Any, key: str, **config: str) -> Any:
    if key not in _RUNS:
        _RUNS[key] = _run(kit, **config)
    return _RUNS[key]


@pytest.fixture
def plain(kit: Any) -> Any:
    return _once(kit, "plain")


@pytest.fixture
def alerted(kit: Any) -> Any:
    return _once(kit, "alerted", alertNotificationChannels=json.dumps(CHANNELS))


def _metrics(run: Any) -> dict[str, Any]:
    return {d.inputs["name"]: d for d in run.of_type(METRIC)}


def _service_name(run: Any) -> str:
    service = run.one("gcp:cloudfunctionsv2/function:Function").state["serviceConfig"]["service"]
    return str(service.rsplit("/", 1)[-1])


def _dashboard(run: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(run.one(DASHBOARD).inputs["dashboardJson"])
    return document


def _widgets(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [tile["widget"] for tile in document["mosaicLayout"]["tiles"]]


def _chart_filters(document: dict[str, Any]) -> list[str]:
    return [
        data_set["timeSeriesQuery"]["timeSeriesFilter"]["filter"]
        for widget in _widgets(document)
        if "xyChart" in widget
        for data_set in widget["xyChart"]["dataSets"]
    ]


# ---- metrics ---------------------------------------------------------------------------------


def test_three_log_metrics_named_per_stack(plain):
    assert set(_metrics(plain)) == {
        "jam-fin-relay-dev-outcomes",
        "jam-fin-relay-dev-forward-latency",
        "jam-fin-relay-dev-intercom-status",
    }


def test_outcome_metric_counts_the_relay_s_outcome_lines(plain):
    outcomes = _metrics(plain)["jam-fin-relay-dev-outcomes"]
    assert outcomes.inputs["filter"] == m.outcome_lines(_service_name(plain))
    assert outcomes.inputs["labelExtractors"] == {
        "outcome": "EXTRACT(jsonPayload.outcome)",
        "workflow_id": "EXTRACT(jsonPayload.workflow_id)",
    }


def test_latency_metric_is_a_distribution_of_the_logged_latency(plain):
    latency = _metrics(plain)["jam-fin-relay-dev-forward-latency"]
    assert latency.inputs["valueExtractor"] == "EXTRACT(jsonPayload.latency_ms)"
    descriptor = latency.inputs["metricDescriptor"]
    assert (descriptor["metricKind"], descriptor["valueType"], descriptor["unit"]) == (
        "DELTA",
        "DISTRIBUTION",
        "ms",
    )


def test_latency_buckets_resolve_milliseconds_to_past_the_request_timeout(plain):
    buckets = _metrics(plain)["jam-fin-relay-dev-forward-latency"].inputs["bucketOptions"]
    exp = buckets["exponentialBuckets"]
    # Bucket i (1-based) ends at scale * growth^i; the last must be past the 30 s request timeout.
    top = exp["scale"] * exp["growthFactor"] ** exp["numFiniteBuckets"]
    assert exp["scale"] <= 1.0
    assert top >= 30_000
    assert exp["growthFactor"] <= 1.5  # percentiles interpolate within at most +50%
    assert exp["numFiniteBuckets"] <= 200  # Monitoring's limit on buckets


def test_latency_metric_counts_only_forwarded_requests(plain):
    latency_filter = _metrics(plain)["jam-fin-relay-dev-forward-latency"].inputs["filter"]
    assert latency_filter == m.forwarded_lines(_service_name(plain))
    assert 'jsonPayload.outcome=("delivered" OR "refused_by_intercom" OR "failed")' in (
        latency_filter
    )


def test_intercom_status_metric_extracts_the_status(plain):
    metric = _metrics(plain)["jam-fin-relay-dev-intercom-status"]
    assert metric.inputs["labelExtractors"]["intercom_status"] == (
        "EXTRACT(jsonPayload.intercom_status)"
    )
    assert metric.inputs["filter"] == m.intercom_status_lines(_service_name(plain))


# ---- dashboard -------------------------------------------------------------------------------


def test_dashboard_json_is_a_valid_monitoring_dashboard(alerted):
    # Google's own Dashboard message; strict parse: an unknown field or enum value raises.
    parsed = monitoring_dashboard_v1.Dashboard.from_json(
        alerted.one(DASHBOARD).inputs["dashboardJson"]
    )
    assert parsed.display_name == "jam-fin-relay-dev relay"
    assert len(parsed.mosaic_layout.tiles) == len(_widgets(_dashboard(alerted)))


def test_dashboard_tiles_fit_the_grid_without_overlap(alerted):
    layout = _dashboard(alerted)["mosaicLayout"]
    cells: set[tuple[int, int]] = set()
    for tile in layout["tiles"]:
        assert tile["xPos"] + tile["width"] <= layout["columns"]
        mine = {
            (x, y)
            for x in range(tile["xPos"], tile["xPos"] + tile["width"])
            for y in range(tile["yPos"], tile["yPos"] + tile["height"])
        }
        assert not cells & mine
        cells |= mine


def test_every_dashboard_chart_reads_a_declared_metric(alerted):
    declared = {f"{m.LOG_METRIC_PREFIX}{name}" for name in _metrics(alerted)}
    filters = _chart_filters(_dashboard(alerted))
    assert filters
    for chart_filter in filters:
        metric_type = re.search(r'metric\.type="([^"]+)"', chart_filter)
        assert metric_type is not None, chart_filter
        assert metric_type.group(1) in declared | set(BUILT_IN_METRICS), chart_filter


def test_dashboard_charts_every_outcome_latency_percentiles_statuses_and_instances(alerted):
    filters = _chart_filters(_dashboard(alerted))
    for outcome in m.DASHBOARD_OUTCOMES:
        assert any(f'metric.label.outcome="{outcome}"' in f for f in filters), outcome
    reducers = {
        data_set["timeSeriesQuery"]["timeSeriesFilter"]["aggregation"]["crossSeriesReducer"]
        for widget in _widgets(_dashboard(alerted))
        if "xyChart" in widget
        for data_set in widget["xyChart"]["dataSets"]
        if "forward-latency" in data_set["timeSeriesQuery"]["timeSeriesFilter"]["filter"]
    }
    assert reducers == {"REDUCE_PERCENTILE_50", "REDUCE_PERCENTILE_95", "REDUCE_PERCENTILE_99"}
    assert any("intercom-status" in f for f in filters)
    assert any("run.googleapis.com/container/instance_count" in f for f in filters)


def test_dashboard_links_the_exact_log_queries(alerted):
    text = next(w["text"]["content"] for w in _widgets(_dashboard(alerted)) if "text" in w)
    query = m.lines_with_outcome(_service_name(alerted), "not_configured")
    assert m.logs_explorer_url("acme-support-dev", query) in text


def test_dashboard_url_is_a_stack_output(plain):
    dashboard = plain.one(DASHBOARD)
    dashboard_id = dashboard.id.rsplit("/", 1)[-1]
    assert plain.outputs["dashboard_url"] == (
        "https://console.cloud.google.com/monitoring/dashboards/custom/"
        f"{dashboard_id}?project=acme-support-dev"
    )


def test_dashboard_without_channels_has_no_uptime_chart(plain):
    assert not any("uptime_check" in f for f in _chart_filters(_dashboard(plain)))


# ---- alerts ----------------------------------------------------------------------------------


def test_without_channels_no_policy_no_uptime_check_and_no_wait(plain):
    assert plain.of_type(POLICY) == []
    assert plain.of_type(UPTIME) == []
    assert METRIC_WAIT not in {d.name for d in plain.of_type(SLEEP)}


def test_with_channels_a_policy_per_silent_failure(alerted):
    policies = {p.name: p for p in alerted.of_type(POLICY)}
    assert set(policies) == ALL_POLICIES
    for policy in policies.values():
        assert policy.inputs["notificationChannels"] == CHANNELS


@pytest.mark.parametrize(
    ("policy", "outcome"),
    [
        ("relay-alerting-failed", "failed"),
        ("relay-alerting-signature-rejected", "signature_rejected"),
        ("relay-alerting-not-configured", "not_configured"),
        ("relay-alerting-refused-by-intercom", "refused_by_intercom"),
    ],
)
def test_outcome_policy_names_its_metric_and_outcome(alerted, policy, outcome):
    declared = alerted.one(POLICY, policy)
    condition = declared.inputs["conditions"][0]["conditionThreshold"]
    assert condition["filter"] == m.metric_filter("jam-fin-relay-dev-outcomes", outcome=outcome)
    assert condition["aggregations"][0]["groupByFields"] == ["metric.label.workflow_id"]


def test_every_policy_documents_meaning_first_step_and_log_query(alerted):
    for policy in alerted.of_type(POLICY):
        documentation = policy.inputs["documentation"]
        assert documentation["mimeType"] == "text/markdown"
        assert "**First step:**" in documentation["content"], policy.name
        assert "https://console.cloud.google.com/logs/query;query=" in documentation["content"]
        assert "Runbook: docs/operations.md#alert-" in documentation["content"]


def test_thresholds_come_from_stack_settings(kit):
    run = _run(
        kit,
        alertNotificationChannels=json.dumps(CHANNELS),
        alertNotConfiguredThreshold="3",
        alertRefusedByIntercomThreshold="20",
        alertRefusedByIntercomWindowMinutes="30",
    )
    not_configured = run.one(POLICY, "relay-alerting-not-configured")
    refused = run.one(POLICY, "relay-alerting-refused-by-intercom")
    nc = not_configured.inputs["conditions"][0]["conditionThreshold"]
    rf = refused.inputs["conditions"][0]["conditionThreshold"]
    assert (nc["thresholdValue"], nc["aggregations"][0]["alignmentPeriod"]) == (3, "300s")
    assert (rf["thresholdValue"], rf["aggregations"][0]["alignmentPeriod"]) == (20, "1800s")


def test_refused_by_intercom_defaults_ignore_single_404s(alerted):
    refused = alerted.one(POLICY, "relay-alerting-refused-by-intercom")
    condition = refused.inputs["conditions"][0]["conditionThreshold"]
    assert condition["thresholdValue"] >= 1  # one refused event never alerts
    assert condition["aggregations"][0]["alignmentPeriod"] == "3600s"


def test_uptime_check_probes_the_health_url_under_the_relay_url_jam_posts_to(alerted, kit):
    """Issue 21.1: the uptime check probes a URL that reaches the relay: the health URL under
    the deterministic relay URL (Cloud Functions, "HTTP triggers", Function URL), the host and
    function-name segment Jam's Endpoint URLs use, never the hash-bearing Cloud Run URI. The
    relay answers /FUNCTION/health as /health (tests/platform/test_google_monitoring.py)."""
    check = alerted.one(UPTIME)
    assert check.inputs["monitoredResource"] == {
        "type": "uptime_url",
        "labels": {
            "project_id": kit.gcp_project,
            "host": f"{kit.region}-{kit.gcp_project}.cloudfunctions.net",
        },
    }
    uri = alerted.one("gcp:cloudfunctionsv2/function:Function").state["serviceConfig"]["uri"]
    assert urlsplit(uri).hostname not in json.dumps(check.inputs)
    http = check.inputs["httpCheck"]
    assert (http["path"], http["port"], http["useSsl"], http["validateSsl"]) == (
        "/jam-fin-relay-dev/health",
        443,
        True,
        True,
    )
    assert alerted.outputs["relay_url"] + "/health" == (
        f"https://{check.inputs['monitoredResource']['labels']['host']}{http['path']}"
    )
    assert check.inputs["period"] == "60s"
    assert check.inputs["timeout"] == "10s"


def test_uptime_check_matches_the_health_status_as_a_json_string(alerted):
    """Google's JSON-path matcher compares JSON values; the provider's example quotes a string
    (`content = "\\"example\\""`, EXACT_MATCH). tests/platform/test_google_monitoring.py runs
    these semantics on the relay's real /health answer."""
    (matcher,) = alerted.one(UPTIME).inputs["contentMatchers"]
    assert matcher == {
        "content": '"ok"',
        "matcher": "MATCHES_JSON_PATH",
        "jsonPathMatcher": {"jsonPath": "$.status", "jsonMatcher": "EXACT_MATCH"},
    }


def test_relay_down_policy_watches_the_uptime_check(alerted):
    check = alerted.one(UPTIME)
    policy = alerted.one(POLICY, "relay-alerting-relay-down")
    condition = policy.inputs["conditions"][0]["conditionThreshold"]
    check_id = check.state["uptimeCheckId"]
    assert "monitoring.googleapis.com/uptime_check/check_passed" in condition["filter"]
    assert f'metric.label.check_id="{check_id}"' in condition["filter"]
    assert check.urn in policy.dependencies


def test_uptime_period_setting_is_validated(kit):
    run = kit.run(
        "dev",
        kit.fixtures / "one.yaml",
        config={"uptimeCheckPeriodSeconds": "120"},
        secrets=kit.secrets(URL_KEY),
    )
    assert run.error is not None
    assert "uptimeCheckPeriodSeconds" in str(run.error)
    assert "60, 300, 600, 900" in str(run.error)
    assert run.declared == []


# ---- the metric wait (terraform-provider-google #11102) --------------------------------------


def test_outcome_policies_wait_for_the_sleep_that_waits_for_every_metric(alerted):
    sleep = alerted.one(SLEEP, METRIC_WAIT)
    metric_urns = {d.urn for d in alerted.of_type(METRIC)}
    assert metric_urns <= set(sleep.dependencies)
    assert sleep.inputs["createDuration"] == "600s"
    for name in ALL_POLICIES - {"relay-alerting-relay-down"}:
        assert sleep.urn in alerted.one(POLICY, name).dependencies, name


def test_the_wait_is_re_armed_only_by_the_set_of_metrics(kit, alerted):
    triggers = alerted.one(SLEEP, METRIC_WAIT).inputs["triggers"]
    assert triggers == {"log_metrics": ",".join(sorted(_metrics(alerted)))}
    other = _run(
        kit,
        alertNotificationChannels=json.dumps(CHANNELS),
        alertFailedThreshold="9",
        alertMetricWaitSeconds="300",
    )
    assert other.one(SLEEP, METRIC_WAIT).inputs["triggers"] == triggers


def test_a_zero_wait_declares_no_sleep(kit):
    run = _run(kit, alertNotificationChannels=json.dumps(CHANNELS), alertMetricWaitSeconds="0")
    assert METRIC_WAIT not in {d.name for d in run.of_type(SLEEP)}
    assert {p.name for p in run.of_type(POLICY)} == ALL_POLICIES


def test_the_wait_is_re_armed_when_the_metric_names_change(kit, alerted):
    renamed = _run(
        kit, alertNotificationChannels=json.dumps(CHANNELS), functionName="support-relay"
    )
    triggers = renamed.one(SLEEP, METRIC_WAIT).inputs["triggers"]
    assert triggers != alerted.one(SLEEP, METRIC_WAIT).inputs["triggers"]
    assert triggers == {"log_metrics": ",".join(sorted(_metrics(renamed)))}


def test_dashboard_log_panel_reads_this_service_s_lines(alerted):
    panel = next(w["logsPanel"] for w in _widgets(_dashboard(alerted)) if "logsPanel" in w)
    assert panel["filter"].startswith(m.relay_lines(_service_name(alerted)))
    assert panel["resourceNames"] == ["projects/acme-support-dev"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("alertRefusedByIntercomWindowMinutes", "4"),
        ("alertRefusedByIntercomWindowMinutes", "1441"),
        ("alertNotConfiguredThreshold", "-1"),
        ("alertMetricWaitSeconds", "ten"),
    ],
)
def test_out_of_range_monitoring_settings_stop_before_any_resource(kit, key, value):
    run = kit.run(
        "dev", kit.fixtures / "one.yaml", config={key: value}, secrets=kit.secrets(URL_KEY)
    )
    assert run.error is not None
    assert f"config '{key}'" in str(run.error)
    assert run.declared == []


# ---- what on-call reads, and where each alert points -------------------------------------------

GOLDEN_ALERTS = Path(__file__).parent / "golden" / "alert-policies.md"


def _alert_text(run: Any) -> str:
    parts = []
    for policy in sorted(run.of_type(POLICY), key=lambda p: p.name):
        condition = {
            k: policy.inputs[k] for k in ("alertStrategy", "combiner", "conditions", "userLabels")
        }
        parts += [
            f"## {policy.name}",
            "",
            f"display name: {policy.inputs['displayName']}",
            f"severity: {policy.inputs['severity']}",
            "",
            policy.inputs["documentation"]["content"],
            "",
            "```json",
            json.dumps(condition, indent=1, sort_keys=True),
            "```",
            "",
        ]
    for metric in sorted(run.of_type(METRIC), key=lambda d: d.name):
        parts += [
            f"## {metric.name}",
            "",
            "```json",
            json.dumps(metric.inputs, indent=1, sort_keys=True),
            "```",
            "",
        ]
    return "\n".join(parts)


def test_every_alert_and_metric_reads_as_reviewed(alerted):
    """The title, meaning and first step a notification carries are what on-call acts on, and
    each condition decides when it fires; the reviewed policies and log metrics are kept in
    tests/pulumi/golden/alert-policies.md. After changing them on purpose:
    UPDATE_GOLDEN=1 pytest tests/pulumi/test_monitoring.py, and review the diff."""
    text = _alert_text(alerted)
    assert_matches_golden(GOLDEN_ALERTS, text)


def test_only_rejected_signatures_alert_as_a_warning_and_a_down_relay_is_critical(alerted):
    """Probing the URL is not an outage; every other outcome is a lost or stuck event, and a
    relay that does not answer loses every event (Cloud Monitoring AlertPolicy.severity)."""
    severities = {p.name: p.inputs["severity"] for p in alerted.of_type(POLICY)}
    assert severities == {
        "relay-alerting-failed": "ERROR",
        "relay-alerting-signature-rejected": "WARNING",
        "relay-alerting-not-configured": "ERROR",
        "relay-alerting-refused-by-intercom": "ERROR",
        "relay-alerting-relay-down": "CRITICAL",
    }


def test_each_outcome_alert_takes_its_own_threshold(kit):
    """Four distinct values, so a threshold read for the wrong outcome cannot pass."""
    run = _run(
        kit,
        alertNotificationChannels=json.dumps(CHANNELS),
        alertFailedThreshold="2",
        alertSignatureRejectedThreshold="7",
        alertNotConfiguredThreshold="3",
        alertRefusedByIntercomThreshold="20",
    )
    thresholds = {
        policy: run.one(POLICY, policy).inputs["conditions"][0]["conditionThreshold"][
            "thresholdValue"
        ]
        for policy in sorted(ALL_POLICIES - {"relay-alerting-relay-down"})
    }
    assert thresholds == {
        "relay-alerting-failed": 2,
        "relay-alerting-signature-rejected": 7,
        "relay-alerting-not-configured": 3,
        "relay-alerting-refused-by-intercom": 20,
    }


def test_log_metrics_and_the_dashboard_live_in_the_stacks_project(plain, kit):
    assert {d.inputs["project"] for d in plain.of_type(METRIC)} == {kit.gcp_project}
    assert plain.one(DASHBOARD).inputs["project"] == kit.gcp_project


def test_the_dashboards_uptime_chart_reads_the_declared_uptime_check(alerted):
    """The check's id is Google's, known after creation (UptimeCheckConfig.uptime_check_id)."""
    check_id = alerted.one(UPTIME).state["uptimeCheckId"]
    uptime_filters = [f for f in _chart_filters(_dashboard(alerted)) if "uptime_check" in f]
    assert uptime_filters
    assert all(f'metric.label.check_id="{check_id}"' in f for f in uptime_filters)


def test_the_dashboard_waits_for_every_log_metric_it_charts(alerted):
    dashboard = alerted.one(DASHBOARD)
    assert {d.urn for d in alerted.of_type(METRIC)} <= set(dashboard.dependencies)

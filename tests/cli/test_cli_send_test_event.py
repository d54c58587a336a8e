"""``relayctl send-test-event`` against the real relay on 127.0.0.1 and a stand-in Intercom."""

from __future__ import annotations

import pytest

from relayctl import jam_events
from relayctl.local_relay import LocalRelay, free_port, relay_env
from relayctl.send_test_event import hint, is_local

SECRET = jam_events.new_signing_secret()


def send(relayctl, endpoint: str, workflow: str, *options: str, secret: str = SECRET):
    """``relayctl send-test-event`` with ``secret`` in the workflow's default variable,
    ``JAM_SIGNING_SECRET__<WORKFLOW_ID>``."""
    variable = "JAM_SIGNING_SECRET__" + workflow.upper().replace("-", "_")
    return relayctl(
        "send-test-event", endpoint, "--workflow", workflow, *options, env_extra={variable: secret}
    )


@pytest.fixture
def relay(intercom):
    env = relay_env(
        {
            "billing-handoff": ["intercom.recorder.recorded", "intercom.recorder.opted_out"],
            "bug-report-triage": ["intercom.recorder.recorded"],
            "recorded-only": ["intercom.recorder.recorded"],
        },
        {
            "billing-handoff": intercom.url_for("billing-handoff"),
            "bug-report-triage": intercom.url_for("bug-report-triage"),
            "recorded-only": intercom.url_for("recorded-only"),
        },
        # bug-report-triage has no signing secret yet
        {"billing-handoff": SECRET, "recorded-only": SECRET},
    )
    with LocalRelay(env) as running:
        yield running


def test_delivers_with_the_secret_from_the_environment(relayctl, relay, intercom):
    result = send(relayctl, relay.url, "billing-handoff", "--conversation", "42")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"POST {relay.url}/workflows/billing-handoff" in result.stdout
    assert "relay answered 200" in result.stdout
    assert "Delivered" in result.stdout
    assert [r.path for r in intercom.snapshot()] == ["/hooks/billing-handoff/42"]
    assert SECRET not in result.stdout + result.stderr


def test_secret_from_the_secrets_file_by_config_key(relayctl, relay, intercom, project):
    (project / ".relay-secrets.env").write_text(f"# local only\nbillingHandoffJamSecret={SECRET}\n")
    endpoint = relay.url + "/workflows/billing-handoff"
    result = relayctl(
        "send-test-event", endpoint, "--workflow", "billing-handoff", "--event", "opted_out"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    forwarded = intercom.snapshot()
    assert len(forwarded) == 1
    assert forwarded[0].json()["event"] == "intercom.recorder.opted_out"


def test_secret_from_a_named_variable_during_rotation(relayctl, relay, intercom):
    rotated = f"{jam_events.new_signing_secret()} {SECRET}"  # old and new, space-separated
    result = relayctl(
        "send-test-event",
        relay.url,
        "--workflow",
        "billing-handoff",
        "--secret-env",
        "MY_JAM_SECRET",
        env_extra={"MY_JAM_SECRET": rotated},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(intercom.snapshot()) == 1


def test_intercom_refusing_the_event_fails_the_check(relayctl, relay, intercom):
    intercom.answer_status = 404  # e.g. the conversation is not waiting on this workflow
    result = send(relayctl, relay.url, "billing-handoff")
    assert result.returncode == 1, result.stdout
    assert "relay answered 200" in result.stdout
    assert "Intercom refused it for good" in result.stdout
    assert len(intercom.snapshot()) == 1


def test_event_the_route_ignores_fails_the_check(relayctl, relay, intercom):
    result = send(relayctl, relay.url, "recorded-only", "--event", "opted_out")
    assert result.returncode == 1, result.stdout
    assert "relay answered 200" in result.stdout
    assert "Accepted but ignored" in result.stdout
    assert intercom.snapshot() == []


def test_an_ignored_event_lists_the_events_the_route_takes(relayctl, intercom):
    """bug-report-triage takes only recordings (tests/cli/conftest.py's workflows.yaml)."""
    env = relay_env(
        {"bug-report-triage": ["intercom.recorder.recorded"]},
        {"bug-report-triage": intercom.url_for("bug-report-triage")},
        {"bug-report-triage": SECRET},
    )
    with LocalRelay(env) as triage:
        result = send(relayctl, triage.url, "bug-report-triage", "--event", "opted_out")
    assert result.returncode == 1, result.stdout
    assert (
        "  Accepted but ignored: workflow 'bug-report-triage' does not subscribe to "
        "intercom.recorder.opted_out; it takes intercom.recorder.recorded (--event recorded).\n"
    ) in result.stdout


def test_an_ignored_event_for_a_workflow_the_file_lacks_points_at_its_events(relayctl, relay):
    result = send(relayctl, relay.url, "recorded-only", "--event", "opted_out")
    assert "does not subscribe to intercom.recorder.opted_out; its `events:`" in result.stdout


def test_wrong_signing_secret_is_401_with_a_hint(relayctl, relay, intercom):
    wrong = jam_events.new_signing_secret()
    result = send(relayctl, relay.url, "billing-handoff", secret=wrong)
    assert result.returncode == 1
    assert "relay answered 401" in result.stdout
    assert "Signature rejected" in result.stdout
    assert intercom.snapshot() == []
    assert wrong not in result.stdout + result.stderr


def test_unknown_workflow_is_404_with_a_hint(relayctl, relay):
    result = send(relayctl, relay.url, "not-deployed")
    assert result.returncode == 1
    assert "relay answered 404" in result.stdout
    assert "No such route" in result.stdout


def test_route_without_a_signing_secret_is_503_not_configured(relayctl, relay, intercom):
    result = send(relayctl, relay.url, "bug-report-triage")
    assert result.returncode == 1
    assert "relay answered 503" in result.stdout
    assert "signing secret is not configured" in result.stdout
    assert intercom.snapshot() == []


def test_unreachable_endpoint(relayctl):
    closed = f"http://127.0.0.1:{free_port()}"
    result = send(relayctl, closed, "billing-handoff", "--timeout", "5")
    assert result.returncode == 1
    assert "could not reach" in result.stdout
    assert "Traceback" not in result.stderr


def test_no_secret_anywhere_is_a_usage_error(relayctl):
    result = relayctl("send-test-event", "http://127.0.0.1:9", "--workflow", "billing-handoff")
    assert result.returncode == 2
    assert "JAM_SIGNING_SECRET__BILLING_HANDOFF" in result.stderr


def test_named_variable_not_set_is_a_usage_error(relayctl):
    result = relayctl(
        "send-test-event", "http://127.0.0.1:9", "--workflow", "x", "--secret-env", "UNSET_VAR"
    )
    assert result.returncode == 2
    assert "UNSET_VAR" in result.stderr


def test_secret_that_is_not_whsec_is_refused_without_echoing_it(relayctl):
    result = send(relayctl, "http://127.0.0.1:9", "billing-handoff", secret="hunter2-not-base64!")
    assert result.returncode == 2
    assert "not a whsec_<base64> secret" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr


def test_endpoint_for_another_workflow_is_a_usage_error(relayctl):
    result = send(relayctl, "http://127.0.0.1:9/workflows/other", "billing-handoff")
    assert result.returncode == 2
    assert "names workflow 'other'" in result.stderr


def test_missing_secrets_file_is_a_usage_error(relayctl):
    result = relayctl(
        "send-test-event",
        "http://127.0.0.1:9",
        "--workflow",
        "billing-handoff",
        "--secrets-file",
        "absent.env",
    )
    assert result.returncode == 2
    assert "absent.env: no such file" in result.stderr


def test_a_local_relay_gets_the_local_fix_for_a_wrong_secret(relayctl, relay):
    result = send(relayctl, relay.url, "billing-handoff", secret=jam_events.new_signing_secret())
    assert result.returncode == 1
    assert "relay answered 401" in result.stdout
    assert "JAM_SIGNING_SECRET__BILLING_HANDOFF" in result.stdout
    assert "the secrets file `relayctl serve` reads (.relay-secrets.env" in result.stdout
    assert "pulumi" not in result.stdout


def test_a_local_relay_gets_the_local_fix_for_a_missing_secret(relayctl, relay):
    result = send(relayctl, relay.url, "bug-report-triage")
    assert result.returncode == 1
    assert "relay answered 503" in result.stdout
    assert (
        "set INTERCOM_WEBHOOK_URL__BUG_REPORT_TRIAGE and JAM_SIGNING_SECRET__BUG_REPORT_TRIAGE in "
        "the secrets file" in result.stdout
    )
    assert "pulumi" not in result.stdout


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8080/workflows/x", True),
        ("http://localhost:8080", True),
        ("http://[::1]:8080", True),
        ("https://jam-fin-relay-dev-abc-uc.a.run.app", False),
    ],
)
def test_only_loopback_relays_count_as_local(url, local):
    assert is_local(url) is local


def test_a_deployed_relay_keeps_the_stack_config_fix():
    # The fix for a deployed relay is the stack's config, then `pulumi up`.
    assert "pulumi config set --secret" in hint(401, '{"outcome": "signature_rejected"}')

"""Pulumi entry point: stack config + workflows.yaml -> the relay on Google Cloud.

Everything that can be wrong with the inputs is checked before the first resource is
declared, and reported in one message; then one Relay component, then the stack outputs.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pulumi

from infra.credentials import quota_project_problem
from infra.intercom_url import intercom_url_problem
from infra.relay import Relay, RelayArgs, RouteInput
from infra.settings import (
    PUBLIC_ACCESS_WITH_POLICY_EXCEPTION,
    RelaySettings,
    SettingsError,
    settings_from_config,
)
from infra.source import collect_source
from infra.workflows import (
    ConfigRef,
    LiteralUrl,
    Workflow,
    WorkflowsFile,
    WorkflowsFileError,
    load_workflows,
    missing_config_problems,
)

PROJECT_DIR = Path(__file__).resolve().parent
# Pulumi keeps every declared resource and its outputs alive for the whole run. At the default
# gen-0 threshold (700 allocations) the cyclic collector re-walks that growing graph so often
# that evaluation time grew faster than the workflow count (bench/pulumi_eval.py: 9 ms per
# workflow at 30, 24 at 600). Collecting less often keeps it linear; garbage is still freed.
GC_THRESHOLDS = (10_000, 50, 50)


def referenced_keys(workflows: tuple[Workflow, ...]) -> list[str]:
    keys: list[str] = []
    for workflow in workflows:
        for ref in (workflow.intercom_webhook_url, workflow.jam_signing_secret):
            if isinstance(ref, ConfigRef):
                keys.append(ref.key)
    return keys


def check_inputs(
    config: pulumi.Config, workflows_file: WorkflowsFile, settings: RelaySettings
) -> tuple[Workflow, ...]:
    """The stack's workflows, or a RunError listing every missing key, bad URL and limit."""
    stack = settings.stack
    deployed = workflows_file.for_stack(stack)
    present_keys = {
        key: pulumi.runtime.is_config_secret(config.full_key(key))
        for key in referenced_keys(deployed)
        if config.get(key) is not None
    }
    problems = [str(p) for p in missing_config_problems(workflows_file, stack, present_keys)]
    for workflow in deployed:
        ref = workflow.intercom_webhook_url
        if isinstance(ref, ConfigRef) and ref.key in present_keys:
            url_problem = intercom_url_problem(config.get(ref.key) or "")
            if url_problem:
                # The loader's message describes the URL's shape; the value is never repeated.
                problems.append(
                    f"config '{ref.key}' (workflow '{workflow.id}'): {url_problem} Store the "
                    f"corrected URL with `pulumi config set --secret {ref.key} --stack {stack}`."
                )
    # Cloud Run's environment limits: the loader has checked them for every stack, with names
    # and values no stack exceeds (tests/pulumi/test_relay_env_budget.py), so not again here.
    # The Org Policy API refuses user credentials without a quota project (issue 19.3).
    quota_problem = quota_project_problem(
        settings.project,
        settings.public_access == PUBLIC_ACCESS_WITH_POLICY_EXCEPTION,
        os.environ,
        pulumi.Config("gcp").get,
    )
    if quota_problem:
        problems.append(quota_problem)
    if problems:
        raise pulumi.RunError("\n".join(problems))
    return deployed


def route_inputs(config: pulumi.Config, deployed: tuple[Workflow, ...]) -> tuple[RouteInput, ...]:
    routes = []
    for workflow in deployed:
        url_ref = workflow.intercom_webhook_url
        if isinstance(url_ref, LiteralUrl):
            intercom_url = pulumi.Output.secret(url_ref.url)
        else:
            intercom_url = config.require_secret(url_ref.key)
        signing_ref = workflow.jam_signing_secret
        signing_secret = (
            config.require_secret(signing_ref.key)
            if signing_ref is not None and config.get(signing_ref.key) is not None
            else None
        )
        routes.append(RouteInput(workflow, intercom_url, signing_secret))
    return tuple(routes)


def read_settings(config: pulumi.Config, stack: str) -> RelaySettings:
    gcp_config = pulumi.Config("gcp")
    try:
        return settings_from_config(stack, config.get, gcp_config.get)
    except SettingsError as error:
        raise pulumi.RunError(str(error)) from None


def read_workflows(settings: RelaySettings) -> WorkflowsFile:
    path = PROJECT_DIR / settings.workflows_file  # an absolute setting replaces PROJECT_DIR
    try:
        workflows_file = load_workflows(path)
    except WorkflowsFileError as error:
        raise pulumi.RunError(str(error)) from None
    except OSError as error:
        raise pulumi.RunError(
            f"cannot read the workflows file {path}: {error.strerror}. Fix: create it, or "
            f"point config 'workflowsFile' at it (pulumi config set workflowsFile PATH)"
        ) from None
    for warning in workflows_file.warnings:
        pulumi.log.warn(str(warning))
    return workflows_file


gc.set_threshold(*GC_THRESHOLDS)
stack = pulumi.get_stack()
config = pulumi.Config()
settings = read_settings(config, stack)
workflows_file = read_workflows(settings)
deployed = check_inputs(config, workflows_file, settings)
if not deployed:
    pulumi.log.warn(
        f"no workflow in {settings.workflows_file} lists stack '{stack}': "
        "the relay is deployed with no routes"
    )

relay = Relay(
    "relay",
    RelayArgs(settings=settings, routes=route_inputs(config, deployed), source=collect_source()),
)

pulumi.export("relay_url", relay.relay_url)
pulumi.export("endpoints", relay.endpoints)
pulumi.export("jam_setup", relay.jam_setup)
pulumi.export("cloud_run_url", relay.cloud_run_url)
pulumi.export("runtime_service_account", relay.runtime_service_account)
pulumi.export("build_service_account", relay.build_service_account)
pulumi.export("source_object", relay.source_object)
pulumi.export("outcome_metric", relay.outcome_metric)
pulumi.export("dashboard_url", relay.dashboard_url)

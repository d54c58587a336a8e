"""The relay's runtime environment, and the platform limits it must fit.

One computation, shared by the Pulumi program (before any resource is declared) and by
``relayctl validate`` and the workflows loader (per stack, ``stacks_over_budget``), so the
number a user is told is the number the deploy would hit. Imports no Pulumi.

Limits, from Google's "Environment variables for services"
(https://cloud.google.com/run/docs/configuring/services/overview-environment-variables):
- a Cloud Run service takes at most 1,000 environment variables;
- for functions, the names and values of all runtime environment variables together take at
  most 32 KiB.
Google does not say whether a secret variable (one whose value is a Secret Manager reference)
counts toward the 32 KiB, nor how its reference is measured. The program declares each as
(key, project id, secret id, version) through the Cloud Functions v2 API, which Cloud Run holds
as a secret reference; we count its name and, as its value, the longest form of that reference
(``projects/<project>/secrets/<id>/versions/<n>``), so the estimate is conservative: never below
the truth whether Cloud Run counts the short form, the long form, or nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, TypeVar

from infra.settings import REGION_MAX, SECRET_REPLICATION_AUTOMATIC
from relay_function.naming import ROUTES_ENV, intercom_url_env, signing_secret_env

ENV_VARS_MAX = 1000
ENV_BYTES_MAX = 32 * 1024
THREADS_ENV = "THREADS"  # read by functions-framework: the server's threads per worker

# Secret ids are "<function name>_<workflow id>_<suffix>_<location>"; the Pulumi program and
# this budget both name secrets with ``secret_id``. Secret Manager takes ids of at most 255
# letters, digits, '-' and '_' (CreateSecretRequest.secret_id: https://cloud.google.com/python/
# docs/reference/secretmanager/latest/google.cloud.secretmanager_v1.types.CreateSecretRequest).
# Function names, workflow ids, suffixes and locations never contain '_', so '_' between them
# makes the id unambiguous: stack 'prod' with workflow 'eu-billing' and stack 'prod-eu' with
# workflow 'billing' no longer share one id (issue 19.7). The location is part of the id because
# a secret's replication cannot change in place: a new mode or region is a new secret, created
# before the old one is deleted (docs/deploy.md, "Secret names and locations").
SECRET_ID_SEPARATOR = "_"  # noqa: S105 (a separator, not a secret)
SECRET_ID_MAX = 255
INTERCOM_URL_SECRET_SUFFIX = "intercom-url"  # noqa: S105 (a name, not a secret)
SIGNING_SECRET_SUFFIX = "jam-signing-secret"  # noqa: S105 (a name, not a secret)
# Automatic replication is created in Secret Manager's `global` location (firebase-tools #6454).
AUTOMATIC_SECRET_LOCATION = "global"  # noqa: S105 (a location, not a secret)
FUNCTION_NAME_MAX = 63  # Cloud Run service names; used when the name is not known yet
PROJECT_ID_MAX = 30
VERSION_DIGITS_MAX = 10
# Plain variables the program may set besides RELAY_ROUTES (THREADS today), with room to spare.
OTHER_PLAIN_VARS = 4
OTHER_PLAIN_BYTES = 256


class RoutedWorkflow(Protocol):
    """What the environment needs of a workflow (``infra.workflows.Workflow`` has it)."""

    @property
    def id(self) -> str: ...

    @property
    def events(self) -> tuple[str, ...]: ...


class StackedWorkflow(RoutedWorkflow, Protocol):
    """A workflow that may be limited to some stacks (``stacks: None``: every stack)."""

    @property
    def stacks(self) -> tuple[str, ...] | None: ...

    def applies_to(self, stack: str) -> bool: ...


W = TypeVar("W", bound=StackedWorkflow)


class RouteEvents(NamedTuple):
    """A route as the environment sees it, for callers without a ``Workflow`` (LocalRelay)."""

    id: str
    events: tuple[str, ...]


def routes_json(workflows: Sequence[RoutedWorkflow]) -> str:
    """``RELAY_ROUTES``: compact JSON, workflow id -> events; sorted so file order is irrelevant."""
    routes = {w.id: {"events": list(w.events)} for w in workflows}
    return json.dumps(routes, separators=(",", ":"), sort_keys=True)


def plain_env(workflows: Sequence[RoutedWorkflow], concurrency: int) -> dict[str, str]:
    """The relay's plain (not secret) variables: its routes, and threads = request concurrency."""
    return {ROUTES_ENV: routes_json(workflows), THREADS_ENV: str(concurrency)}


def secret_location(replication: str, region: str) -> str:
    """Where a workflow secret lives: ``global`` (automatic replication) or the stack's region."""
    return AUTOMATIC_SECRET_LOCATION if replication == SECRET_REPLICATION_AUTOMATIC else region


def secret_id(function_name: str, workflow_id: str, suffix: str, location: str) -> str:
    return SECRET_ID_SEPARATOR.join((function_name, workflow_id, suffix, location))


def _secret_reference_bytes(
    function_name: str | None, location: str | None, workflow_id: str, suffix: str
) -> int:
    # The longest form: projects/<project>/secrets/<id>/versions/<n>.
    function = "x" * FUNCTION_NAME_MAX if function_name is None else function_name
    where = "r" * max(REGION_MAX, len(AUTOMATIC_SECRET_LOCATION)) if location is None else location
    name = secret_id(function, workflow_id, suffix, where)
    project = "p" * PROJECT_ID_MAX
    return len(f"projects/{project}/secrets/{name}/versions/{'9' * VERSION_DIGITS_MAX}")


def _workflow_secret_bytes(
    function_name: str | None, location: str | None, workflow_id: str
) -> int:
    return (
        len(intercom_url_env(workflow_id))
        + _secret_reference_bytes(function_name, location, workflow_id, INTERCOM_URL_SECRET_SUFFIX)
        + len(signing_secret_env(workflow_id))
        + _secret_reference_bytes(function_name, location, workflow_id, SIGNING_SECRET_SUFFIX)
    )


@dataclass(frozen=True)
class EnvBudget:
    """How much of the platform's environment limits a stack's workflows use."""

    workflows: int
    variables: int
    bytes: int
    workflows_that_fit: int  # at this stack's average cost per workflow

    @property
    def fits(self) -> bool:
        return self.variables <= ENV_VARS_MAX and self.bytes <= ENV_BYTES_MAX

    def problem(self, where: str) -> str | None:
        """None when it fits; otherwise one message naming the limit, the count and the fix."""
        if self.fits:
            return None
        if self.variables > ENV_VARS_MAX:
            limit = f"{self.variables} environment variables (Cloud Run allows {ENV_VARS_MAX})"
        else:
            limit = (
                f"{self.bytes} bytes of environment variable names and values "
                f"(Cloud Run functions allow {ENV_BYTES_MAX})"
            )
        return (
            f"{where}: {self.workflows} workflows need {limit}; one relay fits about "
            f"{self.workflows_that_fit} of these workflows. Fix: deploy fewer workflows to this "
            "stack (list the rest under another stack with `stacks:`), or shorten workflow ids."
        )


def env_budget(
    workflows: Sequence[RoutedWorkflow],
    *,
    function_name: str | None = None,
    location: str | None = None,
    plain: Mapping[str, str] | None = None,
) -> EnvBudget:
    """The budget of one relay deploying ``workflows``.

    ``plain`` is the plain environment the program sets (``plain_env``); without it, RELAY_ROUTES
    and an allowance for the other plain variables are counted. ``function_name`` and the
    secrets' ``location`` (``secret_location``) are the deployed ones when known; without them the
    longest valid values are assumed.
    """
    if plain is None:
        plain_bytes = len(ROUTES_ENV) + len(routes_json(workflows)) + OTHER_PLAIN_BYTES
        plain_vars = 1 + OTHER_PLAIN_VARS
    else:
        plain_bytes = sum(len(k) + len(v.encode()) for k, v in plain.items())
        plain_vars = len(plain)
    secret_bytes = sum(_workflow_secret_bytes(function_name, location, w.id) for w in workflows)
    total_bytes = plain_bytes + secret_bytes
    count = len(workflows)
    by_vars = (ENV_VARS_MAX - plain_vars) // 2
    if count:
        # What does not grow with workflows: the plain variables with an empty route table.
        fixed_bytes = plain_bytes - len(routes_json(workflows)) + len(routes_json([]))
        # At this stack's average cost per workflow, in integers: a float average can round a
        # hair above the true one and lose a workflow at the exact edge.
        by_bytes = (ENV_BYTES_MAX - fixed_bytes) * count // (total_bytes - fixed_bytes)
    else:
        by_bytes = by_vars
    return EnvBudget(
        workflows=count,
        variables=plain_vars + 2 * count,
        bytes=total_bytes,
        workflows_that_fit=max(0, min(by_bytes, by_vars)),
    )


def stacks_over_budget(workflows: Sequence[W]) -> list[tuple[W, str]]:
    """Each stack whose workflows do not fit one relay: the first workflow (in file order) past
    what fits, and the problem with its fix.

    Checked for every stack a ``stacks:`` list names, and for any other stack, before the
    function's name is known (the longest is assumed).
    """
    everywhere = [w for w in workflows if w.stacks is None]
    groups = [("Any stack not named in a `stacks:` list", everywhere)]
    if env_budget(everywhere).fits:  # else every stack is over, and one message says so
        for stack in sorted({s for w in workflows for s in w.stacks or ()}):
            groups.append((f"Stack '{stack}'", [w for w in workflows if w.applies_to(stack)]))
    found = []
    for where, deployed in groups:
        budget = env_budget(deployed)
        if (problem := budget.problem(where)) is not None:
            found.append((deployed[min(budget.workflows_that_fit, len(deployed) - 1)], problem))
    return found

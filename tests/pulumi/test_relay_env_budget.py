"""The environment budget (infra/relay_env.py) by hand: exact sizes, the limits at their edge and
one past, the estimate of workflows that fit, and which workflow a problem names.

Limits, from Google's "Environment variables for services"
(https://cloud.google.com/run/docs/configuring/services/overview-environment-variables): at most
1,000 variables per service, and for functions at most 32 KiB of names and values together.
Pure functions, no program run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from infra.relay_env import (
    INTERCOM_URL_SECRET_SUFFIX,
    SIGNING_SECRET_SUFFIX,
    RouteEvents,
    env_budget,
    plain_env,
    routes_json,
    secret_id,
    secret_location,
    stacks_over_budget,
)
from infra.settings import MAX_CONCURRENCY, REGION_MAX

RECORDED = "intercom.recorder.recorded"
# {"w":{"events":["intercom.recorder.recorded"]}}: 47 bytes.
ONE_ROUTE_JSON = '{"w":{"events":["' + RECORDED + '"]}}'
ONE = [RouteEvents("w", (RECORDED,))]


def test_relay_routes_is_compact_json_sorted_by_workflow_id():
    """A reorder of workflows.yaml must not change RELAY_ROUTES (it would roll a revision)."""
    a, b = RouteEvents("a", (RECORDED,)), RouteEvents("b", ("jam.created", RECORDED))
    expected = '{"a":{"events":["' + RECORDED + '"]},"b":{"events":["jam.created","' + RECORDED
    expected += '"]}}'
    assert routes_json([b, a]) == routes_json([a, b]) == expected
    assert routes_json(ONE) == ONE_ROUTE_JSON
    assert len(ONE_ROUTE_JSON) == 47


def test_the_plain_environment_is_the_routes_and_threads():
    assert plain_env(ONE, 16) == {"RELAY_ROUTES": ONE_ROUTE_JSON, "THREADS": "16"}


def test_secret_ids_and_locations_are_the_ones_the_program_declares():
    """Secret Manager: automatic replication lives in `global` (firebase-tools #6454); a
    user-managed secret in the stack's region. The id names function, workflow, kind, place."""
    assert secret_location("automatic", "europe-west1") == "global"
    assert secret_location("userManaged", "europe-west1") == "europe-west1"
    assert secret_id("f", "w", INTERCOM_URL_SECRET_SUFFIX, "global") == "f_w_intercom-url_global"
    assert secret_id("f", "w", SIGNING_SECRET_SUFFIX, "us-east1") == (
        "f_w_jam-signing-secret_us-east1"
    )


def test_a_known_stack_is_counted_byte_for_byte():
    """Function 'f', secrets in 'global', workflow 'w', THREADS=16. Plain: RELAY_ROUTES (12)
    + 47, THREADS (7) + 2 = 68. Secrets, each name plus the longest reference form
    projects/<30 p>/secrets/<id>/versions/<10 digits>: INTERCOM_WEBHOOK_URL__W (23) + 91
    (id f_w_intercom-url_global, 23) + JAM_SIGNING_SECRET__W (21) + 97 (id
    f_w_jam-signing-secret_global, 29) = 232. Total 300 bytes in 4 variables."""
    budget = env_budget(ONE, function_name="f", location="global", plain=plain_env(ONE, 16))
    assert (budget.workflows, budget.variables, budget.bytes) == (1, 4, 300)
    # Fixed: 68 - 47 + len("{}") = 23 bytes; per workflow 277; (32768 - 23) // 277 = 118,
    # below the (1000 - 2) // 2 = 499 the variable count allows.
    assert budget.workflows_that_fit == 118


def test_unknown_names_assume_the_longest_function_and_location_and_room_for_other_vars():
    """Without the stack's names: a 63-character function, a 30-character location, and 4
    more plain variables of 256 bytes. Plain: 12 + 47 + 256 = 315 bytes, 5 variables. Each
    id is 63 + 1 + 1 + 1 + suffix + 1 + 30: references of 177 and 183 bytes, so secrets take
    23 + 177 + 21 + 183 = 404. Fixed 315 - 47 + 2 = 270; (32768 - 270) // 449 = 72."""
    budget = env_budget(ONE)
    assert (budget.variables, budget.bytes, budget.workflows_that_fit) == (7, 719, 72)
    assert env_budget(ONE, function_name="x" * 63, location="r" * 30) == budget
    assert env_budget(ONE, function_name="x" * 62, location="r" * 30).bytes == 717
    assert env_budget(ONE, function_name="x" * 63, location="r" * 29).bytes == 717


@pytest.mark.parametrize("count", [1, 40, 72])
def test_no_stack_needs_more_than_the_loaders_estimate(count):
    """Why the program does not check again with the stack's own names: the loader's estimate
    (no names given) bounds every stack settings accept: a function name of at most 63
    characters, secrets in `global` or a region of at most REGION_MAX characters, and THREADS
    at most MAX_CONCURRENCY."""
    workflows = [RouteEvents(f"workflow-{i:03d}", (RECORDED,)) for i in range(count)]
    estimate = env_budget(workflows)
    for location in ("global", "r" * REGION_MAX):
        real = env_budget(
            workflows,
            function_name="f" * 63,
            location=location,
            plain=plain_env(workflows, MAX_CONCURRENCY),
        )
        assert real.variables <= estimate.variables
        assert real.bytes <= estimate.bytes


def test_no_workflow_fits_as_many_as_the_variable_limit_allows():
    budget = env_budget([])
    # 12 + len("{}") + 256 bytes in 5 variables; (1000 - 5) // 2 = 497 workflows.
    assert (budget.workflows, budget.variables, budget.bytes) == (0, 5, 270)
    assert budget.workflows_that_fit == 497
    assert budget.problem("here") is None


def _bytes(total: int) -> dict[str, str]:
    return {"A": "x" * (total - 1)}  # name (1) + value


def test_exactly_32_kib_of_environment_fits_and_one_byte_more_does_not():
    at_limit = env_budget([], plain=_bytes(32768))
    assert at_limit.bytes == 32768
    assert at_limit.fits
    assert at_limit.problem("stack 'dev'") is None
    over = env_budget([], plain=_bytes(32769))
    assert over.bytes == 32769
    assert not over.fits
    assert over.problem("stack 'dev'") == (
        "stack 'dev': 0 workflows need 32769 bytes of environment variable names and values "
        "(Cloud Run functions allow 32768); one relay fits about 499 of these workflows. Fix: "
        "deploy fewer workflows to this stack (list the rest under another stack with "
        "`stacks:`), or shorten workflow ids."
    )


def test_values_are_counted_in_utf8_bytes():
    assert env_budget([], plain={"A": "é"}).bytes == 3


def test_exactly_1000_variables_fit_and_1001_do_not():
    at_limit = env_budget([], plain={f"V{i}": "" for i in range(1000)})
    assert at_limit.variables == 1000
    assert at_limit.fits
    over = env_budget([], plain={f"V{i}": "" for i in range(1001)})
    assert not over.fits
    assert over.problem("stack 'dev'") == (
        "stack 'dev': 0 workflows need 1001 environment variables (Cloud Run allows 1000); "
        "one relay fits about 0 of these workflows. Fix: deploy fewer workflows to this stack "
        "(list the rest under another stack with `stacks:`), or shorten workflow ids."
    )


def test_at_1000_variables_an_excess_of_bytes_is_the_limit_named():
    plain = {f"V{i}": "" for i in range(999)} | {"BIG": "x" * 40000}
    budget = env_budget([], plain=plain)
    assert budget.variables == 1000
    problem = budget.problem("stack 'dev'")
    assert problem is not None
    assert "bytes of environment variable names and values (Cloud Run functions allow 32768)" in (
        problem
    )


@dataclass(frozen=True)
class Stacked:
    id: str
    events: tuple[str, ...]
    stacks: tuple[str, ...] | None

    def applies_to(self, stack: str) -> bool:
        return self.stacks is None or stack in self.stacks


def _many(count: int, stacks: tuple[str, ...] | None = None, prefix: str = "w") -> list[Stacked]:
    return [Stacked(f"{prefix}-{i:03d}", (RECORDED,), stacks) for i in range(count)]


def test_the_problem_names_the_first_workflow_past_what_fits():
    workflows = _many(100)
    fit = env_budget(workflows).workflows_that_fit
    assert fit == 69  # the longest names assumed; 470 bytes a workflow
    ((offender, problem),) = stacks_over_budget(workflows)
    assert offender.id == "w-069"  # the 70th in file order: the first that does not fit
    assert problem.startswith("Any stack not named in a `stacks:` list: 100 workflows need ")


def test_69_workflows_fit_exactly_and_the_70th_is_named():
    """At 470 bytes a workflow: 69 take 32,699 of the 32,768 bytes, 70 take 33,169."""
    assert env_budget(_many(69)).bytes == 32699
    assert stacks_over_budget(_many(69)) == []
    ((offender, _),) = stacks_over_budget(_many(70))
    assert offender.id == "w-069"


def test_a_named_stack_over_the_budget_is_reported_by_name():
    workflows = _many(10) + _many(60, stacks=("prod",), prefix="p")
    found = stacks_over_budget(workflows)
    assert len(found) == 1
    offender, problem = found[0]
    assert problem.startswith("Stack 'prod': 70 workflows need ")
    assert offender.id == "p-059"  # 10 everywhere + 59 of prod's fit: prod's 60th is past


def test_when_every_stack_is_over_one_message_says_so():
    found = stacks_over_budget(_many(100) + _many(5, stacks=("prod",), prefix="p"))
    assert len(found) == 1
    assert found[0][1].startswith("Any stack not named in a `stacks:` list: 100 workflows")


@pytest.mark.parametrize("threads", [1, 16, 1000])
def test_threads_follow_the_concurrency(threads):
    assert json.loads(plain_env(ONE, threads)["THREADS"]) == threads


def test_the_estimate_is_exact_where_the_average_is_not_a_whole_number():
    """44 workflows (38 ids one character longer) take 16,249 bytes beyond the fixed 270: 88
    such workflows take exactly 32,498 and fit. A float average (369.29...) rounded up once
    said 87."""
    workflows = [
        RouteEvents(f"workflow-{i:03d}" + ("x" if i < 38 else ""), (RECORDED,)) for i in range(44)
    ]
    budget = env_budget(workflows, function_name="jam-fin-relay-dev", location="global")
    assert budget.bytes - 270 == 16249
    assert 88 * 16249 == 44 * (32768 - 270)
    assert budget.workflows_that_fit == 88

"""The organization policy constraints a stack's resources are subject to, and what each
effective policy (Org Policy API v2, ``projects.policies.getEffectivePolicy``) means for them.

An effective policy is the hierarchy already merged, its conditions evaluated ("The returned
policy will not have an etag or condition set", the method's REST reference). Its ``spec.rules``:
list constraints have ``allowAll``, ``denyAll`` or ``values.allowedValues/deniedValues``;
boolean and managed constraints have ``enforce`` (managed ones also ``parameters``). No rules
(or ``reset``) means the constraint's default, which for every constraint here allows
everything. A rule that still carries a condition, or a shape not documented, is "could not
tell". Why each constraint is read, with its source: docs/deploy.md ("Pre-flight").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra.settings import DOMAIN_RESTRICTION as SHARING_LEGACY
from infra.settings import MANAGED_DOMAIN_RESTRICTION as SHARING_MANAGED
from relayctl.preflight_verdicts import Verdict, ok, unknown, will_fail

LOCATIONS = "gcp.resourceLocations"
FUNCTIONS_INGRESS = "cloudfunctions.allowedIngressSettings"
RUN_INGRESS = "run.allowedIngress"
SA_CREATION = "iam.disableServiceAccountCreation"
SA_CREATION_MANAGED = "iam.managed.disableServiceAccountCreation"
VPC_CONNECTOR = "cloudfunctions.requireVPCConnector"
SERVICE_USAGE = "gcp.restrictServiceUsage"
NON_CMEK = "gcp.restrictNonCmekServices"
GENERATIONS = "cloudfunctions.restrictAllowedGenerations"
WORKER_POOLS = "cloudbuild.allowedWorkerPools"

# Read for every stack, in this order (one getEffectivePolicy each).
CONSTRAINTS: tuple[str, ...] = (
    SHARING_LEGACY,
    SHARING_MANAGED,
    LOCATIONS,
    FUNCTIONS_INGRESS,
    RUN_INGRESS,
    SA_CREATION,
    SA_CREATION_MANAGED,
    VPC_CONNECTOR,
    SERVICE_USAGE,
    NON_CMEK,
    GENERATIONS,
    WORKER_POOLS,
)

# The relay's ingress setting (Cloud Functions' IngressSettings names) as Cloud Run's
# run.allowedIngress lists it (gcloud's names: https://cloud.google.com/run/docs/securing/ingress).
RUN_INGRESS_NAMES = {
    "ALLOW_ALL": "all",
    "ALLOW_INTERNAL_ONLY": "internal",
    "ALLOW_INTERNAL_AND_GCLB": "internal-and-cloud-load-balancing",
}
# The generation the program deploys, as cloudfunctions.restrictAllowedGenerations names it
# (https://cloud.google.com/functions/docs/securing/gen-org-policy).
FUNCTION_GENERATION = "2ndGen"
# Services whose resources the program creates without a customer-managed key: each refused
# where gcp.restrictNonCmekServices lists it (the function's image lands in Artifact Registry).
NON_CMEK_SERVICES = (
    "artifactregistry.googleapis.com",
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
)
# Used without being enabled by the program: the source bucket's API (on in new projects).
ALSO_USED_APIS = ("storage.googleapis.com",)

POLICY_FIX = (
    "an organisation policy administrator (roles/orgpolicy.policyAdmin) sets a policy on this "
    "project that allows it"
)
HOW_TO_READ = "gcloud org-policies describe {constraint} --effective --project {project}"


@dataclass(frozen=True)
class StackFacts:
    """What the stack declares that organisation policies judge."""

    project: str
    stack: str
    region: str
    secret_location: str  # "global" (automatic replication) or the region (userManaged)
    public_access: str
    public_access_grants: bool  # an allUsers grant is declared
    ingress: str
    used_apis: tuple[str, ...]
    exempted: frozenset[str]  # constraints the program declares this project's exception to


@dataclass(frozen=True)
class Decision:
    """Whether a value is allowed under a list policy: True, False, or None (cannot tell)."""

    allowed: bool | None
    because: str


Matcher = Callable[[str, str], bool | None]


def _rules(policy: Any) -> list[Mapping[str, Any]] | None:
    """The effective policy's rules; [] for the constraint's default; None if unreadable."""
    if not isinstance(policy, dict):
        return None
    spec = policy.get("spec", {})
    if not isinstance(spec, dict):
        return None
    if spec.get("reset") is True:
        return []
    rules = spec.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(rule, dict) for rule in rules):
        return None
    return rules


def _strings(values: Any) -> list[str] | None:
    if values is None:
        return []
    if isinstance(values, list) and all(isinstance(v, str) for v in values):
        return values
    return None


def exact(entry: str, value: str) -> bool | None:
    """A plain list value (``is:`` is the same value, Org Policy v2 StringValues)."""
    return entry.removeprefix("is:") == value


# A region: geography-direction-number (us-central1, europe-west12, northamerica-northeast1).
REGION_RE = re.compile(r"[a-z]+-[a-z]+[0-9]+")
# Value groups named after a geography, and the region-name prefixes inside them. Google names
# regions by geography; a region whose prefix is not the group's and is one of these
# unambiguous ones is outside the group. Other groups (country groups, dual
# regions) and other prefixes (australia-, me-, africa-) are left undecided.
GEOGRAPHY_GROUPS: dict[str, tuple[str, ...]] = {
    "us-locations": ("us-",),
    "northamerica-locations": ("us-", "northamerica-"),
    "southamerica-locations": ("southamerica-",),
    "europe-locations": ("europe-",),
    "asia-locations": ("asia-",),
}
UNAMBIGUOUS_PREFIXES = ("us-", "northamerica-", "southamerica-", "europe-", "asia-")
# Groups inside one of those geographies: a region of another of the five is outside them too
# (every European Union region is in Europe), while one inside is undecided (europe-west2,
# London, is in Europe and not in the EU). A policy of in:eu-locations is the common
# data-residency policy, so a us-central1 stack under it is "will fail", not "could not tell".
WITHIN_GEOGRAPHY = {"eu-locations": "europe-locations"}
VALUE_GROUPS_PAGE = (
    "https://cloud.google.com/resource-manager/docs/organization-policy/defining-locations"
)


def location(entry: str, place: str) -> bool | None:
    """Is ``place`` (a region, or ``global``) within a gcp.resourceLocations value?

    ``in:REGION-locations`` is "all of the locations that exist within" REGION (the
    constraint's description), so it holds that region and nothing else this stack uses;
    a bare region or multi-region names only itself. ``global`` is within no region.
    """
    entry = entry.removeprefix("is:")
    if not entry.startswith("in:"):
        return entry == place
    group = entry.removeprefix("in:")
    if group.endswith("-locations") and REGION_RE.fullmatch(group.removesuffix("-locations")):
        return group.removesuffix("-locations") == place
    if place == "global":
        return None
    prefixes = GEOGRAPHY_GROUPS.get(group)
    if prefixes is None:
        outer = WITHIN_GEOGRAPHY.get(group)
        if outer is not None and location(f"in:{outer}", place) is False:
            return False
        return None
    if place.startswith(prefixes):
        return True
    if place.startswith(UNAMBIGUOUS_PREFIXES):
        return False
    return None


def decide(policy: Any, value: str, match: Matcher = exact) -> Decision:
    """``value`` under a list constraint's effective policy."""
    rules = _rules(policy)
    if rules is None:
        return Decision(None, "the effective policy is not in the shape Google documents")
    if not rules:
        return Decision(True, "no policy: the default allows all values")
    if any("condition" in rule for rule in rules):
        return Decision(None, "the effective policy still has a conditional rule")
    allowed_lists: list[list[str]] = []
    undecided: list[str] = []
    allow_all = False
    for rule in rules:
        values = rule.get("values") or {}
        denied = _strings(values.get("deniedValues")) if isinstance(values, dict) else None
        allowed = _strings(values.get("allowedValues")) if isinstance(values, dict) else None
        if denied is None or allowed is None:
            return Decision(None, "the effective policy is not in the shape Google documents")
        if rule.get("denyAll") is True:
            return Decision(False, "the policy denies all values")
        for entry in denied:
            verdict = match(entry, value)
            if verdict:
                return Decision(False, f"the policy denies {entry}")
            if verdict is None:
                undecided.append(entry)
        allow_all = allow_all or rule.get("allowAll") is True
        if allowed:
            allowed_lists.append(allowed)
    if undecided:
        return Decision(None, f"preflight cannot tell whether {', '.join(undecided)} holds {value}")
    if allow_all or not allowed_lists:
        return Decision(True, "the policy allows it")
    entries = [entry for allowed in allowed_lists for entry in allowed]
    verdicts = {entry: match(entry, value) for entry in entries}
    if any(verdicts.values()):
        hit = next(entry for entry, v in verdicts.items() if v)
        return Decision(True, f"the policy allows {hit}")
    unsure = [entry for entry, v in verdicts.items() if v is None]
    if unsure:
        return Decision(None, f"preflight cannot tell whether {', '.join(unsure)} holds {value}")
    return Decision(False, f"the policy allows only {', '.join(entries)}")


def restricted(policy: Any) -> bool | None:
    """Does a list policy restrict at all (anything but no rules or allow-all)?"""
    rules = _rules(policy)
    if rules is None or any("condition" in rule for rule in rules):
        return None
    return bool(rules) and not any(rule.get("allowAll") is True for rule in rules)


def enforced(policy: Any) -> bool | None:
    """A boolean or managed constraint's effective enforcement; None when it cannot be told."""
    rules = _rules(policy)
    if rules is None or any("condition" in rule for rule in rules):
        return None
    flags = [rule.get("enforce") for rule in rules]
    if any(flag is not None and not isinstance(flag, bool) for flag in flags):
        return None
    return any(flag is True for flag in flags)


def _subject(constraint: str, what: str = "") -> str:
    return f"policy {constraint}" + (f" ({what})" if what else "")


def _how(constraint: str, project: str) -> str:
    return HOW_TO_READ.format(constraint=constraint, project=project)


def _unreadable(subject: str, constraint: str, facts: StackFacts) -> Verdict:
    """An effective policy whose shape is not the documented one: never taken for "ok"."""
    return unknown(
        subject,
        "its effective policy could not be read as documented.",
        _how(constraint, facts.project),
    )


def evaluate(constraint: str, policy: Any, facts: StackFacts) -> list[Verdict]:
    """The verdicts one constraint's effective policy gives this stack."""
    judge = _JUDGES[constraint]
    return judge(constraint, policy, facts)


def _sharing_legacy(constraint: str, policy: Any, facts: StackFacts) -> list[Verdict]:
    subject = _subject(constraint)
    if not facts.public_access_grants:
        return [ok(subject, f"publicAccess {facts.public_access} grants nothing to allUsers")]
    # Domain-restricted sharing lists customer ids: allUsers is never one of them, so any
    # rule but allow-all refuses the grant (https://cloud.google.com/resource-manager/docs/organization-policy/restricting-domains).
    limited = restricted(policy)
    if limited is None:
        return [_unreadable(subject, constraint, facts)]
    if not limited:
        return [ok(subject, "allUsers may be granted")]
    if constraint in facts.exempted:
        return [
            ok(
                subject,
                "enforced, and publicAccess allUsersWithPolicyException declares "
                "this project's exception (it needs roles/orgpolicy.policyAdmin: see "
                "permissions)",
            )
        ]
    return [
        will_fail(
            subject,
            "domain-restricted sharing is enforced: the allUsers invoker grant Jam needs is "
            "refused.",
            f"pulumi config set publicAccess allUsersWithPolicyException --stack {facts.stack} "
            "(the program then declares this project's exception; the deployer needs "
            "roles/orgpolicy.policyAdmin on the organisation), or have an administrator set the "
            'exception once (docs/deploy.md, "Public access")',
        )
    ]


def _sharing_managed(constraint: str, policy: Any, facts: StackFacts) -> list[Verdict]:
    subject = _subject(constraint)
    if not facts.public_access_grants:
        return [ok(subject, f"publicAccess {facts.public_access} grants nothing to allUsers")]
    on = enforced(policy)
    if on is None:
        return [_unreadable(subject, constraint, facts)]
    if not on:
        return [ok(subject, "not enforced")]
    if constraint in facts.exempted:
        return [ok(subject, "enforced, and the program declares this project's exception")]
    subjects = _parameter(policy, "allowedMemberSubjects")
    if "allUsers" in subjects:
        return [
            unknown(
                subject,
                "enforced with allUsers among allowedMemberSubjects; Google's pages do not say "
                "whether that admits the allUsers grant.",
                _how(constraint, facts.project),
            )
        ]
    return [
        will_fail(
            subject,
            "the managed domain restriction is enforced: the allUsers invoker grant Jam needs is "
            "refused.",
            f"pulumi config set publicAccess allUsersWithPolicyException --stack {facts.stack} "
            "(the program then declares this project's exception to both sharing constraints; "
            "the deployer needs roles/orgpolicy.policyAdmin on the organisation), or have an "
            "administrator set this project's policy for "
            f"{constraint} to not enforced once (`gcloud org-policies set-policy` with spec "
            'rules enforce: false; docs/deploy.md, "Public access")',
        )
    ]


def _parameter(policy: Any, name: str) -> list[str]:
    found: list[str] = []
    for rule in _rules(policy) or []:
        parameters = rule.get("parameters")
        values = parameters.get(name) if isinstance(parameters, dict) else None
        if isinstance(values, list):
            found.extend(v for v in values if isinstance(v, str))
    return found


def _locations(constraint: str, policy: Any, facts: StackFacts) -> list[Verdict]:
    verdicts = []
    places = [
        ("function, bucket and images", facts.region),
        ("secrets", facts.secret_location),
    ]
    for what, place in places:
        subject = _subject(constraint, f"{what} in {place}")
        decision = decide(policy, place, location)
        if decision.allowed:
            verdicts.append(ok(subject, decision.because))
        elif decision.allowed is None:
            verdicts.append(
                unknown(
                    subject,
                    f"{decision.because}.",
                    f"see which locations each value group holds at {VALUE_GROUPS_PAGE}, and "
                    f"{_how(constraint, facts.project)}",
                )
            )
        elif place == "global":
            verdicts.append(
                will_fail(
                    subject,
                    f"secrets with automatic replication are created in global, and "
                    f"{decision.because}.",
                    f"pulumi config set secretReplication userManaged --stack {facts.stack} (one "
                    f"replica in {facts.region}), or have global allowed",
                )
            )
        else:
            verdicts.append(
                will_fail(
                    subject,
                    f"{place} is not an allowed location: {decision.because}.",
                    f"pulumi config set gcp:region ALLOWED_REGION --stack {facts.stack}, or have "
                    f"{place} allowed ({POLICY_FIX})",
                )
            )
    return verdicts


def _listed(
    constraint: str, policy: Any, facts: StackFacts, value: str, what: str, fix: str
) -> list[Verdict]:
    subject = _subject(constraint)
    decision = decide(policy, value)
    if decision.allowed:
        return [ok(subject, f"{what}: {decision.because}")]
    if decision.allowed is None:
        return [unknown(subject, f"{what}: {decision.because}.", _how(constraint, facts.project))]
    return [will_fail(subject, f"{what} is refused: {decision.because}.", fix)]


def _functions_ingress(constraint: str, policy: Any, facts: StackFacts) -> list[Verdict]:
    return _listed(
        constraint, policy, facts, facts.ingress, f"ingress {facts.ingress}", _ingress_fix(facts)
    )


def _run_ingress(constraint: str, policy: Any, facts: StackFacts) -> list[Verdict]:
    name = RUN_INGRESS_NAMES[facts.ingress]
    return _listed(
        constraint,
        policy,
        facts,
        name,
        f"the function's Cloud Run service ingress {name}",
        _ingress_fix(facts),
    )


def _ingress_fix(facts: StackFacts) -> str:
    return (
        f"{POLICY_FIX} (Jam calls the relay from the internet, so it needs ALLOW_ALL unless an "
        "external Application Load Balancer fronts it), or set an allowed value with "
        f"`pulumi config set ingress VALUE --stack {facts.stack}`"
    )


def _boolean(what: str, fix: str) -> Callable[[str, Any, StackFacts], list[Verdict]]:
    def judge(constraint: str, policy: Any, facts: StackFacts) -> list[Verdict]:
        subject = _subject(constraint)
        on = enforced(policy)
        if on is None:
            return [_unreadable(subject, constraint, facts)]
        if not on:
            return [ok(subject, "not enforced")]
        return [will_fail(subject, f"enforced: {what}", fix)]

    return judge


def _service_usage(constraint: str, policy: Any, facts: StackFacts) -> list[Verdict]:
    return _each_service(constraint, policy, facts, facts.used_apis, "may not be used")


def _non_cmek(constraint: str, policy: Any, facts: StackFacts) -> list[Verdict]:
    return _each_service(
        constraint,
        policy,
        facts,
        NON_CMEK_SERVICES,
        "requires a customer-managed encryption key, which the program does not set",
    )


def _each_service(
    constraint: str, policy: Any, facts: StackFacts, services: Sequence[str], refused: str
) -> list[Verdict]:
    subject = _subject(constraint)
    decisions = {service: decide(policy, service) for service in services}
    denied = [s for s, d in decisions.items() if d.allowed is False]
    unsure = [s for s, d in decisions.items() if d.allowed is None]
    if denied:
        return [will_fail(subject, f"{', '.join(denied)} {refused}.", POLICY_FIX)]
    if unsure:
        return [
            unknown(
                subject,
                f"{decisions[unsure[0]].because} ({', '.join(unsure)}).",
                _how(constraint, facts.project),
            )
        ]
    return [ok(subject, f"allows the {len(services)} services the stack uses")]


def _generations(constraint: str, policy: Any, facts: StackFacts) -> list[Verdict]:
    return _listed(
        constraint,
        policy,
        facts,
        FUNCTION_GENERATION,
        "a Cloud Functions v2 API function (2ndGen)",
        POLICY_FIX,
    )


def _worker_pools(constraint: str, policy: Any, facts: StackFacts) -> list[Verdict]:
    subject = _subject(constraint)
    limited = restricted(policy)
    if limited is None:
        return [_unreadable(subject, constraint, facts)]
    if not limited:
        return [ok(subject, "builds may run in Cloud Build's default pool")]
    if not _allowed_values(policy):
        return [ok(subject, "only named pools are denied; the default pool is not one")]
    return [
        will_fail(
            subject,
            "builds must run in an allowed private worker pool, and the function builds in Cloud "
            "Build's default pool.",
            f"{POLICY_FIX} (the program sets no worker pool)",
        )
    ]


def _allowed_values(policy: Any) -> bool:
    for rule in _rules(policy) or []:
        values = rule.get("values")
        if rule.get("denyAll") is True or (
            isinstance(values, dict) and values.get("allowedValues")
        ):
            return True
    return False


_JUDGES: dict[str, Callable[[str, Any, StackFacts], list[Verdict]]] = {
    SHARING_LEGACY: _sharing_legacy,
    SHARING_MANAGED: _sharing_managed,
    LOCATIONS: _locations,
    FUNCTIONS_INGRESS: _functions_ingress,
    RUN_INGRESS: _run_ingress,
    SA_CREATION: _boolean(
        "the program creates two service accounts (runtime and build).",
        f"{POLICY_FIX}: service-account creation, for this project",
    ),
    SA_CREATION_MANAGED: _boolean(
        "the program creates two service accounts (runtime and build).",
        f"{POLICY_FIX}: service-account creation, for this project",
    ),
    VPC_CONNECTOR: _boolean(
        "functions must use a Serverless VPC Access connector, and the program sets none.",
        f"{POLICY_FIX}: a function without a VPC connector, for this project",
    ),
    SERVICE_USAGE: _service_usage,
    NON_CMEK: _non_cmek,
    GENERATIONS: _generations,
    WORKER_POOLS: _worker_pools,
}

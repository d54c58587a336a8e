"""bootstrap's IAM conditions, evaluated: what the deployers may grant, and which state objects
each identity reaches in the gcs backend.

The conditions are taken from a run of the real bootstrap program under mocks and evaluated
with a CEL interpreter (tests/cel_eval.py). Sources:

* IAM conditions attribute reference, "API attributes"
  (https://cloud.google.com/iam/docs/conditions-attribute-reference): api.getAttribute,
  hasOnly, iam.googleapis.com/modifiedGrantsByRole ("the role names from the role bindings
  that the request modifies. For other types of requests, the attribute is not defined"), and
  "Extract values from attributes".
* Setting limits on granting roles (https://cloud.google.com/iam/docs/setting-limits-on-granting-roles).
* Resource attributes (https://cloud.google.com/iam/docs/conditions-resource-attributes):
  Cloud Storage objects are named projects/_/buckets/BUCKET/objects/OBJECT, buckets
  projects/_/buckets/BUCKET, of types storage.googleapis.com/Object and .../Bucket.
"""

from __future__ import annotations

import gc
from typing import Any

import pytest

from bootstrap import access
from bootstrap.access import GRANTABLE_ROLES
from tests.bootstrap.conftest import REQUIRED, BootstrapRun, execute
from tests.cel_eval import CelError, evaluate, evaluate_condition
from tests.pulumi_mocks import between_runs

MODIFIED = "iam.googleapis.com/modifiedGrantsByRole"
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
OBJECT = "storage.googleapis.com/Object"
BUCKET = "storage.googleapis.com/Bucket"


@pytest.fixture(scope="module")
def gcs_run() -> BootstrapRun:
    thresholds = gc.get_threshold()
    run = execute(REQUIRED | {"stateBackend": "gcs", "stacks": '["dev", "dev-eu", "prod"]'})
    between_runs(thresholds)
    assert run.error is None, run.error
    return run


def grant_limit(run: BootstrapRun, account: str) -> str:
    grants = [
        d
        for d in run.of_type("gcp:projects/iAMMember:IAMMember")
        if d.inputs["role"] == "roles/resourcemanager.projectIamAdmin"
        and d.inputs["member"].startswith(f"serviceAccount:{account}@")
    ]
    assert len(grants) == 1
    expression: str = grants[0].inputs["condition"]["expression"]
    return expression


def may_grant(expression: str, modified: list[str] | None) -> bool:
    """The condition for a setIamPolicy that modifies these roles (None: a request of another
    type, for which the attribute is not defined)."""
    api: dict[str, Any] = {} if modified is None else {MODIFIED: modified}
    return evaluate_condition(expression, api=api)


# Google's own example ("Setting limits on granting roles", and the attribute reference's
# table for hasOnly), which the helper must reproduce before it judges ours.
PUBSUB = (
    "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
    ".hasOnly(['roles/pubsub.editor', 'roles/pubsub.publisher'])"
)


@pytest.mark.parametrize(
    ("modified", "result"),
    [
        ([], True),  # "If no roles are modified ... the default value ... an empty list"
        (["roles/pubsub.editor"], True),  # "The role is on the allowlist."
        (["roles/pubsub.editor", "roles/pubsub.publisher"], True),  # "Both roles"
        (["roles/billing.admin"], False),  # "The role is not on the allowlist."
        (["roles/billing.admin", "roles/pubsub.editor"], False),  # "One role is on ..."
    ],
)
def test_the_helper_gives_googles_hasonly_table(modified: list[str], result: bool) -> None:
    """Conditions attribute reference, hasOnly: Google's table of results, row by row."""
    assert may_grant(PUBSUB, modified) is result


def test_the_helper_uses_the_default_when_the_attribute_is_not_defined() -> None:
    """Conditions attribute reference: "For other types of requests, the attribute is not
    defined"; api.getAttribute then returns its default."""
    assert evaluate(f"api.getAttribute('{MODIFIED}', ['none'])", api={}) == ["none"]
    assert evaluate(f"api.getAttribute('{MODIFIED}', [])", api={MODIFIED: ["a"]}) == ["a"]


def test_the_helper_knows_no_hasany() -> None:
    """Google's attribute reference documents hasOnly for API attributes, not hasAny: an
    expression using it is refused, never quietly true."""
    with pytest.raises(CelError):
        evaluate("['roles/owner'].hasAny(['roles/run.builder'])")


# "Extract values from attributes": Google's table for the object
# projects/_/buckets/acme-orders-aaa/objects/data_lake/orders/order_date=2019-11-03/aef87g87ae0876
ORDERS = (
    "projects/_/buckets/acme-orders-aaa/objects/data_lake/orders/"
    "order_date=2019-11-03/aef87g87ae0876"
)


@pytest.mark.parametrize(
    ("template", "output"),
    [
        ("/order_date={date}/", "2019-11-03"),
        ("buckets/{name}/", "acme-orders-aaa"),
        ("/orders/{empty}order_date", ""),
        ("{start}/objects/data_lake", "projects/_/buckets/acme-orders-aaa"),
        ("orders/{end}", "order_date=2019-11-03/aef87g87ae0876"),
        ("{all}", ORDERS),
        ("/orders/{none}/order_date=", ""),
        ("/orders/order_date=2019-11-03/{id}/data_lake", ""),
    ],
)
def test_the_helper_gives_googles_extract_table(template: str, output: str) -> None:
    """Conditions attribute reference, "Extract values from attributes": each template of
    Google's table and its output."""
    assert evaluate(f"resource.name.extract('{template}')", resource={"name": ORDERS}) == output


@pytest.mark.parametrize("account", ["relay-deploy-dev", "relay-deploy-prod"])
@pytest.mark.parametrize(
    ("modified", "allowed"),
    [
        (None, True),  # a request that sets no policy: nothing to limit
        ([], True),
        (["roles/run.builder"], True),  # the build account's role (infra/relay.py BUILD_ROLE)
        (["roles/owner"], False),
        (["roles/run.builder", "roles/owner"], False),  # hasAny would allow this one
        (["roles/owner", "roles/run.builder"], False),
        (["roles/resourcemanager.projectIamAdmin"], False),  # granting itself more
        (["roles/iam.serviceAccountTokenCreator"], False),
        (["roles/run.builder", "roles/run.builder"], True),
    ],
)
def test_a_deployer_may_grant_the_build_role_and_nothing_else(
    gcs_run: BootstrapRun, account: str, modified: list[str] | None, allowed: bool
) -> None:
    """Setting limits on granting roles: projectIamAdmin conditioned with
    api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([...]). A deployer
    must not be able to grant Owner, even next to a role it may grant."""
    assert may_grant(grant_limit(gcs_run, account), modified) is allowed


def test_the_grantable_roles_are_the_main_programs_build_role() -> None:
    assert GRANTABLE_ROLES == ("roles/run.builder",)


def test_the_grant_limit_lists_every_grantable_role(monkeypatch: pytest.MonkeyPatch) -> None:
    """Setting limits on granting roles: hasOnly over the whole allowlist, so a second
    grantable role is allowed alone and with the first, and Owner still is not."""
    monkeypatch.setattr(access, "GRANTABLE_ROLES", ("roles/run.builder", "roles/pubsub.editor"))
    expression = access.grant_limit_condition()
    assert may_grant(expression, ["roles/pubsub.editor"]) is True
    assert may_grant(expression, ["roles/pubsub.editor", "roles/run.builder"]) is True
    assert may_grant(expression, ["roles/pubsub.editor", "roles/owner"]) is False


def state_conditions(run: BootstrapRun, account: str) -> dict[str, str]:
    """Role -> condition expression of one account's bucket grants."""
    grants = [
        d
        for d in run.of_type(BUCKET_MEMBER)
        if d.inputs["member"].startswith(f"serviceAccount:{account}@")
    ]
    return {d.name.rsplit("-", 1)[1]: d.inputs["condition"]["expression"] for d in grants}


def bucket_name(run: BootstrapRun) -> str:
    url: str = run.outputs["repository_variables"]["PULUMI_BACKEND_URL"]
    return url.removeprefix("gs://")


def objects(bucket: str, stack: str) -> list[str]:
    """What Pulumi's diy backend writes for one stack of project jam-fin-relay."""
    root = f"projects/_/buckets/{bucket}/objects/.pulumi"
    return [
        f"{root}/stacks/jam-fin-relay/{stack}.json",
        f"{root}/stacks/jam-fin-relay/{stack}.json.bak",
        f"{root}/history/jam-fin-relay/{stack}/{stack}-1718000000000000000.history.json",
        f"{root}/backups/jam-fin-relay/{stack}/{stack}.1718000000000000000.json",
        f"{root}/locks/jam-fin-relay/{stack}/7d6b0c2e-1f3a-4f9a-9b7e-5a1c2d3e4f50.json",
    ]


def reaches(expression: str, name: str, kind: str = OBJECT) -> bool:
    return evaluate_condition(expression, resource={"name": name, "type": kind})


@pytest.mark.parametrize(
    ("account", "own"),
    [("relay-deploy-dev", "dev"), ("relay-deploy-dev-eu", "dev-eu"), ("relay-deploy-prod", "prod")],
)
def test_each_deployer_reaches_its_own_stacks_state(
    gcs_run: BootstrapRun, account: str, own: str
) -> None:
    """Resource attributes (resource.name of Cloud Storage objects): the stack condition holds
    for every object of the deployer's own stack."""
    condition = state_conditions(gcs_run, account)["stack"]
    for name in objects(bucket_name(gcs_run), own):
        assert reaches(condition, name), name


@pytest.mark.parametrize(
    ("account", "other"),
    [
        ("relay-deploy-dev", "prod"),
        ("relay-deploy-dev", "dev-eu"),  # dev is a prefix of dev-eu's name
        ("relay-deploy-dev-eu", "dev"),
        ("relay-deploy-prod", "dev"),
        ("relay-preview", "prod"),
        ("relay-preview", "dev-eu"),
    ],
)
def test_no_identity_reaches_another_stacks_state(
    gcs_run: BootstrapRun, account: str, other: str
) -> None:
    """Resource attributes: the condition is false for every object of another stack,
    including one whose name starts with this stack's."""
    condition = state_conditions(gcs_run, account)["stack"]
    for name in objects(bucket_name(gcs_run), other):
        assert not reaches(condition, name), name


def test_the_previewer_reaches_devs_state(gcs_run: BootstrapRun) -> None:
    condition = state_conditions(gcs_run, "relay-preview")["stack"]
    for name in objects(bucket_name(gcs_run), "dev"):
        assert reaches(condition, name), name


def test_no_identity_reaches_the_same_path_in_another_bucket(gcs_run: BootstrapRun) -> None:
    condition = state_conditions(gcs_run, "relay-deploy-dev")["stack"]
    for name in objects("someone-elses-state", "dev"):
        assert not reaches(condition, name), name


@pytest.mark.parametrize(
    "account", ["relay-deploy-dev", "relay-deploy-dev-eu", "relay-deploy-prod", "relay-preview"]
)
def test_every_identity_lists_the_bucket_and_reads_meta_yaml_only(
    gcs_run: BootstrapRun, account: str
) -> None:
    """Resource attributes: listing is checked on the bucket (type storage.googleapis.com/Bucket,
    name projects/_/buckets/BUCKET); meta.yaml is the backend's one shared object; nothing
    else of the bucket, of another bucket, or of another resource type."""
    condition = state_conditions(gcs_run, account)["meta"]
    bucket = bucket_name(gcs_run)
    assert reaches(condition, f"projects/_/buckets/{bucket}", BUCKET)
    assert reaches(condition, f"projects/_/buckets/{bucket}/objects/.pulumi/meta.yaml")
    assert not reaches(condition, "projects/_/buckets/other-bucket/objects/.pulumi/meta.yaml")
    assert not reaches(condition, f"projects/_/buckets/{bucket}/objects/.pulumi/meta.yaml.bak")
    # Cloud Storage's third resource type (resource attributes: Buckets, Managed folders,
    # Objects): a managed folder of the bucket is neither the bucket nor meta.yaml.
    folder = f"projects/_/buckets/{bucket}/managedFolders/.pulumi/"
    assert not reaches(condition, folder, "storage.googleapis.com/ManagedFolder")
    for stack in ("dev", "prod"):
        for name in objects(bucket, stack):
            assert not reaches(condition, name), name

"""Run a Pulumi program under Pulumi's mocks and record everything it declares.

One harness for both programs: tests/pulumi runs the relay's ``__main__.py``, tests/bootstrap
runs ``bootstrap/__main__.py``; each conftest wraps ``run_program`` in its own fixture.
``run_program`` sets the project, stack and config the way ``pulumi up`` would, executes the
program with ``runpy``, waits for every registration, and resolves the stack outputs. The mock
monitor records each resource's type, name, parent, ``depends_on`` and inputs, and which inputs
arrived as Pulumi secrets. The mocks answer with computed outputs shaped like Google Cloud's
(emails, URLs, version numbers) so that values built inside ``apply`` are real strings tests can
check.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import re
import runpy
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.settings import get_root_resource, reset_options
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

PROC_FDS = Path("/proc/self/fd")  # Linux only: the tests that count descriptors skip elsewhere
# Who the provider's credentials name (gcp.organizations.get_client_open_id_user_info) unless a
# test says otherwise: a person, as with `gcloud auth application-default login`.
DEFAULT_CALLER = "ada.lovelace@acme.example"
OPEN_ID_USER_INFO = "gcp:organizations/getClientOpenIdUserInfo:getClientOpenIdUserInfo"


def unwrap(value: Any) -> Any:
    """A deserialized property value with every Pulumi secret replaced by what it holds."""
    if rpc.is_rpc_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def secret_paths(value: Any, path: str = "") -> set[str]:
    """Dotted paths (``a.b[0]``) of the parts of ``value`` that are Pulumi secrets."""
    if rpc.is_rpc_secret(value):
        return {path}
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found |= secret_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found |= secret_paths(item, f"{path}[{index}]")
    return found


@dataclass
class Declared:
    """One resource registration as the engine would have received it."""

    type: str
    name: str
    urn: str
    id: str
    parent: str
    custom: bool
    dependencies: list[str]
    inputs: dict[str, Any] = field(default_factory=dict)
    secret_inputs: set[str] = field(default_factory=set)
    state: dict[str, Any] = field(default_factory=dict)
    protect: bool = False  # the `protect` resource option


# Names Google refuses, as each API documents them; a declared name that breaks one makes the
# mock fail the registration the way Google fails the call (a 400 naming the field).
# Secret ids: "at most 255 characters ... letters, numerals, the hyphen (-) and underscore (_)"
# (CreateSecretRequest.secret_id). Service-account ids: "6-30 characters long, and match the
# regular expression [a-z]([-a-z0-9]*[a-z0-9])" (projects.serviceAccounts.create); display name
# at most 100 bytes, description 256. Log metric names: "limited to 100 characters ... A-Z, a-z,
# 0-9, and the special characters _-.,+!*',()%/ ... (/) ... cannot be the first character"
# (LogMetric.name). Labels: keys [a-z][a-z0-9_-]{0,62}, values [a-z0-9_-]{0,63}, "no more than
# 64 labels ... with a given resource" (https://cloud.google.com/resource-manager/docs/labels-
# overview#requirements). Function (and Cloud Run service) names: a letter, then up to 62
# lower-case letters, digits and hyphens, not ending in a hyphen.
SECRET_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,255}")
ACCOUNT_ID_RE = re.compile(r"[a-z](?:[-a-z0-9]*[a-z0-9])")
LOG_METRIC_RE = re.compile(r"[A-Za-z0-9_\-.,+!*'()%][A-Za-z0-9_\-.,+!*'()%/]{0,99}")
LABEL_KEY_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE_RE = re.compile(r"[a-z0-9_-]{0,63}")
FUNCTION_NAME_RE = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
LABELS_MAX = 64
# Org Policy v2: allowAll/denyAll/values only in policies for list constraints; enforce in
# boolean, custom and managed ones; inheritFromParent only for list constraints (PolicySpec).
LIST_CONSTRAINTS = frozenset({"iam.allowedPolicyMemberDomains", "gcp.resourceLocations"})
# Cloud Run's region codes in run.app URLs, for the regions the tests deploy to.
RUN_REGION_CODES = {"europe-west1": "ew", "us-central1": "uc", "us-east1": "ue"}


class GoogleRefusalError(Exception):
    """What Google answers a request it refuses; the mock raises it from ``new_resource``."""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise GoogleRefusalError(f"Error 400: {message}, invalid")


def _check_labels(type_token: str, labels: Any) -> None:
    if not isinstance(labels, dict):
        return
    _check(len(labels) <= LABELS_MAX, f"{type_token}: {len(labels)} labels, at most {LABELS_MAX}")
    for key, value in labels.items():
        _check(bool(LABEL_KEY_RE.fullmatch(key)), f"{type_token}: label key {key!r}")
        _check(bool(LABEL_VALUE_RE.fullmatch(str(value))), f"{type_token}: label value {value!r}")


def _check_policy(inputs: dict[str, Any]) -> None:
    constraint = str(inputs["name"]).rsplit("/policies/", 1)[-1]
    is_list = constraint in LIST_CONSTRAINTS
    spec = inputs.get("spec") or {}
    if "inheritFromParent" in spec:
        _check(is_list, f"inheritFromParent is only for list constraints, not {constraint}")
    for rule in spec.get("rules", []):
        for field_name in ("allowAll", "denyAll", "values"):
            if field_name in rule:
                _check(is_list, f"{field_name} is only for list constraints, not {constraint}")
        if "enforce" in rule:
            _check(not is_list, f"enforce is not for the list constraint {constraint}")


def check_names(type_token: str, inputs: dict[str, Any]) -> None:
    """Refuse, as Google would, a name or label set the API documents as invalid."""
    _check_labels(type_token, inputs.get("labels"))
    _check_labels(type_token, inputs.get("userLabels"))
    if type_token == "gcp:secretmanager/secret:Secret":
        _check(
            bool(SECRET_ID_RE.fullmatch(inputs["secretId"])), f"secret_id {inputs['secretId']!r}"
        )
    elif type_token == "gcp:serviceaccount/account:Account":
        account = inputs["accountId"]
        _check(
            6 <= len(account) <= 30 and bool(ACCOUNT_ID_RE.fullmatch(account)),
            f"accountId {account!r}",
        )
        _check(len(inputs.get("displayName", "").encode()) <= 100, "displayName over 100 bytes")
        _check(len(inputs.get("description", "").encode()) <= 256, "description over 256 bytes")
    elif type_token == "gcp:logging/metric:Metric":
        _check(bool(LOG_METRIC_RE.fullmatch(inputs["name"])), f"metric name {inputs['name']!r}")
    elif type_token == "gcp:cloudfunctionsv2/function:Function":
        _check(bool(FUNCTION_NAME_RE.fullmatch(inputs["name"])), f"function {inputs['name']!r}")
    elif type_token == "gcp:orgpolicy/policy:Policy":
        _check_policy(inputs)


class GoogleCloudMocks(pulumi.runtime.Mocks):
    """Computed outputs shaped like Google Cloud's, derived from the inputs, and Google's
    refusals of names it does not accept (``check_names``).

    Values a program cannot predict are not predictable here either: a Cloud Run URL carries a
    hash, each secret's version numbers differ, ids carry numbers Google assigns. ``caller`` is
    who the credentials name (the OpenID userinfo invoke). Covers the resource types both
    programs declare; any other type gets its inputs back and the id ``<name>-id``.
    """

    def __init__(self, project_number: str, caller: str = DEFAULT_CALLER) -> None:
        self.project_number = project_number
        self.caller = caller
        self.versions: Counter[str] = Counter()
        self.refusals: list[str] = []
        self._histories: dict[str, int] = {}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        if args.token == OPEN_ID_USER_INFO:
            return {"email": self.caller, "id": self.caller}, []
        return {}, []

    def _version_number(self, secret: str) -> int:
        # Google numbers each secret's versions from 1, and a stack's secrets drift apart as
        # values are rotated (each new value is a new version). Each secret here has its own
        # history (the n-th secret seen already holds 3n versions), so a version taken from
        # another secret shows.
        history = self._histories.setdefault(secret, 3 * len(self._histories))
        self.versions[secret] += 1
        return history + self.versions[secret]

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = unwrap(args.inputs)
        try:
            check_names(args.typ, inputs)
        except GoogleRefusalError as refusal:
            self.refusals.append(f"{args.name}: {refusal}")
            raise
        return self._answer(args, inputs)

    def _answer(
        self, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        state = dict(inputs)
        rid = f"{args.name}-id"
        t = args.typ
        pools = f"projects/{self.project_number}/locations/global/workloadIdentityPools"
        if t == "gcp:serviceaccount/account:Account":
            email = f"{inputs['accountId']}@{inputs['project']}.iam.gserviceaccount.com"
            rid = f"projects/{inputs['project']}/serviceAccounts/{email}"
            state |= {"email": email, "name": rid, "member": f"serviceAccount:{email}"}
            state["uniqueId"] = "1" + str(int(_digest(email), 16))[:20]  # 21 digits
        elif t == "gcp:iam/workloadIdentityPool:WorkloadIdentityPool":
            rid = f"{pools}/{inputs['workloadIdentityPoolId']}"
            state["name"] = rid
        elif t == "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider":
            rid = (
                f"{pools}/{inputs['workloadIdentityPoolId']}/providers/"
                f"{inputs['workloadIdentityPoolProviderId']}"
            )
            state["name"] = rid
        elif t == "gcp:kms/keyRing:KeyRing":
            rid = f"projects/{inputs['project']}/locations/{inputs['location']}/keyRings/"
            rid += inputs["name"]
        elif t == "gcp:kms/cryptoKey:CryptoKey":
            rid = f"{inputs['keyRing']}/cryptoKeys/{inputs['name']}"
        elif t == "gcp:secretmanager/secret:Secret":
            # The provider's id names the project by id; Google's own name, by number.
            rid = f"projects/{inputs['project']}/secrets/{inputs['secretId']}"
            state["name"] = f"projects/{self.project_number}/secrets/{inputs['secretId']}"
        elif t == "gcp:secretmanager/secretVersion:SecretVersion":
            secret_id = str(inputs["secret"]).rsplit("/secrets/", 1)[-1]
            number = str(self._version_number(secret_id))
            rid = f"projects/{self.project_number}/secrets/{secret_id}/versions/{number}"
            state |= {"version": number, "name": rid, "enabled": True}
        elif t == "gcp:storage/bucket:Bucket":
            bucket = f"{args.name}-{_digest(args.name, self.project_number)[:7]}"  # auto-named
            rid = bucket
            state |= {"name": bucket, "url": f"gs://{bucket}", "selfLink": f"b/{bucket}"}
        elif t == "gcp:storage/bucketObject:BucketObject":
            rid = f"{inputs['bucket']}-{inputs['name']}"
            state |= {"outputName": inputs["name"], "md5hash": "bWQ1aGFzaA==", "generation": 7}
        elif t == "gcp:cloudfunctionsv2/function:Function":
            name, location = inputs["name"], inputs["location"]
            service = f"projects/{inputs['project']}/locations/{location}/services/{name}"
            rid = f"projects/{inputs['project']}/locations/{location}/functions/{name}"
            # Cloud Run's URL: https://SERVICE-HASH-REGIONCODE.a.run.app, the hash assigned by
            # Google at creation (so no caller can know it beforehand).
            run_hash = _digest(self.project_number, name)[:10]
            code = RUN_REGION_CODES.get(location, location[:2])
            state["serviceConfig"] = {
                **inputs.get("serviceConfig", {}),
                "service": service,
                "uri": f"https://{name}-{run_hash}-{code}.a.run.app",
            }
            state["state"] = "ACTIVE"
        elif t == "gcp:logging/metric:Metric":
            rid = inputs["name"]
        elif t == "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig":
            check_id = f"{args.name}-{_digest(args.name)[:10]}"  # Monitoring appends a suffix
            rid = f"projects/{inputs['project']}/uptimeCheckConfigs/{check_id}"
            state |= {"uptimeCheckId": check_id, "name": rid}
        elif t == "gcp:monitoring/dashboard:Dashboard":
            rid = (
                f"projects/{self.project_number}/dashboards/{int(_digest(args.name), 16) % 10**12}"
            )
        elif t == "gcp:monitoring/alertPolicy:AlertPolicy":
            policy_number = int(_digest(args.name), 16) % 10**19
            rid = f"projects/{inputs['project']}/alertPolicies/{policy_number}"
            state["name"] = rid
        elif t == "gcp:orgpolicy/policy:Policy":
            # Google answers with the project's number where the request named its id.
            rid = str(inputs["name"]).replace(
                f"projects/{str(inputs['parent']).removeprefix('projects/')}/",
                f"projects/{self.project_number}/",
            )
            state["name"] = rid
        return rid, state


class ThreadLoops:
    """The event loops Pulumi's mock monitor leaves behind, and closing them.

    The engine calls the monitor from the run's default thread-pool executor, and each worker
    thread gets an event loop of its own (``pulumi.runtime.sync_await._ensure_event_loop``)
    that nothing closes: about six loops, three file descriptors each, per run. Enough runs in
    one process passed select()'s 1024-descriptor limit. ``note`` records the calling
    thread's loop; ``close`` (after the run) stops the executor, then closes every loop.
    """

    def __init__(self) -> None:
        self._loops: set[asyncio.AbstractEventLoop] = set()
        self._lock = threading.Lock()

    def note(self) -> None:
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:  # this thread has none: nothing to close
            return
        with self._lock:
            self._loops.add(loop)

    def close(self, main: asyncio.AbstractEventLoop) -> None:
        if not main.is_closed():
            main.run_until_complete(main.shutdown_default_executor())  # joins the workers
        with self._lock:
            loops, self._loops = self._loops | {main}, set()
        for loop in loops:
            if not loop.is_closed():
                loop.close()


def fresh_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop for the main thread, closing the one it replaces."""
    try:
        old = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        old = None
    if old is not None and not old.is_closed() and not old.is_running():
        old.close()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


def open_file_descriptors() -> int:
    """How many file descriptors this process holds open (Linux's /proc)."""
    return len(os.listdir(PROC_FDS))


class RecordingMonitor(MockMonitor):
    """The mock monitor, keeping each request's parent, dependencies and secret inputs."""

    def __init__(self, mocks: GoogleCloudMocks) -> None:
        super().__init__(mocks)
        self.declared: list[Declared] = []
        self.loops = ThreadLoops()

    def Invoke(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        try:
            return super().Invoke(request)  # type: ignore[no-untyped-call]
        finally:
            self.loops.note()

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        try:
            return super().ReadResource(request)  # type: ignore[no-untyped-call]
        finally:
            self.loops.note()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == "pulumi:pulumi:Stack":
            return response
        self.loops.note()
        raw = rpc.deserialize_properties(request.object)
        urn = response.urn
        state = self.resources[urn].state if urn in self.resources else {}
        self.declared.append(
            Declared(
                type=request.type,
                name=request.name,
                urn=urn,
                id=response.id,
                parent=request.parent,
                custom=bool(request.custom),
                dependencies=list(request.dependencies),
                inputs=unwrap(raw),
                secret_inputs=secret_paths(raw),
                state=dict(state),
                protect=bool(request.protect),
            )
        )
        return response


@dataclass
class MockRun:
    """What one program run declared and exported, and how it ended."""

    stack: str
    declared: list[Declared]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    error: Exception | None
    warnings: list[str]
    infos: list[str]

    def of_type(self, type_token: str) -> list[Declared]:
        return [d for d in self.declared if d.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> Declared:
        found = [d for d in self.of_type(type_token) if name is None or d.name == name]
        assert len(found) == 1, f"expected one {type_token} {name or ''}, found {len(found)}"
        return found[0]


RunT = TypeVar("RunT", bound=MockRun)


class _LogCollector:
    def __init__(self) -> None:
        self.messages: list[str] = []
        self.infos: list[str] = []

    def debug(self, msg: str) -> None: ...
    def info(self, msg: str) -> None:
        self.infos.append(msg)

    def error(self, msg: str) -> None:
        self.messages.append(msg)

    def warning(self, msg: str) -> None:
        self.messages.append(msg)


async def _resolve_outputs(outputs: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    values: dict[str, Any] = {}
    secret: set[str] = set()
    for name, value in outputs.items():
        output = pulumi.Output.from_input(value)
        values[name] = await output.future()
        if await output.is_secret():
            secret.add(name)
    await wait_for_rpcs()
    return values, secret


def run_program(
    kind: type[RunT],
    main: Path,
    *,
    project: str,
    stack: str,
    mocks: GoogleCloudMocks,
    config: dict[str, str],
    secrets: dict[str, str] | None = None,
) -> RunT:
    """Run the program ``main`` of ``project`` for ``stack``; ``config`` and ``secrets`` keys
    without ':' belong to ``project``. Errors and warnings the program logs are collected."""
    secret_values = secrets or {}

    def full(key: str) -> str:
        return key if ":" in key else f"{project}:{key}"

    main_loop = fresh_event_loop()  # each run on a loop of its own, closed when it ends
    monitor = RecordingMonitor(mocks)
    collector = _LogCollector()
    reset_options(project=project, stack=stack)
    pulumi.runtime.set_mocks(
        mocks,
        project=project,
        stack=stack,
        preview=False,
        logger=collector,  # type: ignore[arg-type]
        monitor=monitor,
    )
    pulumi.runtime.set_all_config(
        {full(k): v for k, v in (config | secret_values).items()},
        secret_keys=[full(k) for k in secret_values],
    )
    error: Exception | None = None
    try:
        runpy.run_path(str(main), run_name="__main__")
    except pulumi.RunError as exc:
        error = exc
    root = get_root_resource()
    assert root is not None
    exported = dict(getattr(root, "outputs", {}))
    values: dict[str, Any] = {}
    secret: set[str] = set()
    try:
        values, secret = _sync_await(_resolve_outputs(exported))
    except GoogleRefusalError as refusal:  # a registration Google refused: the `up` fails
        error = error or refusal
    monitor.loops.close(main_loop)
    fresh_event_loop()  # the next caller finds an open loop, as after `import pulumi`
    return kind(
        stack=stack,
        declared=monitor.declared,
        outputs=values,
        secret_outputs=secret,
        error=error,
        warnings=collector.messages,
        infos=collector.infos,
    )


def record_registered_outputs(monkeypatch: Any) -> dict[str, list[tuple[Any, dict[str, Any]]]]:
    """Every component's ``register_outputs`` call from here on, by component class name (the
    stack's own root component included): (component, outputs) pairs, in call order."""
    registered: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
    real = pulumi.ComponentResource.register_outputs

    def record(self: Any, outputs: Any) -> None:
        registered.setdefault(type(self).__name__, []).append((self, dict(outputs)))
        real(self, outputs)

    monkeypatch.setattr(pulumi.ComponentResource, "register_outputs", record)
    return registered


def between_runs(gc_thresholds: tuple[int, int, int]) -> None:
    """What the fixtures do after each test: undo what a run changed in this process."""
    gc.set_threshold(*gc_thresholds)  # __main__.py tunes the collector for its own process
    reset_options()
    fresh_event_loop()

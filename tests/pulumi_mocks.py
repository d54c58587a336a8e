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
import os
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

RUN_HASH = "x7k2pq4mza"  # the hash Cloud Run puts in a service's run.app URL
PROC_FDS = Path("/proc/self/fd")  # Linux only: the tests that count descriptors skip elsewhere


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


class GoogleCloudMocks(pulumi.runtime.Mocks):
    """Computed outputs shaped like Google Cloud's, derived from the inputs.

    Covers the resource types both programs declare; any other type gets its inputs back and
    the id ``<name>-id``.
    """

    def __init__(self, project_number: str) -> None:
        self.project_number = project_number
        self.versions: Counter[str] = Counter()

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = unwrap(args.inputs)
        state = dict(inputs)
        rid = f"{args.name}-id"
        t = args.typ
        pools = f"projects/{self.project_number}/locations/global/workloadIdentityPools"
        if t == "gcp:serviceaccount/account:Account":
            email = f"{inputs['accountId']}@{inputs['project']}.iam.gserviceaccount.com"
            rid = f"projects/{inputs['project']}/serviceAccounts/{email}"
            state |= {"email": email, "name": rid, "member": f"serviceAccount:{email}"}
            state["uniqueId"] = "1" + str(abs(hash(email)))[:20]
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
            rid = f"projects/{inputs['project']}/secrets/{inputs['secretId']}"
            state["name"] = f"projects/{self.project_number}/secrets/{inputs['secretId']}"
        elif t == "gcp:secretmanager/secretVersion:SecretVersion":
            self.versions[inputs["secret"]] += 1
            number = str(self.versions[inputs["secret"]] + 2)  # not "1": proves it is read
            rid = f"{inputs['secret']}/versions/{number}"
            state |= {"version": number, "name": rid, "enabled": True}
        elif t == "gcp:storage/bucket:Bucket":
            bucket = f"{args.name}-a1b2c3d"
            rid = bucket
            state |= {"name": bucket, "url": f"gs://{bucket}", "selfLink": f"b/{bucket}"}
        elif t == "gcp:storage/bucketObject:BucketObject":
            rid = f"{inputs['bucket']}-{inputs['name']}"
            state |= {"outputName": inputs["name"], "md5hash": "bWQ1aGFzaA==", "generation": 7}
        elif t == "gcp:cloudfunctionsv2/function:Function":
            name = inputs["name"]
            service = f"projects/{inputs['project']}/locations/{inputs['location']}/services/{name}"
            rid = f"projects/{inputs['project']}/locations/{inputs['location']}/functions/{name}"
            state["serviceConfig"] = {
                **inputs.get("serviceConfig", {}),
                "service": service,
                "uri": f"https://{name}-{RUN_HASH}-ew.a.run.app",
                "gcfUri": f"https://{inputs['location']}-{inputs['project']}.cloudfunctions.net/{name}",
            }
            state |= {"url": state["serviceConfig"]["gcfUri"], "state": "ACTIVE"}
        elif t == "gcp:logging/metric:Metric":
            rid = inputs["name"]
        elif t == "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig":
            check_id = f"{args.name}-k3j9x2"  # Monitoring appends a random suffix
            rid = f"projects/{inputs['project']}/uptimeCheckConfigs/{check_id}"
            state |= {"uptimeCheckId": check_id, "name": rid}
        elif t == "gcp:monitoring/dashboard:Dashboard":
            rid = f"projects/{self.project_number}/dashboards/{abs(hash(args.name)) % 10**12}"
        elif t == "gcp:monitoring/alertPolicy:AlertPolicy":
            rid = f"projects/{inputs['project']}/alertPolicies/{abs(hash(args.name)) % 10**12}"
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
    values, secret = _sync_await(_resolve_outputs(exported))
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


def between_runs(gc_thresholds: tuple[int, int, int]) -> None:
    """What the fixtures do after each test: undo what a run changed in this process."""
    gc.set_threshold(*gc_thresholds)  # __main__.py tunes the collector for its own process
    reset_options()
    fresh_event_loop()

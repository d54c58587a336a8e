"""Run the real ``__main__.py`` under Pulumi's mocks and record everything it declares.

``run_program`` sets the project, stack and config the way ``pulumi up`` would, executes the
program with ``runpy``, waits for every registration, and resolves the stack outputs. The mock
monitor records each resource's type, name, parent, ``depends_on`` and inputs, and which inputs
arrived as Pulumi secrets. The mocks answer with realistic computed outputs (emails, URLs,
version numbers) so that values built inside ``apply`` are real strings tests can check.
"""

from __future__ import annotations

import asyncio
import gc
import re
import runpy
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.settings import get_root_resource, reset_options
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # pytest's rootdir is not importable by default here
    sys.path.insert(0, str(REPO))

PROJECT = "jam-fin-relay"
MAIN = REPO / "__main__.py"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
GCP_PROJECT = "acme-support-dev"
PROJECT_NUMBER = "123456789012"
REGION = "europe-west1"
RUN_HASH = "x7k2pq4mza"

# Secret values the tests set; none of them may ever show up in an output.
INTERCOM_URL = "https://api.intercom.io/fin/workflows/webhooks/tok_{}_s3cr3t"
JAM_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw{}"


def _unwrap(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return _unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def _secret_paths(value: Any, path: str = "") -> set[str]:
    if rpc.is_rpc_secret(value):
        return {path}
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found |= _secret_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found |= _secret_paths(item, f"{path}[{index}]")
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


class RealisticMocks(pulumi.runtime.Mocks):
    """Computed outputs shaped like Google Cloud's, derived from the inputs."""

    def __init__(self) -> None:
        self.versions: Counter[str] = Counter()
        self.by_name: dict[str, Declared] = {}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = _unwrap(args.inputs)
        state = dict(inputs)
        rid = f"{args.name}-id"
        t = args.typ
        if t == "gcp:serviceaccount/account:Account":
            email = f"{inputs['accountId']}@{inputs['project']}.iam.gserviceaccount.com"
            rid = f"projects/{inputs['project']}/serviceAccounts/{email}"
            state |= {"email": email, "name": rid, "member": f"serviceAccount:{email}"}
            state["uniqueId"] = "1" + str(abs(hash(email)))[:20]
        elif t == "gcp:secretmanager/secret:Secret":
            rid = f"projects/{inputs['project']}/secrets/{inputs['secretId']}"
            state["name"] = f"projects/{PROJECT_NUMBER}/secrets/{inputs['secretId']}"
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
            rid = f"projects/{PROJECT_NUMBER}/dashboards/{abs(hash(args.name)) % 10**12}"
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


class RecordingMonitor(MockMonitor):
    """The mock monitor, keeping each request's parent, dependencies and secret inputs."""

    def __init__(self, mocks: RealisticMocks) -> None:
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
                inputs=_unwrap(raw),
                secret_inputs=_secret_paths(raw),
                state=dict(state),
            )
        )
        return response


@dataclass
class ProgramRun:
    stack: str
    declared: list[Declared]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    error: Exception | None
    warnings: list[str]
    infos: list[str] = field(default_factory=list)

    def of_type(self, type_token: str) -> list[Declared]:
        return [d for d in self.declared if d.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> Declared:
        found = [d for d in self.of_type(type_token) if name is None or d.name == name]
        assert len(found) == 1, f"expected one {type_token} {name or ''}, found {len(found)}"
        return found[0]

    def by_urn(self, urn: str) -> Declared:
        return next(d for d in self.declared if d.urn == urn)

    def count_by_type(self) -> Counter[str]:
        return Counter(d.type for d in self.declared)

    def names(self) -> set[tuple[str, str]]:
        return {(d.type, d.name) for d in self.declared}


class _WarningCollector:
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


def default_config(workflows_file: Path) -> dict[str, str]:
    return {"gcp:project": GCP_PROJECT, "gcp:region": REGION, "workflowsFile": str(workflows_file)}


def execute(
    stack: str,
    workflows_file: Path,
    config: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
) -> ProgramRun:
    """Run ``__main__.py`` for ``stack``; plain ``config`` and ``secrets`` are un-prefixed keys
    of this project unless they contain ':'."""
    plain = default_config(workflows_file) | (config or {})
    secret_values = secrets or {}

    def full(key: str) -> str:
        return key if ":" in key else f"{PROJECT}:{key}"

    main_loop = fresh_event_loop()  # each run on a loop of its own, closed when it ends
    mocks = RealisticMocks()
    monitor = RecordingMonitor(mocks)
    collector = _WarningCollector()
    reset_options(project=PROJECT, stack=stack)
    pulumi.runtime.set_mocks(
        mocks,
        project=PROJECT,
        stack=stack,
        preview=False,
        logger=collector,  # type: ignore[arg-type]
        monitor=monitor,
    )
    pulumi.runtime.set_all_config(
        {full(k): v for k, v in (plain | secret_values).items()},
        secret_keys=[full(k) for k in secret_values],
    )
    error: Exception | None = None
    try:
        runpy.run_path(str(MAIN), run_name="__main__")
    except pulumi.RunError as exc:
        error = exc
    root = get_root_resource()
    assert root is not None
    exported = dict(getattr(root, "outputs", {}))
    values, secret = _sync_await(_resolve_outputs(exported))
    monitor.loops.close(main_loop)
    fresh_event_loop()  # the next caller finds an open loop, as after `import pulumi`
    return ProgramRun(
        stack, monitor.declared, values, secret, error, collector.messages, collector.infos
    )


def standard_secrets(*workflow_keys: str, signing: tuple[str, ...] = ()) -> dict[str, str]:
    """Intercom URLs for ``workflow_keys`` and Jam secrets for ``signing`` (config key names)."""
    values = {key: INTERCOM_URL.format(i) for i, key in enumerate(workflow_keys)}
    values |= {key: JAM_SECRET.format(i) for i, key in enumerate(signing)}
    return values


def camel(workflow_id: str, suffix: str) -> str:
    head, *rest = workflow_id.split("-")
    return head + "".join(p.capitalize() for p in rest) + suffix


ID_RE = re.compile(r"[a-z][a-z0-9-]*")


@pytest.fixture
def kit() -> Iterator[Any]:
    """Helpers and constants for the tests (they cannot import this file by name)."""
    import types

    thresholds = gc.get_threshold()
    yield types.SimpleNamespace(
        run=execute,
        secrets=standard_secrets,
        camel=camel,
        fixtures=FIXTURES,
        repo=REPO,
        gcp_project=GCP_PROJECT,
        region=REGION,
        run_hash=RUN_HASH,
        intercom_url=INTERCOM_URL,
        jam_secret=JAM_SECRET,
        between_runs=lambda: between_runs(thresholds),
    )
    between_runs(thresholds)


def between_runs(thresholds: tuple[int, int, int]) -> None:
    """What the fixture does after each test: undo what a run changed in this process."""
    gc.set_threshold(*thresholds)  # __main__.py tunes the collector for its own process
    reset_options()
    fresh_event_loop()

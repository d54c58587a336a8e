"""Run the real ``bootstrap/__main__.py`` under Pulumi's mocks and record what it declares.

A small harness of its own (tests/pulumi/conftest.py belongs to the main program): set the
project, stack and config as ``pulumi up`` would, execute the program, resolve the outputs.
"""

from __future__ import annotations

import asyncio
import runpy
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
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
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PROJECT = "jam-fin-relay-bootstrap"
MAIN = REPO / "bootstrap" / "__main__.py"
GCP_PROJECT = "acme-ci"
PROJECT_NUMBER = "987654321098"
REPOSITORY = "acme/jam-fin-relay"


def _unwrap(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return _unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


@dataclass
class Declared:
    type: str
    name: str
    inputs: dict[str, Any]
    state: dict[str, Any]


class GoogleLikeMocks(pulumi.runtime.Mocks):
    """Computed outputs shaped like Google Cloud's for the resources the bootstrap declares."""

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = _unwrap(args.inputs)
        state = dict(inputs)
        rid = f"{args.name}-id"
        pools = f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools"
        if args.typ == "gcp:serviceaccount/account:Account":
            email = f"{inputs['accountId']}@{inputs['project']}.iam.gserviceaccount.com"
            rid = f"projects/{inputs['project']}/serviceAccounts/{email}"
            state |= {"email": email, "name": rid}
        elif args.typ == "gcp:iam/workloadIdentityPool:WorkloadIdentityPool":
            rid = f"{pools}/{inputs['workloadIdentityPoolId']}"
            state["name"] = rid
        elif args.typ == "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider":
            rid = (
                f"{pools}/{inputs['workloadIdentityPoolId']}/providers/"
                f"{inputs['workloadIdentityPoolProviderId']}"
            )
            state["name"] = rid
        elif args.typ == "gcp:storage/bucket:Bucket":
            rid = f"{args.name}-5e2c1a7"
            state["name"] = rid
        elif args.typ == "gcp:kms/keyRing:KeyRing":
            rid = f"projects/{inputs['project']}/locations/{inputs['location']}/keyRings/"
            rid += inputs["name"]
        elif args.typ == "gcp:kms/cryptoKey:CryptoKey":
            rid = f"{inputs['keyRing']}/cryptoKeys/{inputs['name']}"
        return rid, state


class ThreadLoops:
    """Pulumi's mock monitor runs on the executor's worker threads, each of which gets an event
    loop nothing closes (three file descriptors each). Noted per call, closed after the run,
    with the run's own loop. (tests/pulumi/conftest.py has the same; the harnesses are kept
    apart on purpose.)"""

    def __init__(self) -> None:
        self._loops: set[asyncio.AbstractEventLoop] = set()
        self._lock = threading.Lock()

    def note(self) -> None:
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            return
        with self._lock:
            self._loops.add(loop)

    def close(self, main: asyncio.AbstractEventLoop) -> None:
        if not main.is_closed():
            main.run_until_complete(main.shutdown_default_executor())
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
    def __init__(self, mocks: GoogleLikeMocks) -> None:
        super().__init__(mocks)
        self.declared: list[Declared] = []
        self.loops = ThreadLoops()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            self.loops.note()
            state = self.resources[response.urn].state if response.urn in self.resources else {}
            inputs = _unwrap(rpc.deserialize_properties(request.object))
            self.declared.append(Declared(request.type, request.name, inputs, dict(state)))
        return response


@dataclass
class BootstrapRun:
    declared: list[Declared]
    outputs: dict[str, Any]
    error: Exception | None

    def of_type(self, type_token: str) -> list[Declared]:
        return [d for d in self.declared if d.type == type_token]

    def one(self, type_token: str) -> Declared:
        found = self.of_type(type_token)
        assert len(found) == 1, f"expected one {type_token}, found {len(found)}"
        return found[0]

    def account(self, account_id: str) -> Declared:
        return next(
            d
            for d in self.of_type("gcp:serviceaccount/account:Account")
            if d.inputs["accountId"] == account_id
        )

    def project_roles(self, email: str) -> dict[tuple[str, str], Declared]:
        """(project, role) -> grant, for one service account's project-level grants."""
        return {
            (d.inputs["project"], d.inputs["role"]): d
            for d in self.of_type("gcp:projects/iAMMember:IAMMember")
            if d.inputs["member"] == f"serviceAccount:{email}"
        }


async def _resolve(outputs: dict[str, Any]) -> dict[str, Any]:
    values = {name: await pulumi.Output.from_input(v).future() for name, v in outputs.items()}
    await wait_for_rpcs()
    return values


def execute(config: dict[str, Any], stack: str = "github") -> BootstrapRun:
    """Run the bootstrap program; un-prefixed keys belong to the bootstrap project."""
    main_loop = fresh_event_loop()  # each run on a loop of its own, closed when it ends
    mocks = GoogleLikeMocks()
    monitor = RecordingMonitor(mocks)
    reset_options(project=PROJECT, stack=stack)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(
        {(k if ":" in k else f"{PROJECT}:{k}"): v for k, v in config.items()}
    )
    error: Exception | None = None
    try:
        runpy.run_path(str(MAIN), run_name="__main__")
    except pulumi.RunError as exc:
        error = exc
    root = get_root_resource()
    assert root is not None
    outputs = _sync_await(_resolve(dict(getattr(root, "outputs", {}))))
    monitor.loops.close(main_loop)
    fresh_event_loop()
    return BootstrapRun(monitor.declared, outputs, error)


@pytest.fixture
def bootstrap() -> Iterator[Any]:
    """Runs the bootstrap with the two required keys set, plus any overrides."""
    import types

    def run(**overrides: Any) -> BootstrapRun:
        config = {"gcp:project": GCP_PROJECT, "githubRepository": REPOSITORY} | overrides
        return execute({k: v for k, v in config.items() if v is not None})

    yield types.SimpleNamespace(
        run=run,
        project=GCP_PROJECT,
        repository=REPOSITORY,
        number=PROJECT_NUMBER,
        between_runs=between_runs,
    )
    between_runs()


def between_runs() -> None:
    """What the fixture does after each test."""
    reset_options()
    fresh_event_loop()

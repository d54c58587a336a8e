"""Mocks and a runner written the way another team would write them, independent of ours.

tests/pulumi_mocks.py answers with everything the programs read (service URIs, emails, names,
versions). An outside checker usually does not: Pulumi's documented pattern is
``new_resource`` returning ``(name + "_id", inputs)`` and ``call`` returning ``{}``
(https://www.pulumi.com/docs/iac/guides/testing/unit/). So this file has its own mocks, three
of them, and its own small runner over ``pulumi.runtime.set_mocks``, sharing nothing with
tests/pulumi_mocks.py:

- ``BareMocks``: inputs back, ``{}`` for every invoke. Nothing Google computes exists.
- ``MinimalAnswerMocks``: inputs back, and the smallest plausible answer for each invoke
  (who the caller is, the project's number, the client's project and region).
- ``GoogleLikeMocks``: the outputs Google documents, in Google's shapes, for the types whose
  outputs the programs read: a Cloud Run URI carrying a hash, the service's full resource name,
  service-account emails and names, numeric secret versions (each secret its own history),
  pool and provider names with the project number.

With ``preview=True`` the runner behaves like ``pulumi preview``: outputs a mock leaves out are
unknown instead of ``None``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import runpy
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.settings import get_root_resource, reset_options
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

from infra.credentials import READ_ENVS

OPEN_ID_USER_INFO = "gcp:organizations/getClientOpenIdUserInfo:getClientOpenIdUserInfo"
GET_PROJECT = "gcp:organizations/getProject:getProject"
GET_CLIENT_CONFIG = "gcp:organizations/getClientConfig:getClientConfig"
# A run that takes longer than this has hung (a normal run takes well under a second); under
# pytest, pytest-timeout's own limit (pyproject.toml) bounds it instead.
RUN_TIMEOUT_SECONDS = 60


def plain(value: Any) -> Any:
    """``value`` with every Pulumi secret wrapper replaced by what it holds."""
    if rpc.is_rpc_secret(value):
        return plain(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def strip_secret_parts(value: Any) -> Any:
    """``value`` without the parts marked secret: what a non-secret reader of it sees."""
    if rpc.is_rpc_secret(value):
        return None
    if isinstance(value, dict):
        return {k: strip_secret_parts(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_secret_parts(v) for v in value]
    return value


class BareMocks(pulumi.runtime.Mocks):
    """Pulumi's documented minimum: ``(name + "_id", inputs)``, and ``{}`` for invokes."""

    def __init__(self) -> None:
        self.invokes: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return args.name + "_id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        self.invokes.append(args.token)
        return {}, []


class MinimalAnswerMocks(BareMocks):
    """Inputs back; each invoke gets the smallest answer that is still true to its schema."""

    def __init__(self, caller: str | None, project: str, number: str, region: str) -> None:
        super().__init__()
        self.caller, self.project, self.number, self.region = caller, project, number, region

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        self.invokes.append(args.token)
        if args.token == OPEN_ID_USER_INFO:
            return ({"email": self.caller} if self.caller else {}), []
        if args.token == GET_PROJECT:
            project = args.args.get("projectId") or self.project
            return {"projectId": project, "number": self.number, "name": project}, []
        if args.token == GET_CLIENT_CONFIG:
            return {"project": self.project, "region": self.region, "accessToken": "ya29.x"}, []
        return {}, []


# Cloud Run's region codes in run.app URIs (https://FUNCTION-HASH-CODE.a.run.app).
RUN_APP_CODES = {"us-central1": "uc", "europe-west1": "ew", "us-east1": "ue"}


def _digits(text: str, length: int) -> str:
    return str(int(hashlib.sha256(text.encode()).hexdigest(), 16))[:length]


class GoogleLikeMocks(MinimalAnswerMocks):
    """Outputs as Google documents them, for the types whose outputs the programs read.

    Cloud Functions v2: ``serviceConfig.service`` is "projects/{project}/locations/{region}/
    services/{service}" and ``uri`` the run.app URI with a hash (ServiceConfig, Cloud Functions
    v2 API). IAM: a service account's email is ACCOUNT_ID@PROJECT_ID.iam.gserviceaccount.com and
    its name projects/PROJECT/serviceAccounts/EMAIL. Secret Manager numbers each secret's
    versions from 1; here each secret starts after an earlier history of its own, so a version
    taken from the wrong secret shows. Workload identity pools are named with the project
    number.
    """

    def __init__(
        self,
        caller: str | None,
        project: str,
        number: str,
        region: str,
        run_hash: str = "abc123xyz",
    ) -> None:
        super().__init__(caller, project, number, region)
        self.run_hash = run_hash
        self.versions: dict[str, int] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        values = plain(inputs)
        t = args.typ
        rid = args.name + "_id"
        extra: dict[str, Any] = {}
        if t == "gcp:serviceaccount/account:Account":
            email = f"{values['accountId']}@{values['project']}.iam.gserviceaccount.com"
            rid = f"projects/{values['project']}/serviceAccounts/{email}"
            extra = {
                "email": email,
                "name": rid,
                "member": f"serviceAccount:{email}",
                "uniqueId": "10" + _digits(email, 19),
            }
        elif t == "gcp:cloudfunctionsv2/function:Function":
            name, location, project = values["name"], values["location"], values["project"]
            code = RUN_APP_CODES.get(location, "uc")
            rid = f"projects/{project}/locations/{location}/functions/{name}"
            extra = {
                "serviceConfig": {
                    **values.get("serviceConfig", {}),
                    "service": f"projects/{project}/locations/{location}/services/{name}",
                    "uri": f"https://{name}-{self.run_hash}-{code}.a.run.app",
                },
                "url": f"https://{location}-{project}.cloudfunctions.net/{name}",
                "state": "ACTIVE",
            }
        elif t == "gcp:secretmanager/secret:Secret":
            rid = f"projects/{values['project']}/secrets/{values['secretId']}"
            extra = {"name": f"projects/{self.number}/secrets/{values['secretId']}"}
        elif t == "gcp:secretmanager/secretVersion:SecretVersion":
            secret = str(values["secret"]).rsplit("/", 1)[-1]
            start = self.versions.setdefault(secret, 2 * len(self.versions))
            self.versions[secret] = start + 1
            number = str(start + 1)
            rid = f"projects/{self.number}/secrets/{secret}/versions/{number}"
            extra = {"version": number, "name": rid}
        elif t == "gcp:storage/bucket:Bucket":
            name = values.get("name") or f"{args.name}-{_digits(args.name, 7)}"  # autonamed
            rid = name
            extra = {"name": name, "url": f"gs://{name}"}
        elif t == "gcp:storage/bucketObject:BucketObject":
            extra = {"outputName": values["name"], "md5hash": "XUFAKrxLKna5cZ2REBfFkg=="}
        elif t == "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig":
            check = f"{args.name}-{_digits(args.name, 8)}"
            rid = f"projects/{values['project']}/uptimeCheckConfigs/{check}"
            extra = {"uptimeCheckId": check, "name": rid}
        elif t == "gcp:iam/workloadIdentityPool:WorkloadIdentityPool":
            rid = (
                f"projects/{self.number}/locations/global/workloadIdentityPools/"
                f"{values['workloadIdentityPoolId']}"
            )
            extra = {"name": rid, "state": "ACTIVE"}
        elif t == "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider":
            rid = (
                f"projects/{self.number}/locations/global/workloadIdentityPools/"
                f"{values['workloadIdentityPoolId']}/providers/"
                f"{values['workloadIdentityPoolProviderId']}"
            )
            extra = {"name": rid, "state": "ACTIVE"}
        elif t == "gcp:kms/cryptoKey:CryptoKey":
            rid = f"{values['keyRing']}/cryptoKeys/{values['name']}"
        elif t == "gcp:kms/keyRing:KeyRing":
            rid = (
                f"projects/{values['project']}/locations/{values['location']}/keyRings/"
                f"{values['name']}"
            )
        return rid, {**inputs, **extra}


@dataclass
class Registration:
    """One RegisterResource request, as the engine receives it."""

    type: str
    name: str
    urn: str
    id: str  # what the mock answered as the resource's id
    parent: str
    custom: bool
    dependencies: list[str]
    raw_inputs: dict[str, Any]  # secrets still wrapped
    state: dict[str, Any]  # what the mock answered (secrets unwrapped)

    @property
    def inputs(self) -> dict[str, Any]:
        result: dict[str, Any] = plain(self.raw_inputs)
        return result


class _RecordingMonitor(MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            registered = self.resources.get(response.urn)
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    id=response.id,
                    parent=request.parent,
                    custom=bool(request.custom),
                    dependencies=list(request.dependencies),
                    raw_inputs=rpc.deserialize_properties(request.object),
                    state=plain(dict(registered.state)) if registered else {},
                )
            )
        return response


class _Logs:
    """The engine's log calls, by severity."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def debug(self, msg: str) -> None:
        self.lines.append(("debug", msg))

    def info(self, msg: str) -> None:
        self.lines.append(("info", msg))

    def warning(self, msg: str) -> None:
        self.lines.append(("warning", msg))

    def error(self, msg: str) -> None:
        self.lines.append(("error", msg))


@dataclass
class ForeignRun:
    """What one run declared, exported and logged, and how it ended."""

    registrations: list[Registration]
    outputs: dict[str, Any]  # resolved; unknown values (preview) are None
    secret_outputs: set[str]
    error: BaseException | None
    logs: list[tuple[str, str]]
    invokes: list[str] = field(default_factory=list)

    @property
    def resources(self) -> list[Registration]:
        return [r for r in self.registrations if r.custom]

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_token]

    def one(self, type_token: str) -> Registration:
        found = self.of_type(type_token)
        assert len(found) == 1, f"expected one {type_token}, found {len(found)}"
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)

    def named(self, name: str) -> Registration:
        return next(r for r in self.registrations if r.name == name)


class RunHungError(Exception):
    """The program did not finish within RUN_TIMEOUT_SECONDS."""


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    """Raise RunHungError in the run after ``seconds``, unless a timer is already armed (as
    pytest-timeout's is under pytest): that one bounds the run, and is left untouched."""
    if signal.getitimer(signal.ITIMER_REAL)[0] > 0:
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise RunHungError(f"the program ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def no_credentials(home: Path) -> Iterator[None]:
    """An empty HOME and no credential variables while the program runs."""
    saved = {name: os.environ.get(name) for name in (*READ_ENVS, "HOME")}
    for name in READ_ENVS:
        os.environ.pop(name, None)
    os.environ["HOME"] = str(home)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def _settle(outputs: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    values: dict[str, Any] = {}
    secret: set[str] = set()
    for name, value in outputs.items():
        output = pulumi.Output.from_input(value)
        values[name] = await output.future()
        if await output.is_secret():
            secret.add(name)
    await wait_for_rpcs()
    return values, secret


def run(
    main: Path,
    *,
    project: str,
    stack: str,
    mocks: BareMocks,
    config: dict[str, str],
    secrets: dict[str, str] | None = None,
    preview: bool = False,
) -> ForeignRun:
    """Run the program at ``main`` as ``pulumi up`` (or ``preview``) would, under ``mocks``.

    Keys without ':' belong to ``project``; ``secrets`` arrive as Pulumi secrets. Any exception
    is kept in ``error`` (a RunError is the clear kind); a run past RUN_TIMEOUT_SECONDS is a
    RunHungError.
    """
    secret_values = secrets or {}

    def full(key: str) -> str:
        return key if ":" in key else f"{project}:{key}"

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    reset_options(project=project, stack=stack, preview=preview)
    monitor = _RecordingMonitor(mocks)
    logs = _Logs()
    pulumi.runtime.set_mocks(
        mocks,
        project=project,
        stack=stack,
        preview=preview,
        logger=logs,  # type: ignore[arg-type]
        monitor=monitor,
    )
    pulumi.runtime.set_all_config(
        {full(k): v for k, v in (config | secret_values).items()},
        secret_keys=[full(k) for k in secret_values],
    )
    error: BaseException | None = None
    values: dict[str, Any] = {}
    secret: set[str] = set()
    try:
        with _deadline(RUN_TIMEOUT_SECONDS):
            try:
                runpy.run_path(str(main), run_name="__main__")
            except Exception as exc:  # a crash is a finding, not a test error
                error = exc
            root = get_root_resource()
            exported = dict(getattr(root, "outputs", {}) or {})
            try:
                values, secret = _sync_await(_settle(exported))
            except Exception as exc:
                error = error or exc
    finally:
        # The mock monitor runs on the loop's default executor; its threads each hold a loop.
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        asyncio.set_event_loop(asyncio.new_event_loop())
        reset_options()
    return ForeignRun(
        registrations=monitor.registrations,
        outputs=values,
        secret_outputs=secret,
        error=error,
        logs=logs.lines,
        invokes=list(mocks.invokes),
    )

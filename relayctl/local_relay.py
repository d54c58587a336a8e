"""Run the relay locally, exactly as Cloud Functions would, on a free loopback port.

``relay_env`` builds the relay's environment from plain mappings (by the shared naming rule), and
``LocalRelay`` serves ``relay_function/main.py`` with functions-framework in a subprocess. The
demo, ``send-test-event``, the tests and the benchmark all start the relay this way.

Like Cloud Run, ``LocalRelay`` sets ``K_SERVICE`` (the service name, ``LOCAL_SERVICE_NAME``
unless told otherwise), so a local relay answers ``/workflows/<id>`` and
``/<K_SERVICE>/workflows/<id>`` as a deployed one does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from infra.relay_env import THREADS_ENV, RouteEvents, plain_env
from infra.settings import DEFAULT_CONCURRENCY, default_function_name
from relay_function.naming import (
    HEALTH_PATH,
    INTERCOM_URL_ENV_PREFIX,
    SERVICE_NAME_ENV,
    SIGNING_SECRET_ENV_PREFIX,
    intercom_url_env,
    is_loopback_host,
    signing_secret_env,
)

RELAY_SOURCE = Path(__file__).resolve().parent.parent / "relay_function" / "main.py"
MAX_BODY_ENV = "RELAY_MAX_BODY_BYTES"
# The service name a local relay runs under: the deploy's default function name for a stack
# called "local" (Cloud Run sets K_SERVICE to the service's name).
LOCAL_SERVICE_NAME = default_function_name("local")
# Variables that configure the relay; inherited copies are dropped so a stray export in the
# caller's shell cannot change what a LocalRelay serves.
_RELAY_ENV_PREFIXES = (
    INTERCOM_URL_ENV_PREFIX,
    SIGNING_SECRET_ENV_PREFIX,
    "RELAY_",
    THREADS_ENV,
    SERVICE_NAME_ENV,
)


class NotLoopbackError(ValueError):
    """A LocalRelay may only listen on a loopback address."""


def _require_loopback(host: str) -> None:
    # The local server is functions-framework's gunicorn with its request line unbounded
    # (limit_request_line=0): a long line costs seconds of CPU. Only Google's front end may
    # face the network; locally, nothing but this machine may reach it.
    if not is_loopback_host(host):
        raise NotLoopbackError(f"LocalRelay listens on loopback only, not on {host!r}")


def relay_env(
    routes: Mapping[str, Sequence[str]],
    intercom_urls: Mapping[str, str],
    signing_secrets: Mapping[str, str],
    *,
    max_body_bytes: int | None = None,
    threads: int = DEFAULT_CONCURRENCY,
) -> dict[str, str]:
    """The relay's environment: ``RELAY_ROUTES``, ``THREADS`` and per-workflow secret variables.

    ``routes`` maps workflow id -> subscribed event types. A workflow missing from
    ``intercom_urls`` or ``signing_secrets`` simply gets no variable (the relay reports it).
    ``threads`` is functions-framework's server thread count, set as the deploy sets it
    (``infra.relay_env.plain_env``: equal to the request concurrency, 16 by default).
    """
    # The deploy's own builder (infra.relay_env.plain_env): the same RELAY_ROUTES and THREADS.
    env = plain_env([RouteEvents(wid, tuple(ev)) for wid, ev in routes.items()], threads)
    for workflow_id, url in intercom_urls.items():
        env[intercom_url_env(workflow_id)] = url
    for workflow_id, secret in signing_secrets.items():
        env[signing_secret_env(workflow_id)] = secret
    if max_body_bytes is not None:
        env[MAX_BODY_ENV] = str(max_body_bytes)
    return env


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class RelayStartError(RuntimeError):
    """The relay process exited or never answered ``/health``; carries its output."""


class LocalRelay:
    """functions-framework serving the relay on ``127.0.0.1:<free port>``; a context manager.

    ``env`` is added to this process's environment (minus any inherited relay variables).
    ``service_name`` is set as ``K_SERVICE``, as Cloud Run does (``None``: unset, as on a
    machine that is not Cloud Run; a ``K_SERVICE`` in ``env`` wins). Output (stdout and
    stderr) goes to a temporary file readable with ``output()``.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        source: Path = RELAY_SOURCE,
        target: str = "relay",
        host: str = "127.0.0.1",
        port: int | None = None,
        python: str = sys.executable,
        startup_timeout: float = 20.0,
        service_name: str | None = LOCAL_SERVICE_NAME,
    ) -> None:
        _require_loopback(host)
        self.service_name = env.get(SERVICE_NAME_ENV, service_name)
        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        self._command = [
            python,
            "-m",
            "functions_framework",
            "--source",
            str(source),
            "--target",
            target,
            "--host",
            host,
            "--port",
            str(self.port),
        ]
        self._env = self._child_env(env, service_name)
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @staticmethod
    def _child_env(env: Mapping[str, str], service_name: str | None) -> dict[str, str]:
        child = {k: v for k, v in os.environ.items() if not k.startswith(_RELAY_ENV_PREFIXES)}
        if service_name is not None:
            child[SERVICE_NAME_ENV] = service_name
        child.update(env)
        child["PYTHONUNBUFFERED"] = "1"  # log lines reach output() as they are written
        return child

    def start(self) -> LocalRelay:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self._process = subprocess.Popen(  # noqa: S603 (fixed argv, our own interpreter)
            self._command,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RelayStartError(
                    f"relay exited with code {self._process.returncode}:\n{self.output()}"
                )
            try:
                with urllib.request.urlopen(self.url + HEALTH_PATH, timeout=1) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RelayStartError(f"relay not healthy after {self._startup_timeout}s:\n{self.output()}")

    def output(self) -> str:
        """Everything the relay printed so far (stdout and stderr interleaved)."""
        if self._log is None:
            return ""
        self._log.flush()
        position = self._log.tell()
        self._log.seek(0)
        text = self._log.read().decode("utf-8", errors="replace")
        self._log.seek(position)
        return text

    def log_records(self) -> list[dict[str, object]]:
        """The relay's structured log lines (JSON objects), skipping any other output."""
        records = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    records.append(record)
        return records

    def stop(self, timeout: float = 10.0) -> None:
        workers = self._workers()
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # SIGINT is gunicorn's quick shutdown; idle keep-alive connections do not hold it.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        # A worker that cannot exit (a thread blocked in a read joins at exit) outlives an
        # arbiter killed above; on a shared machine it would stay for good.
        for pid, started in workers:
            self._kill_if_still_ours(pid, started)
        # The log file stays readable after stop(); it is closed when collected.

    @staticmethod
    def _start_time(pid: int) -> str | None:
        """The process's start time (/proc/PID/stat, field 22), which tells a process from a
        later one given the same pid; None when it is gone. Its command line would not: with
        setproctitle installed, gunicorn renames its workers ("gunicorn: worker [...]")."""
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        return stat.rsplit(")", 1)[1].split()[19]

    def _kill_if_still_ours(self, pid: int, started: str | None) -> None:
        if started is not None and self._start_time(pid) == started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def worker_pids(self) -> list[int]:
        """The server's worker processes (gunicorn's arbiter forks them; Linux /proc only)."""
        return [pid for pid, _ in self._workers()]

    def _workers(self) -> list[tuple[int, str | None]]:
        process = self._process
        if process is None:
            return []
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        try:
            pids = [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []
        return [(pid, self._start_time(pid)) for pid in pids]

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> LocalRelay:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

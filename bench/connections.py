"""Hostile client connections against the relay, with figures (never a test).

    .venv/bin/python bench/connections.py                  # the relay as deployed, 3 rounds
    .venv/bin/python bench/connections.py --as-pinned      # gunicorn 23.0.0's own worker
    .venv/bin/python bench/connections.py --gunicorn DIR   # another gunicorn, unpacked in DIR

Loopback only; every socket operation and request is bounded. Each case runs against a fresh
relay (LocalRelay, THREADS=16 as deployed) in front of the Intercom stand-in:

- ``silent``: 1,000 connections (gunicorn's ``worker_connections``) that never send a byte,
  held for HOLD_SECONDS, then closed. Figures: the answer to ``GET /health`` sent while they
  are held and after they closed (status and seconds), the worker's CPU seconds over the
  3 s after they closed (and while they were held), and how many the relay closed itself while
  they were held.
- the idle cases, 16 connections each (as many as threads), then one signed event: ``partial``
  (half a request head), ``byte`` (one byte), ``413-idle`` (a complete over-limit request,
  answered 413, then silence), ``404-midbody`` (answered 404 with most of its body unsent),
  ``declared-silent`` (413 for a 1 TB Content-Length that never comes), ``health-idle`` (a
  finished request, then silence). Figures: the event's status and seconds.

``--as-pinned`` makes the relay leave gunicorn's worker alone (a ``sitecustomize`` that marks
the worker as installed, so relay_function/serving.py's ``install`` skips it): the "before".
``--gunicorn DIR`` puts DIR first on the relay's PYTHONPATH (e.g. a wheel of another version,
unpacked); the relay's worker is then not installed either, since it is built for the pin.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import requests

if __package__ in (None, ""):  # run as a script: make the repo's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from relay_function.naming import RECORDED
from relayctl import jam_events
from relayctl.fake_intercom import FakeIntercom
from relayctl.local_relay import LocalRelay, relay_env

WORKFLOW = "bench-handoff"
SILENT = 1000
THREADS = 16
HOLD_SECONDS = 3.0
TIMEOUT = 20.0  # every request here gives up after this
SOCKET_TIMEOUT = 10.0
MAX_BODY = 64 * 1024
AS_PINNED = (
    "import gunicorn.workers.gthread as g\n"
    "g.ThreadWorker.relay_worker = True  # serving.install() then leaves it alone\n"
)


def _head(method: str, path: str, *headers: str) -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: a", *headers, "", ""]).encode()


def _open(relay: LocalRelay) -> socket.socket:
    return socket.create_connection((relay.host, relay.port), timeout=SOCKET_TIMEOUT)


def _partial(relay: LocalRelay, sock: socket.socket) -> None:
    sock.sendall(b"POST /workflows/" + WORKFLOW.encode() + b" HTTP/1.1\r\nHost: a\r\n")


def _byte(relay: LocalRelay, sock: socket.socket) -> None:
    sock.sendall(b"P")


def _too_large_idle(relay: LocalRelay, sock: socket.socket) -> None:
    body = b"x" * (MAX_BODY + 1)
    sock.sendall(_head("POST", f"/workflows/{WORKFLOW}", f"Content-Length: {len(body)}") + body)
    sock.recv(4096)


def _not_found_midbody(relay: LocalRelay, sock: socket.socket) -> None:
    sock.sendall(_head("POST", "/nope", "Content-Length: 100000") + b"x" * 1000)
    sock.recv(4096)


def _declared_silent(relay: LocalRelay, sock: socket.socket) -> None:
    sock.sendall(_head("POST", f"/workflows/{WORKFLOW}", "Content-Length: 1000000000000"))
    sock.recv(4096)


def _health_idle(relay: LocalRelay, sock: socket.socket) -> None:
    sock.sendall(_head("GET", "/health"))
    sock.recv(4096)


IDLE_CASES: dict[str, Callable[[LocalRelay, socket.socket], None]] = {
    "partial": _partial,
    "byte": _byte,
    "413-idle": _too_large_idle,
    "404-midbody": _not_found_midbody,
    "declared-silent": _declared_silent,
    "health-idle": _health_idle,
}


def _timed(call: Callable[[], requests.Response]) -> tuple[str, float]:
    started = time.monotonic()
    try:
        status = str(call().status_code)
    except requests.RequestException as error:
        status = type(error).__name__
    return status, time.monotonic() - started


def _health(relay: LocalRelay) -> tuple[str, float]:
    return _timed(lambda: requests.get(relay.url + "/health", timeout=TIMEOUT))


def _event(relay: LocalRelay, secret: str) -> tuple[str, float]:
    body = jam_events.encode(jam_events.sample_event(RECORDED, "215470686832743"))
    headers = jam_events.signed_headers(secret, body)
    url = f"{relay.url}/workflows/{WORKFLOW}"
    return _timed(lambda: requests.post(url, data=body, headers=headers, timeout=TIMEOUT))


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _closed_by_peer(sock: socket.socket) -> bool:
    sock.settimeout(0.01)
    try:
        return sock.recv(1) == b""
    except (BlockingIOError, TimeoutError):
        return False
    except ConnectionResetError:
        return True


@contextmanager
def _relay(env: dict[str, str], extra_path: str | None) -> Iterator[LocalRelay]:
    if extra_path:
        env = {**env, "PYTHONPATH": extra_path}
    with LocalRelay(env) as relay:
        yield relay


class SilentFigures(NamedTuple):
    during: tuple[str, float]  # /health while the silent connections are held
    after: tuple[str, float]  # ... and once they closed
    cpu_held: float  # worker CPU seconds while they were held
    cpu: float  # worker CPU seconds over the 3 s after they closed
    closed_by_relay: int


def silent_case(env: dict[str, str], extra_path: str | None) -> SilentFigures:
    with _relay(env, extra_path) as relay:
        worker = relay.worker_pids()[0]
        cpu_start = _cpu_seconds(worker)
        sockets = [_open(relay) for _ in range(SILENT)]
        try:
            time.sleep(1.0)
            during = _health(relay)
            time.sleep(max(0.0, HOLD_SECONDS - 1.0 - during[1]))
            closed_by_relay = sum(_closed_by_peer(sock) for sock in sockets)
            cpu_held = _cpu_seconds(worker) - cpu_start
        finally:
            for sock in sockets:
                sock.close()
        time.sleep(0.5)
        cpu_before = _cpu_seconds(worker)
        time.sleep(3.0)
        cpu_after_close = _cpu_seconds(worker) - cpu_before
        after = _health(relay)
    return SilentFigures(during, after, cpu_held, cpu_after_close, closed_by_relay)


def idle_case(
    name: str, env: dict[str, str], secret: str, extra_path: str | None
) -> tuple[str, float]:
    with _relay(env, extra_path) as relay:
        sockets = [_open(relay) for _ in range(THREADS)]
        try:
            for sock in sockets:
                # A connection the relay closed early is still part of the case.
                with contextlib.suppress(OSError):
                    IDLE_CASES[name](relay, sock)
            time.sleep(0.3)
            return _event(relay, secret)
        finally:
            for sock in sockets:
                sock.close()


def _spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Hostile client connections: prints figures.")
    parser.add_argument("--as-pinned", action="store_true", help="gunicorn's own worker")
    parser.add_argument("--gunicorn", help="a directory holding another gunicorn package")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default="silent," + ",".join(IDLE_CASES))
    args = parser.parse_args(argv)
    cases = args.cases.split(",")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as work, FakeIntercom() as intercom:
        paths = [p for p in (args.gunicorn,) if p]
        if args.as_pinned:
            Path(work, "sitecustomize.py").write_text(AS_PINNED)
            paths.append(work)
        extra_path = os.pathsep.join(paths) or None
        secret = jam_events.new_signing_secret()
        env = relay_env(
            {WORKFLOW: [RECORDED]}, {WORKFLOW: intercom.url_for(WORKFLOW)}, {WORKFLOW: secret}
        )
        server = "gunicorn's own worker" if args.as_pinned or args.gunicorn else "relay's worker"
        source = f" from {args.gunicorn}" if args.gunicorn else ""
        print(f"Server: {server}{source}; {args.rounds} rounds")
        if "silent" in cases:
            rounds = [silent_case(env, extra_path) for _ in range(args.rounds)]
            print(f"silent: {SILENT} connections held {HOLD_SECONDS:.0f} s, then closed")
            for what, results in (
                ("health while held", [r.during for r in rounds]),
                ("health after close", [r.after for r in rounds]),
            ):
                statuses = ",".join(status for status, _ in results)
                print(f"  {what:<22} {statuses:<28} s: {_spread([t for _, t in results])}")
            print(f"  worker CPU while held         s: {_spread([r.cpu_held for r in rounds])}")
            print(f"  worker CPU, 3 s after close   s: {_spread([r.cpu for r in rounds])}")
            closed = ",".join(str(r.closed_by_relay) for r in rounds)
            print(f"  closed by the relay while held: {closed} of {SILENT}")
        for name in (c for c in cases if c in IDLE_CASES):
            results = [idle_case(name, env, secret, extra_path) for _ in range(args.rounds)]
            statuses = ",".join(s for s, _ in results)
            print(
                f"{name:<16} {THREADS} connections, then an event: {statuses:<28} "
                f"s: {_spread([t for _, t in results])}"
            )
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

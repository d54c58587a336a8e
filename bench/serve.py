"""Start and stop the benchmark's local processes.

The relay and the floor are both started with ``relayctl.local_relay.LocalRelay`` (the same
functions-framework command and flags the demo and the tests use); the Intercom stand-in
(``relayctl.fake_intercom``, the one the demo and the tests use) runs in its own interpreter so
its threads do not share a GIL with the load generator.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import requests

from relayctl.local_relay import free_port

REPO = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 20.0


@dataclass
class Standin:
    popen: subprocess.Popen[bytes]
    port: int
    scheme: str
    ca_bundle: Path | None  # the self-signed certificate clients must trust, over HTTPS
    output: IO[bytes]

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def post_count(self) -> int:
        """POSTs received so far (the stand-in answers GET with its counter)."""
        verify: str | bool = str(self.ca_bundle) if self.ca_bundle else True
        return int(requests.get(f"{self.base_url}/count", verify=verify, timeout=5).text)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self.output.close()


def _wait_for_port(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the stand-in exited with {process.returncode} at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the stand-in did not listen within {STARTUP_TIMEOUT_S:.0f} s")


def start_standin(work_dir: Path, cert: Path | None = None, key: Path | None = None) -> Standin:
    port = free_port()
    command = [sys.executable, "-m", "relayctl.fake_intercom", "--port", str(port)]
    if cert is not None and key is not None:
        command += ["--cert", str(cert), "--key", str(key)]
    scheme = "https" if cert else "http"
    output = (work_dir / f"standin-{scheme}.log").open("wb")
    popen = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        _wait_for_port(popen, port)
    except RuntimeError:
        popen.kill()
        output.close()
        raise
    return Standin(popen, port, scheme, cert, output)

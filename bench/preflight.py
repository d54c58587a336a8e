"""How long ``relayctl preflight`` takes when each Google call takes 300 ms (never a test).

    .venv/bin/python bench/preflight.py [--latency 0.3] [--runs 5]

Runs the real command (a fresh ``python -m relayctl`` each time, imports included) against the
loopback stand-in (relayctl/fake_google.py) answering every call after ``--latency`` seconds,
with a stack that reads every constraint and follows two pages of services. The target (issue
22): under 5 s at 300 ms a call. Its 17 calls are 16 made at once and then the second page of
services; one after another they would take 5.1 s of waiting alone. Loopback only; the loop
is bounded by ``--runs``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from relayctl.fake_google import NEW_PROJECT_SERVICES, FakeGoogle, Scenario
from tests.cli.preflight_kit import make_project

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per call")
    parser.add_argument("--runs", type=int, default=5, help="how many runs (default 5)")
    args = parser.parse_args()
    scenario = Scenario(latency_seconds=args.latency, page_size=len(NEW_PROJECT_SERVICES) - 1)
    with tempfile.TemporaryDirectory() as folder, FakeGoogle(scenario) as google:
        project = make_project(Path(folder) / "project", {})
        env = {**os.environ, **google.env(), "PYTHONPATH": str(REPO)}
        seconds: list[float] = []
        for _ in range(max(1, args.runs)):
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-m", "relayctl", "preflight", "--stack", "dev"],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            seconds.append(time.perf_counter() - started)
            if result.returncode != 0:
                print(result.stdout, result.stderr, file=sys.stderr)
                return 1
        calls = len(google.received) // len(seconds)
    print(
        f"preflight, {calls} calls at {args.latency * 1000:.0f} ms each, {len(seconds)} runs: "
        f"median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s "
        f"(sequential waiting alone: {calls * args.latency:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

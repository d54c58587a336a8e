"""Time to evaluate the real ``__main__.py`` under Pulumi's mocks for 1, 10 and 60 workflows.

Prints figures only (nothing is asserted): the wall time from setting the config to every
resource registered and every output resolved, several runs per size, and the time per
workflow, so growth can be judged linear or not. Uses the test harness in
tests/pulumi/conftest.py so the measured program run is the one the tests check.

    .venv/bin/python bench/pulumi_eval.py [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# 60 is about as many as one stack can deploy: Cloud Run's environment budget for one relay
# (infra/relay_env.py) refuses a stack of a few dozen more before any resource is declared.
SIZES = (1, 10, 60)


def load_harness() -> Any:
    spec = importlib.util.spec_from_file_location(
        "pulumi_harness", REPO / "tests" / "pulumi" / "conftest.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def workflow_id(index: int) -> str:
    return f"workflow-{index:04d}"


def write_workflows(count: int, folder: Path) -> Path:
    lines = ["version: 1", "workflows:"]
    for index in range(count):
        wid = workflow_id(index)
        lines += [
            f"  - id: {wid}",
            f"    description: Benchmark workflow {index}",
            "    intercom_webhook_url:",
            f"      config: w{index}IntercomUrl",
            "    jam_signing_secret:",
            f"      config: w{index}JamSecret",
        ]
    path = folder / f"workflows-{count}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def secrets_for(count: int) -> dict[str, str]:
    values: dict[str, str] = {}
    for index in range(count):
        values[f"w{index}IntercomUrl"] = f"https://api.intercom.io/fin/webhooks/tok_{index}"
        values[f"w{index}JamSecret"] = f"whsec_{'A' * 32}{index}"
    return values


def measure(harness: Any, count: int, runs: int, folder: Path) -> tuple[list[float], int]:
    path = write_workflows(count, folder)
    secrets = secrets_for(count)
    times: list[float] = []
    declared = 0
    for _ in range(runs):
        started = time.perf_counter()
        result = harness.execute("bench", path, secrets=secrets)
        times.append(time.perf_counter() - started)
        if result.error is not None:
            raise SystemExit(f"program failed for {count} workflows: {result.error}")
        declared = len(result.declared)
        if len(result.outputs["endpoints"]) != count:
            raise SystemExit(f"expected {count} endpoints, got {len(result.outputs['endpoints'])}")
    return times, declared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs per size")
    args = parser.parse_args()
    runs = {1: 3, 10: 3, 60: 2} if args.quick else {1: 7, 10: 7, 60: 5}
    sys.path.insert(0, str(REPO))
    harness = load_harness()
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.system()}")
    print(
        f"{'workflows':>9} {'resources':>9} {'runs':>4} {'median s':>9} {'min s':>7} "
        f"{'ms/workflow':>11}"
    )
    medians: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        harness.execute("bench", write_workflows(1, Path(tmp)), secrets=secrets_for(1))  # warm-up
        for count in SIZES:
            times, declared = measure(harness, count, runs[count], Path(tmp))
            medians[count] = statistics.median(times)
            print(
                f"{count:>9} {declared:>9} {len(times):>4} {medians[count]:>9.3f} "
                f"{min(times):>7.3f} {1000 * medians[count] / count:>11.2f}"
            )
    # Linear growth: the marginal cost per workflow from 10 to 60 is close to that from 1 to 10.
    small, middle, large = SIZES
    low = (medians[middle] - medians[small]) / (middle - small)
    high = (medians[large] - medians[middle]) / (large - middle)
    print(
        f"marginal ms/workflow: {small}->{middle} {1000 * low:.2f}, "
        f"{middle}->{large} {1000 * high:.2f} "
        f"(ratio {high / low if low > 0 else float('nan'):.2f}; about 1 means linear)"
    )


if __name__ == "__main__":
    main()

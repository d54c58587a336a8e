"""How long load_workflows takes on a valid file of 500 workflows (prints figures; never a test).

    .venv/bin/python bench/loader.py             # 500 workflows, 15 runs
    .venv/bin/python bench/loader.py --quick     # 5 runs
    .venv/bin/python bench/loader.py --workflows 2000 --runs 10

The file is generated in a temporary directory with every field in use (config refs, events,
stacks; 50 workflows per stack, within one relay's environment budget), so the whole validation
path runs. Figures: best and median wall time per load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from infra import workflows as loader

EVENT_CHOICES = (
    "[intercom.recorder.recorded, intercom.recorder.opted_out]",
    "[intercom.recorder.recorded]",
    "[jam.created, intercom.recorder.recorded]",
)


def generate(count: int) -> str:
    """A valid v1 file with ``count`` workflows."""
    lines = ["version: 1", "workflows:"]
    for index in range(count):
        key = f"workflow{index:05d}"
        lines += [
            f"  - id: workflow-{index:05d}",
            f"    description: Generated workflow number {index} for the loader benchmark",
            "    intercom_webhook_url:",
            f"      config: {key}IntercomUrl",
            f"    jam_signing_secret: {{config: {key}JamSecret}}",
            f"    events: {EVENT_CHOICES[index % len(EVENT_CHOICES)]}",
        ]
        # One stack's relay holds about 70 workflows (infra.relay_env.env_budget, which the
        # loader applies per stack), so the 500 are spread over stacks of 50.
        group = index // 50
        lines.append(f"    stacks: [dev-{group:02d}, prod-{group:02d}]")
    return "\n".join(lines) + "\n"


def time_loads(path: Path, runs: int, expected: int) -> list[float]:
    seconds: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        loaded = loader.load_workflows(path)
        seconds.append(time.perf_counter() - started)
        if len(loaded.workflows) != expected:
            raise SystemExit(f"loaded {len(loaded.workflows)} workflows, expected {expected}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=500)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="5 runs only")
    args = parser.parse_args()
    runs = 5 if args.quick else args.runs

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "workflows.yaml"
        path.write_text(generate(args.workflows))
        size_kib = path.stat().st_size / 1024
        print(f"load_workflows: {args.workflows} workflows ({size_kib:.0f} KiB), {runs} runs each")
        report("default", loader._YamlLoader, time_loads(path, runs, args.workflows))
        if loader._YamlLoader is not yaml.SafeLoader:
            # The fallback where PyYAML was built without libyaml.
            loader._YamlLoader = yaml.SafeLoader
            report("fallback", yaml.SafeLoader, time_loads(path, runs, args.workflows))


def report(label: str, yaml_loader: type, seconds: list[float]) -> None:
    print(
        f"  {label:8} {yaml_loader.__name__:13} best {min(seconds) * 1000:7.1f} ms   "
        f"median {statistics.median(seconds) * 1000:7.1f} ms   "
        f"worst {max(seconds) * 1000:7.1f} ms"
    )


if __name__ == "__main__":
    main()

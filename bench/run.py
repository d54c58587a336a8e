"""The benchmark: prints figures, side by side, from one run on one machine (never a test).

    .venv/bin/python bench/run.py            # the full run (about 1.5 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # a short smoke run; figures are noisy

Measures the relay against the floor (bench/floor.py: a bare functions-framework handler that
forwards with no verification), both served by functions-framework with the same flags, both
forwarding to the same Intercom stand-in (relayctl/fake_intercom.py, in its own process) over
plain HTTP and over HTTPS with a self-signed certificate made for this run; then the relay's
cold start; then, through the scripts other parts of the project own, the Pulumi program's
evaluation time and the loader.
Loopback only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.coldstart import ImportCase, archive_size, dependency_footprint, time_imports
from bench.floor import FORWARD_URL_ENV
from bench.load import (
    Delivery,
    DeliveryFactory,
    LatencySample,
    Target,
    concurrent_throughput,
    sequential_latency,
)
from bench.serve import REPO, start_standin
from bench.tls import TlsFiles, TlsUnavailableError, make_self_signed_cert
from infra.relay_env import THREADS_ENV
from infra.settings import DEFAULT_CONCURRENCY
from infra.source import collect_source
from relay_function.naming import DEFAULT_EVENTS, RECORDED, route_path
from relayctl.jam_events import encode, new_signing_secret, sample_event, signed_headers
from relayctl.local_relay import LocalRelay, relay_env

RELAY_DIR = REPO / "relay_function"
RELAY_SOURCE = RELAY_DIR / "main.py"
FLOOR_SOURCE = REPO / "bench" / "floor.py"
WORKFLOW_ID = "bench-handoff"
CONVERSATION_ID = "215470686832743"
CLIENTS = 16
# Every way a Python HTTP client may be told which CA to trust; both servers get the same set.
CA_ENV_NAMES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "RELAY_CA_BUNDLE")


@dataclass(frozen=True)
class Sizes:
    sequential: int
    warmup: int
    per_client: int
    rounds: int
    import_runs: int


FULL = Sizes(sequential=1000, warmup=50, per_client=50, rounds=5, import_runs=15)
QUICK = Sizes(sequential=100, warmup=10, per_client=10, rounds=1, import_runs=3)


@dataclass(frozen=True)
class ForwardingFigures:
    scheme: str
    latency: dict[str, LatencySample]  # "relay" / "floor"
    throughput: dict[str, float]  # median requests per second over the rounds
    failures: dict[str, int]
    forwards_missing: int  # 200s answered minus POSTs the stand-in saw (should be 0)
    relay_outcomes: dict[str, int]  # the relay's own log lines, counted by ``outcome``


def _factory(secret: str) -> DeliveryFactory:
    """Fresh Jam events (new event and message ids), signed as Jam signs them."""

    def new_delivery() -> Delivery:
        body = encode(sample_event(RECORDED, CONVERSATION_ID))
        return body, signed_headers(secret, body)

    return new_delivery


def _trust_env(tls: TlsFiles | None) -> dict[str, str]:
    return {name: str(tls.cert) for name in CA_ENV_NAMES} if tls else {}


def _started(server: LocalRelay, stack: ExitStack) -> LocalRelay:
    server.start()
    stack.callback(server.stop)
    return server


def measure_forwarding(
    tls: TlsFiles | None, sizes: Sizes, work_dir: Path, with_relay: bool
) -> ForwardingFigures:
    secret = new_signing_secret()
    with ExitStack() as stack:
        standin = start_standin(work_dir, tls.cert if tls else None, tls.key if tls else None)
        stack.callback(standin.stop)
        targets: list[Target] = []
        relay: LocalRelay | None = None
        if with_relay:
            env = relay_env(
                {WORKFLOW_ID: DEFAULT_EVENTS},
                {WORKFLOW_ID: f"{standin.base_url}/relay"},
                {WORKFLOW_ID: secret},
            )
            relay = _started(LocalRelay({**env, **_trust_env(tls)}), stack)
            route = f"{relay.url}{route_path(WORKFLOW_ID)}"
            targets.append(Target("relay", route, _factory(secret)))
        floor_env = {
            FORWARD_URL_ENV: f"{standin.base_url}/floor/{CONVERSATION_ID}",
            # The same server threads as the relay (relay_env sets THREADS as the deploy does).
            THREADS_ENV: str(DEFAULT_CONCURRENCY),
        }
        floor = _started(
            LocalRelay({**floor_env, **_trust_env(tls)}, source=FLOOR_SOURCE, target="floor"),
            stack,
        )
        targets.append(Target("floor", f"{floor.url}/", _factory(secret)))

        latency = sequential_latency(targets, sizes.sequential, sizes.warmup)
        answered_ok = sum(sample.answered_ok for sample in latency.values())
        rates: dict[str, list[float]] = {t.name: [] for t in targets}
        failures = {name: sample.failures for name, sample in latency.items()}
        for _ in range(sizes.rounds):
            for target in targets:  # alternate, so drift on the machine hits both
                result = concurrent_throughput(target, CLIENTS, sizes.per_client)
                rates[target.name].append(result.requests_per_s)
                failures[target.name] += result.failures
                answered_ok += result.answered_ok
        forwards_seen = standin.post_count()
        logged = relay.log_records() if relay else []
        outcomes = Counter(str(record.get("outcome")) for record in logged if "outcome" in record)
    return ForwardingFigures(
        scheme=standin.scheme,
        latency=latency,
        throughput={name: statistics.median(values) for name, values in rates.items()},
        failures=failures,
        forwards_missing=answered_ok - forwards_seen,
        relay_outcomes=dict(outcomes),
    )


@dataclass(frozen=True)
class HelperOutput:
    script: str
    ran: bool
    seconds: float
    text: str  # its stdout, or why it did not run


def run_helper_script(script: str, quick: bool) -> HelperOutput:
    """Run another part's benchmark script (bench/loader.py, bench/pulumi_eval.py) as is."""
    path = REPO / "bench" / script
    if not path.is_file():
        return HelperOutput(script, False, 0.0, f"not measured yet: bench/{script} is missing")
    command = [sys.executable, str(path), *(["--quick"] if quick else [])]
    started = time.perf_counter()
    try:
        result = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=150, check=False
        )
    except subprocess.TimeoutExpired:
        return HelperOutput(script, False, 150.0, f"bench/{script} did not finish in 150 s")
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        return HelperOutput(script, False, seconds, f"bench/{script} failed:\n{tail}")
    return HelperOutput(script, True, seconds, result.stdout.rstrip())


# -- output ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    met: bool | None  # None: not measured


def verdict_word(met: bool | None) -> str:
    return {True: "MET", False: "MISSED", None: "NOT MEASURED"}[met]


def machine_line() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()}"


def _ratio(relay: float, floor: float) -> str:
    return f"{relay / floor:.2f}x" if floor else "n/a"


def print_forwarding(figures: ForwardingFigures, sizes: Sizes, verdicts: list[Verdict]) -> None:
    relay = figures.latency.get("relay")
    floor = figures.latency["floor"]
    https = figures.scheme == "https"
    print(f"\nForwarding, stand-in over {figures.scheme.upper()}")
    print(f"  {'figure':<34}{'relay':>10}{'floor':>10}{'ratio':>8}  target / verdict")
    rows = [
        (f"p50 latency, {sizes.sequential} sequential (ms)", "p50_ms"),
        (f"p99 latency, {sizes.sequential} sequential (ms)", "p99_ms"),
    ]
    for label, attribute in rows:
        floor_value = float(getattr(floor, attribute))
        name = f"{attribute[:3]} over {figures.scheme.upper()}"
        if relay is None:
            print(f"  {label:<34}{'-':>10}{floor_value:>10.2f}{'':>8}  relay not measured yet")
            verdicts.append(Verdict(f"relay {name}", "relay missing", None))
            continue
        relay_value = float(getattr(relay, attribute))
        if https:
            target, met = "clearly below floor (<= 0.90x)", relay_value <= 0.90 * floor_value
        else:
            target, met = "within 10% of floor (<= 1.10x)", relay_value <= 1.10 * floor_value
        print(
            f"  {label:<34}{relay_value:>10.2f}{floor_value:>10.2f}"
            f"{_ratio(relay_value, floor_value):>8}  {target}: {verdict_word(met)}"
        )
        measured = f"{relay_value:.2f} vs {floor_value:.2f} ms ({_ratio(relay_value, floor_value)})"
        verdicts.append(Verdict(f"relay {name} {target}", measured, met))
    floor_rate = figures.throughput["floor"]
    label = f"throughput, {CLIENTS} clients (req/s)"
    if "relay" in figures.throughput:
        relay_rate = figures.throughput["relay"]
        met = relay_rate >= 0.90 * floor_rate
        ratio = _ratio(relay_rate, floor_rate)
        print(
            f"  {label:<34}{relay_rate:>10.0f}{floor_rate:>10.0f}"
            f"{ratio:>8}  >= 0.90x floor: {verdict_word(met)}"
        )
        measured = f"{relay_rate:.0f} vs {floor_rate:.0f} req/s ({ratio})"
        verdicts.append(
            Verdict(f"throughput over {figures.scheme.upper()} >= 0.90x floor", measured, met)
        )
    else:
        print(f"  {label:<34}{'-':>10}{floor_rate:>10.0f}{'':>8}  relay not measured yet")
        verdicts.append(Verdict(f"throughput over {figures.scheme.upper()}", "relay missing", None))
    problems = [f"{name}: {count} non-200" for name, count in figures.failures.items() if count]
    if figures.forwards_missing:
        problems.append(f"{figures.forwards_missing} answered 200 without a forward")
    outcomes = figures.relay_outcomes
    if outcomes:
        print("  relay log outcomes: " + ", ".join(f"{k} {n}" for k, n in outcomes.items()))
        if set(outcomes) != {"delivered"}:
            problems.append("the relay logged outcomes other than delivered")
    everything_fine = "every request answered 200 and reached the stand-in once"
    print("  checks: " + ("; ".join(problems) if problems else everything_fine))


# What functions-framework imports before it serves, whatever the function: its package, then
# (after loading the function) its gunicorn server module, which imports gunicorn's gthread
# worker. The relay's main imports the framework and that worker itself (for its error handler
# and relay_function/serving.py), so "import main" alone now counts them on the relay's side.
FRAMEWORK_SERVING = "functions_framework, functions_framework._http.gunicorn"
RELAY_SERVING = "functions_framework, main, functions_framework._http.gunicorn"


def print_cold_start(
    sizes: Sizes, with_relay: bool, env: dict[str, str], verdicts: list[Verdict]
) -> None:
    print(f"\nCold start (fresh interpreter per import, median of {sizes.import_runs})")
    cases = [
        ImportCase("framework", "functions_framework"),
        ImportCase("framework serving", FRAMEWORK_SERVING),
    ]
    if with_relay:
        cases += [
            ImportCase("relay", "main"),
            ImportCase("relay after framework", "main", preloaded="functions_framework"),
            ImportCase("relay serving", RELAY_SERVING),
        ]
    timings = time_imports(cases, RELAY_DIR, env, sizes.import_runs)
    framework = timings["framework"].median_s
    serving = timings["framework serving"].median_s
    print(f"  import functions_framework         {framework * 1000:>8.1f} ms")
    print(f"  ... and its gunicorn server module {serving * 1000:>8.1f} ms  (imported to serve)")
    if with_relay:
        relay = timings["relay"].median_s
        print(
            f"  import main (the relay)            {relay * 1000:>8.1f} ms"
            f"  {relay / framework:.2f}x framework (main imports the framework and gthread)"
        )
        relay_serving = timings["relay serving"].median_s
        met = relay_serving <= 1.15 * serving
        print(
            f"  the framework serving the relay    {relay_serving * 1000:>8.1f} ms"
            f"  {relay_serving / serving:.2f}x; target <= 1.15x: {verdict_word(met)}"
        )
        measured = (
            f"{relay_serving * 1000:.0f} vs {serving * 1000:.0f} ms "
            f"({relay_serving / serving:.2f}x)"
        )
        verdicts.append(Verdict("start with the relay <= 1.15x without", measured, met))
        extra = timings["relay after framework"].median_s
        print(
            f"  import main after the framework    {extra * 1000:>8.1f} ms"
            "  (what the relay adds to the runtime's own start)"
        )
    else:
        print(f"  {'import main (the relay)':<35}not measured yet: relay_function/main.py missing")
        verdicts.append(Verdict("start with the relay <= 1.15x without", "relay missing", None))
    # The file list infra/source.py uploads, so the figure follows the real packaging rule.
    archive = archive_size(collect_source(RELAY_DIR).files)
    print(
        f"  deployed archive (zip)              {archive.zipped_bytes / 1024:>8.1f} KiB"
        f"  ({archive.files} files)"
    )
    footprint = dependency_footprint(RELAY_DIR / "requirements.txt")
    print(
        f"  runtime dependencies installed     {footprint.installed_bytes / 1024 / 1024:>8.1f} MiB"
        f"  ({len(footprint.distributions)} distributions: {', '.join(footprint.distributions)})"
    )


def print_helper(title: str, output: HelperOutput) -> None:
    print(f"\n{title}")
    for line in output.text.splitlines() or ["(no output)"]:
        print(f"  {line}")
    if output.ran:
        print(f"  (script wall time {output.seconds:.1f} s)")


LINEAR_TOLERANCE = 1.5  # marginal cost per workflow may grow by this factor and still be linear
_MARGINAL_RE = re.compile(r"marginal ms/workflow: \d+->\d+ ([0-9.]+), \d+->\d+ ([0-9.]+)")


def linearity_verdict(evaluation: HelperOutput) -> Verdict:
    """Linear: each extra workflow in the larger step costs about what it did in the smaller."""
    target = f"evaluation linear (marginal ms/workflow within {LINEAR_TOLERANCE}x)"
    found = _MARGINAL_RE.search(evaluation.text) if evaluation.ran else None
    if found is None:
        return Verdict(target, "not measured", None)
    low, high = float(found.group(1)), float(found.group(2))
    met = low > 0 and 1 / LINEAR_TOLERANCE <= high / low <= LINEAR_TOLERANCE
    return Verdict(target, f"{low:.1f} then {high:.1f} ms/workflow", met)


def print_verdicts(verdicts: list[Verdict]) -> None:
    print("\nTargets")
    width = max(len(v.target) for v in verdicts)
    for verdict in verdicts:
        print(f"  {verdict.target:<{width}}  {verdict.measured:<32}  {verdict_word(verdict.met)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Relay benchmark: prints figures.")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    with_relay = RELAY_SOURCE.is_file()
    verdicts: list[Verdict] = []
    started = time.perf_counter()
    print(f"Machine: {machine_line()}")
    print(f"Run: {'--quick' if args.quick else 'full'}; loopback only")
    if not with_relay:
        print("relay_function/main.py is missing: relay figures not measured yet")

    with tempfile.TemporaryDirectory(prefix="relay-bench-") as work:
        work_dir = Path(work)
        print_forwarding(measure_forwarding(None, sizes, work_dir, with_relay), sizes, verdicts)
        try:
            tls = make_self_signed_cert(work_dir)
        except TlsUnavailableError as error:
            print(f"\nForwarding over HTTPS not measured: {error}")
        else:
            figures = measure_forwarding(tls, sizes, work_dir, with_relay)
            print_forwarding(figures, sizes, verdicts)

    cold_env = relay_env(
        {WORKFLOW_ID: DEFAULT_EVENTS},
        {WORKFLOW_ID: "https://127.0.0.1:9/relay"},
        {WORKFLOW_ID: new_signing_secret()},
    )
    print_cold_start(sizes, with_relay, cold_env, verdicts)
    evaluation = run_helper_script("pulumi_eval.py", args.quick)
    print_helper("Pulumi program evaluation under mocks (bench/pulumi_eval.py)", evaluation)
    verdicts.append(linearity_verdict(evaluation))
    print_helper(
        "Loader on 500 workflows (bench/loader.py)", run_helper_script("loader.py", args.quick)
    )
    print_verdicts(verdicts)
    print(f"\nTotal benchmark time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make mutate`: mutation testing of the modules in mutation/scope.py, one module at a time.

    python -m mutation.run [MODULE ...] [--jobs N] [--sanity]

1. Copies the checkout (tracked and untracked, not ignored files) to
   $TMPDIR/mutate-<id>/work-N/: mutants are written there, never in the checkout. Every test
   process gets PYTHONPATH=<copy>, so the relay subprocess (functions-framework serving
   <copy>/relay_function/main.py) and ``python -m relayctl`` import the mutant, not the
   editable install.
2. Runs each module's tests unmutated: they must pass ("no failure"), and their time sets the
   per-mutant timeout.
3. Runs each test file once under coverage, subprocesses included, to learn which files execute
   which lines. A mutant runs only the files that reach its line, in scope.py's order, with
   ``-x``; a mutant on a line no file reaches is "not covered" (a survivor, not run).
4. Writes each mutant to disk, runs the tests, restores the file (also on Ctrl-C or SIGTERM).
   Exit 0: survived. Any failure: killed. Past the timeout: timed out (counted as killed).

Results are cached in .mutation/results.jsonl by the exact state of the copy, so an interrupted
run resumes; any change to any file reruns everything. The report goes to docs/mutation-report.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any, Literal

import coverage

from mutation.mutants import (
    Equivalent,
    Mutant,
    all_mutants,
    equivalent_of,
    load_equivalents,
    load_hand_mutants,
)
from mutation.report import ModuleResult, write_report
from mutation.scope import TESTS_BY_MODULE
from mutation.statements import statement_starts

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".mutation"
RESULTS = SCRATCH / "results.jsonl"
COVERAGE_DIR = SCRATCH / "coverage"
# The copies live outside the checkout: tests that glob the repository (every Pulumi.yaml, for
# one) must not find them.
WORK = Path(tempfile.gettempdir()) / f"mutate-{hashlib.sha256(bytes(ROOT)).hexdigest()[:12]}"
PYTEST = ("-m", "pytest", "-x", "-q", "--no-header", "-p", "no:cacheprovider", "--tb=line", "-rfE")
# A mutant gets twice its module's unmutated test time plus this, then is killed by timeout.
TIMEOUT_MARGIN_SECONDS = 30.0
SANITY_LINE = 'raise RuntimeError("mutation harness sanity check: this module must not import")\n'

Status = Literal["killed", "timeout", "survived", "not covered", "equivalent", "stale"]


@dataclass
class Outcome:
    status: Status
    tests: list[str] = field(default_factory=list)
    detail: str = ""
    seconds: float = 0.0


class StopRequestedError(Exception):
    """Ctrl-C or SIGTERM: every mutated file is restored before this propagates."""


_running: set[subprocess.Popen[bytes]] = set()
_running_lock = threading.Lock()
_stop = threading.Event()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _on_signal(signum: int, _frame: object) -> None:
    _stop.set()
    with _running_lock:
        for process in _running:
            _kill_group(process)
    raise KeyboardInterrupt(f"signal {signum}")


def _files(paths: Sequence[str]) -> list[str]:
    """Test paths expanded to test files, in the given order, each once."""
    found: list[str] = []
    for path in paths:
        target = ROOT / path
        files = sorted(target.rglob("test_*.py")) if target.is_dir() else [target]
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            if relative not in found:
                found.append(relative)
    return found


def _checkout_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(p for p in listed.split("\0") if p and (ROOT / p).is_file())


def make_copy(index: int) -> Path:
    work = WORK / f"work-{index}"
    if work.exists():
        shutil.rmtree(work)
    for relative in _checkout_files():
        destination = work / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, destination)
    return work


def state_digest(work: Path) -> str:
    """Everything a test outcome can depend on: the copy, minus the harness and its report."""
    digest = hashlib.sha256()
    for path in sorted(p for p in work.rglob("*") if p.is_file()):
        relative = path.relative_to(work).as_posix()
        if relative.startswith(("mutation/", "docs/mutation")):
            continue
        digest.update(path.relative_to(work).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    env["PYTHONPATH"] = str(work)
    # No .pyc in the copy: a mutant written within a second of the last one, at the same size,
    # would otherwise run the old bytecode.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_pytest(
    work: Path,
    files: Sequence[str],
    timeout: float,
    env: dict[str, str] | None = None,
    wrapper: Sequence[str] = (),
) -> tuple[int | None, str, float]:
    """(exit code or None on timeout, output, seconds). The whole process group dies on timeout,
    on Ctrl-C and on SIGTERM, so no relay or fake server outlives its run."""
    started = time.monotonic()
    process = subprocess.Popen(  # noqa: S603 (our interpreter, fixed arguments)
        [sys.executable, *wrapper, *PYTEST, *files],
        cwd=work,
        env=env or test_env(work),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    with _running_lock:
        _running.add(process)
    try:
        output, _ = process.communicate(timeout=timeout)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        _kill_group(process)
        output, _ = process.communicate()
        code = None
    finally:
        _kill_group(process)  # a relay or fake server the tests left behind
        with _running_lock:
            _running.discard(process)
    return code, output.decode(errors="replace"), time.monotonic() - started


def _first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line[:300]
    tail = [line for line in output.splitlines() if line.strip()][-3:]
    return " | ".join(tail)[:300]


@contextmanager
def written(path: Path, text: str) -> Iterator[None]:
    """``text`` in ``path`` for the block; the original back afterwards, whatever happens."""
    original = path.read_bytes()
    try:
        path.write_text(text)
        yield
    finally:
        path.write_bytes(original)


class Cache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.entries: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a kill
                self.entries[entry["key"]] = entry

    def get(self, key: str) -> Outcome | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        return Outcome(entry["status"], entry["tests"], entry["detail"], entry["seconds"])

    def put(self, key: str, outcome: Outcome) -> None:
        entry = {"key": key, **asdict(outcome)}
        with self.lock:
            self.entries[key] = entry
            with self.path.open("a") as handle:
                handle.write(json.dumps(entry) + "\n")


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


# ---- coverage: which test file executes which line -------------------------------------------


def _coverage_rc(work: Path, modules: Sequence[str]) -> Path:
    rc = SCRATCH / "coveragerc"
    include = "\n    ".join(str(work / m) for m in modules)
    rc.write_text(
        "[run]\n"
        "parallel = true\n"
        "sigterm = true\n"
        # Subprocesses (the relay, `python -m relayctl`), gunicorn's forked worker and its
        # os._exit are measured too: https://coverage.readthedocs.io/en/latest/subprocess.html
        "patch =\n    subprocess\n    fork\n    _exit\n"
        f"include =\n    {include}\n"
    )
    return rc


# Each test file's time under coverage: cheaper files run first.
FILE_SECONDS: dict[str, float] = {}


def line_coverage(
    work: Path, files: Sequence[str], modules: Sequence[str], cache: Cache, state: str
) -> dict[str, dict[str, set[int]]]:
    """test file -> module -> executed lines, one coverage run per test file."""
    found: dict[str, dict[str, set[int]]] = {}
    rc = _coverage_rc(work, modules)
    for file in files:
        key = _key("coverage", state, file)
        cached = cache.entries.get(key)
        if cached is not None:
            found[file] = {m: set(lines) for m, lines in cached["lines"].items()}
            FILE_SECONDS[file] = cached["seconds"]
            continue
        data_dir = COVERAGE_DIR / file.replace("/", "_")
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        env = test_env(work)
        env["COVERAGE_FILE"] = str(data_dir / ".coverage")
        env["COVERAGE_RCFILE"] = str(rc)
        started = time.monotonic()
        wrapper = ("-m", "coverage", "run", f"--rcfile={rc}")
        code, output, _ = run_pytest(work, [file], 1800, env, wrapper)
        if _stop.is_set():
            raise StopRequestedError
        measured = coverage.Coverage(data_file=str(data_dir / ".coverage"), config_file=str(rc))
        measured.combine([str(data_dir)], keep=False)
        data = measured.get_data()
        lines = {m: sorted(data.lines(str(work / m)) or []) for m in modules}
        if not data.measured_files() and code not in (0, 1):
            # A file may reach none of the scope's modules; one that did not run is an error.
            tail = output.splitlines()[-15:]
            raise SystemExit(f"{file} did not run under coverage:\n" + "\n".join(tail))
        found[file] = {m: set(v) for m, v in lines.items()}
        FILE_SECONDS[file] = time.monotonic() - started
        note = "" if code == 0 else f" (exit {code} under coverage)"
        print(f"  coverage {file}: {time.monotonic() - started:.0f}s{note}", flush=True)
        entry = {"key": key, "lines": lines, "seconds": FILE_SECONDS[file]}
        with cache.lock, cache.path.open("a") as handle:
            cache.entries[key] = entry
            handle.write(json.dumps(entry) + "\n")
    return found


def select_tests(
    mutant: Mutant,
    files: Sequence[str],
    executed: dict[str, dict[str, set[int]]],
    starts: dict[int, int],
    kills: Counter[str],
) -> list[str]:
    """The module's test files that execute a changed line (or the statement holding it).

    Ordered so that ``-x`` stops early: files that killed this module's earlier mutants first,
    then the quicker ones. The order changes only how soon a mutant dies, never whether.
    """
    lines = set(range(mutant.line, mutant.last_line + 1))
    lines |= {starts.get(line, line) for line in lines}
    chosen = [f for f in files if lines & executed.get(f, {}).get(mutant.module, set())]
    return sorted(chosen, key=lambda f: (-kills[f], FILE_SECONDS.get(f, 0.0)))


# ---- one module ------------------------------------------------------------------------------


@dataclass
class ModulePlan:
    module: str
    files: list[str]
    mutants: list[Mutant]
    equivalents: dict[str, Equivalent]
    timeout: float = 0.0


def run_mutant(
    mutant: Mutant, plan: ModulePlan, work: Path, selected: list[str], cache: Cache, state: str
) -> Outcome:
    if mutant.stale:
        return Outcome("stale", detail=mutant.diff)
    if mutant.ident in plan.equivalents:
        return Outcome("equivalent", detail=plan.equivalents[mutant.ident].why)
    if not selected:
        return Outcome("not covered", detail="no mapped test file executes this line")
    key = _key("mutant", state, mutant.module, mutant.digest, *sorted(selected))
    cached = cache.get(key)
    if cached is not None:
        return cached
    if _stop.is_set():
        raise StopRequestedError
    assert mutant.mutated is not None
    with written(work / mutant.module, mutant.mutated):
        code, output, seconds = run_pytest(work, selected, plan.timeout)
    if _stop.is_set():
        raise StopRequestedError  # killed by our own signal handler: not a verdict
    if code is None:
        outcome = Outcome("timeout", selected, f"no answer in {plan.timeout:.0f}s", seconds)
    elif code == 0:
        outcome = Outcome("survived", selected, "", seconds)
    elif code == 5:
        raise SystemExit(f"{mutant.ident}: pytest collected no test in {selected}")
    else:
        outcome = Outcome("killed", selected, _first_failure(output), seconds)
    cache.put(key, outcome)
    return outcome


def baseline(work: Path, files: Sequence[str], cache: Cache, state: str) -> float:
    """The module's tests, unmutated: they must pass. Returns their time."""
    key = _key("baseline", state, *files)
    cached = cache.get(key)
    if cached is not None:
        return cached.seconds
    code, output, seconds = run_pytest(work, files, 3600)
    if code != 0:
        raise SystemExit(
            f"the unmutated tests fail (exit {code}), so no mutant can be judged:\n"
            + "\n".join(output.splitlines()[-15:])
        )
    print(f"  unmutated: no failure ({seconds:.0f}s, {len(files)} test files)", flush=True)
    cache.put(key, Outcome("survived", list(files), "baseline", seconds))
    return seconds


def sanity(module: str, work: Path, files: Sequence[str]) -> None:
    """An obviously fatal mutant (the module raises on import) must be reported killed."""
    path = work / module
    source = path.read_text()
    with written(path, source + "\n" + SANITY_LINE):
        code, output, seconds = run_pytest(work, files, 600)
    verdict = "survived: THE HARNESS IS BROKEN" if code == 0 else "killed"
    print(f"  sanity ({module} raises on import): {verdict} in {seconds:.0f}s")
    print(f"    by {_first_failure(output)}", flush=True)
    if code == 0:
        raise SystemExit(1)


def run_module(
    module: str,
    works: Sequence[Path],
    cache: Cache,
    state: str,
    equivalents: dict[tuple[str, str, str], Equivalent],
    check: bool,
    executed: dict[str, dict[str, set[int]]],
    sample: int | None,
    seed: str = "mutate",
) -> ModuleResult:
    files = _files(TESTS_BY_MODULE[module])
    source = (works[0] / module).read_text()
    mutants = all_mutants(module, source, load_hand_mutants())
    generated = sum(1 for m in mutants if m.origin == "mutmut")
    # Over every generated mutant, not only a sample: an entry that matches none is out of date.
    matched = {id(e): e for m in mutants if (e := equivalent_of(m, equivalents)) is not None}
    if sample is not None and generated > sample:
        # A fixed seed per module: the same code gives the same sample. Hand mutants always run.
        # Another --seed draws a fresh sample: a score not measured on the mutants the tests
        # were written to kill.
        draw = random.Random(f"{seed}:{module}")  # noqa: S311 (a reproducible sample, not a secret)
        chosen = set(draw.sample(range(generated), sample))
        mutants = [m for i, m in enumerate(mutants) if m.origin == "hand" or i in chosen]
    plan = ModulePlan(module, files, mutants, {})
    for mutant in mutants:
        equivalent = equivalent_of(mutant, equivalents)
        if equivalent is not None:
            plan.equivalents[mutant.ident] = equivalent
    print(f"{module}: {len(mutants)} mutants of {generated} + hand-written", flush=True)
    unmutated_seconds = baseline(works[0], files, cache, state)
    plan.timeout = 2 * unmutated_seconds + TIMEOUT_MARGIN_SECONDS
    if check:
        sanity(module, works[0], files)
    starts = statement_starts(source)
    outcomes: dict[str, Outcome] = {}
    queue: Queue[Mutant] = Queue()
    for mutant in mutants:
        queue.put(mutant)
    done = 0
    kills: Counter[str] = Counter()
    progress_lock = threading.Lock()

    def worker(work: Path) -> None:
        nonlocal done
        while not _stop.is_set():
            try:
                mutant = queue.get_nowait()
            except Empty:
                return
            # A hand mutant runs the module's whole mapping: its text may sit anywhere.
            selected = (
                list(files)
                if mutant.origin == "hand"
                else select_tests(mutant, files, executed, starts, kills)
            )
            outcome = run_mutant(mutant, plan, work, selected, cache, state)
            with progress_lock:
                outcomes[mutant.ident] = outcome
                if outcome.status == "killed" and outcome.detail.startswith(("FAILED ", "ERROR ")):
                    kills[outcome.detail.split()[1].split("::")[0]] += 1
                done += 1
                if outcome.status in ("survived", "timeout") or done % 25 == 0:
                    print(
                        f"  [{done}/{len(mutants)}] {mutant.ident} {outcome.status} "
                        f"({outcome.seconds:.1f}s)",
                        flush=True,
                    )

    if len(works) == 1:
        worker(works[0])
    else:
        with ThreadPoolExecutor(len(works)) as pool:
            for future in [pool.submit(worker, work) for work in works]:
                future.result()
    if _stop.is_set():
        raise StopRequestedError
    return ModuleResult(
        module=module,
        mutants=mutants,
        outcomes={k: asdict(v) for k, v in outcomes.items()},
        # Measured test time (recorded with each result, so a resumed run reports the same):
        # the wall time of a one-worker run, less the harness's own second or two.
        seconds=unmutated_seconds + sum(o.seconds for o in outcomes.values()),
        tests=list(TESTS_BY_MODULE[module]),
        generated=generated,
        equivalents=list(matched.values()),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make mutate", description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="default: every module in mutation/scope.py")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument(
        "--sanity", action="store_true", help="first show a fatal mutant is reported killed"
    )
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="run a fixed random sample of N tool mutants per module (and every hand mutant); "
        "the report gives the score's 95%% interval",
    )
    parser.add_argument(
        "--seed",
        default="mutate",
        help="which sample --sample draws (default 'mutate'); another seed gives a fresh one",
    )
    args = parser.parse_args(argv)
    modules = args.modules or list(TESTS_BY_MODULE)
    unknown = [m for m in modules if m not in TESTS_BY_MODULE]
    if unknown:
        parser.error(f"not in mutation/scope.py: {' '.join(unknown)}")
    os.chdir(ROOT)  # mutmut reads its settings from ./pyproject.toml
    SCRATCH.mkdir(exist_ok=True)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    works = [make_copy(i) for i in range(max(1, args.jobs))]
    state = state_digest(works[0])
    cache = Cache(RESULTS)
    equivalents = load_equivalents()
    results: list[ModuleResult] = []
    try:
        files = _files([path for module in modules for path in TESTS_BY_MODULE[module]])
        print(f"coverage: which of {len(files)} test files execute which lines", flush=True)
        # Every module of the scope is measured, so the cache serves any later subset.
        executed = line_coverage(works[0], files, list(TESTS_BY_MODULE), cache, state)
        for module in modules:
            result = run_module(
                module,
                works,
                cache,
                state,
                equivalents,
                args.sanity,
                executed,
                args.sample,
                args.seed,
            )
            results.append(result)
            print(result.summary_line(), flush=True)
            write_report(results, ROOT)
    except (KeyboardInterrupt, StopRequestedError):
        print("\ninterrupted: every mutated file was restored; rerun to resume", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(WORK, ignore_errors=True)  # the copies: the checkout was never touched
    print("\n".join(["", ModuleResult.header(), *(r.table_row() for r in results)]))
    matched = {(r.module, e.why) for r in results for e in r.equivalents}
    for equivalent in equivalents.values():
        if equivalent.module in modules and (equivalent.module, equivalent.why) not in matched:
            print(
                f"note: mutation/equivalent.yaml: no mutant of {equivalent.module} matches "
                f"{equivalent.old!r} any more (the code changed: remove or update the entry)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Cold-start figures: import time of the relay against the bare framework, archive size.

Each import is timed inside a fresh interpreter (``python -c``), started in relay_function/ the
way the Cloud Functions runtime starts it, so nothing is cached in memory between runs. Bytecode
caches on disk are warmed by one discarded run first: the deployed runtime compiles once too.
"""

from __future__ import annotations

import io
import os
import re
import statistics
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

MARKER = "IMPORT_SECONDS="
_TIMER = (
    "import time; {preload}_t = time.perf_counter(); import {module}; "
    "print('" + MARKER + "%.6f' % (time.perf_counter() - _t), flush=True)"
)


@dataclass(frozen=True)
class ImportTiming:
    module: str
    median_s: float
    runs_s: tuple[float, ...]


@dataclass(frozen=True)
class ImportCase:
    label: str
    module: str
    preloaded: str | None = None  # imported first, off the clock


def _one_import(case: ImportCase, cwd: Path, env: Mapping[str, str]) -> float:
    preload = f"import {case.preloaded}; " if case.preloaded else ""
    result = subprocess.run(
        [sys.executable, "-c", _TIMER.format(module=case.module, preload=preload)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(MARKER + r"([0-9.]+)", result.stdout)
    if result.returncode != 0 or found is None:
        tail = result.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"import {case.module} failed: {tail[0][:200]}")
    return float(found.group(1))


def time_imports(
    cases: Sequence[ImportCase], cwd: Path, env: Mapping[str, str], runs: int
) -> dict[str, ImportTiming]:
    """Median import time per case, each run in a fresh interpreter started in ``cwd``.

    Runs are interleaved (case A, case B, case A...) so load from other processes on the
    machine falls on every case alike; one discarded round first warms the bytecode caches.
    """
    # PYTHONDONTWRITEBYTECODE (set in some shells and CI images) would silently defeat the
    # warm-up: every run would compile the relay's modules from source while the framework's
    # come precompiled from site-packages.
    inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    full_env = {**inherited, **env, "PYTHONPATH": ""}
    samples: dict[str, list[float]] = {case.label: [] for case in cases}
    for attempt in range(runs + 1):
        for case in cases:
            seconds = _one_import(case, cwd, full_env)
            if attempt > 0:
                samples[case.label].append(seconds)
    return {
        label: ImportTiming(label, statistics.median(values), tuple(values))
        for label, values in samples.items()
    }


@dataclass(frozen=True)
class ArchiveSize:
    files: int
    zipped_bytes: int


def archive_size(files: Sequence[tuple[str, Path]]) -> ArchiveSize:
    """The zip Pulumi uploads, built from the same (name in archive, file) list, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in files:
            archive.write(path, name)
    return ArchiveSize(files=len(files), zipped_bytes=len(buffer.getvalue()))


@dataclass(frozen=True)
class DependencyFootprint:
    distributions: tuple[str, ...]
    installed_bytes: int


def dependency_footprint(requirements_file: Path) -> DependencyFootprint:
    """What Cloud Build installs from requirements.txt: the distributions in its closure (as
    installed in this virtualenv, extras and non-matching markers left out) and their size."""
    pending = [
        Requirement(line.split("#")[0].strip())
        for line in requirements_file.read_text().splitlines()
        if line.split("#")[0].strip() and not line.startswith("-")
    ]
    seen: dict[str, metadata.Distribution] = {}
    while pending:
        requirement = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = requirement.name.lower().replace("_", "-")
        if name in seen:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = distribution
        pending.extend(Requirement(text) for text in distribution.requires or ())
    size = 0
    for distribution in seen.values():
        for file in distribution.files or ():
            located = Path(str(distribution.locate_file(file)))
            if located.is_file():
                size += located.stat().st_size
    return DependencyFootprint(tuple(sorted(seen)), size)

"""Scores per module, and docs/mutation-report.md: the table and every survivor's diff."""

from __future__ import annotations

import json
import math
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from mutation.mutants import Equivalent, Mutant

REPORT = Path("docs/mutation-report.md")
LAST = Path(".mutation/last")  # each module's latest result, so a subset run keeps the others


@dataclass
class ModuleResult:
    module: str
    mutants: list[Mutant]
    outcomes: dict[str, dict[str, Any]]
    seconds: float
    tests: list[str]
    generated: int  # mutmut mutants of the module; more than were run when sampled
    equivalents: list[Equivalent] = field(default_factory=list)  # entries that matched

    def counts(self) -> Counter[str]:
        return Counter(outcome["status"] for outcome in self.outcomes.values())

    def score(self) -> float | None:
        c = self.counts()
        judged = sum(c.values()) - c["equivalent"] - c["stale"]
        return (c["killed"] + c["timeout"]) / judged if judged else None

    @staticmethod
    def header() -> str:
        return (
            f"{'module':34} {'mutants':>7} {'killed':>6} {'timeout':>7} {'survived':>8} "
            f"{'(uncov)':>7} {'equiv':>5} {'stale':>5} {'score':>6} {'wall':>7}"
        )

    def table_row(self) -> str:
        c = self.counts()
        score = self.score()
        shown = "-" if score is None else f"{100 * score:.1f}%"
        survived = c["survived"] + c["not covered"]
        tool = sum(1 for m in self.mutants if m.origin == "mutmut")
        if tool < self.generated and score is not None:
            judged = sum(c.values()) - c["equivalent"] - c["stale"]
            low, high = wilson(c["killed"] + c["timeout"], judged)
            shown += f" [{100 * low:.0f}-{100 * high:.0f}]"
        return (
            f"{self.module:34} {sum(c.values()):>7} {c['killed']:>6} {c['timeout']:>7} "
            f"{survived:>8} {c['not covered']:>7} {c['equivalent']:>5} {c['stale']:>5} "
            f"{shown:>6} {_duration(self.seconds):>7}"
        )

    def summary_line(self) -> str:
        return "  " + self.header() + "\n  " + self.table_row()

    def to_json(self) -> dict[str, Any]:
        by_ident = {m.ident: m for m in self.mutants}
        return {
            "module": self.module,
            "seconds": self.seconds,
            "tests": self.tests,
            "generated": self.generated,
            "commit": _commit(self.module),
            "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "mutants": [
                {
                    "ident": ident,
                    "origin": by_ident[ident].origin,
                    "line": by_ident[ident].line,
                    "diff": by_ident[ident].diff,
                    "why": by_ident[ident].why,
                    **outcome,
                }
                for ident, outcome in self.outcomes.items()
            ],
        }


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def _commit(module: str) -> str:
    """The last commit that changed the module (what was measured), "+changes" if edited since."""
    last = subprocess.run(  # noqa: S603 (git, fixed arguments)
        ["git", "log", "-1", "--format=%h", "--", module],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    edited = subprocess.run(  # noqa: S603
        ["git", "diff", "--quiet", "HEAD", "--", module],  # noqa: S607
        check=False,
    )
    return (last or "unknown") + ("+changes" if edited.returncode else "")


def wilson(killed: int, judged: int, z: float = 1.96) -> tuple[float, float]:
    """95% interval of a proportion measured on a sample (Wilson score interval)."""
    if not judged:
        return 0.0, 1.0
    p = killed / judged
    centre = (p + z * z / (2 * judged)) / (1 + z * z / judged)
    spread = math.sqrt(p * (1 - p) / judged + z * z / (4 * judged * judged))
    half = z * spread / (1 + z * z / judged)
    return max(0.0, centre - half), min(1.0, centre + half)


def _mutant_count(entry: dict[str, Any]) -> str:
    tool = sum(1 for m in entry["mutants"] if m["origin"] == "mutmut")
    hand = len(entry["mutants"]) - tool
    generated = entry.get("generated", tool)
    text = f"{tool} of {generated} (sample)" if tool < generated else str(tool)
    return text + (f" + {hand} hand" if hand else "")


def _score(entry: dict[str, Any]) -> str:
    c = Counter(m["status"] for m in entry["mutants"])
    judged = len(entry["mutants"]) - c["equivalent"] - c["stale"]
    killed = c["killed"] + c["timeout"]
    if not judged:
        return "-"
    text = f"{100 * killed / judged:.1f}%"
    tool = sum(1 for m in entry["mutants"] if m["origin"] == "mutmut")
    if tool < entry.get("generated", tool):
        low, high = wilson(killed, judged)
        text += f" (95%: {100 * low:.0f}-{100 * high:.0f}%)"
    return text


def _row(entry: dict[str, Any]) -> str:
    c = Counter(m["status"] for m in entry["mutants"])
    return (
        f"| `{entry['module']}` | {_mutant_count(entry)} | {c['killed']} | {c['timeout']} | "
        f"{c['survived'] + c['not covered']} ({c['not covered']}) | {c['equivalent']} | "
        f"{c['stale']} | **{_score(entry)}** | {_duration(entry['seconds'])} | {entry['commit']} |"
    )


def _survivors(entry: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for status, title in (
        ("survived", "Survived (a mapped test executes the line)"),
        ("not covered", "Survived, not covered (no mapped test file executes the line)"),
        ("timeout", "Timed out (counted as killed)"),
        ("stale", "Stale hand mutants (their text is no longer in the file)"),
        ("equivalent", "Equivalent (mutation/equivalent.yaml)"),
    ):
        chosen = [m for m in entry["mutants"] if m["status"] == status]
        if not chosen:
            continue
        lines += [f"#### {title}: {len(chosen)}", ""]
        for mutant in chosen:
            where = f"{entry['module']}:{mutant['line']}" if mutant["line"] else entry["module"]
            note = f" — {mutant['why']}" if mutant.get("why") else ""
            if status in ("equivalent", "timeout") and mutant["detail"]:
                note += f" — {mutant['detail']}"
            lines.append(f"- `{where}` ({mutant['ident']}){note}")
            if mutant["diff"] and status != "stale":
                diff = [f"  {d}" for d in mutant["diff"].splitlines()]
                lines += ["", "  ```diff", *diff, "  ```"]
        lines.append("")
    return lines


def write_report(results: Sequence[ModuleResult], root: Path) -> Path:
    last = root / LAST
    last.mkdir(parents=True, exist_ok=True)
    for result in results:
        (last / (result.module.replace("/", "_") + ".json")).write_text(
            json.dumps(result.to_json(), indent=1)
        )
    from mutation.scope import TESTS_BY_MODULE

    entries = []
    for module in TESTS_BY_MODULE:
        path = last / (module.replace("/", "_") + ".json")
        if path.exists():
            entries.append(json.loads(path.read_text()))
    text = [
        "# Mutation report (generated by `make mutate`; do not edit)",
        "",
        f"mutmut {version('mutmut')} operators, applied by mutation/run.py; "
        "hand mutants from mutation/hand_mutants.yaml; equivalents from mutation/equivalent.yaml.",
        "Score = (killed + timed out) / (mutants - equivalent - stale). "
        "Survived counts the not-covered ones too (in brackets). "
        "Wall = the module's unmutated run plus every mutant's test run, as measured when each "
        "ran (cached results keep their time); the coverage pass (one run per test file, shared "
        "by all modules) is not included.",
        "",
        "| module | mutants | killed | timed out | survived (not covered) | equivalent | stale "
        "| score | wall | code at |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_row(entry) for entry in entries),
        "",
    ]
    for entry in entries:
        text += [
            f"## `{entry['module']}`",
            "",
            f"Tests: {', '.join(entry['tests'])}. Measured {entry['measured']} "
            f"at {entry['commit']}.",
            "",
            *_survivors(entry),
        ]
    report = root / REPORT
    report.write_text("\n".join(text).rstrip() + "\n")
    return report

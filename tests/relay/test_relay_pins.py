"""Everything the relay installs is pinned exactly, and what is installed here is what is pinned.

The roots are relay_function/requirements.in; their dependency closure is read from the
installed distributions' metadata (markers evaluated for this interpreter, no extras).
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

RELAY = Path(__file__).resolve().parents[2] / "relay_function"
PIN_RE = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)")


def _requirement_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def pins() -> dict[str, str]:
    return {
        canonicalize_name(match[1]): match[2]
        for line in _requirement_lines(RELAY / "requirements.txt")
        if (match := PIN_RE.fullmatch(line))
    }


def _closure(roots: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [Requirement(root) for root in roots]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        if name in seen:
            continue
        seen.add(name)
        for dependency in metadata.requires(requirement.name) or []:
            todo.append(Requirement(dependency))
    return seen


def test_every_line_of_the_relay_requirements_is_an_exact_pin() -> None:
    lines = _requirement_lines(RELAY / "requirements.txt")
    assert lines
    assert [line for line in lines if not PIN_RE.fullmatch(line)] == []


def test_every_installed_distribution_of_the_relay_tree_is_pinned() -> None:
    closure = _closure(_requirement_lines(RELAY / "requirements.in"))
    assert {"functions-framework", "flask", "gunicorn", "werkzeug"} <= closure
    assert sorted(closure - set(pins())) == []


def test_the_installed_relay_tree_is_the_pinned_one() -> None:
    pinned = pins()
    installed = {name: metadata.version(name) for name in pinned}
    assert installed == pinned


def test_the_pins_hold_nothing_outside_the_tree() -> None:
    closure = _closure(_requirement_lines(RELAY / "requirements.in"))
    assert sorted(set(pins()) - closure) == []

"""The mutants: mutmut's operators on each whole file, plus the hand-written ones.

mutmut 3 runs each mutant through a trampoline inside the pytest process and picks the tests to
run from calls it recorded there. This project's relay tests reach the code through a
functions-framework subprocess and the CLI tests through ``python -m relayctl``, so that runner
would see no test reach most of the code. What it does well is generate mutants: this module
takes its operators (``mutmut.mutation.file_mutation``) and writes each mutant as a whole file,
which any process, child or not, then imports from disk.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import libcst as cst
import yaml
from libcst.metadata import MetadataWrapper, PositionProvider

try:
    from mutmut.mutation.file_mutation import NEVER_MUTATE_FUNCTION_NAMES, MutationVisitor
    from mutmut.mutation.mutators import mutation_operators
    from mutmut.mutation.pragma_handling import get_ignored_lines
except ImportError as error:  # pragma: no cover - only when mutmut moved its internals
    raise SystemExit(
        f"mutation/mutants.py uses mutmut 3.8's mutation operators ({error}); "
        "install the version requirements.txt names (make install)"
    ) from error

HERE = Path(__file__).resolve().parent
HAND_MUTANTS = HERE / "hand_mutants.yaml"
EQUIVALENT = HERE / "equivalent.yaml"

Origin = Literal["mutmut", "hand"]


@dataclass(frozen=True)
class Mutant:
    """One change to one file. ``mutated`` is the whole file; None for a stale hand mutant."""

    module: str
    ident: str
    line: int
    last_line: int
    mutated: str | None
    diff: str
    removed: tuple[str, ...]
    added: tuple[str, ...]
    origin: Origin
    why: str = ""

    @property
    def stale(self) -> bool:
        return self.mutated is None

    @property
    def digest(self) -> str:
        return hashlib.sha256((self.mutated or self.ident).encode()).hexdigest()


class _OnDiskVisitor(MutationVisitor):
    """mutmut's visitor, minus its rule against decorated functions.

    mutmut skips a decorated function because its trampoline copies the function; a mutant
    written to disk needs no copy. The decorators themselves stay unmutated (mutmut's own rule).
    """

    def _skip_node_and_children(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.FunctionDef) and node.decorators:
            position = self.get_metadata(PositionProvider, node, None)
            pragma = position is not None and position.start.line in self._ignored_node_lines
            return pragma or node.name.value in NEVER_MUTATE_FUNCTION_NAMES
        result: bool = super()._skip_node_and_children(node)
        return result


def _changes(original: str, mutated: str) -> tuple[int, int, str, tuple[str, ...], tuple[str, ...]]:
    """First and last changed line of the original, the diff, and the removed/added lines."""
    old, new = original.splitlines(), mutated.splitlines()
    removed: list[str] = []
    added: list[str] = []
    first = last = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        first = first or i1 + 1
        last = max(i2, i1 + 1)
        removed.extend(line.strip() for line in old[i1:i2])
        added.extend(line.strip() for line in new[j1:j2])
    diff = "\n".join(difflib.unified_diff(old, new, lineterm="", n=1))
    diff = "\n".join(diff.splitlines()[2:])  # drop the ---/+++ header: the file is named already
    return first, last, diff, tuple(removed), tuple(added)


def tool_mutants(module: str, source: str) -> list[Mutant]:
    """Every mutant mutmut's operators make of ``source``, each one a whole file."""
    tree = cst.parse_module(source)
    wrapper = MetadataWrapper(tree)
    visitor = _OnDiskVisitor(mutation_operators, get_ignored_lines(module, source, wrapper))
    visited = wrapper.visit(visitor)
    mutants: list[Mutant] = []
    seen: set[str] = set()
    for mutation in visitor.mutations:
        replaced = visited.deep_replace(mutation.original_node, mutation.mutated_node)
        code = cst.ensure_type(replaced, cst.Module).code
        if code == source or code in seen:
            continue
        seen.add(code)
        try:
            compile(code, module, "exec")
        except SyntaxError:
            continue  # not a program: no test could tell anything from it
        first, last, diff, removed, added = _changes(source, code)
        mutants.append(
            Mutant(
                module=module,
                ident=f"{module}:{first}#{len(mutants) + 1}",
                line=first,
                last_line=last,
                mutated=code,
                diff=diff,
                removed=removed,
                added=added,
                origin="mutmut",
            )
        )
    return mutants


@dataclass(frozen=True)
class HandMutant:
    ident: str
    module: str
    old: str
    new: str
    why: str


def load_hand_mutants(path: Path = HAND_MUTANTS) -> list[HandMutant]:
    entries: list[dict[str, Any]] = yaml.safe_load(path.read_text()) or []
    mutants = []
    for entry in entries:
        missing = {"id", "file", "old", "new", "why"} - set(entry)
        if missing:
            raise SystemExit(f"{path}: entry {entry.get('id', '?')} lacks {sorted(missing)}")
        mutants.append(
            HandMutant(entry["id"], entry["file"], entry["old"], entry["new"], entry["why"])
        )
    idents = [m.ident for m in mutants]
    if len(set(idents)) != len(idents):
        raise SystemExit(f"{path}: two hand mutants share an id")
    return mutants


def hand_mutant(hand: HandMutant, source: str) -> Mutant:
    """Applied when ``old`` occurs exactly once; stale otherwise (the code moved: say so)."""
    count = source.count(hand.old)
    if count != 1:
        where = "no longer in the file" if count == 0 else f"found {count} times"
        return Mutant(hand.module, hand.ident, 0, 0, None, where, (), (), "hand", hand.why)
    mutated = source.replace(hand.old, hand.new)
    first, last, diff, removed, added = _changes(source, mutated)
    return Mutant(
        hand.module, hand.ident, first, last, mutated, diff, removed, added, "hand", hand.why
    )


# `new: "*"` in mutation/equivalent.yaml: every mutant of that line is equivalent.
ANY = "*"


@dataclass(frozen=True)
class Equivalent:
    module: str
    old: str
    new: str
    why: str


def _key(module: str, old: str, new: str) -> tuple[str, str, str]:
    # Keyed by the changed lines' text, whitespace-normalised: the entry survives line moves.
    def norm(text: str) -> str:
        return "\n".join(re.sub(r"\s+", " ", line).strip() for line in text.strip().splitlines())

    return module, norm(old), norm(new)


def load_equivalents(path: Path = EQUIVALENT) -> dict[tuple[str, str, str], Equivalent]:
    entries: list[dict[str, Any]] = yaml.safe_load(path.read_text()) or []
    found: dict[tuple[str, str, str], Equivalent] = {}
    for entry in entries:
        missing = {"file", "old", "new", "why"} - set(entry)
        if missing:
            file = entry.get("file", "?")
            raise SystemExit(f"{path}: an entry for {file} lacks {sorted(missing)}")
        equivalent = Equivalent(entry["file"], entry["old"], entry["new"], entry["why"])
        found[_key(equivalent.module, equivalent.old, equivalent.new)] = equivalent
    return found


def equivalent_of(
    mutant: Mutant, equivalents: Mapping[tuple[str, str, str], Equivalent]
) -> Equivalent | None:
    old = "\n".join(mutant.removed)
    exact = equivalents.get(_key(mutant.module, old, "\n".join(mutant.added)))
    return exact or equivalents.get(_key(mutant.module, old, ANY))


def all_mutants(module: str, source: str, hand: Sequence[HandMutant]) -> list[Mutant]:
    hand_written = [hand_mutant(h, source) for h in hand if h.module == module]
    return [*tool_mutants(module, source), *hand_written]

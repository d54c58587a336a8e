"""Line -> the line coverage.py records for the statement holding it."""

from __future__ import annotations

import ast


def statement_starts(source: str) -> dict[int, int]:
    """Each line of a multi-line statement, mapped to the statement's first line.

    coverage.py reports a statement by its first line; a mutant may change a later line of it
    (an argument of a call written over several lines). The innermost statement wins, so a line
    in a function body maps to its own statement, not to the ``def``.
    """
    starts: dict[int, int] = {}
    spans = sorted(
        (node.lineno, node.end_lineno or node.lineno)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.stmt)
    )
    # Outer statements come first (sorted by start, and an outer one starts no later), so an
    # inner statement overwrites the lines it holds.
    for start, end in sorted(spans, key=lambda span: (span[0], -span[1])):
        for line in range(start, end + 1):
            starts[line] = start
    return starts

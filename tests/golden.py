"""Reviewed text kept in files: what people read (alerts, messages, reasons) changes only on
purpose. After a deliberate change: ``UPDATE_GOLDEN=1 pytest TEST_FILE``, then review the diff."""

from __future__ import annotations

import os
from pathlib import Path


def assert_matches_golden(path: Path, text: str) -> None:
    """``text`` equals the reviewed file at ``path``; with UPDATE_GOLDEN=1, it becomes it."""
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()

"""The workflows.yaml reference (docs/workflows-file.md) quotes messages exactly as the loader
prints them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.workflows import WorkflowsFileError, missing_config_problems, parse_workflows

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "workflows"
DOC = ROOT / "docs" / "workflows-file.md"
QUOTED = re.compile(r"`` (\S+\.yaml):(\d+):(\d+): (.*?) ``")


def quoted_messages() -> list[str]:
    return [m.group(0)[3:-3] for m in QUOTED.finditer(DOC.read_text())]


def printed_for(filename: str) -> list[str]:
    """Every line the loader prints for a file named in the doc."""
    if filename == "workflows.yaml":  # the stack-config example (the demo's example file)
        loaded = parse_workflows((ROOT / "examples" / filename).read_text(), filename)
        present = {"bugReportTriageIntercomUrl": True, "bugReportTriageJamSecret": False}
        return [str(p) for p in missing_config_problems(loaded, "dev", present)]
    folder = "valid" if (FIXTURES / "valid" / filename).exists() else "invalid"
    text = (FIXTURES / folder / filename).read_text()
    try:
        return [str(p) for p in parse_workflows(text, filename).warnings]
    except WorkflowsFileError as error:
        return [str(p) for p in error.problems]


def test_doc_quotes_messages() -> None:
    assert len(quoted_messages()) >= 30


@pytest.mark.parametrize("message", quoted_messages(), ids=lambda m: m.split(":")[0])
def test_quoted_message_is_what_the_loader_prints(message: str) -> None:
    assert message in printed_for(message.split(":")[0])

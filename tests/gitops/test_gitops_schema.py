"""Every workflow and local action against GitHub's schema (SchemaStore's, stored in data/):
a key GitHub would refuse, such as `environment:` on a job that calls a reusable workflow,
fails here instead of on the first run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.gitops.github_files import action_files, load, workflow_files

DATA = Path(__file__).resolve().parent / "data"


def validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((DATA / name).read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def as_github_reads_it(document: dict[Any, Any]) -> dict[Any, Any]:
    # PyYAML reads the bare key `on` as True (YAML 1.1); GitHub reads it as "on".
    return {("on" if key is True else key): value for key, value in document.items()}


def problems(schema: str, document: dict[Any, Any]) -> list[str]:
    errors = validator(schema).iter_errors(as_github_reads_it(document))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors]


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_workflow_matches_githubs_schema(path: Path):
    assert problems("github-workflow.schema.json", load(path)) == []


@pytest.mark.parametrize("path", action_files(), ids=lambda p: p.parent.name)
def test_local_action_matches_githubs_schema(path: Path):
    assert problems("github-action.schema.json", load(path)) == []


def test_schema_refuses_an_environment_on_a_reusable_workflow_call():
    # Proves the check above can fail, on the mistake it is most likely to catch here.
    deploy = load(next(p for p in workflow_files() if p.name == "deploy.yaml"))
    deploy["jobs"]["prod"]["environment"] = "prod"
    assert problems("github-workflow.schema.json", deploy)

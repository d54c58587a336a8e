"""Every Pulumi.yaml against Pulumi's own project schema, and the root template's prompts.

The schema is a copy of the one the Pulumi CLI validates project files with (tests/data/README.md
says where it comes from). Stack files (Pulumi.<stack>.yaml) are not in its scope.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from infra.settings import DEFAULT_REGION, SettingsError, settings_from_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO / "tests" / "data" / "pulumi-project.schema.json"
SKIPPED_FOLDERS = {".venv", ".git", "node_modules", "build", "dist"}


def project_files() -> list[Path]:
    return sorted(
        path
        for path in REPO.glob("**/Pulumi.yaml")
        if not SKIPPED_FOLDERS.intersection(path.relative_to(REPO).parts)
    )


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_search_finds_the_root_project_file():
    assert REPO / "Pulumi.yaml" in project_files()


@pytest.mark.parametrize("path", project_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_project_file_matches_pulumis_schema(validator, path):
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator.iter_errors(load(path))
    ]
    assert errors == []


def test_the_schema_catches_a_misspelt_template_key(validator):
    document = load(REPO / "Pulumi.yaml")
    document["template"]["quickstrat"] = document["template"].pop("quickstart")
    assert not validator.is_valid(document)


def gcp_keys_the_program_reads() -> tuple[set[str], set[str]]:
    """(every gcp: key the settings read, those whose absence is an error), found by asking."""
    read: list[str] = []

    def gcp_lookup(key: str) -> str | None:
        read.append(key)
        return None

    try:
        settings_from_config("dev", lambda key: None, gcp_lookup)
    except SettingsError as exc:
        problems = "\n".join(exc.problems)
    else:
        problems = ""
    keys = {f"gcp:{key}" for key in read}
    return keys, {key for key in keys if f"'{key}' is not set" in problems}


def test_the_template_prompts_for_exactly_the_gcp_keys_the_program_reads():
    template_config = load(REPO / "Pulumi.yaml")["template"]["config"]
    keys, required = gcp_keys_the_program_reads()
    assert required == {"gcp:project"}
    assert set(template_config) == keys == {"gcp:project", "gcp:region"}


def test_a_required_key_has_no_default_and_the_region_defaults_as_the_program_does():
    template_config = load(REPO / "Pulumi.yaml")["template"]["config"]
    assert "default" not in template_config["gcp:project"]
    assert template_config["gcp:region"]["default"] == DEFAULT_REGION


def test_every_prompt_is_described():
    template = load(REPO / "Pulumi.yaml")["template"]
    assert template["description"]
    assert "Path to production" in template["quickstart"]
    assert all(entry.get("description") for entry in template["config"].values())

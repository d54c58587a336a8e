""".github/dependabot.yml: valid against SchemaStore's dependabot-2.0 schema (data/), proposing
bumps for the pinned actions of every workflow and composite action, and for the Python
requirements except the relay's measured pins."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.gitops.github_files import REPO

DATA = Path(__file__).resolve().parent / "data"
CONFIG = REPO / ".github" / "dependabot.yml"


def config() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return document


def schema_problems(document: dict[str, Any]) -> list[str]:
    schema = json.loads((DATA / "dependabot.schema.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [e.message[:200] for e in validator.iter_errors(document)]


def entry(ecosystem: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        u for u in config()["updates"] if u["package-ecosystem"] == ecosystem
    ]
    [only] = found
    return only


def test_config_matches_the_schema():
    assert schema_problems(config()) == []


def test_the_schema_refuses_an_entry_without_a_schedule():
    # Proves the check above can fail: `schedule` is required for every ecosystem entry.
    broken = config()
    del broken["updates"][0]["schedule"]
    assert schema_problems(broken)


def composite_action_folders() -> set[str]:
    github = REPO / ".github"
    found = {*github.rglob("action.yml"), *github.rglob("action.yaml")}
    return {"/" + str(path.parent.relative_to(REPO)) for path in found}


def test_actions_are_checked_in_the_workflows_and_every_composite_action():
    """Dependabot options reference, `directories` or `directory`: for GitHub Actions, `/`
    means the /.github/workflows directory and a root action.yml only, so each composite
    action's folder is listed (https://docs.github.com/en/code-security/reference/
    supply-chain-security/dependabot-options-reference#directories-or-directory--;
    dependabot/dependabot-core#6704)."""
    folders = composite_action_folders()
    assert "/.github/actions/pulumi-login" in folders
    directories = entry("github-actions")["directories"]
    assert "/" in directories
    assert folders <= set(directories)


def test_every_listed_folder_exists():
    # A folder left behind after an action moved reads as coverage that is not there.
    for directory in entry("github-actions")["directories"] + entry("pip")["directories"]:
        assert (REPO / directory.lstrip("/")).is_dir(), directory


def test_pip_covers_the_program_and_the_relay():
    assert set(entry("pip")["directories"]) == {"/", "/relay_function"}


def relay_pins() -> dict[str, str]:
    text = (REPO / "relay_function" / "requirements.in").read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, flags=re.MULTILINE))


def test_pip_leaves_the_relays_measured_pins_alone():
    """docs/relay.md, "Edge cases": newer gunicorn releases hold a thread or the
    accept loop for a silent client; functions-framework chooses the gunicorn it runs. A bump
    of either needs tests/relay/test_relay_hostile.py re-run, so Dependabot proposes neither."""
    ignored = {rule["dependency-name"] for rule in entry("pip")["ignore"]}
    assert ignored == {"gunicorn", "functions-framework"}
    assert ignored <= set(relay_pins())  # each is a direct pin of the relay
    assert "why no other gunicorn release was taken" in (REPO / "docs" / "relay.md").read_text()


def test_ignored_rules_are_whole_packages_not_versions():
    # An ignore with `versions` or `update-types` would still let some releases through.
    for rule in entry("pip")["ignore"]:
        assert set(rule) == {"dependency-name"}, rule

"""Every third-party action is pinned to a full commit SHA (issue 19 item 9), through the rule in
.github/verify_pins.py; the pins agree with the metadata recorded from each action's own
repository (data/pinned-actions.json) and with docs/supply-chain.md; and `make verify-pins`
reads `git ls-remote` correctly, checked here with a stand-in for git, never the network.

Why a tag is not enough: GitHub's "Security hardening for GitHub Actions" says pinning an action
to a full-length commit SHA is the only way to use it as an immutable release; the
tj-actions/changed-files compromise (CVE-2025-30066, March 2025) moved existing tags to a
malicious commit; here the jobs that run them hold `id-token: write`."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.gitops.github_files import REPO, action_files, load, workflow_files

DATA = Path(__file__).resolve().parent / "data"
SCRIPT = REPO / ".github" / "verify_pins.py"
SHA = "08c6903cd8c0fde910a37f88322edcfb5dd907a8"  # actions/checkout v5.0.0


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_pins", SCRIPT)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["verify_pins"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


pins_rule = load_script()


def one_line(value: str, comment: str = "") -> Any:
    return pins_rule.Uses("ci.yaml:7", value, comment)


def recorded() -> dict[str, dict[str, Any]]:
    actions: dict[str, dict[str, Any]] = json.loads((DATA / "pinned-actions.json").read_text())[
        "actions"
    ]
    return actions


# --- the rule, on the repository's own files -------------------------------------------------


def test_every_uses_in_the_repository_is_a_pinned_commit():
    pins, problems = pins_rule.scan()
    assert problems == []
    assert pins  # the scan found the actions, not nothing


def test_the_scan_covers_every_workflow_and_composite_action():
    scanned = set(pins_rule.files_to_scan())
    assert set(workflow_files()) | set(action_files()) <= scanned
    with_uses = {
        path
        for path in (REPO / ".github").rglob("*")
        if path.suffix in {".yml", ".yaml"} and "uses:" in path.read_text()
    }
    assert with_uses <= scanned


def test_the_pinned_actions_include_the_ones_that_exchange_oidc_tokens():
    repositories = {pin.repository for pin in pins_rule.scan()[0]}
    assert {
        "google-github-actions/auth",
        "pulumi/auth-actions",
        "pulumi/actions",
        "actions/github-script",
        "actions/checkout",
        "actions/setup-python",
    } <= repositories


def test_each_action_is_pinned_to_one_commit_everywhere():
    commits: dict[str, set[str]] = {}
    for pin in pins_rule.scan()[0]:
        commits.setdefault(pin.repository, set()).add(pin.commit)
    assert {repo: c for repo, c in commits.items() if len(c) > 1} == {}


# --- the rule, on inputs made to break it ---------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "./.github/actions/pulumi-login",  # a local composite action
        "./.github/workflows/pulumi-up.yaml",  # a local reusable workflow
    ],
)
def test_local_actions_and_workflows_are_exempt(value):
    assert pins_rule.problem(one_line(value)) is None


def test_a_full_sha_with_its_release_tag_is_accepted():
    assert pins_rule.problem(one_line(f"actions/checkout@{SHA}", "v5.0.0")) is None


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("actions/checkout@v4", "a tag or branch"),
        ("actions/checkout@v5.0.0", "a tag or branch"),
        ("actions/checkout@main", "a tag or branch"),
        ("actions/checkout@releases/v4", "a tag or branch"),
        ("actions/checkout@08c6903", "a short commit SHA"),
        (f"actions/checkout@{SHA[:39]}", "a short commit SHA"),  # one short of the edge
        ("acme/workflows/.github/workflows/ci.yml@main", "a tag or branch"),  # remote workflow
    ],
)
def test_a_ref_that_is_not_a_full_sha_is_refused(value, kind):
    found = pins_rule.problem(one_line(value, "v5.0.0"))
    assert found is not None
    assert kind in found
    assert found.startswith("ci.yaml:7: ")


@pytest.mark.parametrize(
    "ref",
    [SHA + "a", SHA.upper(), SHA[:-1] + "g"],
    ids=["41 hex", "upper case", "not hex"],
)
def test_a_ref_that_only_resembles_a_sha_is_refused(ref):
    assert pins_rule.problem(one_line(f"actions/checkout@{ref}", "v5.0.0")) is not None


def test_a_remote_reusable_workflow_pinned_to_a_sha_is_accepted():
    value = f"acme/workflows/.github/workflows/ci.yml@{SHA}"
    assert pins_rule.problem(one_line(value, "v1.2.0")) is None


@pytest.mark.parametrize("comment", ["", "v5", "main", "pinned", "v5.0"])
def test_a_pin_needs_its_release_tag_as_the_comment(comment):
    # verify-pins checks the pin against this tag; a major tag such as v5 moves by design.
    found = pins_rule.problem(one_line(f"actions/checkout@{SHA}", comment))
    assert found is not None
    assert "release tag" in found


def test_a_docker_image_needs_a_digest():
    assert pins_rule.problem(one_line("docker://alpine:3.22")) is not None
    digest = "docker://alpine@sha256:" + "ab" * 32
    assert pins_rule.problem(one_line(digest)) is None


def scan_file(tmp_path: Path, text: str) -> tuple[list[Any], list[str]]:
    github = tmp_path / ".github"
    (github / "workflows").mkdir(parents=True)
    (github / "workflows" / "ci.yaml").write_text(text)
    pins, problems = pins_rule.scan(github)
    return pins, problems


def test_a_workflow_using_a_tag_fails_the_scan_naming_file_and_line(tmp_path):
    text = "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n"
    text += "      - uses: actions/checkout@v4\n"
    _, problems = scan_file(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith(".github/workflows/ci.yaml:6: `actions/checkout@v4`")


def test_a_composite_action_in_a_nested_folder_is_scanned(tmp_path):
    folder = tmp_path / ".github" / "actions" / "deploy" / "login"
    folder.mkdir(parents=True)
    (folder / "action.yml").write_text(
        "name: x\ndescription: x\nruns:\n  using: composite\n  steps:\n"
        "    - uses: pulumi/actions@v6\n"
    )
    _, problems = pins_rule.scan(tmp_path / ".github")
    assert [p.split(":")[0] for p in problems] == [".github/actions/deploy/login/action.yml"]


@pytest.mark.parametrize(
    "step",
    [
        "      - {uses: actions/checkout@v4}",  # flow style
        '      - "uses": actions/checkout@v4',  # quoted key
        "      - uses:\n          actions/checkout@v4",  # value on the next line
    ],
    ids=["flow style", "quoted key", "next line"],
)
def test_a_uses_the_line_reader_cannot_see_still_fails(tmp_path, step):
    text = "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n" + step + "\n"
    _, problems = scan_file(tmp_path, text)
    assert problems
    assert "actions/checkout@v4" in problems[0]


# --- what each pinned action declares (recorded from its own repository) --------------------


def test_every_pin_matches_the_recorded_tag_and_commit():
    actions = recorded()
    for pin in pins_rule.scan()[0]:
        record = actions.get(pin.repository)
        assert record, f"{pin.where}: no entry for {pin.repository} in data/pinned-actions.json"
        assert (pin.tag, pin.commit) == (record["tag"], record["commit"]), (
            f"{pin.where}: pinned {pin.tag} {pin.commit}; data/pinned-actions.json records "
            f"{record['tag']} {record['commit']}. After a bump, record the new action.yml "
            "(docs/supply-chain.md, Bumping a pin)."
        )


def test_every_recorded_action_is_still_used():
    assert set(recorded()) == {pin.repository for pin in pins_rule.scan()[0]}


def test_every_pinned_action_runs_on_node_24():
    """The runner starts a JavaScript action with the Node named in its `runs.using`. Node.js 20
    reached end of life on 2026-04-30 and the runner moves actions to Node 24, first by
    default, then required (actions/runner #3948); each release's README asks for runner
    v2.327.1 or later for node24. Read from each action.yml at the pinned commit."""
    using = {repo: record["runs_using"] for repo, record in recorded().items()}
    assert {repo: runtime for repo, runtime in using.items() if runtime != "node24"} == {}


def steps_with_inputs() -> list[tuple[str, str, dict[str, Any]]]:
    """(file, repository, with:) for every step that passes inputs to a third-party action."""
    found = []
    for path in pins_rule.files_to_scan():
        document = load(path)
        jobs = document.get("jobs", {}).values() if "jobs" in document else []
        steps = [s for job in jobs for s in job.get("steps", [])]
        steps += document.get("runs", {}).get("steps", [])
        for step in steps:
            uses = step.get("uses", "")
            if "@" in uses and not uses.startswith("./"):
                repository = "/".join(uses.split("@")[0].split("/")[:2])
                found.append((path.name, repository, step.get("with", {})))
    return found


def input_problems(repository: str, given: dict[str, Any]) -> list[str]:
    record = recorded()[repository]
    unknown = sorted(set(given) - set(record["inputs"]))
    missing = sorted(set(record["required_inputs"]) - set(given))
    return [f"{repository} {record['tag']} has no input {name!r}" for name in unknown] + [
        f"{repository} {record['tag']} requires {name!r}" for name in missing
    ]


def test_every_input_passed_is_one_the_pinned_release_declares():
    steps = steps_with_inputs()
    assert len(steps) >= 6
    assert [p for file, repo, given in steps for p in input_problems(repo, given)] == []


def test_an_input_a_new_major_removed_is_caught():
    # google-github-actions/auth v3.0.0 removed `retries`, `backoff` and `backoff_limit`
    # (its action.yml at v2 and at v3.0.0, commit 5ea4dc1 "remove old parameters").
    given = {"workload_identity_provider": "p", "service_account": "s", "retries": "3"}
    assert input_problems("google-github-actions/auth", given) == [
        "google-github-actions/auth v3.0.0 has no input 'retries'"
    ]


def test_a_missing_required_input_is_caught():
    assert input_problems("pulumi/auth-actions", {"scope": "team:x"}) == [
        "pulumi/auth-actions v2.1.0 requires 'organization'"
    ]


def test_pulumi_auth_actions_is_not_the_broken_v2_0_0():
    # pulumi/auth-actions CHANGELOG, 2.1.0: v2.0.0 crashed on load for every consumer
    # ("require is not defined in ES module scope"); 2.1.0 is the first working v2.
    assert recorded()["pulumi/auth-actions"]["tag"] != "v2.0.0"


def test_docs_list_every_pin_with_its_tag_and_commit():
    text = (REPO / "docs" / "supply-chain.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    for repository, record in recorded().items():
        assert any(
            f"`{repository}`" in row and record["tag"] in row and record["commit"] in row
            for row in rows
        ), f"docs/supply-chain.md has no row for {repository} {record['tag']} {record['commit']}"


# --- make verify-pins: reading git ls-remote, with no network --------------------------------

PIN = pins_rule.Pin("actions/checkout", SHA, "v5.0.0", "ci.yaml:7")
OTHER = "11d5960a326750d5838078e36cf38b85af677262"


def answer(text: str) -> Any:
    urls: list[str] = []

    def ls_remote(url: str) -> str:
        urls.append(url)
        return text

    ls_remote.urls = urls  # type: ignore[attr-defined]
    return ls_remote


def test_a_lightweight_tag_on_the_pinned_commit_verifies():
    ls_remote = answer(f"{OTHER}\trefs/tags/v4\n{SHA}\trefs/tags/v5.0.0\n")
    report, problems = pins_rule.verify([PIN], ls_remote)
    assert problems == []
    assert report == [f"ok   actions/checkout@{SHA} is v5.0.0"]
    assert ls_remote.urls == ["https://github.com/actions/checkout.git"]


def test_an_annotated_tag_is_peeled_to_its_commit():
    tag_object = "c0ffee" + "0" * 34
    text = f"{tag_object}\trefs/tags/v5.0.0\n{SHA}\trefs/tags/v5.0.0^{{}}\n"
    assert pins_rule.verify([PIN], answer(text))[1] == []


def test_pinning_the_tag_object_instead_of_its_commit_fails():
    tag_object = "c0ffee" + "0" * 34
    text = f"{tag_object}\trefs/tags/v5.0.0\n{SHA}\trefs/tags/v5.0.0^{{}}\n"
    pin = pins_rule.Pin("actions/checkout", tag_object, "v5.0.0", "ci.yaml:7")
    assert pins_rule.verify([pin], answer(text))[1]


def test_a_moved_tag_fails_naming_both_commits():
    _, problems = pins_rule.verify([PIN], answer(f"{OTHER}\trefs/tags/v5.0.0\n"))
    assert len(problems) == 1
    assert OTHER in problems[0]
    assert SHA in problems[0]
    assert "ci.yaml:7" in problems[0]


def test_a_missing_tag_fails():
    _, problems = pins_rule.verify([PIN], answer(f"{SHA}\trefs/tags/v5.0.1\n"))
    assert problems == ["actions/checkout: tag v5.0.0 does not exist (ci.yaml:7)"]


def test_a_newer_release_is_a_note_not_a_failure():
    text = f"{SHA}\trefs/tags/v5.0.0\n{OTHER}\trefs/tags/v10.0.0\n{OTHER}\trefs/tags/v9.9.9-rc1\n"
    report, problems = pins_rule.verify([PIN], answer(text))
    assert problems == []
    assert report[-1] == "note actions/checkout: v10.0.0 is newer than the pinned v5.0.0"


def test_each_repository_is_asked_once():
    pins = [PIN, pins_rule.Pin("actions/checkout", SHA, "v5.0.0", "other.yaml:3")]
    ls_remote = answer(f"{SHA}\trefs/tags/v5.0.0\n")
    report, _ = pins_rule.verify(pins, ls_remote)
    assert len(ls_remote.urls) == 1
    assert len(report) == 1


def fake_git(tmp_path: Path, body: str) -> dict[str, str]:
    """The environment with a `git` first on PATH that runs `body` (sh) instead of git."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text("#!/bin/sh\n" + body)
    (bin_dir / "git").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def run_script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_the_script_passes_when_every_tag_points_at_its_pin(tmp_path):
    tags = tmp_path / "tags"
    tags.mkdir()
    for repository, record in recorded().items():
        (tags / repository.replace("/", "+")).write_text(
            f"{record['commit']}\trefs/tags/{record['tag']}\n"
        )
    # Called as `git ls-remote --tags https://github.com/OWNER/REPO.git`.
    body = (
        '[ "$1" = ls-remote ] && [ "$2" = --tags ] || exit 2\n'
        "name=${3#https://github.com/}\n"
        'cat "$TAGS/$(echo "${name%.git}" | tr / +)"\n'
    )
    env = fake_git(tmp_path, body) | {"TAGS": str(tags)}
    result = run_script(env)
    assert result.returncode == 0, result.stderr
    assert f"{len(recorded())} pinned actions verified" in result.stdout


def test_the_script_fails_when_a_tag_points_elsewhere(tmp_path):
    tags = " ".join(sorted({record["tag"] for record in recorded().values()}))
    body = f'printf "{OTHER}\\trefs/tags/%s\\n" {tags}\n'
    result = run_script(fake_git(tmp_path, body))
    assert result.returncode == 1
    assert "FAIL actions/checkout: v7.0.1 points to" in result.stderr


def test_the_script_fails_when_git_cannot_reach_github(tmp_path):
    body = 'echo "fatal: unable to access: Could not resolve host: github.com" >&2\nexit 128\n'
    result = run_script(fake_git(tmp_path, body))
    assert result.returncode == 1
    assert "could not read its tags" in result.stderr
    assert "Could not resolve host" in result.stderr


def test_the_script_asks_git_never_to_prompt(tmp_path):
    # GitHub answers a repository that does not exist with 401, and git then asks for a
    # login: unattended, that would wait forever.
    body = 'echo "prompt=${GIT_TERMINAL_PROMPT:-unset}" >&2\nexit 128\n'
    result = run_script(fake_git(tmp_path, body))
    assert "prompt=0" in result.stderr

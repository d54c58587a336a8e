"""The third-party actions the workflows run, pinned to commits.

Every `uses:` in .github/ (workflows and composite actions) that is not a local `./` action or
workflow must read `OWNER/REPO[/PATH]@<40-hex commit> # vX.Y.Z`: a tag can be moved to other
code (tj-actions/changed-files, March 2025), a commit cannot. tests/gitops/test_gitops_pins.py
applies that rule offline, through `problems()` here.

Run as a script (`make verify-pins`, online), it also asks each action's own repository, with
`git ls-remote`, which commit the commented tag points to now, and fails on any pin that is not
that commit. docs/supply-chain.md says when to run it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

GITHUB_DIR = Path(__file__).resolve().parent

# `uses: VALUE  # COMMENT` on one line, as a step (`- uses:`) or a key of a job or step.
USES_LINE = re.compile(
    r"""^\s*(?:-\s+)?uses:\s*(?P<quote>["']?)(?P<value>[^\s"'#]+)(?P=quote)"""
    r"""\s*(?:#\s*(?P<comment>.*?))?\s*$"""
)
REMOTE = re.compile(
    r"(?P<repository>[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+)(?P<path>/[^@\s]+)?@(?P<ref>\S+)"
)
FULL_SHA = re.compile(r"[0-9a-f]{40}")
SHORT_SHA = re.compile(r"[0-9a-f]{7,39}")
RELEASE_TAG = re.compile(r"v?\d+\.\d+\.\d+")
DOCKER_DIGEST = re.compile(r"docker://[^@\s]+@sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Uses:
    """One `uses:` line of a file under .github/."""

    where: str  # path:line
    value: str
    comment: str


@dataclass(frozen=True)
class Pin:
    """A third-party action pinned to a commit, with the release tag it was taken from."""

    repository: str  # OWNER/REPO, where the tag and the commit live
    commit: str
    tag: str
    where: str


def files_to_scan(github_dir: Path = GITHUB_DIR) -> list[Path]:
    """Every workflow and every composite action's metadata file under .github/."""
    workflows = [*github_dir.glob("workflows/*.yaml"), *github_dir.glob("workflows/*.yml")]
    actions = [*github_dir.rglob("action.yml"), *github_dir.rglob("action.yaml")]
    return sorted(set(workflows + actions))


def _yaml_uses(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "uses" and isinstance(value, str):
                yield value
            else:
                yield from _yaml_uses(value)
    elif isinstance(node, list):
        for item in node:
            yield from _yaml_uses(item)


def uses_in(path: Path, root: Path | None = None) -> tuple[list[Uses], list[str]]:
    """The `uses:` lines of a file, and a problem for each `uses:` the line reading missed.

    The version comment exists only in the text, so lines are read as text; YAML's own reading
    of the file then proves no `uses:` hid from the line pattern (flow style, a quoted key,
    a value on the next line)."""
    name = str(path.relative_to(root)) if root else str(path)
    text = path.read_text()
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = USES_LINE.match(line)
        if match:
            found.append(Uses(f"{name}:{number}", match["value"], match["comment"] or ""))
    missed = Counter(_yaml_uses(yaml.safe_load(text))) - Counter(u.value for u in found)
    problems = [
        f"{name}: `uses: {value}` is not written as one `uses: VALUE # vX.Y.Z` line, so it "
        "cannot be checked; write it so"
        for value in sorted(missed)
    ]
    return found, problems


def problem(uses: Uses) -> str | None:
    """Why this `uses:` is not an acceptable pin, or None when it is."""
    value = uses.value
    if value.startswith("./"):
        return None  # a local action or reusable workflow: this repository's own code
    fix = "pin the 40-hex commit its release tag points to, e.g. `@<sha> # v1.2.3`"
    if value.startswith("docker://"):
        if DOCKER_DIGEST.fullmatch(value):
            return None
        return f"{uses.where}: `{value}` is not pinned to an image digest (`@sha256:...`)"
    match = REMOTE.fullmatch(value)
    if not match:
        return f"{uses.where}: `{value}` is not OWNER/REPO@REF or a local ./ path"
    ref = match["ref"]
    if not FULL_SHA.fullmatch(ref):
        kind = "a short commit SHA" if SHORT_SHA.fullmatch(ref) else "a tag or branch"
        return f"{uses.where}: `{value}` uses {kind}, which can point elsewhere later; {fix}"
    if not RELEASE_TAG.fullmatch(uses.comment):
        return (
            f"{uses.where}: `{value}` needs the release tag its commit was taken from as a "
            f"trailing comment (`# v1.2.3`), not {uses.comment or 'nothing'!r}"
        )
    return None


def scan(github_dir: Path = GITHUB_DIR) -> tuple[list[Pin], list[str]]:
    """The pins of every file under .github/, and every problem with them."""
    pins: list[Pin] = []
    problems: list[str] = []
    root = github_dir.parent
    for path in files_to_scan(github_dir):
        found, missed = uses_in(path, root)
        problems += missed
        for uses in found:
            issue = problem(uses)
            if issue:
                problems.append(issue)
            elif not uses.value.startswith(("./", "docker://")):
                match = REMOTE.fullmatch(uses.value)
                assert match  # problem() accepted it
                pins.append(Pin(match["repository"], match["ref"], uses.comment, uses.where))
    return pins, problems


def peeled_tags(ls_remote_output: str) -> dict[str, str]:
    """tag -> commit, from `git ls-remote --tags` output. An annotated tag is listed twice,
    as the tag object and peeled (`refs/tags/T^{}`): the peeled line is the commit."""
    tags: dict[str, str] = {}
    peeled: dict[str, str] = {}
    for line in ls_remote_output.splitlines():
        sha, _, ref = line.partition("\t")
        if not ref.startswith("refs/tags/"):
            continue
        name = ref.removeprefix("refs/tags/")
        if name.endswith("^{}"):
            peeled[name.removesuffix("^{}")] = sha
        else:
            tags[name] = sha
    return tags | peeled


def _version(tag: str) -> tuple[int, ...]:
    return tuple(int(part) for part in tag.lstrip("v").split("."))


def verify(pins: list[Pin], ls_remote: Callable[[str], str]) -> tuple[list[str], list[str]]:
    """(confirmations and notes, problems): each pin checked against the tags its repository
    lists now. `ls_remote` takes a repository URL and returns `git ls-remote --tags` output."""
    report: list[str] = []
    problems: list[str] = []
    by_repository: dict[str, list[Pin]] = {}
    for pin in pins:
        by_repository.setdefault(pin.repository, []).append(pin)
    for repository, repository_pins in sorted(by_repository.items()):
        url = f"https://github.com/{repository}.git"
        try:
            tags = peeled_tags(ls_remote(url))
        except (OSError, subprocess.SubprocessError) as error:
            detail = getattr(error, "stderr", None) or str(error)
            problems.append(f"{repository}: could not read its tags from {url}: {detail.strip()}")
            continue
        for tag, commit in sorted({(p.tag, p.commit) for p in repository_pins}):
            where = ", ".join(
                p.where for p in repository_pins if (p.tag, p.commit) == (tag, commit)
            )
            if tag not in tags:
                problems.append(f"{repository}: tag {tag} does not exist ({where})")
            elif tags[tag] != commit:
                problems.append(
                    f"{repository}: {tag} points to {tags[tag]}, not the pinned {commit} "
                    f"({where}). Find out why before changing the pin: a moved tag is how "
                    "tj-actions/changed-files was compromised"
                )
            else:
                report.append(f"ok   {repository}@{commit} is {tag}")
        pinned = max((p.tag for p in repository_pins), key=_version)
        newest = max((t for t in tags if RELEASE_TAG.fullmatch(t)), key=_version, default=pinned)
        if _version(newest) > _version(pinned):
            report.append(f"note {repository}: {newest} is newer than the pinned {pinned}")
    return report, problems


def git_ls_remote(url: str) -> str:
    # No prompt: GitHub answers a missing repository with 401, on which git asks for a login.
    result = subprocess.run(  # noqa: S603 - fixed argv, the URL built from a validated name
        ["git", "ls-remote", "--tags", url],  # noqa: S607 - git from PATH, as a maintainer runs it
        capture_output=True,
        text=True,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        timeout=60,
        check=True,
    )
    return result.stdout


def main() -> int:
    pins, problems = scan()
    report, remote_problems = verify(pins, git_ls_remote)
    for line in report:
        print(line)
    for line in problems + remote_problems:
        print(f"FAIL {line}", file=sys.stderr)
    if problems or remote_problems:
        return 1
    print(f"{len({(p.repository, p.commit) for p in pins})} pinned actions verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The README and docs/ pages: every relative link and #anchor resolves, and the README stays a
newcomer's page (at most 400 lines, issue 21 point 6).

Anchors follow GitHub's heading slugs as github-slugger reproduces them
(https://github.com/Flet/github-slugger, index.js): lower-case the heading's text, drop every
character that is not a letter, digit, space, hyphen or underscore, turn each space into a
hyphen (no collapsing: "a → b" is "a--b"); a repeated slug gets -1, -2... in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
README_MAX_LINES = 400

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
INLINE_LINK = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(([^()\s]+)\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def slug(heading: str) -> str:
    """GitHub's slug of one heading's text, before duplicates are numbered."""
    text = INLINE_LINK.sub(lambda m: m.group(1), heading)  # a link in a heading: its text
    text = CODE_SPAN.sub(lambda m: m.group(2), text)
    kept = "".join(c for c in text.strip().lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (a '#' comment in a shell block is no heading)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in prose_lines(text):
        heading = HEADING.match(line)
        if not heading:
            continue
        base = slug(heading.group(2))
        name = base
        while name in seen:  # github-slugger: foo, foo-1, foo-2 (and skips a taken foo-1)
            seen[base] += 1
            name = f"{base}-{seen[base]}"
        seen[name] = 0
        found.add(name)
    return found


@dataclass(frozen=True)
class Link:
    source: Path
    line: int
    target: str


def links(path: Path) -> list[Link]:
    found = []
    for number, line in enumerate(prose_lines(path.read_text()), start=1):
        for match in INLINE_LINK.finditer(CODE_SPAN.sub("", line)):
            found.append(Link(path, number, match.group(2)))
    return found


def broken(link: Link) -> str | None:
    """Why a relative link does not resolve, or None."""
    if EXTERNAL.match(link.target):
        return None
    path_part, _, anchor = link.target.partition("#")
    target = (link.source.parent / path_part).resolve() if path_part else link.source
    if not target.exists():
        return f"{path_part} does not exist"
    if anchor and target.suffix == ".md" and anchor not in anchors(target.read_text()):
        return f"{target.name} has no heading with the anchor #{anchor}"
    return None


def too_long(text: str, limit: int = README_MAX_LINES) -> bool:
    return len(text.splitlines()) > limit


def pages() -> list[Path]:
    return [README, *sorted((REPO / "docs").glob("*.md"))]


def all_links() -> list[Link]:
    return [link for page in pages() for link in links(page)]


# --- the rules, on small inputs ------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Path to production", "path-to-production"),
        ("4. Add each workflow: `relayctl add`", "4-add-each-workflow-relayctl-add"),
        ("workflows.yaml reference", "workflowsyaml-reference"),
        ("`{config: KEY}`", "config-key"),
        ("Jam → Intercom Fin relay", "jam--intercom-fin-relay"),
        (
            "Stack config (`relayctl validate --stack`, `pulumi up`)",
            "stack-config-relayctl-validate---stack-pulumi-up",
        ),
        ("snake_case stays", "snake_case-stays"),
    ],
)
def test_slug_follows_github(heading: str, expected: str) -> None:
    assert slug(heading) == expected


def test_a_repeated_heading_gets_a_numbered_anchor() -> None:
    text = "# Fields\n## Fields\n### Fields\n"
    assert anchors(text) == {"fields", "fields-1", "fields-2"}


def test_a_heading_inside_a_code_block_is_no_anchor() -> None:
    assert anchors("# Real\n```sh\n# .relay-secrets.env\n```\n") == {"real"}


def test_a_missing_file_and_a_missing_anchor_are_reported(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n## Fields\n## Fields\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n[ok](other.md#fields-1) [ok](#page) [ok](https://example.com/x#y)\n"
        "[gone](missing.md) [no anchor](other.md#fields-2) [own](#nowhere)\n"
        "`[in code](missing.md)`\n"
    )
    problems = [(link.target, broken(link)) for link in links(page) if broken(link)]
    assert problems == [
        ("missing.md", "missing.md does not exist"),
        ("other.md#fields-2", "other.md has no heading with the anchor #fields-2"),
        ("#nowhere", "page.md has no heading with the anchor #nowhere"),
    ]


def test_the_line_limit_holds_at_the_edge_and_fails_one_past() -> None:
    assert not too_long("line\n" * README_MAX_LINES)
    assert too_long("line\n" * (README_MAX_LINES + 1))


# --- the repository's pages ----------------------------------------------------------------


def test_the_readme_is_a_newcomers_page_of_at_most_400_lines() -> None:
    assert not too_long(README.read_text()), len(README.read_text().splitlines())


def test_the_pages_link_to_each_other() -> None:
    assert len(all_links()) >= 20  # the checker found the links it is meant to check


@pytest.mark.parametrize(
    "link", all_links(), ids=lambda link: f"{link.source.name}:{link.line}:{link.target}"
)
def test_every_relative_link_and_anchor_resolves(link: Link) -> None:
    assert broken(link) is None, f"{link.source.relative_to(REPO)}: {broken(link)}"


def test_the_readme_links_every_reference_page() -> None:
    """Issue 21 point 6: reference material moved to docs/, linked from the README."""
    linked = {link.target.partition("#")[0] for link in links(README)}
    for page in sorted((REPO / "docs").glob("*.md")):
        assert f"docs/{page.name}" in linked, page.name


def test_every_alert_runbook_pointer_resolves() -> None:
    """The alert policies' documentation names a section of docs/operations.md by anchor."""
    from infra.alerting import POLICY_TEXT

    for outcome, text in POLICY_TEXT.items():
        link = Link(REPO / "infra" / "alerting.py", 0, f"../{text.runbook}")
        assert text.runbook.startswith("docs/operations.md#"), outcome
        assert broken(link) is None, (outcome, broken(link))

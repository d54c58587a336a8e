"""The "Deploy from GitHub" page (docs/gitops.md) names exactly what the bootstrap outputs and
what the workflows read, and the README's prerequisites name the roles a deployer needs: a
newcomer pasting outputs into variables gets a working deploy."""

from __future__ import annotations

import re
from pathlib import Path

from bootstrap.access import DEPLOYER_ROLES, ORGANIZATION_ROLES

REPO = Path(__file__).resolve().parents[2]


def readme_section(heading: str, next_heading: str) -> str:
    """From ``heading`` to the next line starting with ``next_heading`` (its level)."""
    readme = (REPO / "README.md").read_text()
    start = readme.index(heading)
    return readme[start : readme.index(f"\n{next_heading}", start + 1)]


def deploy_section() -> str:
    """The whole page: "Deploy from GitHub" moved out of the README (issue 21 point 6)."""
    return (REPO / "docs" / "gitops.md").read_text()


def prerequisites_step() -> str:
    """Path to production, step 1."""
    return readme_section("### 1. Prerequisites", "### ")


def table_rows() -> dict[str, str]:
    """Variable name -> the "Set by" cell, from the section's table."""
    rows: dict[str, str] = {}
    for line in deploy_section().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 3:
            for name in re.findall(r"`([A-Z_]+)`", cells[0]):
                rows[name] = cells[1]
    return rows


def github_files_text() -> str:
    files = sorted(p for p in (REPO / ".github").rglob("*") if p.is_file())
    return "\n".join(p.read_text() for p in files)


def test_every_bootstrap_output_is_a_variable_the_readme_says_bootstrap_sets(bootstrap):
    outputs = set(bootstrap.run().outputs["repository_variables"])
    outputs |= set(bootstrap.run(stateBackend="gcs").outputs["repository_variables"])
    rows = table_rows()
    for name in outputs:
        assert rows.get(name, "").startswith("bootstrap"), name
    assert {n for n, setter in rows.items() if setter.startswith("bootstrap")} == outputs


def test_every_variable_the_workflows_read_is_in_the_readme():
    read = set(re.findall(r"vars\.([A-Z_]+)", github_files_text()))
    assert read
    assert read <= set(table_rows())


def test_every_secret_the_workflows_read_is_in_the_readme():
    read = set(re.findall(r"secrets\.([A-Z_]+)", github_files_text())) - {"GITHUB_TOKEN"}
    assert read
    for name in read:
        assert f"`{name}`" in deploy_section(), name


def test_readme_reads_the_outputs_the_bootstrap_exports():
    section = deploy_section()
    main = (REPO / "bootstrap" / "__main__.py").read_text()
    for output in re.findall(r"pulumi stack output (\w+)", section):
        assert f'pulumi.export("{output}"' in main, output


def test_readme_prerequisites_list_the_roles_the_deployers_get():
    # Path to production, step 1 lists what the identity running `pulumi up` needs: from a
    # laptop or as a bootstrap deployer, the same roles.
    step = prerequisites_step()
    for role in DEPLOYER_ROLES:
        assert f"`{role}`" in step, role


def test_readme_prerequisites_name_the_organisation_role_and_who_grants_it():
    step = prerequisites_step()
    for role in ORGANIZATION_ROLES:
        assert f"`{role}`" in step, role
    assert "allUsersWithPolicyException" in step
    assert "organisation" in step

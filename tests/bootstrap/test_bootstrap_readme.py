"""docs/gitops.md ("Deploy from GitHub", moved out of the README) names exactly what the
bootstrap outputs and what the workflows read: a newcomer pasting outputs into variables gets a
working deploy. The README's prerequisites list the deployers' roles."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bootstrap.access import DEPLOY_EVENTS, DEPLOYER_ROLES, ORGANIZATION_ROLES, READ_IDS

REPO = Path(__file__).resolve().parents[2]
GITOPS = REPO / "docs" / "gitops.md"


def readme_section(heading: str, next_heading: str) -> str:
    """From ``heading`` to the next line starting with ``next_heading`` (its level)."""
    readme = (REPO / "README.md").read_text()
    start = readme.index(heading)
    return readme[start : readme.index(f"\n{next_heading}", start + 1)]


def deploy_section() -> str:
    """From the page's start to "Who may deploy": the set-up steps and the variables table."""
    page = GITOPS.read_text()
    return page[: page.index("\n## Who may deploy")]


def gitops_section(heading: str) -> str:
    page = GITOPS.read_text()
    start = page.index(f"\n## {heading}\n")
    end = page.find("\n## ", start + 1)
    return page[start : end if end > 0 else len(page)]


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


def test_the_page_shows_how_to_read_and_set_the_ids():
    """Issue 19 item 2: the docs show how to read the ids (gh api ... --jq '.owner.id, .id')
    and set both keys the bootstrap requires."""
    section = deploy_section()
    assert READ_IDS.format(repository="my-org/jam-fin-relay") in section
    assert "pulumi config set githubOwnerId " in section
    assert "pulumi config set githubRepositoryId " in section


def test_every_key_the_template_prompts_for_is_set_on_the_page():
    project = yaml.safe_load((REPO / "bootstrap" / "Pulumi.yaml").read_text())
    for key in project["template"]["config"]:
        assert f"pulumi config set {key} " in deploy_section(), key


def _policy_rows() -> dict[str, str]:
    """Policy name -> its rules cell, from the Pulumi Cloud policies table."""
    rows: dict[str, str] = {}
    for line in deploy_section().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].startswith("`") and "aud" in cells[2]:
            rows[cells[0]] = cells[2]
    return rows


def test_pulumi_cloud_deploy_policies_match_the_ids_environment_and_main_never_sub():
    """Issue 19 item 2: the Pulumi Cloud policies match on repository_id and environment.
    Pulumi: every rule of a policy must match a claim of the token."""
    rows = _policy_rows()
    deploys = [rules for name, rules in rows.items() if name.startswith("deploy")]
    assert len(deploys) == 2
    for rules in deploys:
        assert "`repository_id`: `REPOSITORY_ID`" in rules
        assert "`repository_owner_id`: `OWNER_ID`" in rules
        assert "`environment`:" in rules
        assert "`ref`: `refs/heads/main`" in rules
    assert all("`sub`" not in rules for rules in rows.values())


def test_pulumi_cloud_preview_policy_matches_the_ids_and_pull_requests():
    (rules,) = [rules for name, rules in _policy_rows().items() if name.startswith("preview")]
    assert "`repository_id`: `REPOSITORY_ID`" in rules
    assert "`event_name`: `pull_request`" in rules


def test_the_migration_note_says_what_to_set_and_run_and_what_fails_meanwhile():
    section = gitops_section("Migrating a bootstrap stack from before the ids")
    assert "pulumi config set githubOwnerId" in section
    assert "pulumi config set githubRepositoryId" in section
    assert "Run `pulumi up` in `bootstrap/` again" in section
    assert "CI deploys and previews fail until this is done" in section


def test_the_page_names_the_deploy_events_the_bootstrap_trusts():
    """bootstrap trusts DEPLOY_EVENTS; the page says a deploy is started by them."""
    section = gitops_section("Who may deploy")
    for event in DEPLOY_EVENTS:
        assert f"`{event}`" in section, event


def test_the_deploy_events_are_the_deploy_workflows_triggers():
    """bootstrap's condition accepts deploys started by DEPLOY_EVENTS only: exactly the events
    .github/workflows/deploy.yaml runs on (a reusable workflow's job carries its caller's)."""
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "deploy.yaml").read_text())
    assert set(workflow[True]) == set(DEPLOY_EVENTS)


def test_every_link_from_bootstrap_to_the_page_resolves():
    texts = [p.read_text() for p in sorted((REPO / "bootstrap").iterdir()) if p.is_file()]
    assert any("docs/gitops.md" in text for text in texts)
    assert GITOPS.is_file()

"""Bootstrap entry point: config -> workload identity pool, deployers, previewer, outputs.

Run once per Google Cloud organisation set-up, from this folder, by someone who may create
service accounts and grant roles (docs/gitops.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pulumi

# Pulumi runs this folder as the program; its modules are imported as the `bootstrap` package.
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bootstrap.access import (  # noqa: E402
    DEPLOYER_ROLES,
    ORGANIZATION_ROLES,
    PREFLIGHT_ROLES,
    BootstrapConfigError,
    settings_from_config,
)
from bootstrap.github_deploy import GitHubDeploy, GitHubDeployArgs  # noqa: E402

config = pulumi.Config()
try:
    settings = settings_from_config(
        project=pulumi.Config("gcp").get("project"),
        repository=config.get("githubRepository"),
        owner_id=config.get("githubOwnerId"),
        repository_id=config.get("githubRepositoryId"),
        stacks=config.get_object("stacks"),
        stack_projects=config.get("stackProjects"),
        state_backend=config.get("stateBackend"),
        location=config.get("location"),
    )
except BootstrapConfigError as error:
    raise pulumi.RunError(str(error)) from None

github = GitHubDeploy("github", GitHubDeployArgs(settings))

# Exactly what to paste into the repository's Actions variables (docs/gitops.md).
pulumi.export("repository_variables", github.repository_variables)
# With stateBackend gcs: the --secrets-provider for `pulumi stack init` of each stack.
pulumi.export("secrets_providers", github.secrets_providers)
# Why each deployer holds each role, and the organisation role bootstrap leaves to an
# administrator: `pulumi stack output` shows the reasons beside the grants a reviewer checks.
pulumi.export("deployer_roles", {**DEPLOYER_ROLES, **PREFLIGHT_ROLES})
pulumi.export("organization_roles", ORGANIZATION_ROLES)

"""bootstrap's settings: every limit checked where the value is accepted, before any resource,
each problem naming the key, the value and the fix."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bootstrap.access import (
    CONDITION_MAX_CHARS,
    DEFAULT_LOCATION,
    DEFAULT_STACKS,
    GITHUB_ID_RE,
    SERVICE_ACCOUNT_ID_RE,
    STACK_RE,
    SUBJECT_MAX_BYTES,
    BootstrapConfigError,
    BootstrapSettings,
    account_id,
    attribute_condition,
    deployer_subject,
    federation_problems,
    previewer_subject,
    settings_from_config,
)

REPO = Path(__file__).resolve().parents[2]
OWNER_ID = "90412367"
REPOSITORY_ID = "812345678"
READ_IDS = "gh api repos/acme/jam-fin-relay --jq '.owner.id, .id'"


def settings(**overrides: object) -> BootstrapSettings:
    arguments: dict[str, object] = {
        "project": "acme-ci",
        "repository": "acme/jam-fin-relay",
        "owner_id": OWNER_ID,
        "repository_id": REPOSITORY_ID,
        "stacks": None,
        "stack_projects": None,
        "state_backend": None,
        "location": None,
    } | overrides
    return settings_from_config(**arguments)  # type: ignore[arg-type]


def problems(**overrides: object) -> str:
    with pytest.raises(BootstrapConfigError) as error:
        settings(**overrides)
    return str(error.value)


def test_the_ids_are_kept_as_the_strings_given() -> None:
    chosen = settings()
    assert (chosen.owner_id, chosen.repository_id) == (OWNER_ID, REPOSITORY_ID)
    assert chosen.repository == "acme/jam-fin-relay"


@pytest.mark.parametrize(
    ("key", "argument", "line"),
    [("githubOwnerId", "owner_id", "first"), ("githubRepositoryId", "repository_id", "second")],
)
def test_a_missing_id_says_how_to_read_it(key: str, argument: str, line: str) -> None:
    """An existing bootstrap stack has neither key: it fails with the command that reads them
    (issue 19, item 2), and names only the key that is missing."""
    message = problems(**{argument: None})
    assert message == (
        f"config '{key}' is not set: CI is bound to GitHub's numeric ids, which no renamed or "
        f"recreated repository can take over (docs/gitops.md). Read it with `{READ_IDS}` (the "
        f"{line} line). Fix: pulumi config set {key} ID"
    )


def test_both_ids_missing_are_both_reported() -> None:
    message = problems(owner_id=None, repository_id="")
    assert message.count(READ_IDS) == 2
    assert "config 'githubOwnerId' is not set" in message
    assert "config 'githubRepositoryId' is not set" in message


@pytest.mark.parametrize("value", ["1", "65", "90412367", "9" * 20])
def test_ids_shaped_like_githubs_are_accepted(value: str) -> None:
    """GitHub's example token: "repository_id": "74", "repository_owner_id": "65" (decimal
    strings); the API's ids are 64-bit integers, at most 19 digits."""
    assert settings(owner_id=value, repository_id=value).owner_id == value


@pytest.mark.parametrize(
    "value",
    [
        "0",  # GitHub's ids start at 1
        "074",  # a leading zero never equals the token's "74"
        "9" * 21,  # one past 20 digits
        "-74",
        "74a",
        " 74",
        "7 4",
        "1e5",
        "\uff17\uff14",  # full-width digits: not the ASCII the token carries
        "acme",  # the owner's name, not its id
    ],
)
@pytest.mark.parametrize(
    ("key", "argument"), [("githubOwnerId", "owner_id"), ("githubRepositoryId", "repository_id")]
)
def test_ids_of_another_shape_are_refused_with_the_command(
    key: str, argument: str, value: str
) -> None:
    message = problems(**{argument: value})
    assert f"config '{key}' is {value!r}, not a GitHub id" in message
    assert READ_IDS in message
    assert f"Fix: pulumi config set {key} ID" in message


def test_without_a_valid_repository_the_command_shows_where_it_goes() -> None:
    message = problems(repository="acme", owner_id=None)
    assert "config 'githubRepository' is 'acme', not OWNER/NAME" in message
    assert "gh api repos/OWNER/NAME --jq '.owner.id, .id'" in message


@pytest.mark.parametrize(
    "repository", ["a/b", "acme/jam-fin-relay", "a" * 39 + "/" + "r" * 100, "Acme-9/x.y_z"]
)
def test_repository_names_within_githubs_limits_are_accepted(repository: str) -> None:
    assert settings(repository=repository).repository == repository


@pytest.mark.parametrize(
    "repository", ["a" * 40 + "/r", "a/" + "r" * 101, "acme", "/r", "a/", "a/b/c", "a_b/c"]
)
def test_repository_names_past_githubs_limits_are_refused(repository: str) -> None:
    assert f"config 'githubRepository' is {repository!r}, not OWNER/NAME" in problems(
        repository=repository
    )


@pytest.mark.parametrize("stack", ["a", "dev", "dev-eu", "a1", "p" * 16, "dev--eu"])
def test_stack_names_that_make_valid_account_ids_are_accepted(stack: str) -> None:
    """Service-account ids: 6-30 characters matching [a-z]([-a-z0-9]*[a-z0-9]) (Terraform's
    google_service_account, account_id)."""
    chosen = settings(stacks=["dev", stack])
    assert stack in chosen.stacks
    assert SERVICE_ACCOUNT_ID_RE.fullmatch(account_id(stack))


@pytest.mark.parametrize(
    "stack",
    [
        "dev-",  # issue 19 item 7: relay-deploy-dev- is not an account id
        "-dev",
        "Dev",
        "1dev",
        "p" * 17,  # one past 16
        "",
        "dev_eu",
        "dév",
    ],
)
def test_stack_names_google_would_refuse_are_refused_with_the_fix(stack: str) -> None:
    """Service-account ids end in a letter or digit (account_id's regular expression): a stack
    name ending in '-' made relay-deploy-STACK- and failed at `pulumi up`."""
    message = problems(stacks=["dev", stack, "prod"])
    assert f"config 'stacks' entry {stack!r} is not a stack name" in message
    assert f"the service account 'relay-deploy-{stack}'" in message
    assert "Fix: pulumi config set --path 'stacks[1]' NAME" in message


def test_a_stack_entry_that_is_no_string_is_refused() -> None:
    assert "config 'stacks' entry 7 is not a stack name" in problems(stacks=["dev", 7])


@given(st.from_regex(STACK_RE, fullmatch=True))
def test_every_accepted_stack_name_gives_a_valid_account_id(stack: str) -> None:
    """account_id: 6-30 characters, [a-z]([-a-z0-9]*[a-z0-9])."""
    assert SERVICE_ACCOUNT_ID_RE.fullmatch(account_id(stack))


def test_the_previewer_account_id_is_valid() -> None:
    assert SERVICE_ACCOUNT_ID_RE.fullmatch(account_id(None))


@pytest.mark.parametrize("project", ["acme-", "acme", "Acme-ci", "1acme-ci", "a" * 31])
def test_a_pool_project_that_is_no_project_id_is_refused(project: str) -> None:
    """Project ids: 6-30 characters, a letter first, no hyphen last (infra.settings'
    PROJECT_ID_RE, the one rule for both programs)."""
    assert f"config 'gcp:project' is {project!r}, not a Google Cloud project id" in problems(
        project=project
    )


def test_the_pool_project_at_thirty_characters_is_accepted() -> None:
    assert settings(project="a" * 29 + "z").project == "a" * 29 + "z"


def _with_stack(stack: str, owner_id: str = OWNER_ID) -> BootstrapSettings:
    """Settings as config cannot give them (no check), to reach Google's limits."""
    return BootstrapSettings(
        "acme-ci", "acme/jam-fin-relay", owner_id, REPOSITORY_ID, {stack: "acme-ci"}
    )


def _stack_for_subject_bytes(size: int) -> str:
    base = len(deployer_subject(_with_stack(""), "").encode())
    return "s" * (size - base)


def test_a_subject_of_127_bytes_is_accepted() -> None:
    """IAM API, WorkloadIdentityPoolProvider: google.subject "Cannot exceed 127 bytes"."""
    stack = _stack_for_subject_bytes(SUBJECT_MAX_BYTES)
    assert len(deployer_subject(_with_stack(stack), stack).encode()) == 127
    assert federation_problems(_with_stack(stack)) == []


def test_a_subject_of_128_bytes_is_refused_with_its_size() -> None:
    stack = _stack_for_subject_bytes(SUBJECT_MAX_BYTES + 1)
    subject = deployer_subject(_with_stack(stack), stack)
    assert federation_problems(_with_stack(stack)) == [
        f"the federated subject {subject!r} is 128 bytes; Google maps at most 127 bytes to "
        "google.subject. Fix: shorter stack names (config 'stacks')"
    ]


def test_the_previewers_subject_is_checked_too() -> None:
    long_id = "9" * 120
    chosen = _with_stack("dev", owner_id=long_id)
    found = federation_problems(chosen)
    assert any(repr(previewer_subject(chosen)) in problem for problem in found)


def test_many_stacks_past_the_condition_limit_are_refused_before_any_resource() -> None:
    """IAM API: "The maximum length of the attribute condition expression is 4096
    characters"."""
    names = ["dev", *(f"stack-{n:04d}" for n in range(400))]
    message = problems(stacks=names)
    length = len(attribute_condition(_many(names)))
    assert message == (
        f"the provider's attribute condition is {length} characters for 401 stacks; Google "
        "accepts at most 4096. Fix: fewer stacks (config 'stacks'), or one bootstrap stack per "
        "group of them"
    )


def _many(names: list[str]) -> BootstrapSettings:
    return BootstrapSettings(
        "acme-ci", "acme/jam-fin-relay", OWNER_ID, REPOSITORY_ID, dict.fromkeys(names, "acme-ci")
    )


def test_a_condition_of_exactly_4096_characters_is_accepted() -> None:
    names = ["dev"]
    while len(attribute_condition(_many([*names, "x"]))) <= CONDITION_MAX_CHARS:
        names.append(f"s{len(names):05d}")
    # pad the last name to land exactly on the limit
    missing = CONDITION_MAX_CHARS - len(attribute_condition(_many(names)))
    names[-1] += "a" * missing
    assert len(attribute_condition(_many(names))) == CONDITION_MAX_CHARS
    assert federation_problems(_many(names)) == []
    names[-1] += "a"
    assert len(federation_problems(_many(names))) == 1


def test_the_id_rule_is_githubs_decimal_string() -> None:
    assert GITHUB_ID_RE.fullmatch("74")
    assert not GITHUB_ID_RE.fullmatch("74\n")


def test_bootstrap_without_the_ids_declares_nothing(bootstrap) -> None:
    """Issue 19 item 2: an existing bootstrap stack without the new keys fails before any
    resource, with the command that reads them."""
    run = bootstrap.run(githubOwnerId=None, githubRepositoryId=None)
    assert run.declared == []
    assert run.error is not None
    assert READ_IDS in str(run.error)


def test_bootstrap_with_a_bad_stack_name_declares_nothing(bootstrap) -> None:
    run = bootstrap.run(stacks=json.dumps(["dev", "prod-"]))
    assert run.declared == []
    assert "config 'stacks' entry 'prod-'" in str(run.error)


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings().owner_id = "1"  # type: ignore[misc]


def test_defaults_are_the_ones_pulumi_yaml_declares() -> None:
    """bootstrap/Pulumi.yaml documents each optional key's default; the settings use the same."""
    declared = yaml.safe_load((REPO / "bootstrap" / "Pulumi.yaml").read_text())["config"]
    chosen = settings()
    assert list(chosen.stacks) == declared["stacks"]["default"] == list(DEFAULT_STACKS)
    assert chosen.state_backend == declared["stateBackend"]["default"] == "pulumi-cloud"
    assert chosen.location == declared["location"]["default"] == DEFAULT_LOCATION
    assert chosen.stack_projects == {"dev": "acme-ci", "prod": "acme-ci"}


def test_a_missing_pool_project_says_how_to_set_it() -> None:
    assert problems(project=None) == (
        "config 'gcp:project' is not set. Fix: pulumi config set gcp:project ID"
    )


def test_stacks_without_dev_are_refused() -> None:
    assert problems(stacks=["prod"]) == (
        "config 'stacks' must include 'dev': pull requests preview it"
    )


def test_a_stack_project_for_an_unknown_stack_is_refused_with_the_fix() -> None:
    assert problems(stack_projects="qa=acme-relay-qa") == (
        "config 'stackProjects' entry 'qa=acme-relay-qa' is not STACK=PROJECT_ID for a listed "
        "stack. Fix: pulumi config set stackProjects dev=acme-relay-dev,prod=acme-relay"
    )


def test_a_stack_project_that_is_no_project_id_is_refused() -> None:
    assert "entry 'prod=acme-relay-'" in problems(stack_projects="prod=acme-relay-")


def test_stack_projects_place_each_deployer() -> None:
    chosen = settings(stack_projects=" dev=acme-relay-dev , prod=acme-relay,")
    assert chosen.stack_projects == {"dev": "acme-relay-dev", "prod": "acme-relay"}


def test_an_unknown_state_backend_is_refused_with_the_fix() -> None:
    assert problems(state_backend="s3") == (
        "config 'stateBackend' is 's3'. Fix: pulumi config set stateBackend gcs (or pulumi-cloud)"
    )


def test_the_gcs_backend_and_a_location_are_kept() -> None:
    chosen = settings(state_backend="gcs", location="europe-west1")
    assert (chosen.state_backend, chosen.location) == ("gcs", "europe-west1")


def test_an_id_of_the_wrong_shape_is_said_in_full() -> None:
    assert problems(repository_id="074") == (
        "config 'githubRepositoryId' is '074', not a GitHub id (digits only, no leading zero, at "
        f"most 20). Read it with `{READ_IDS}` (the second line). Fix: pulumi config set "
        "githubRepositoryId ID"
    )


def test_every_problem_is_reported_on_its_own_line() -> None:
    assert problems(project=None, stacks=["prod"], state_backend="s3").splitlines() == [
        "config 'gcp:project' is not set. Fix: pulumi config set gcp:project ID",
        "config 'stacks' must include 'dev': pull requests preview it",
        "config 'stateBackend' is 's3'. Fix: pulumi config set stateBackend gcs (or pulumi-cloud)",
    ]


def test_a_bad_pool_project_is_refused_with_the_rule_and_the_command() -> None:
    assert problems(project="acme-") == (
        "config 'gcp:project' is 'acme-', not a Google Cloud project id (6-30 lower-case "
        "letters, digits and hyphens, a letter first, no hyphen last). Fix: "
        "pulumi config set gcp:project acme-ci"
    )

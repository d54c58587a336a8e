"""`relayctl plan` never prints a secret, whatever field it was pasted into, valid file or not.

Its markdown is posted as a pull-request comment. Two layers are checked: the real loader on files
with a secret in each field, and the renderer alone, fed workflows and problems that carry secrets
as if a loader had let them through (defence in depth).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra.workflows import ConfigRef, LiteralUrl, Problem, Workflow, WorkflowsFile
from infra.workflows import WorkflowsFileError as LoaderError
from relayctl import plan
from relayctl.cli import main

# Made-up values of the two shapes that must never be printed.
SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTFik3n5mpTBdcSBPHgq9"
INTERCOM_URL = "https://api.intercom.io/hooks/Zq7TokenCapability4410"
# What must not appear, in any case (an id is printed upper-cased in env names).
FRAGMENTS = ("MfKQ9r8GKYqrTFik3n5mpTBdcSBPHgq9", "Zq7TokenCapability4410", "api.intercom.io")

VALID = """\
version: 1
workflows:
  - id: billing-handoff
    description: Billing questions
    intercom_webhook_url:
      config: billingHandoffIntercomUrl
    jam_signing_secret:
      config: billingHandoffJamSecret
    events: [intercom.recorder.recorded]
    stacks: [dev]
"""

# field -> (text replaced in VALID, with a SECRET placeholder)
FIELDS = {
    "id": ("id: billing-handoff", "id: SECRET"),
    "description": ("description: Billing questions", "description: SECRET"),
    "intercom config key": ("config: billingHandoffIntercomUrl", "config: SECRET"),
    "signing secret config key": ("config: billingHandoffJamSecret", "config: SECRET"),
    "events entry": ("events: [intercom.recorder.recorded]", "events: [SECRET]"),
    "stacks entry": ("stacks: [dev]", "stacks: [dev, SECRET]"),
    "misspelt key's value": ("stacks: [dev]", "stacks: [dev]\n    jam_secret: SECRET"),
    "unknown top-level key": ("version: 1", "version: 1\nsigning: SECRET"),
    "unknown key's name": ("stacks: [dev]", "stacks: [dev]\n    SECRET: 1"),
    "intercom url": (
        "intercom_webhook_url:\n      config: billingHandoffIntercomUrl",
        "intercom_webhook_url: SECRET",
    ),
}
SECRETS = {"signing secret": SIGNING_SECRET, "intercom url": INTERCOM_URL}


def leaked(output: str) -> list[str]:
    return [f for f in FRAGMENTS if f.lower() in output.lower()]


def with_secret(field: str, secret: str) -> str:
    old, new = FIELDS[field]
    assert old in VALID
    # Quoted, so YAML reads the URL's colon and a leading symbol as part of the string.
    return VALID.replace(old, new.replace("SECRET", f"'{secret}'"))


def run_plan(capsys, *args: str) -> tuple[int, str]:
    code = main(["plan", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(Path(__file__).resolve().parents[2] / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "workflows.yaml").write_text(VALID)
    (tmp_path / "base.yaml").write_text(VALID)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return tmp_path


@pytest.mark.parametrize("fmt", ["text", "markdown"])
@pytest.mark.parametrize("secret", list(SECRETS))
@pytest.mark.parametrize("field", list(FIELDS))
def test_a_secret_in_the_head_file_is_never_printed(folder, capsys, field, secret, fmt):
    (folder / "workflows.yaml").write_text(with_secret(field, SECRETS[secret]))
    for base in ((), ("--base", "base.yaml")):
        _, output = run_plan(capsys, "--format", fmt, *base)
        assert not leaked(output), (base, output)


@pytest.mark.parametrize("fmt", ["text", "markdown"])
@pytest.mark.parametrize("secret", list(SECRETS))
@pytest.mark.parametrize("field", list(FIELDS))
def test_a_secret_in_the_base_file_is_never_printed(folder, capsys, field, secret, fmt):
    (folder / "base.yaml").write_text(with_secret(field, SECRETS[secret]))
    code, output = run_plan(capsys, "--format", fmt, "--base", "base.yaml")
    assert code == 0, output
    assert not leaked(output), output


def secret_laden_file(path: str) -> WorkflowsFile:
    """What a loader that let every secret through would return."""
    workflow = Workflow(
        id=SIGNING_SECRET,
        description=f"see {INTERCOM_URL} and {SIGNING_SECRET}",
        intercom_webhook_url=LiteralUrl(INTERCOM_URL),
        jam_signing_secret=ConfigRef(SIGNING_SECRET),
        events=(INTERCOM_URL,),
        stacks=(SIGNING_SECRET,),
    )
    keyed = Workflow(
        id="billing-handoff",
        description=SIGNING_SECRET,
        intercom_webhook_url=ConfigRef(INTERCOM_URL),
        jam_signing_secret=None,
        events=(SIGNING_SECRET,),
        stacks=(INTERCOM_URL,),
    )
    warning = Problem(path, 1, 1, SIGNING_SECRET, f"kept {INTERCOM_URL}", SIGNING_SECRET)
    return WorkflowsFile(path, 1, (workflow, keyed), warnings=(warning,))


@pytest.fixture
def lax_loader(monkeypatch):
    monkeypatch.setattr(plan, "load_workflows", secret_laden_file)
    monkeypatch.setattr("infra.workflows.load_workflows", secret_laden_file)
    monkeypatch.setattr(plan, "parse_workflows", lambda text, filename: secret_laden_file(filename))


@pytest.mark.parametrize("fmt", ["text", "markdown"])
@pytest.mark.parametrize("base", [(), ("--base", "base.yaml")])
def test_the_renderer_redacts_what_a_loader_let_through(folder, capsys, lax_loader, fmt, base):
    (folder / "base.yaml").write_text(VALID)
    code, output = run_plan(capsys, "--format", fmt, *base)
    assert code == 0, output
    assert "[redacted]" in output
    assert not leaked(output), output


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_problems_that_quote_a_secret_are_redacted(folder, capsys, monkeypatch, fmt):
    def quoting_loader(path: str) -> WorkflowsFile:
        problem = Problem(str(path), 2, 3, INTERCOM_URL, f"bad {SIGNING_SECRET}", INTERCOM_URL)
        raise LoaderError((problem,))

    monkeypatch.setattr(plan, "load_workflows", quoting_loader)
    monkeypatch.setattr("infra.workflows.load_workflows", quoting_loader)
    code, output = run_plan(capsys, "--format", fmt)
    assert code == 1
    assert "workflows.yaml:2:3" in output
    assert not leaked(output), output

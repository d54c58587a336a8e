"""Running ``relayctl preflight`` against the loopback stand-in of Google (relayctl/fake_google.py).

``run_preflight`` calls the real entry point in this process (``relayctl.cli.main``) with the
seam pointing at a ``FakeGoogle`` serving one scenario over real HTTP, in a project folder made
for the test, with an environment cleared of the caller's Google settings; it returns the exit
code, the output parsed into one verdict per check, and every request the stand-in received.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.credentials import READ_ENVS
from relayctl.cli import main
from relayctl.fake_google import PROJECT_ID, FakeGoogle, Received, Scenario

REPO = Path(__file__).resolve().parents[2]
ONE_WORKFLOW = REPO / "tests" / "pulumi" / "fixtures" / "one.yaml"
REGION = "europe-west1"
LINE_RE = re.compile(r"(?P<subject>.+?): (?P<outcome>ok|will fail|could not tell)(?P<rest>.*)")
# Variables that would change which credentials or quota project preflight sees.
GOOGLE_ENV = (*READ_ENVS, "RELAYCTL_GOOGLE_API_BASE", "RELAYCTL_GOOGLE_ACCESS_TOKEN")


@dataclass(frozen=True)
class Line:
    subject: str
    outcome: str
    text: str


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    received: list[Received]
    base: str

    @property
    def lines(self) -> dict[str, Line]:
        found = {}
        for text in self.out.splitlines():
            match = LINE_RE.fullmatch(text)
            if match and not text.startswith("Pre-flight"):
                found[match["subject"]] = Line(match["subject"], match["outcome"], text)
        return found

    def outcome_of(self, subject: str) -> str:
        return self.lines[subject].outcome

    def text_of(self, subject: str) -> str:
        return self.lines[subject].text

    @property
    def summary(self) -> str:
        return self.out.strip().splitlines()[-1]

    def json(self) -> Any:
        return json.loads(self.out)


def make_project(folder: Path, settings: Mapping[str, Any], region: str = REGION) -> Path:
    """A project folder: Pulumi.yaml, one workflow, and Pulumi.dev.yaml with ``settings``
    (un-prefixed keys are this project's; ``gcp:`` keys are the provider's)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Pulumi.yaml", folder / "Pulumi.yaml")
    shutil.copy(ONE_WORKFLOW, folder / "workflows.yaml")
    config: dict[str, Any] = {"gcp:project": PROJECT_ID, "gcp:region": region}
    for key, value in settings.items():
        config[key if ":" in key else f"jam-fin-relay:{key}"] = value
    config["jam-fin-relay:billingHandoffIntercomUrl"] = {"secure": "v1:AAAA:BBBB"}
    (folder / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config}))
    return folder


class Runner:
    """A test module's ``preflight`` fixture: ``Runner(monkeypatch, capsys, tmp_path)``."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp: Path
    ) -> None:
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        self.tmp = tmp
        for name in GOOGLE_ENV:
            monkeypatch.delenv(name, raising=False)
        home = tmp / "home"
        home.mkdir()
        monkeypatch.setenv("HOME", str(home))  # no gcloud ADC file unless a test writes one
        monkeypatch.setenv("CLOUDSDK_CONFIG", str(home / "gcloud"))

    def __call__(
        self,
        scenario: Scenario | None = None,
        settings: Mapping[str, Any] | None = None,
        region: str = REGION,
        args: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
    ) -> Outcome:
        project = make_project(self.tmp / "project", settings or {}, region)
        self.monkeypatch.chdir(project)
        with FakeGoogle(scenario or Scenario()) as google:
            for name, value in {**google.env(), **(env or {})}.items():
                self.monkeypatch.setenv(name, value)
            self.capsys.readouterr()
            code = main(["preflight", "--stack", "dev", *args])
            captured = self.capsys.readouterr()
            return Outcome(code, captured.out, captured.err, google.received, google.base)

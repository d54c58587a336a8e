"""Local secrets for ``serve`` and ``send-test-event``: a git-ignored KEY=VALUE file.

A key is either the relay's environment variable name (``INTERCOM_WEBHOOK_URL__BILLING_HANDOFF``,
``JAM_SIGNING_SECRET__BILLING_HANDOFF``) or the config key the workflow names in workflows.yaml
(``billingHandoffIntercomUrl``). A variable set in the process environment wins over the file.
Values are never printed: errors name the file, the line and the key only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from infra.workflows import ConfigRef, LiteralUrl, Workflow
from relay_function.naming import intercom_url_env, signing_secret_env
from relayctl.common import usage_error


def read_secrets_file(path: Path) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines; ``#`` comments, blank lines, ``export`` and quotes allowed."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise usage_error(f"{path}: cannot read it ({exc.__class__.__name__}).") from None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        key = key.strip()
        if not sep or not key or not key.replace("_", "a").isalnum():
            raise usage_error(f"{path}:{number}: expected KEY=VALUE (value not shown).")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


@dataclass(frozen=True)
class SecretSource:
    """Where secrets are looked up: the environment first, then the file's values."""

    environ: Mapping[str, str]
    file_values: Mapping[str, str]

    @classmethod
    def load(
        cls, secrets_file: Path | None, environ: Mapping[str, str] | None = None
    ) -> SecretSource:
        file_values = read_secrets_file(secrets_file) if secrets_file is not None else {}
        return cls(
            environ=dict(os.environ if environ is None else environ), file_values=file_values
        )

    def lookup(self, *names: str) -> str | None:
        for source in (self.environ, self.file_values):
            for name in names:
                value = source.get(name, "").strip()
                if value:
                    return value
        return None

    def intercom_url(self, workflow: Workflow) -> str | None:
        url = workflow.intercom_webhook_url
        if isinstance(url, LiteralUrl):
            return url.url
        return self.lookup(intercom_url_env(workflow.id), url.key)

    def signing_secret(self, workflow_id: str, ref: ConfigRef | None) -> str | None:
        names = [signing_secret_env(workflow_id)] + ([ref.key] if ref is not None else [])
        return self.lookup(*names)

"""Read a stack's ``Pulumi.<stack>.yaml`` offline: which config keys exist, which are secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from infra.settings import PROJECT_NAME
from relayctl.common import CommandError


def project_name(project_dir: Path) -> str:
    """The ``name:`` in Pulumi.yaml: the namespace of this project's config keys."""
    pulumi_yaml = project_dir / "Pulumi.yaml"
    if not pulumi_yaml.is_file():
        return PROJECT_NAME
    document = _read_yaml(pulumi_yaml)
    name = document.get("name") if isinstance(document, dict) else None
    return name if isinstance(name, str) and name else PROJECT_NAME


def stack_file(project_dir: Path, stack: str) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"


def present_config_keys(project_dir: Path, stack: str) -> dict[str, bool]:
    """Config keys set on the stack for this project (no prefix) -> stored as ``secure:``."""
    path = stack_file(project_dir, stack)
    if not path.is_file():
        raise CommandError(
            f"{path}: no such stack file. Create it with `pulumi stack init {stack}`, then set "
            f"each key with `pulumi config set --secret KEY --stack {stack}`."
        )
    prefix = project_name(project_dir) + ":"
    return {
        str(key).removeprefix(prefix): _is_secure(value)
        for key, value in read_config(project_dir, stack).items()
        if str(key).startswith(prefix)
    }


def read_config(project_dir: Path, stack: str) -> dict[Any, Any]:
    """The stack file's ``config:`` mapping, full keys (``gcp:project``, ``<project>:<key>``)."""
    path = stack_file(project_dir, stack)
    document = _read_yaml(path)
    config = document.get("config") if isinstance(document, dict) else None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise CommandError(f"{path}: `config:` must be a mapping of `project:key: value`.")
    return config


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path}: cannot read it ({exc.__class__.__name__}).") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise CommandError(f"{path}{where}: not valid YAML.") from None

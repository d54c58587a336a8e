"""The relay's deployable source: which files, and a content hash that names the archive.

The object name changes exactly when a deployed file's name or bytes change, so the function
redeploys on a source change and on nothing else (no timestamps, no caches).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pulumi

SOURCE_DIR = Path(__file__).resolve().parent.parent / "relay_function"
HASH_LENGTH = 20  # hex characters: 80 bits is plenty to tell source versions apart


@dataclass(frozen=True)
class RelaySource:
    files: tuple[tuple[str, Path], ...]  # (path inside the archive, file on disk), sorted
    digest: str  # sha256 hex of every name and content

    @property
    def object_name(self) -> str:
        return f"relay-source-{self.digest[:HASH_LENGTH]}.zip"

    def archive(self) -> pulumi.AssetArchive:
        return pulumi.AssetArchive({name: pulumi.FileAsset(str(path)) for name, path in self.files})


def _is_deployed(relative: Path) -> bool:
    if "__pycache__" in relative.parts or any(p.startswith(".") for p in relative.parts):
        return False
    return relative.suffix == ".py" or relative.name == "requirements.txt"


def collect_source(source_dir: Path = SOURCE_DIR) -> RelaySource:
    """The relay's ``.py`` files and ``requirements.txt``, hashed by name and content."""
    files = sorted(
        (path.relative_to(source_dir).as_posix(), path)
        for path in source_dir.rglob("*")
        if path.is_file() and _is_deployed(path.relative_to(source_dir))
    )
    if not any(name == "requirements.txt" for name, _ in files):
        raise FileNotFoundError(f"{source_dir}/requirements.txt is missing: nothing to deploy")
    digest = hashlib.sha256()
    for name, path in files:
        content = path.read_bytes()
        # Length-prefixed so that moving bytes between a name and a content changes the hash.
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return RelaySource(files=tuple(files), digest=digest.hexdigest())

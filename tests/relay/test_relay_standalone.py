"""The relay folder deploys on its own: Cloud Run builds only relay_function/, imports top-level."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

RELAY = Path(__file__).resolve().parents[2] / "relay_function"


def test_main_imports_from_a_copy_of_the_folder_alone(tmp_path: Path) -> None:
    for path in RELAY.glob("*.py"):
        shutil.copy(path, tmp_path / path.name)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["RELAY_ROUTES"] = "{}"

    done = subprocess.run(
        [sys.executable, "-c", "import main; print(callable(main.relay))"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("True")

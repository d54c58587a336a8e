"""`relayctl completion bash|zsh`: scripts generated from the parser, tried in a real bash."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from relayctl.cli import SUBCOMMANDS
from tests.cli.conftest import REPO, cli_env


@pytest.fixture
def bash_script(relayctl, tmp_path):
    result = relayctl("completion", "bash")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "relayctl.bash"
    path.write_text(result.stdout)
    return path


def complete(script, *words: str) -> list[str]:
    """What bash offers for the last word of `relayctl WORDS...` (it may be "")."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    line = " ".join(("relayctl", *words))
    quoted = " ".join(f"'{w}'" for w in ("relayctl", *words))
    program = (
        f"source '{script}'\n"
        f"COMP_WORDS=({quoted}); COMP_CWORD={len(words)}\n"
        f"COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n"
        f"_shtab_relayctl relayctl '{words[-1]}' '{(('relayctl', *words))[-2]}'\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "-c", program], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completes_every_subcommand(bash_script):
    assert sorted(complete(bash_script, "")) == sorted(SUBCOMMANDS)


def test_bash_completes_a_subcommands_options(bash_script):
    assert complete(bash_script, "send-test-event", "--ti") == ["--timeout"]


def test_bash_completes_an_options_choices(bash_script):
    assert complete(bash_script, "plan", "--format", "") == ["text", "markdown"]


def test_bash_script_registers_the_command(bash_script):
    assert "complete -o bashdefault -F _shtab_relayctl relayctl" in bash_script.read_text()


def test_zsh_script_is_a_compdef_for_relayctl_with_every_subcommand(relayctl):
    result = relayctl("completion", "zsh")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("#compdef relayctl\n")
    for name in SUBCOMMANDS:
        assert f"\n    {name}:'" in result.stdout, name


def test_an_unknown_shell_is_a_usage_error(relayctl):
    result = relayctl("completion", "fish")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_a_reader_that_goes_away_gets_no_traceback():
    # `relayctl completion bash | head -0`: the pipe is closed before relayctl writes.
    proc = subprocess.Popen(
        [sys.executable, "-m", "relayctl", "completion", "bash"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=cli_env(),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 141
    assert "Traceback" not in stderr
    assert "BrokenPipe" not in stderr

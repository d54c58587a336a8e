"""LocalRelay's lifecycle: stopping it leaves no server process behind (Linux /proc)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from relayctl.local_relay import LocalRelay


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _gone_within(pid: int, seconds: float) -> bool:
    """Whether ``pid`` is gone (or a zombie) within ``seconds``: a kill is not instant."""
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_a_worker_that_cannot_exit_is_killed_with_its_server() -> None:
    """A worker stuck at exit outlived its arbiter (killed after stop's timeout) for good;
    25 were found on the shared machine after runs against gunicorn's own worker."""
    relay = LocalRelay({}).start()
    [worker] = relay.worker_pids()
    os.kill(worker, signal.SIGSTOP)  # it can no longer answer the arbiter's shutdown

    relay.stop(timeout=1.0)

    gone = _gone_within(worker, 5.0)
    if not gone:  # never leave it behind, even when the test fails
        os.kill(worker, signal.SIGKILL)
    assert not relay.running
    assert gone


def test_stopping_a_relay_twice_is_harmless() -> None:
    relay = LocalRelay({}).start()

    relay.stop()
    relay.stop()

    assert not relay.running

"""Can the relay tell a forward Intercom never read from one it read and dropped? (never a test)

    .venv/bin/python bench/stale.py            # 30-45 s; loopback only, every loop bounded

Two ways a kept-alive connection to Intercom ends without an answer, both through the relay's
own forwarder (relay_function/forwarding.py) against the shared stand-in:

- **closed while idle** (the race an automatic resend was for): the stand-in closes a
  connection idle for IDLE_SECONDS, and the forwarder reuses it at about that moment. Each
  pair of forwards is spaced IDLE_SECONDS + offset, the offset swept across the moment of the
  close, so some reuses pass urllib3's "still open?" check just before the close lands.
- **read, then closed** (``drop_second``): the stand-in reads the second request on a
  connection and closes it without answering, as a server that crashed mid-request would.

For each failed forward the script prints what the forwarder saw (the class name it reports)
and whether the stand-in had read the request. If both kinds fail alike, nothing the relay can
observe proves a request unread, and a resend may deliver twice.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO, REPO / "relay_function"):  # forwarding imports its siblings top-level
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import answers  # type: ignore[import-not-found]  # noqa: E402
import configuration  # type: ignore[import-not-found]  # noqa: E402
import forwarding  # type: ignore[import-not-found]  # noqa: E402

from relayctl.fake_intercom import FakeIntercom  # noqa: E402

IDLE_SECONDS = 0.05
OFFSETS_MS = [x / 10 for x in range(-20, 21)]  # -2.0 ... +2.0 ms around the close
REPEATS = 8
DROPS = 50
HEADERS = {"Content-Type": "application/json", "Idempotency-Key": "bench"}
TIMEOUT = 2.0


def _forward(forwarder: object, target: object, name: str) -> str:
    try:
        status = forwarder.post(target, f"/hooks/raw/{name}", b"{}", HEADERS, TIMEOUT)  # type: ignore[attr-defined]
    except answers.ForwardFailed as failure:
        return str(failure)
    return str(status)


def closed_while_idle() -> tuple[Counter[str], int, int]:
    """Outcomes of reusing a connection about when the stand-in closes it as idle."""
    outcomes: Counter[str] = Counter()
    unread_failures = 0
    pairs = 0
    with FakeIntercom(idle_close_seconds=IDLE_SECONDS, record=False) as intercom:
        target = configuration.parse_intercom_url(intercom.url_for("raw"))
        for _ in range(REPEATS):
            for offset in OFFSETS_MS:
                forwarder = forwarding.Forwarder()  # one connection per pair
                first = _forward(forwarder, target, "first")
                if first != "200":
                    outcomes[f"first forward: {first}"] += 1
                    continue
                read_before = intercom.post_count
                time.sleep(IDLE_SECONDS + offset / 1000)
                second = _forward(forwarder, target, "second")
                pairs += 1
                if second == "200":
                    outcomes["200"] += 1
                else:
                    outcomes[second] += 1
                    unread_failures += intercom.post_count == read_before
    return outcomes, unread_failures, pairs


def read_then_closed() -> tuple[Counter[str], int]:
    """Outcomes when the stand-in reads the request and closes without answering."""
    outcomes: Counter[str] = Counter()
    with FakeIntercom(mode="drop_second", record=False) as intercom:
        target = configuration.parse_intercom_url(intercom.url_for("raw"))
        for _ in range(DROPS):
            forwarder = forwarding.Forwarder()
            _forward(forwarder, target, "first")
            outcomes[_forward(forwarder, target, "second")] += 1
        return outcomes, intercom.dropped


def main() -> int:
    started = time.monotonic()
    idle, unread, pairs = closed_while_idle()
    print(f"closed while idle: {pairs} reuses {IDLE_SECONDS * 1000:.0f} ms +-2 ms after the last")
    for outcome, count in idle.most_common():
        print(f"  {count:4d}  {outcome}")
    failed = pairs - idle["200"]
    print(f"  failed unanswered: {failed}, of which the stand-in never read: {unread}")
    dropped, read = read_then_closed()
    print(f"read, then closed: {DROPS} reuses")
    for outcome, count in dropped.most_common():
        print(f"  {count:4d}  {outcome}")
    print(f"  requests the stand-in read and left unanswered: {read}")
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

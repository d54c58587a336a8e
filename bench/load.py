"""The load generator: sequential latency and concurrent throughput against HTTP targets.

Every request is built (and signed) before the clock starts: signing is Jam's cost, not the
server's. Latency is measured at the client, end to end, so it includes the forward to the
stand-in, which is what Jam waits for.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import requests

# (body, headers) for one delivery; a fresh one per request so message ids never repeat.
Delivery = tuple[bytes, dict[str, str]]
DeliveryFactory = Callable[[], Delivery]
REQUEST_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    new_delivery: DeliveryFactory


@dataclass
class LatencySample:
    seconds: list[float] = field(default_factory=list)
    failures: int = 0  # non-200 answers or connection errors, after the warm-up
    answered_ok: int = 0  # every 200, warm-up included: each should be one forward

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.seconds, 99) * 1000


@dataclass(frozen=True)
class Throughput:
    requests_per_s: float
    failures: int
    answered_ok: int  # every 200, connection warm-up included


def percentile(values: Sequence[float], pct: int) -> float:
    """Nearest-rank percentile: with 1,000 samples p99 is the 990th smallest."""
    ordered = sorted(values)
    rank = max(1, -(-pct * len(ordered) // 100))  # ceil without floats
    return ordered[rank - 1]


def _post(session: requests.Session, url: str, delivery: Delivery) -> bool:
    body, headers = delivery
    try:
        answer = session.post(url, data=body, headers=headers, timeout=REQUEST_TIMEOUT_S)
    except requests.RequestException:
        return False
    return answer.status_code == 200


def sequential_latency(
    targets: Sequence[Target], count: int, warmup: int
) -> dict[str, LatencySample]:
    """``count`` requests per target, one at a time, interleaved between targets (relay, floor,
    relay, floor...) so background noise on the machine hits both alike."""
    sessions = {t.name: requests.Session() for t in targets}
    samples = {t.name: LatencySample() for t in targets}
    prepared = {t.name: [t.new_delivery() for _ in range(warmup + count)] for t in targets}
    try:
        for index in range(warmup + count):
            for target in targets:
                delivery = prepared[target.name][index]
                started = time.perf_counter()
                ok = _post(sessions[target.name], target.url, delivery)
                elapsed = time.perf_counter() - started
                samples[target.name].answered_ok += ok
                if index < warmup:
                    continue
                samples[target.name].seconds.append(elapsed)
                if not ok:
                    samples[target.name].failures += 1
    finally:
        for session in sessions.values():
            session.close()
    return samples


def concurrent_throughput(target: Target, clients: int, per_client: int) -> Throughput:
    """``clients`` threads, a Session each, ``per_client`` requests each; requests per second
    from the moment all threads start to the moment the last one finishes."""
    # One extra delivery per client opens its connection before the clock starts.
    prepared = [[target.new_delivery() for _ in range(per_client + 1)] for _ in range(clients)]
    start_line = threading.Barrier(clients + 1)
    failures = [0] * clients
    answered_ok = [0] * clients

    def client(index: int) -> None:
        with requests.Session() as session:
            answered_ok[index] += _post(session, target.url, prepared[index][0])
            start_line.wait()
            for delivery in prepared[index][1:]:
                ok = _post(session, target.url, delivery)
                answered_ok[index] += ok
                failures[index] += not ok

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    start_line.wait(timeout=60)
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=300)
    elapsed = time.perf_counter() - started
    return Throughput(
        requests_per_s=clients * per_client / elapsed,
        failures=sum(failures),
        answered_ok=sum(answered_ok),
    )

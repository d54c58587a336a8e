"""Does reusing pooled connections to Intercom add latency? A measurement script, not a test.

Run: .venv/bin/python bench/keepalive.py
Two routes on one relay: one whose Intercom stand-in keeps connections alive (the relay reuses
them), one whose stand-in closes every connection (a fresh connect per forward). The stand-in
is Python's http.server as it comes, which writes the status/headers and the body in separate
small segments (not relayctl.fake_intercom, which writes each answer at once and so cannot show
what this measures): without the relay's TCP_QUICKACK, the kept-alive route stalls ~40 ms per
forward (Nagle on the server, delayed ACK on the relay). The figures are in docs/relay.md.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from relay_function.naming import RECORDED  # noqa: E402
from relayctl import jam_events  # noqa: E402
from relayctl.local_relay import LocalRelay, relay_env  # noqa: E402

REQUESTS = 400


def stand_in(keep_alive: bool) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            if not keep_alive:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def measure(relay: LocalRelay, workflow_id: str, secret: str) -> list[float]:
    session = requests.Session()
    timings = []
    for i in range(REQUESTS):
        body = jam_events.encode(jam_events.sample_event(RECORDED, f"c{i}"))
        headers = jam_events.signed_headers(secret, body)
        started = time.perf_counter()
        answer = session.post(f"{relay.url}/workflows/{workflow_id}", data=body, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
    return timings[20:]  # drop warm-up


def main() -> None:
    kept, closed = stand_in(keep_alive=True), stand_in(keep_alive=False)
    secret = jam_events.new_signing_secret()
    urls = {
        "kept-alive": f"http://127.0.0.1:{kept.server_port}/hooks/k",
        "fresh-each": f"http://127.0.0.1:{closed.server_port}/hooks/c",
    }
    env = relay_env({key: [RECORDED] for key in urls}, urls, dict.fromkeys(urls, secret))
    with LocalRelay(env) as relay:
        for _ in range(2):  # interleave rounds so machine noise hits both alike
            for workflow_id in urls:
                t = sorted(measure(relay, workflow_id, secret))
                p50, p99 = statistics.median(t), t[int(len(t) * 0.99) - 1]
                print(f"{workflow_id:11s} n={len(t)} p50={p50:.2f} ms p99={p99:.2f} ms")
    kept.shutdown()
    closed.shutdown()


if __name__ == "__main__":
    main()

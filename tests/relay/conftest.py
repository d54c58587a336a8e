"""One relay process for the whole relay suite, served by functions-framework over real HTTP."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

REPO = Path(__file__).resolve().parents[2]
for _path in (REPO, REPO / "relay_function"):  # relay_function: main imports `naming` top-level
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from relay_function.naming import JAM_CREATED, OPTED_OUT, RECORDED  # noqa: E402
from relayctl.local_relay import LocalRelay, free_port, relay_env  # noqa: E402
from tests.relay.harness import (  # noqa: E402
    ALL_EVENTS,
    BAD_SECRET,
    BAD_SECRET_VALUE,
    DRIPPING,
    DRIPS_ON_REUSE,
    DROPPING,
    FORWARD_TIMEOUT_SECONDS,
    HANG_SECONDS,
    INTERCOM_PATH_TOKEN,
    MAIN,
    NO_SECRET,
    NO_URL,
    OLD_SECRET,
    PLAIN_HTTP_REMOTE,
    REFUSED,
    REMOTE_HTTP_URL,
    RESET,
    ROTATING,
    SECRET,
    Suite,
)
from tests.relay.standins import IntercomStandIn, RawIntercom  # noqa: E402


@pytest.fixture(scope="session")
def suite() -> Iterator[Suite]:
    standin = IntercomStandIn(HANG_SECONDS)
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(re.compile(r"/hooks/.*"), method="POST").respond_with_handler(standin)
    server.start()
    reset = RawIntercom("reset").start()
    dropping = RawIntercom("drop_second").start()
    raw = {
        DRIPPING: RawIntercom("drip").start(),
        DRIPS_ON_REUSE: RawIntercom("drip_second").start(),
    }
    refused_port = free_port()
    base = f"http://127.0.0.1:{server.port}/hooks/{INTERCOM_PATH_TOKEN}"
    urls = {
        MAIN: f"{base}/main",
        ALL_EVENTS: f"{base}/all",
        ROTATING: f"{base}/rotating",
        RESET: reset.url,
        DROPPING: dropping.url,
        **{workflow_id: standin.url for workflow_id, standin in raw.items()},
        REFUSED: f"http://127.0.0.1:{refused_port}/hooks/{INTERCOM_PATH_TOKEN}",
        NO_SECRET: f"{base}/no-secret",
        BAD_SECRET: f"{base}/bad-secret",
        PLAIN_HTTP_REMOTE: REMOTE_HTTP_URL,
    }
    secrets = {
        workflow_id: SECRET for workflow_id in urls if workflow_id not in (NO_SECRET, BAD_SECRET)
    }
    secrets[ROTATING] = f"{OLD_SECRET} {SECRET}"
    secrets[BAD_SECRET] = BAD_SECRET_VALUE
    secrets[NO_URL] = SECRET
    recorder_events = [RECORDED, OPTED_OUT]
    routes = dict.fromkeys([*urls, NO_URL], recorder_events)
    routes[MAIN] = [RECORDED]  # opted_out is "not subscribed" here
    routes[ALL_EVENTS] = [RECORDED, OPTED_OUT, JAM_CREATED]
    env = relay_env(routes, urls, secrets)
    env["RELAY_FORWARD_TIMEOUT_SECONDS"] = str(FORWARD_TIMEOUT_SECONDS)
    relay = LocalRelay(env).start()
    try:
        yield Suite(relay, standin, reset, dropping, refused_port, urls, raw)
    finally:
        relay.stop()
        reset.stop()
        dropping.stop()
        for raw_standin in raw.values():
            raw_standin.stop()
        server.clear()
        server.stop()

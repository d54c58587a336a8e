"""One relay process for the whole relay suite, served by functions-framework over real HTTP."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
for _path in (REPO, REPO / "relay_function"):  # relay_function: main imports `naming` top-level
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from relay_function.naming import JAM_CREATED, OPTED_OUT, RECORDED  # noqa: E402
from relayctl.fake_intercom import FakeIntercom  # noqa: E402
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


@pytest.fixture(scope="session")
def suite() -> Iterator[Suite]:
    intercom = FakeIntercom(hang_seconds=HANG_SECONDS).start()
    reset = FakeIntercom(mode="reset").start()
    dropping = FakeIntercom(mode="drop_second").start()
    raw = {
        DRIPPING: FakeIntercom(mode="drip").start(),
        DRIPS_ON_REUSE: FakeIntercom(mode="drip_second").start(),
    }
    refused_port = free_port()
    base = f"{intercom.url}/hooks/{INTERCOM_PATH_TOKEN}"
    urls = {
        MAIN: f"{base}/main",
        ALL_EVENTS: f"{base}/all",
        ROTATING: f"{base}/rotating",
        RESET: reset.url_for("raw"),
        DROPPING: dropping.url_for("raw"),
        **{workflow_id: standin.url_for("raw") for workflow_id, standin in raw.items()},
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
        yield Suite(relay, intercom, reset, dropping, refused_port, urls, raw)
    finally:
        relay.stop()
        for standin in (intercom, reset, dropping, *raw.values()):
            standin.stop()

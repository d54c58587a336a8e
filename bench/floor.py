"""The floor: the obvious naive relay, with no verification at all.

Served by functions-framework exactly like the relay (both started by relayctl.local_relay). It
forwards the raw body to ``FLOOR_FORWARD_URL`` with a fresh ``requests.post`` per request (no
session, so a new TCP and, over HTTPS, a new TLS connection each time) and answers with
Intercom's status. Anything the relay does beyond this (signature check, parsing, routing,
logging, connection reuse) shows up as the difference between the two.
"""

from __future__ import annotations

import os

import flask
import requests

FORWARD_URL_ENV = "FLOOR_FORWARD_URL"


def floor(request: flask.Request) -> tuple[str, int]:
    if request.method == "GET":  # the launcher's readiness probe; never forwarded
        return "ok", 200
    forwarded = requests.post(
        os.environ[FORWARD_URL_ENV],
        data=request.get_data(),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    return "", forwarded.status_code

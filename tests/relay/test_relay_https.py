"""Forwarding over HTTPS to a self-signed Intercom stand-in: trusted via RELAY_CA_BUNDLE only."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from relay_function.naming import RECORDED
from relayctl.fake_intercom import FakeIntercom
from relayctl.local_relay import LocalRelay, relay_env
from tests.relay.harness import SECRET, Suite, new_conversation_id, new_event

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def https_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Suite, Suite]]:
    """(trusting relay, non-trusting relay) in front of one HTTPS stand-in."""
    cert, key = _self_signed(tmp_path_factory.mktemp("tls"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    standin = FakeIntercom(tls_context=context, hang_seconds=0).start()
    routes = {"tls": [RECORDED]}
    env = relay_env(routes, {"tls": standin.url_for("tls")}, {"tls": SECRET})
    trusting = LocalRelay({**env, "RELAY_CA_BUNDLE": str(cert)}).start()
    distrusting = LocalRelay(env).start()
    try:
        yield (
            Suite(trusting, standin, None, None, 0, {}),  # type: ignore[arg-type]
            Suite(distrusting, standin, None, None, 0, {}),  # type: ignore[arg-type]
        )
    finally:
        trusting.stop()
        distrusting.stop()
        standin.stop()


def test_trusted_self_signed_intercom_receives_the_event(https_relay: tuple[Suite, Suite]) -> None:
    trusting, _ = https_relay
    conversation_ids = [new_conversation_id() for _ in range(3)]

    answers = [trusting.send_event("tls", new_event(RECORDED, c)) for c in conversation_ids]

    assert [a.status_code for a in answers] == [200, 200, 200]
    for conversation_id in conversation_ids:
        assert len(trusting.intercom.received(conversation_id)) == 1


def test_untrusted_certificate_is_502_and_not_a_leak(https_relay: tuple[Suite, Suite]) -> None:
    _, distrusting = https_relay
    conversation_id = new_conversation_id()

    answer = distrusting.send_event("tls", new_event(RECORDED, conversation_id))

    assert (answer.status_code, answer.json()["outcome"]) == (502, "failed")
    assert distrusting.intercom.received(conversation_id) == []
    assert "/hooks/tls" not in distrusting.relay.output()
    assert "127.0.0.1" not in answer.text

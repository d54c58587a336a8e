"""A throwaway self-signed certificate for the HTTPS Intercom stand-in.

Generated at run time with the ``openssl`` CLI (no extra Python package needed). The key is RSA
2048, what most public APIs still serve, so a handshake costs what a real one costs.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsFiles:
    cert: Path  # also the CA bundle clients are told to trust: it is self-signed
    key: Path


class TlsUnavailableError(Exception):
    """No way to make a certificate on this machine: the HTTPS half is skipped."""


def make_self_signed_cert(directory: Path) -> TlsFiles:
    """Write a one-day certificate for 127.0.0.1 and localhost into ``directory``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TlsUnavailableError("the openssl CLI is not installed")
    files = TlsFiles(cert=directory / "standin-cert.pem", key=directory / "standin-key.pem")
    command = [
        openssl,
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout",
        str(files.key),
        "-out",
        str(files.cert),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise TlsUnavailableError(f"openssl failed: {result.stderr.strip()[:200]}")
    return files

"""Configuration: read once from the environment at import, every problem collected, none raised.

A broken route is reported once (by the handler, in the log, with its fix) and answers 503; it
never stops the other routes. The variables are documented in docs/relay.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import ssl
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from naming import (
    DEFAULT_EVENTS,
    KNOWN_EVENTS,
    ROUTES_ENV,
    SERVICE_NAME_ENV,
    host_problem,
    intercom_url_env,
    is_loopback_host,
    is_valid_workflow_id,
    signing_secret_env,
)

MAX_BODY_ENV = "RELAY_MAX_BODY_BYTES"
FORWARD_TIMEOUT_ENV = "RELAY_FORWARD_TIMEOUT_SECONDS"
CA_BUNDLE_ENV = "RELAY_CA_BUNDLE"
DEFAULT_MAX_BODY_BYTES = 64 * 1024
# Jam gives up after 15 s; the whole forward (connect, TLS, answer) fits in this.
DEFAULT_FORWARD_TIMEOUT_SECONDS = 8.0
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


# NamedTuples, not dataclasses: they are built at import, which is the cold start, and a
# NamedTuple class costs about 0.1 ms to create against 0.66 ms for a frozen dataclass
# (measured on the benchmark machine); both are immutable and typed.


class IntercomTarget(NamedTuple):
    """Where a workflow's events go. Never logged, never in an exception message."""

    scheme: str
    host: str
    port: int
    base_path: str  # without trailing slash

    def __repr__(self) -> str:
        return "IntercomTarget(<redacted>)"


class Route(NamedTuple):
    workflow_id: str
    events: frozenset[str]
    target: IntercomTarget | None
    keys: tuple[bytes, ...]

    def __repr__(self) -> str:  # never the target or the keys
        return f"Route({self.workflow_id!r}, events={sorted(self.events)!r})"


class ConfigProblem(NamedTuple):
    workflow_id: str | None
    message: str  # says the fix; never contains the value


class Config(NamedTuple):
    routes: Mapping[str, Route]
    max_body_bytes: int
    forward_timeout: float
    problems: tuple[ConfigProblem, ...]
    ca_bundle: str | None = None  # checked at start-up; None: system CAs only
    service_name: str | None = None  # K_SERVICE: routes also answer under /<service_name>/


def parse_intercom_url(url: str) -> IntercomTarget:
    """Raise ValueError (with a value-free message) unless ``url`` is a usable base URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError("is not a valid URL") from None
    host = parts.hostname or ""
    if not host:
        raise ValueError("has no host")
    if (broken := host_problem(host)) is not None:
        # Else the IDNA encoding at connect time fails on every forward (e.g. "a..b").
        raise ValueError(f"has an invalid host name: {broken}")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ValueError("must use https (plain http is allowed only for loopback hosts)")
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an https:// URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must not carry a query, fragment or credentials")
    if any(ch.isspace() or ord(ch) < 0x21 or ord(ch) > 0x7E for ch in parts.path):
        raise ValueError("has spaces or non-ASCII characters in its path")
    default_port = 443 if parts.scheme == "https" else 80
    return IntercomTarget(parts.scheme, host, port or default_port, parts.path.rstrip("/"))


def parse_signing_secrets(value: str) -> tuple[bytes, ...]:
    """``whsec_<base64>`` secrets, space-separated; ValueError names the position, not the value."""
    keys = []
    for position, secret in enumerate(value.split(), start=1):
        if not secret.startswith(SECRET_PREFIX):
            raise ValueError(f"secret #{position} does not start with {SECRET_PREFIX}")
        try:
            key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"secret #{position} is not base64 after {SECRET_PREFIX}") from None
        if not key:
            raise ValueError(f"secret #{position} is empty")
        keys.append(key)
    if not keys:
        raise ValueError("is empty")
    return tuple(keys)


def _parse_routes_json(raw: str | None, problems: list[ConfigProblem]) -> dict[str, list[str]]:
    fix = f"set {ROUTES_ENV} to a JSON object: workflow id -> {{'events': [...]}}"
    if raw is None or not raw.strip():
        problems.append(ConfigProblem(None, f"{ROUTES_ENV} is not set; no route is served: {fix}"))
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError:
        problems.append(ConfigProblem(None, f"{ROUTES_ENV} is not valid JSON: {fix}"))
        return {}
    if not isinstance(decoded, dict):
        problems.append(ConfigProblem(None, f"{ROUTES_ENV} is not a JSON object: {fix}"))
        return {}
    routes: dict[str, list[str]] = {}
    for workflow_id, spec in decoded.items():
        if not is_valid_workflow_id(workflow_id):
            problems.append(
                ConfigProblem(
                    None,
                    f"{ROUTES_ENV} has an invalid workflow id (want [a-z][a-z0-9-]*, at most 40 "
                    "characters, no trailing hyphen); that route is skipped",
                )
            )
            continue
        events = spec.get("events", list(DEFAULT_EVENTS)) if isinstance(spec, dict) else None
        if (
            not isinstance(events, list)
            or not events
            or not all(isinstance(e, str) and e in KNOWN_EVENTS for e in events)
        ):
            problems.append(
                ConfigProblem(
                    workflow_id,
                    f"{ROUTES_ENV} entry needs 'events': a non-empty list from "
                    f"{', '.join(KNOWN_EVENTS)}; using the default {', '.join(DEFAULT_EVENTS)}",
                )
            )
            events = list(DEFAULT_EVENTS)
        routes[workflow_id] = events
    return routes


def _positive_number(
    env: Mapping[str, str], name: str, default: float, problems: list[ConfigProblem]
) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        problems.append(ConfigProblem(None, f"{name} must be a positive number; using {default}"))
        return default
    return value


def _ca_bundle(env: Mapping[str, str], problems: list[ConfigProblem]) -> str | None:
    """RELAY_CA_BUNDLE if it is a readable file of PEM certificates; else None, said once."""
    path = env.get(CA_BUNDLE_ENV, "").strip()
    if not path:
        return None
    try:
        # A bare context: loads only this file, not the system store (cheap at import).
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except (OSError, ValueError):  # ssl.SSLError is an OSError
        problems.append(
            ConfigProblem(
                None,
                f"{CA_BUNDLE_ENV} is not a readable file of PEM CA certificates: fix or unset "
                "it; until then only the system CAs are trusted",
            )
        )
        return None
    return path


def load_config(env: Mapping[str, str]) -> Config:
    """Read the whole configuration; every problem is collected, none raises."""
    problems: list[ConfigProblem] = []
    routes: dict[str, Route] = {}
    for workflow_id, events in _parse_routes_json(env.get(ROUTES_ENV), problems).items():
        target: IntercomTarget | None = None
        url_name = intercom_url_env(workflow_id)
        url = env.get(url_name, "")
        if not url.strip():
            problems.append(
                ConfigProblem(workflow_id, f"{url_name} is not set: set it to the Intercom URL")
            )
        else:
            try:
                target = parse_intercom_url(url)
            except ValueError as why:
                problems.append(
                    ConfigProblem(workflow_id, f"{url_name} {why}: set it to the workflow's URL")
                )
        keys: tuple[bytes, ...] = ()
        secret_name = signing_secret_env(workflow_id)
        secrets = env.get(secret_name, "")
        if not secrets.strip():
            problems.append(
                ConfigProblem(
                    workflow_id,
                    f"{secret_name} is not set: store the signing secret Jam shows for this "
                    "endpoint (whsec_...); until then the route answers 503",
                )
            )
        else:
            try:
                keys = parse_signing_secrets(secrets)
            except ValueError as why:
                problems.append(
                    ConfigProblem(
                        workflow_id,
                        f"{secret_name} {why}: copy the secret exactly as Jam shows it "
                        "(whsec_..., space-separated); until then the route answers 503",
                    )
                )
        routes[workflow_id] = Route(workflow_id, frozenset(events), target, keys)
    max_body = _positive_number(env, MAX_BODY_ENV, DEFAULT_MAX_BODY_BYTES, problems)
    timeout = _positive_number(env, FORWARD_TIMEOUT_ENV, DEFAULT_FORWARD_TIMEOUT_SECONDS, problems)
    ca_bundle = _ca_bundle(env, problems)
    service_name = env.get(SERVICE_NAME_ENV, "").strip() or None
    return Config(routes, int(max_body), timeout, tuple(problems), ca_bundle, service_name)

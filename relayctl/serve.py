"""``relayctl serve``: the relay on 127.0.0.1 with your own secrets, until Ctrl-C.

For trying a real Intercom workspace (and a real Jam endpoint, through a tunnel) before deploying.
"""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from infra.intercom_url import intercom_url_problem
from infra.workflows import ConfigRef, Workflow
from relay_function.naming import intercom_url_env, is_loopback_host, signing_secret_env
from relayctl.common import DEFAULT_SECRETS_FILE, EXIT_FAILED, EXIT_OK, load_or_fail, usage_error
from relayctl.local_relay import LocalRelay, RelayStartError, relay_env
from relayctl.secrets_file import SecretSource

POLL_SECONDS = 0.2


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM (a service manager, a test) stops like Ctrl-C


def local_url_problem(url: str) -> str | None:
    """The loader's message for an Intercom URL, or None; plain http is fine on loopback.

    The relay accepts http:// for a loopback stand-in (a local fake Intercom), so such a URL is
    judged as its https:// twin: every other rule (the placeholder left in, spaces) still holds.
    """
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        host = None
    if url.strip().lower().startswith("http://") and is_loopback_host(host):
        url = "https://" + url.strip()[len("http://") :]
    return intercom_url_problem(url)


def _url_names(workflow: Workflow) -> str:
    names = [intercom_url_env(workflow.id)]
    if isinstance(workflow.intercom_webhook_url, ConfigRef):
        names.append(workflow.intercom_webhook_url.key)
    return " or ".join(names)


def run(args: argparse.Namespace) -> int:
    print(f"workflows from: {args.file}")
    workflows = load_or_fail(Path(args.file)).workflows
    secrets_path = Path(args.secrets_file or DEFAULT_SECRETS_FILE)
    if args.secrets_file and not secrets_path.is_file():
        raise usage_error(f"--secrets-file {secrets_path}: no such file.")
    source = SecretSource.load(secrets_path if secrets_path.is_file() else None)
    print(
        f"secrets from: environment, then {secrets_path}"
        + ("" if secrets_path.is_file() else " (not present)")
    )

    urls: dict[str, str] = {}
    signing: dict[str, str] = {}
    for workflow in workflows:
        url = source.intercom_url(workflow)
        secret = source.signing_secret(workflow.id, workflow.jam_signing_secret)
        if url is not None:
            urls[workflow.id] = url
        if secret is not None:
            signing[workflow.id] = secret
    env = relay_env({w.id: w.events for w in workflows}, urls, signing)

    try:
        relay = LocalRelay(env, port=args.port).start()
    except RelayStartError as exc:
        print(f"failed: the relay did not start (is port {args.port} free?).\n{exc}")
        return EXIT_FAILED
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        print(f"relay listening on {relay.url}  (health: {relay.url}/health)")
        for workflow in workflows:
            print(f"  {workflow.id}: POST {relay.url}{workflow.route_path}")
            if workflow.id not in urls:
                print(f"    missing Intercom URL: set {intercom_url_env(workflow.id)}")
            elif (problem := local_url_problem(urls[workflow.id])) is not None:
                # The relay's own log would only say which rule failed; this says the fix.
                print(f"    Intercom URL ({_url_names(workflow)}) is not usable: {problem}")
            if workflow.id not in signing:
                print(
                    f"    missing signing secret: set {signing_secret_env(workflow.id)} "
                    "(until then this route answers 503)"
                )
        print("Expose it with a tunnel to register it in Jam. Ctrl-C stops. Relay log:")
        shown = 0
        while relay.running:
            output = relay.output()
            print(output[shown:], end="", flush=True)
            shown = len(output)
            time.sleep(POLL_SECONDS)
        print(relay.output()[shown:], end="")
        print("failed: the relay stopped by itself (see its log above).")
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\nstopping the relay")
        return EXIT_OK
    finally:
        relay.stop()

"""The relay's answers: one exception class per early answer, with its status and log outcome.

Raised anywhere in verification, parsing, configuration or forwarding; the handler (``main``)
turns each into the JSON answer and the request's one log line. ``str()`` is safe to log and
to send back: it never holds a secret.
"""

from __future__ import annotations


class RelayAnswer(Exception):  # noqa: N818 (an answer, not an error)
    """An answer that ends a request early. ``str()`` is safe to log and to send back."""

    status = 500
    outcome = "error"
    severity = "WARNING"


class UnknownRoute(RelayAnswer):
    status, outcome = 404, "unknown_route"


class MethodNotAllowed(RelayAnswer):
    status, outcome = 405, "method_not_allowed"


class NotConfigured(RelayAnswer):
    status, outcome, severity = 503, "not_configured", "ERROR"


class TooLarge(RelayAnswer):
    status, outcome = 413, "too_large"


class SignatureRejected(RelayAnswer):
    status, outcome = 401, "signature_rejected"


class BadRequest(RelayAnswer):
    """Signed, but the body is not a JSON object."""

    status, outcome = 400, "bad_request"


class InvalidEvent(BadRequest):
    """Signed JSON object that is not a valid Jam event (``type``, ``data``, conversation id)."""

    status = 422


class ForwardFailed(RelayAnswer):
    """Intercom unreachable, timed out, 5xx, 408 or 429: Jam should retry."""

    status, outcome, severity = 502, "failed", "ERROR"

    def __init__(self, message: str, intercom_status: int | None = None) -> None:
        super().__init__(message)
        self.intercom_status = intercom_status

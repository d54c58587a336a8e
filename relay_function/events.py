"""A verified body as a Jam event, and what Intercom's "Wait for webhook" step receives from it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from answers import BadRequest, InvalidEvent
from naming import CONVERSATION_ID_RE

# Fixed namespace: Idempotency-Key = uuid5(namespace, "<workflow id>:<Jam message id>").
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f2b5d1e-3c4a-5b8e-9d7f-1a2b3c4d5e6f")
# Jam events nest a few levels. Parsing and re-serialising recurse once per level, so a deeper
# body (possible well within the size limit) is refused as a bad request before either can
# hit Python's recursion limit (a RecursionError in json.dumps answered 500 at depth 975).
MAX_JSON_DEPTH = 64


class JamEvent(NamedTuple):  # a NamedTuple: cheaper to create at import (configuration.py)
    event_id: str | None
    type: str
    data: dict[str, Any]
    conversation_id: str | None  # validated; None only when absent


def _conversation_id(value: object) -> str | None:
    if value is None or value == "":  # absent, null or empty: no conversation
        return None
    # bool is an int subclass; True must not become "True".
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidEvent("data.conversationId must be a string or an integer")
    text = str(value)
    if CONVERSATION_ID_RE.fullmatch(text) is None:
        raise InvalidEvent("data.conversationId must be 1-64 characters from [A-Za-z0-9_-]")
    return text


def valid_conversation_id(document: Mapping[str, Any]) -> str | None:
    """``data.conversationId`` if the event has a valid one, else None (never raises)."""
    data = document.get("data")
    if not isinstance(data, dict):
        return None
    try:
        return _conversation_id(data.get("conversationId"))
    except InvalidEvent:
        return None


def _finite_float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):  # 1e999 parses to inf
        raise BadRequest("body has a non-finite number (NaN or Infinity are not JSON)")
    return value


def _reject_constant(name: str) -> float:
    raise BadRequest("body has a non-finite number (NaN or Infinity are not JSON)")


def decode_object(body: bytes) -> dict[str, Any]:
    """The verified body as a JSON object of finite numbers, or BadRequest."""
    too_deep = f"body nests JSON deeper than {MAX_JSON_DEPTH} levels"
    try:
        decoded = json.loads(
            body.decode("utf-8"), parse_float=_finite_float, parse_constant=_reject_constant
        )
    except RecursionError:
        raise BadRequest(too_deep) from None
    except ValueError:
        raise BadRequest("body is not UTF-8 JSON") from None
    if not isinstance(decoded, dict):
        raise BadRequest("body is not a JSON object")
    if not _nests_at_most(decoded, MAX_JSON_DEPTH):
        raise BadRequest(too_deep)
    return decoded


def _nests_at_most(document: object, limit: int) -> bool:
    """Whether objects and arrays nest at most ``limit`` levels (iterative: no recursion)."""
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return False
        children = value.values() if isinstance(value, dict) else value
        assert isinstance(children, Iterable)  # only dicts and lists are pushed
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def event_type_of(document: Mapping[str, Any]) -> str:
    event_type = document.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidEvent("'type' must be a non-empty string")
    return event_type


def event_from(document: Mapping[str, Any], event_type: str) -> JamEvent:
    """The rest of the event (``data``, ``id``, conversation id), or InvalidEvent."""
    data = document.get("data")
    if not isinstance(data, dict):
        raise InvalidEvent("'data' must be an object")
    event_id = document.get("id")
    if event_id is not None and not isinstance(event_id, str):
        raise InvalidEvent("'id' must be a string")
    return JamEvent(event_id, event_type, data, _conversation_id(data.get("conversationId")))


def intercom_body(event: JamEvent) -> bytes:
    """What Fin's "Wait for webhook" step receives: the Jam data plus the Jam event id."""
    payload = dict(event.data)
    payload["jamEventId"] = event.event_id
    document = {"event": event.type, "payload": payload}
    # allow_nan=False: parsing already refused non-finite numbers; never send invalid JSON.
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


def idempotency_key(workflow_id: str, message_id: str) -> str:
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{workflow_id}:{message_id}"))

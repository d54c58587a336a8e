"""main.py in-process: every answer's exact status, outcome and message, its one log line, and
the body read at its exact limits.

The handler is called with a Werkzeug request, as functions-framework calls it; the forward to
Intercom is replaced by a stand-in that records its arguments and answers a scripted status
(forwarding.py has its own tests, over loopback). What only the server does (framing, client
connections, the framework's own 404s) is tested over HTTP in the other files.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import configuration  # type: ignore[import-not-found]
import flask

# relay_function/ is on sys.path (conftest), as in the cloud; mypy checks that folder on its own.
import main as relay_main  # type: ignore[import-not-found]
import pytest
from answers import BadRequest, ForwardFailed, TooLarge  # type: ignore[import-not-found]
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder

from relay_function.naming import JAM_CREATED, OPTED_OUT, RECORDED
from relayctl import jam_events
from tests.relay.harness import SECRET

SERVICE = "jam-fin-relay-dev"
LIMIT = 4096
FORWARD_TIMEOUT = 2.5
ROUTES = {
    "main": {"events": [RECORDED]},
    "all": {"events": [RECORDED, OPTED_OUT, JAM_CREATED]},
    "no-secret": {},
    "no-url": {},
}
ENV = {
    "RELAY_ROUTES": json.dumps(ROUTES),
    "INTERCOM_WEBHOOK_URL__MAIN": "https://intercom.example.com/hooks/main",
    "INTERCOM_WEBHOOK_URL__ALL": "https://intercom.example.com/hooks/all",
    "INTERCOM_WEBHOOK_URL__NO_SECRET": "https://intercom.example.com/hooks/no-secret",
    "JAM_SIGNING_SECRET__MAIN": SECRET,
    "JAM_SIGNING_SECRET__ALL": SECRET,
    "JAM_SIGNING_SECRET__NO_URL": SECRET,
    "RELAY_MAX_BODY_BYTES": str(LIMIT),
    "RELAY_FORWARD_TIMEOUT_SECONDS": str(FORWARD_TIMEOUT),
    "K_SERVICE": SERVICE,
}
NO_SECRET_FIX = (
    "this route's signing secret is not configured: store the secret Jam shows for this "
    "endpoint in the workflow's jam_signing_secret config key, then deploy again"
)
NO_URL_FIX = (
    "this route's Intercom URL is missing or invalid: store the workflow's Wait for webhook URL "
    "in its intercom_webhook_url config key, then deploy again"
)
UNREADABLE = "body could not be read (broken framing, or ended early)"


class Intercom:
    """Stands in for ``forwarding.forward``: records each call, answers the next status."""

    def __init__(self) -> None:
        self.answers: list[int | ForwardFailed] = []
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any) -> int:
        self.calls.append(args)
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, ForwardFailed):
            raise answer
        return answer


@pytest.fixture
def intercom(monkeypatch: pytest.MonkeyPatch) -> Intercom:
    standin = Intercom()
    monkeypatch.setattr(relay_main, "CONFIG", configuration.load_config(ENV))
    monkeypatch.setattr(relay_main, "forward", standin)
    return standin


class Answered:
    def __init__(self, response: flask.Response, output: str) -> None:
        self.status = response.status_code
        self.headers = response.headers
        self.body = b"".join(response.response)  # type: ignore[arg-type]
        self.document = json.loads(self.body)
        self.lines: list[dict[str, Any]] = [json.loads(line) for line in output.splitlines()]
        self.output = output

    @property
    def line(self) -> dict[str, Any]:
        [line] = self.lines
        return line


def request(
    path: str, method: str = "POST", body: bytes = b"", headers: dict[str, str] | None = None
) -> flask.Request:
    environ = EnvironBuilder(
        path=path, method=method, data=body, headers=Headers(headers or {})
    ).get_environ()
    return flask.Request(environ)


def call(capsys: pytest.CaptureFixture[str], req: flask.Request) -> Answered:
    capsys.readouterr()
    response = relay_main.relay(req)
    return Answered(response, capsys.readouterr().out)


def signed(path: str, event: dict[str, Any], message_id: str = "msg_1") -> flask.Request:
    body = jam_events.encode(event)
    return request(
        path, body=body, headers=jam_events.signed_headers(SECRET, body, message_id=message_id)
    )


def event(event_type: str = RECORDED, data: Any = None) -> dict[str, Any]:
    return {
        "id": "evt_1",
        "type": event_type,
        "data": {"conversationId": "c1"} if data is None else data,
    }


def outcome(answered: Answered) -> tuple[int, str, str]:
    assert answered.document == {
        "outcome": answered.line["outcome"],
        "message": answered.line["message"],
    }
    return answered.status, answered.document["outcome"], answered.document["message"]


# Every row of the answer table, with its exact message (the answer's and the log line's).


@pytest.mark.parametrize(
    ("req", "expected"),
    [
        (lambda: request("/workflows/nope"), (404, "unknown_route", "no such route")),
        (lambda: request("/"), (404, "unknown_route", "no such route")),
        (lambda: request("/workflows/main/"), (404, "unknown_route", "no such route")),
        (lambda: request("/workflows/no-secret"), (503, "not_configured", NO_SECRET_FIX)),
        (
            lambda: request("/workflows/main", body=b"x" * (LIMIT + 1)),
            (413, "too_large", f"body over {LIMIT} bytes"),
        ),
        (
            lambda: request("/workflows/main", body=b"{}"),
            (401, "signature_rejected", "missing signature headers (svix-* or webhook-* set)"),
        ),
        (
            lambda: request(
                "/workflows/main", body=b"[]", headers=jam_events.signed_headers(SECRET, b"[]")
            ),
            (400, "bad_request", "body is not a JSON object"),
        ),
        (
            lambda: signed("/workflows/main", {"data": {}}),
            (422, "bad_request", "'type' must be a non-empty string"),
        ),
        (
            lambda: signed("/workflows/main", event(OPTED_OUT)),
            (200, "ignored", "event type not subscribed on this route"),
        ),
        (
            lambda: signed("/workflows/main", event(data=[])),
            (422, "bad_request", "'data' must be an object"),
        ),
        (
            lambda: signed("/workflows/all", event(JAM_CREATED, data={})),
            (200, "ignored", "jam.created without a conversation"),
        ),
        (
            lambda: signed("/workflows/main", event(data={"jamId": "j1"})),
            (422, "bad_request", "data.conversationId is required"),
        ),
        (lambda: signed("/workflows/no-url", event()), (503, "not_configured", NO_URL_FIX)),
        (lambda: signed("/workflows/main", event()), (200, "delivered", "delivered to Intercom")),
    ],
    ids=[
        "unknown",
        "root",
        "trailing-slash",
        "no-secret",
        "too-large",
        "unsigned",
        "not-an-object",
        "no-type",
        "unsubscribed",
        "bad-data",
        "jam-created-alone",
        "no-conversation",
        "no-url",
        "delivered",
    ],
)
def test_each_answer_has_its_status_outcome_and_message(
    intercom: Intercom, capsys: pytest.CaptureFixture[str], req: Any, expected: tuple[int, str, str]
) -> None:
    assert outcome(call(capsys, req())) == expected


def test_another_method_on_a_route_is_405_with_allow_post(
    intercom: Intercom, capsys: pytest.CaptureFixture[str]
) -> None:
    answered = call(capsys, request("/workflows/main", method="PUT"))

    assert outcome(answered) == (405, "method_not_allowed", "use POST")
    assert answered.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (101, (502, "failed", "Intercom answered 101")),
        (199, (502, "failed", "Intercom answered 199")),
        (200, (200, "delivered", "delivered to Intercom")),
        (299, (200, "delivered", "delivered to Intercom")),
        (300, (502, "failed", "Intercom answered 300")),
        (399, (502, "failed", "Intercom answered 399")),
        (
            400,
            (
                200,
                "refused_by_intercom",
                "Intercom refused the event permanently (400); not retried",
            ),
        ),
        (
            407,
            (
                200,
                "refused_by_intercom",
                "Intercom refused the event permanently (407); not retried",
            ),
        ),
        (408, (502, "failed", "Intercom answered 408")),
        (
            409,
            (
                200,
                "refused_by_intercom",
                "Intercom refused the event permanently (409); not retried",
            ),
        ),
        (
            428,
            (
                200,
                "refused_by_intercom",
                "Intercom refused the event permanently (428); not retried",
            ),
        ),
        (429, (502, "failed", "Intercom answered 429")),
        (
            430,
            (
                200,
                "refused_by_intercom",
                "Intercom refused the event permanently (430); not retried",
            ),
        ),
        (
            499,
            (
                200,
                "refused_by_intercom",
                "Intercom refused the event permanently (499); not retried",
            ),
        ),
        (500, (502, "failed", "Intercom answered 500")),
        (599, (502, "failed", "Intercom answered 599")),
    ],
)
def test_intercoms_status_at_each_edge_of_the_answer_table(
    intercom: Intercom,
    capsys: pytest.CaptureFixture[str],
    status: int,
    answer: tuple[int, str, str],
) -> None:
    intercom.answers.append(status)

    answered = call(capsys, signed("/workflows/main", event()))

    assert outcome(answered) == answer
    assert answered.line["intercom_status"] == status
    assert answered.line["severity"] == ("INFO" if answer[1] == "delivered" else "ERROR")


def test_a_failed_forward_is_502_with_its_reason_and_no_status(
    intercom: Intercom, capsys: pytest.CaptureFixture[str]
) -> None:
    intercom.answers.append(ForwardFailed("Intercom did not answer in time"))

    answered = call(capsys, signed("/workflows/main", event()))

    assert outcome(answered) == (502, "failed", "Intercom did not answer in time")
    assert "intercom_status" not in answered.line
    assert answered.line["severity"] == "ERROR"


def test_the_forward_gets_the_route_the_event_the_message_id_and_the_timeout(
    intercom: Intercom, capsys: pytest.CaptureFixture[str]
) -> None:
    call(
        capsys,
        signed("/workflows/main", event(data={"conversationId": 42, "jamId": "j1"}), "msg_7"),
    )

    [(forwarder, route, sent, message_id, timeout)] = intercom.calls
    assert forwarder is relay_main.FORWARDER
    assert route is relay_main.CONFIG.routes["main"]
    assert sent == (
        "evt_1",
        RECORDED,
        {"conversationId": 42, "jamId": "j1"},
        "42",
    )
    assert (message_id, timeout) == ("msg_7", FORWARD_TIMEOUT)


# The log line.


def test_a_delivery_logs_every_field_once(
    intercom: Intercom, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter([100.0, 100.01234])
    monkeypatch.setattr(relay_main.time, "perf_counter", lambda: next(clock))
    intercom.answers.append(202)

    answered = call(capsys, signed("/workflows/main", event(), "msg_9"))

    assert answered.line == {
        "severity": "INFO",
        "message": "delivered to Intercom",
        "workflow_id": "main",
        "jam_message_id": "msg_9",
        "event_type": RECORDED,
        "conversation_id": "c1",
        "outcome": "delivered",
        "intercom_status": 202,
        "latency_ms": 12.3,
    }


@pytest.mark.parametrize(
    ("path", "sent", "message"),
    [
        (
            "/workflows/all",
            event(JAM_CREATED, data={"conversationId": None}),
            "jam.created without a conversation",
        ),
        ("/workflows/main", event(OPTED_OUT), "event type not subscribed on this route"),
    ],
    ids=["jam-created-alone", "unsubscribed"],
)
def test_an_ignored_event_is_logged_with_its_context(
    intercom: Intercom,
    capsys: pytest.CaptureFixture[str],
    path: str,
    sent: dict[str, Any],
    message: str,
) -> None:
    answered = call(capsys, signed(path, sent, "msg_3"))
    line = answered.line
    del line["latency_ms"]

    expected = {
        "severity": "INFO",
        "message": message,
        "workflow_id": path.rsplit("/", 1)[1],
        "jam_message_id": "msg_3",
        "event_type": sent["type"],
        "outcome": "ignored",
    }
    if sent["data"].get("conversationId"):
        expected["conversation_id"] = sent["data"]["conversationId"]
    assert line == expected
    assert intercom.calls == []


def test_a_route_refused_before_verification_logs_only_its_workflow(
    intercom: Intercom, capsys: pytest.CaptureFixture[str]
) -> None:
    line = call(capsys, request("/workflows/no-secret")).line
    del line["latency_ms"]

    assert line == {
        "severity": "ERROR",
        "message": NO_SECRET_FIX,
        "workflow_id": "no-secret",
        "outcome": "not_configured",
    }


def test_an_unknown_route_logs_a_warning_without_a_workflow(
    intercom: Intercom, capsys: pytest.CaptureFixture[str]
) -> None:
    line = call(capsys, request("/workflows/nope")).line
    del line["latency_ms"]

    assert line == {"severity": "WARNING", "message": "no such route", "outcome": "unknown_route"}


def test_log_lines_are_ascii(intercom: Intercom, capsys: pytest.CaptureFixture[str]) -> None:
    """Non-ASCII text from the event is escaped: one line of ASCII, whatever the reader."""
    answered = call(capsys, signed("/workflows/main", event("jam.cr\u00e9\u00e9")))

    assert answered.output.isascii()
    assert '"event_type":"jam.cr\\u00e9\\u00e9"' in answered.output
    assert answered.line["event_type"] == "jam.cr\u00e9\u00e9"


def test_a_log_line_is_compact_json_without_empty_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    relay_main.log("INFO", "m\u00e9", workflow_id="a", jam_message_id=None, latency_ms=1.5)

    assert (
        capsys.readouterr().out
        == '{"severity":"INFO","message":"m\\u00e9","workflow_id":"a","latency_ms":1.5}\n'
    )


def test_a_field_json_cannot_encode_is_logged_as_its_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    relay_main.log("INFO", "m", outcome=configuration.ConfigProblem)

    assert json.loads(capsys.readouterr().out)["outcome"] == str(configuration.ConfigProblem)


def test_an_internal_error_names_only_the_exception_class(
    intercom: Intercom, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> object:
        raise KeyError("whsec_secret-value")

    monkeypatch.setattr(relay_main, "handle", broken)

    answered = call(capsys, request("/workflows/main"))

    assert outcome(answered) == (500, "error", "internal error (KeyError)")
    assert answered.line["severity"] == "ERROR"
    assert answered.line["workflow_id"] == "main"
    assert "whsec_" not in answered.output


# /health, under both path forms.


@pytest.mark.parametrize("path", ["/health", f"/{SERVICE}/health"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_health_answers_ok_and_the_route_count_without_a_log_line(
    intercom: Intercom, capsys: pytest.CaptureFixture[str], path: str, method: str
) -> None:
    capsys.readouterr()
    response = relay_main.relay(request(path, method=method))

    assert response.status_code == 200
    assert json.loads(b"".join(response.response)) == {"status": "ok", "routes": 4}
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_health_refuses_other_methods(
    intercom: Intercom, capsys: pytest.CaptureFixture[str], method: str
) -> None:
    capsys.readouterr()
    response = relay_main.relay(request("/health", method=method))

    assert response.status_code == 405
    assert json.loads(b"".join(response.response)) == {
        "outcome": "method_not_allowed",
        "message": "use GET",
    }
    assert capsys.readouterr().out == ""


def test_an_answer_is_streamed_json_with_its_length() -> None:
    """Streamed: functions-framework's after_request hook then never reads the request body."""
    response = relay_main._json_response(418, {"outcome": "x", "message": "\u00e9"})
    body = b"".join(response.response)

    assert response.is_streamed
    assert (response.status_code, response.mimetype) == (418, "application/json")
    assert response.headers["Content-Length"] == str(len(body))
    assert json.loads(body) == {"outcome": "x", "message": "\u00e9"}


# The body, read at its exact limits.


class Pieces(io.RawIOBase):
    """A request body the server hands over a few bytes per read (as a chunked one is)."""

    def __init__(self, data: bytes, size: int = 7, error: BaseException | None = None) -> None:
        self.data, self.size, self.error = data, size, error
        self.reads: list[int] = []

    def read(self, limit: int = -1) -> bytes:
        self.reads.append(limit)
        if not self.data and self.error is not None:
            raise self.error
        piece, self.data = self.data[: min(self.size, limit)], self.data[min(self.size, limit) :]
        return piece


def streamed(
    stream: Any, declared: int | None = None, coding: str | None = "chunked"
) -> flask.Request:
    """A request as gunicorn hands it over: the stream is the server's (wsgi.input_terminated)."""
    headers = {"Transfer-Encoding": coding} if coding is not None else {}
    environ = EnvironBuilder(
        path="/workflows/main", method="POST", headers=Headers(headers)
    ).get_environ()
    environ["wsgi.input"] = stream
    environ["wsgi.input_terminated"] = True
    environ.pop("CONTENT_LENGTH", None)
    if declared is not None:
        environ["CONTENT_LENGTH"] = str(declared)
    return flask.Request(environ)


@pytest.mark.parametrize("size", [0, 1, 100, LIMIT])
def test_a_declared_body_up_to_the_limit_is_read_whole(size: int) -> None:
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)

    assert relay_main.read_body(request("/workflows/main", body=body), LIMIT) == body


def test_a_declared_body_one_byte_over_the_limit_is_413_unread() -> None:
    stream = Pieces(b"x" * (LIMIT + 1))

    with pytest.raises(TooLarge, match=f"^body over {LIMIT} bytes$"):
        relay_main.read_body(streamed(stream, declared=LIMIT + 1, coding=None), LIMIT)
    assert stream.reads == []


@pytest.mark.parametrize("size", [0, 1, LIMIT - 1, LIMIT])
def test_an_undeclared_body_up_to_the_limit_is_read_in_pieces(size: int) -> None:
    body = (b"0123456789" * (LIMIT // 10 + 1))[:size]

    assert relay_main.read_body(streamed(Pieces(body)), LIMIT) == body


@pytest.mark.parametrize("extra", [1, 2, 10_000])
def test_an_undeclared_body_over_the_limit_is_413_after_limit_plus_one_bytes(extra: int) -> None:
    stream = Pieces(b"x" * (LIMIT + extra), size=LIMIT)

    with pytest.raises(TooLarge, match=f"^body over {LIMIT} bytes$"):
        relay_main.read_body(streamed(stream), LIMIT)
    assert stream.reads == [LIMIT + 1, 1]  # never more than limit + 1 bytes asked for


def test_a_body_that_ends_before_its_declared_length_is_unreadable() -> None:
    with pytest.raises(
        BadRequest, match=r"^body could not be read \(broken framing, or ended early\)$"
    ):
        relay_main.read_body(streamed(Pieces(b"x" * 20), declared=21, coding=None), LIMIT)


def test_a_body_of_exactly_its_declared_length_is_read() -> None:
    assert (
        relay_main.read_body(streamed(Pieces(b"x" * 21), declared=21, coding=None), LIMIT)
        == b"x" * 21
    )


@pytest.mark.parametrize("error", [OSError("bad chunk size"), ValueError("bad trailer")])
def test_a_read_the_server_fails_is_unreadable(error: BaseException) -> None:
    with pytest.raises(BadRequest) as refused:
        relay_main.read_body(streamed(Pieces(b"abc", error=error)), LIMIT)

    assert (refused.value.status, str(refused.value)) == (400, UNREADABLE)


def test_a_disguised_transfer_coding_is_400_before_the_body_is_read() -> None:
    stream = Pieces(b"{}")

    with pytest.raises(BadRequest) as refused:
        relay_main.read_body(streamed(stream, coding="chunked\x0b"), LIMIT)

    assert str(refused.value) == "Transfer-Encoding is not a plain list of codings"
    assert stream.reads == []


def test_a_plain_transfer_coding_is_read() -> None:
    assert relay_main.read_body(streamed(Pieces(b"{}"), coding="gzip, chunked"), LIMIT) == b"{}"


# Routes, in-process.


@pytest.mark.parametrize("path", ["/workflows/main", "/workflows/all"])
def test_a_configured_route_is_found(intercom: Intercom, path: str) -> None:
    route = relay_main.route_for(relay_main.CONFIG, path, "POST")

    assert route.workflow_id == path.rsplit("/", 1)[1]


@pytest.mark.parametrize(
    "path",
    [
        "/workflows/mai",
        "/workflows/mainx",
        "/workflows/",
        "/main",
        "workflows/main",
        "/x/workflows/main",
    ],
)
def test_no_other_path_is_a_route(intercom: Intercom, path: str) -> None:
    assert relay_main._known_workflow_id(relay_main.CONFIG, path) is None


def test_the_prefixed_route_is_the_same_route(
    intercom: Intercom, capsys: pytest.CaptureFixture[str]
) -> None:
    answered = call(capsys, signed(f"/{SERVICE}/workflows/main", event()))

    assert (answered.status, answered.line["workflow_id"]) == (200, "main")


def test_a_server_the_worker_cannot_adapt_is_a_start_up_problem() -> None:
    """serving.install's problem (another gunicorn) is logged once at import, with the fix."""
    folder = Path(relay_main.__file__).parent
    code = (
        f"import sys; sys.path.insert(0, {str(folder)!r}); import serving; "
        "serving.install = lambda: 'gunicorn 99 is installed, not 23.0.0'; import main"
    )
    env = {"PATH": os.environ.get("PATH", ""), "RELAY_ROUTES": "{}", "PYTHONDONTWRITEBYTECODE": "1"}

    ran = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    lines = [json.loads(line) for line in ran.stdout.splitlines()]
    assert lines == [
        {
            "severity": "ERROR",
            "message": "gunicorn 99 is installed, not 23.0.0",
            "outcome": "config_error",
        }
    ]

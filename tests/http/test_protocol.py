"""``XaiClient`` and ``error_for`` against the emulator over real loopback HTTP, every status path.

Each answer class must reach the user as the exception they can act on: a wrong key is not a
lost job, a billing stop is never retried, a POST is never sent twice unless it provably never
left. Every request body the client sends is checked against xAI's published ChatRequest schema.
"""

from __future__ import annotations

import ast
import asyncio
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
import jsonschema
import pytest

from tests.support import FAKE_KEY, XAI_DATA
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.errors import (
    BadApiKey,
    BillingExhausted,
    FeatureGone,
    GrokDeferError,
    InsecureTransport,
    InvalidRequest,
    MalformedResponse,
    ModelNotFound,
    NetworkError,
    PermissionDenied,
    RateLimited,
    ResultGone,
    ServerError,
    Unauthorized,
)
from xai_defer_magic.http.deferred import Pending, Ready, XaiClient, check_transport, error_for

KEY = FAKE_KEY
FIXTURES = XAI_DATA / "fixtures"
SPEC = json.loads((FIXTURES.parent / "openapi.json").read_text(encoding="utf-8"))
CHAT_REQUEST = jsonschema.Draft202012Validator(
    {"$ref": "#/components/schemas/ChatRequest", "components": SPEC["components"]}
)
T = TypeVar("T")


pytestmark = pytest.mark.emulator(latency=1000.0)


def body(prompt: str = "Name three primes.", model: str = "grok-3", **extra: Any) -> dict[str, Any]:
    """A chat request as the product builds it (the client adds ``deferred``)."""
    return {"model": model, "messages": [{"role": "user", "content": prompt}], **extra}


def run(
    base_url: str,
    action: Callable[[XaiClient], Awaitable[T]],
    *,
    key: str = KEY,
    attempts: int = 4,
    on_request: list[httpx.Request] | None = None,
) -> T:
    """Run one client coroutine on a fresh event loop with a fresh ``httpx.AsyncClient``."""

    async def main() -> T:
        async def note(request: httpx.Request) -> None:
            if on_request is not None:
                on_request.append(request)

        async with httpx.AsyncClient(timeout=10, event_hooks={"request": [note]}) as http:
            return await action(XaiClient(http, base_url, key, submit_attempts=attempts))

    return asyncio.run(main())


def submit(base_url: str, request: dict[str, Any] | None = None, **kwargs: Any) -> str:
    return run(base_url, lambda c: c.submit(request or body()), **kwargs)


def poll(base_url: str, request_id: str, **kwargs: Any) -> Pending | Ready:
    return run(base_url, lambda c: c.poll(request_id), **kwargs)


def posts(emulator: Emulator) -> list[Any]:
    return [r for r in emulator.requests() if r.method == "POST"]


@pytest.fixture(autouse=True)
def posts_match_the_spec(emulator: Emulator) -> Iterator[None]:
    """Every POST body must match the spec; bodies a test sends on purpose to provoke a
    deserialization error are tagged ``invalid_on_purpose``."""
    yield
    for record in posts(emulator):
        if isinstance(record.body, dict) and record.body.get("invalid_on_purpose"):
            continue
        problems = [e.message for e in CHAT_REQUEST.iter_errors(record.body)]
        assert not problems, (record.body, problems)


# --- the happy path ---------------------------------------------------------------------------


def test_submit_pending_ready_once_then_gone(emulator: Emulator) -> None:
    request_id = submit(emulator.base_url)
    assert request_id in emulator.job_ids()
    sent = posts(emulator)[0].body
    assert sent["deferred"] is True and "stream" not in sent

    assert poll(emulator.base_url, request_id) == Pending()
    emulator.complete(request_id)
    ready = poll(emulator.base_url, request_id)
    assert isinstance(ready, Ready)
    assert json.loads(ready.text)["choices"][0]["message"]["content"]
    with pytest.raises(ResultGone) as gone:
        poll(emulator.base_url, request_id)
    assert gone.value.final and gone.value.status == 404
    assert emulator.delivered_count(request_id) == 1 and emulator.get_count(request_id) == 3


def test_submit_strips_stream_and_forces_deferred(emulator: Emulator) -> None:
    submit(emulator.base_url, body(stream=True, deferred=False))
    sent = posts(emulator)[0].body
    assert sent["deferred"] is True and "stream" not in sent


def test_unknown_request_id_is_result_gone(emulator: Emulator) -> None:
    with pytest.raises(ResultGone):
        poll(emulator.base_url, "00000000-0000-4000-8000-000000000000")


# --- authentication -----------------------------------------------------------------------------


def test_bad_key_is_bad_api_key_and_never_echoes_the_key() -> None:
    wrong = "xai-wrongkey0123456789abcdefghijklmnopqrstuv"
    with Emulator(api_key="xai-rightkey0123456789abcdefghijkl") as emulator:
        with pytest.raises(BadApiKey) as raised:
            submit(emulator.base_url, key=wrong)
        with pytest.raises(BadApiKey) as on_poll:
            poll(emulator.base_url, "00000000-0000-4000-8000-000000000000", key=wrong)
        assert len(posts(emulator)) == 1
    for exc in (raised.value, on_poll.value):
        assert wrong not in str(exc) and wrong not in repr(exc)
        assert "Incorrect API key provided" in str(exc) and exc.final and exc.status == 400


def test_client_repr_never_shows_the_key() -> None:
    async def make() -> str:
        async with httpx.AsyncClient() as http:
            return repr(XaiClient(http, "https://api.x.ai/v1", "xai-secretsecretsecret"))

    assert "secret" not in asyncio.run(make())


def test_garbled_authorization_is_unauthorized(emulator: Emulator) -> None:
    with pytest.raises(Unauthorized) as raised:
        submit(emulator.base_url, key="fake key")  # "Bearer fake key": not one token
    assert raised.value.status == 401 and raised.value.final
    assert len(posts(emulator)) == 1


def test_forbidden_key_is_permission_denied() -> None:
    blocked = {"code": "The caller does not have permission to execute the specified operation",
               "error": "Your API key is blocked."}
    server = Scripted(403, json.dumps(blocked))
    with server, pytest.raises(PermissionDenied) as raised:
        submit(server.base_url)
    assert raised.value.status == 403 and "blocked" in str(raised.value)
    assert server.count == 1


# --- billing and rate limits --------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 403])
def test_billing_stop_is_final_and_not_retried(emulator: Emulator, status: int) -> None:
    emulator.configure({"billing_exhausted": True, "billing_status": status})
    with pytest.raises(BillingExhausted) as raised:
        submit(emulator.base_url, attempts=4)
    assert raised.value.final and raised.value.status == status
    assert "credits" in str(raised.value)
    assert len(emulator.requests()) == 1, "a billing stop must not be retried"


def test_rate_limit_with_retry_after_is_retried_after_the_hint(emulator: Emulator) -> None:
    hint = 0.6
    emulator.configure({"burst_429_every": 3, "burst_429_length": 2, "retry_after": hint,
                   "faults_apply_to": "post"})
    submit(emulator.base_url)
    submit(emulator.base_url)  # requests 1 and 2 pass; 3 and 4 are the burst
    started = time.monotonic()
    request_id = submit(emulator.base_url)
    waited = time.monotonic() - started
    statuses = [r.status for r in posts(emulator)]
    assert statuses == [200, 200, 429, 429, 200]
    assert request_id in emulator.job_ids()
    assert waited >= 2 * hint, "Retry-After was not honoured"
    assert waited < 2 * hint + 15, "only bounds a hang"


def test_rate_limit_without_retry_after(emulator: Emulator) -> None:
    emulator.configure({"burst_429_every": 1, "burst_429_length": 1, "retry_after": None,
                   "faults_apply_to": "post"})
    with pytest.raises(RateLimited) as raised:
        submit(emulator.base_url, attempts=1)
    assert raised.value.retry_after is None and not raised.value.final
    assert raised.value.status == 429
    emulator.configure({"burst_429_every": 2})  # request 2 is limited, 3 passes
    emulator.reset_counters()
    submit(emulator.base_url, attempts=3)
    assert [r.status for r in posts(emulator)] == [429, 200]


# --- rejected requests -------------------------------------------------------------------------


def test_unknown_model_404_is_model_not_found(emulator: Emulator) -> None:
    with pytest.raises(ModelNotFound) as raised:
        submit(emulator.base_url, body(model="grok-nonexistent"))
    assert raised.value.status == 404 and "grok-nonexistent" in str(raised.value)


def test_model_not_found_400_body_is_model_not_found() -> None:
    payload = pyrepr_dict("error_400_model_not_found_pyrepr.txt")
    with Scripted(400, json.dumps(payload)) as server, pytest.raises(ModelNotFound) as raised:
        submit(server.base_url)
    assert raised.value.status == 400 and "grok-2-latest" in str(raised.value)
    assert server.count == 1


def test_search_parameters_is_feature_gone(emulator: Emulator) -> None:
    with pytest.raises(FeatureGone) as raised:
        submit(emulator.base_url, body(search_parameters={"mode": "auto"}))
    assert raised.value.status == 410 and "Live search is deprecated" in str(raised.value)


def test_reasoning_effort_on_a_non_reasoning_model_is_invalid_request(emulator: Emulator) -> None:
    with pytest.raises(InvalidRequest) as raised:
        submit(emulator.base_url,
               body(model="grok-4.20-0309-non-reasoning", reasoning_effort="high"))
    assert raised.value.status == 400 and "reasoningEffort" in str(raised.value)


def test_unprocessable_body_is_invalid_request_with_server_text(emulator: Emulator) -> None:
    bad = {**body(), "messages": [{"role": "robot", "content": "hi"}], "invalid_on_purpose": True}
    with pytest.raises(InvalidRequest) as raised:
        submit(emulator.base_url, bad)
    assert raised.value.status == 422
    assert "Failed to deserialize" in str(raised.value) and "robot" in str(raised.value)
    assert len(posts(emulator)) == 1


def test_server_error_on_poll_is_transient(emulator: Emulator) -> None:
    request_id = submit(emulator.base_url)
    emulator.configure({"error_5xx_rate": 1.0, "faults_apply_to": "get", "seed": 7})
    seen = set()
    for _ in range(6):  # the fault alternates JSON and HTML bodies and 500/502/503
        with pytest.raises(ServerError) as raised:
            poll(emulator.base_url, request_id)
        assert not raised.value.final and raised.value.status in (500, 502, 503)
        assert "<" not in str(raised.value), "an HTML error page leaked markup into the message"
        seen.add(raised.value.status)
    assert seen


def test_server_error_on_submit_is_not_retried(emulator: Emulator) -> None:
    emulator.configure({"error_5xx_rate": 1.0, "faults_apply_to": "post"})
    with pytest.raises(ServerError):
        submit(emulator.base_url, attempts=4)
    assert len(posts(emulator)) == 1, "a POST that reached the server may have started a job"


# --- the network ---------------------------------------------------------------------------------


def test_dropped_connection_is_network_error_and_post_not_retried(emulator: Emulator) -> None:
    emulator.configure({"drop_rate": 1.0, "faults_apply_to": "post"})
    sent: list[httpx.Request] = []
    with pytest.raises(NetworkError) as raised:
        submit(emulator.base_url, attempts=4, on_request=sent)
    assert not raised.value.never_sent and not raised.value.final
    assert [r.status for r in posts(emulator)] == [0], "the emulator saw exactly one (dropped) POST"
    assert len(sent) == 1


def test_dropped_connection_on_poll_is_network_error(emulator: Emulator) -> None:
    request_id = submit(emulator.base_url)
    emulator.configure({"drop_rate": 1.0, "faults_apply_to": "get"})
    with pytest.raises(NetworkError):
        poll(emulator.base_url, request_id)


def test_connection_refused_never_sent_and_retried() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sent: list[httpx.Request] = []
    with pytest.raises(NetworkError) as raised:
        submit(f"http://127.0.0.1:{port}/v1", attempts=3, on_request=sent)
    assert raised.value.never_sent and not raised.value.final
    assert len(sent) == 3, "a POST that never left is retried submit_attempts times"


def test_202_with_a_body_is_malformed() -> None:
    server = Scripted(202, '{"status": "pending"}')
    with server, pytest.raises(MalformedResponse) as raised:
        poll(server.base_url, "some-id")
    assert "202" in str(raised.value)


@pytest.mark.parametrize("answer", ["not json", "{}", '{"request_id": ""}', "[1, 2]"])
def test_submit_answer_without_request_id_is_malformed(answer: str) -> None:
    with Scripted(200, answer) as server, pytest.raises(MalformedResponse):
        submit(server.base_url)
    assert server.count == 1


def test_documented_submit_answer_gives_the_request_id() -> None:
    documented = ast.literal_eval((FIXTURES / "deferred_post_response_docs.txt").read_text())
    with Scripted(200, json.dumps(documented)) as server:
        assert submit(server.base_url) == "f15c114e-f47d-40ca-8d5c-8c23d656eeb6"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://api.x.ai/v1", False),
        ("http://example.com/v1", False),
        ("http://10.0.0.5:8000/v1", False),
        ("ftp://127.0.0.1/v1", False),
        ("not a url", False),
        ("https://api.x.ai/v1", True),
        ("https://example.com/v1", True),
        ("http://127.0.0.1:8123/v1", True),
        ("http://127.5.6.7/v1", True),
        ("http://localhost:9/v1", True),
        ("http://[::1]:9/v1", True),
    ],
)
def test_check_transport(url: str, ok: bool) -> None:
    if ok:
        check_transport(url)
    else:
        with pytest.raises(InsecureTransport):
            check_transport(url)


def test_client_refuses_insecure_transport_before_sending() -> None:
    with pytest.raises(InsecureTransport):
        submit("http://example.com/v1")


# --- error_for on every captured error body -------------------------------------------------


def pyrepr_dict(name: str) -> dict[str, Any]:
    """The Python dict repr inside a captured client log line."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    start, end = text.index("{"), text.rindex("}")
    value = ast.literal_eval(text[start : end + 1])
    assert isinstance(value, dict)
    return value


def message_body(name: str, code: str) -> dict[str, Any]:
    """A fixture holding only the message text, wrapped in xAI's flat envelope."""
    text = (FIXTURES / name).read_text(encoding="utf-8").strip()
    if text.startswith('429 "'):
        text = text[len('429 "') : -1]
    if text.startswith("xAI: 400 Bad Request: "):
        text = text[len("xAI: 400 Bad Request: ") :]
    return {"code": code, "error": text}


def fixture_json(name: str) -> dict[str, Any]:
    value = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert isinstance(value, dict)
    return value


ERROR_FIXTURES: list[tuple[str, int, Callable[[], dict[str, Any]], bool, type[GrokDeferError]]] = [
    ("error_400_incorrect_api_key_pyrepr.txt", 400,
     lambda: pyrepr_dict("error_400_incorrect_api_key_pyrepr.txt"), False, BadApiKey),
    ("error_400_model_not_found_pyrepr.txt", 400,
     lambda: pyrepr_dict("error_400_model_not_found_pyrepr.txt"), False, ModelNotFound),
    ("error_400_reasoning_effort_unsupported_message.txt", 400,
     lambda: message_body("error_400_reasoning_effort_unsupported_message.txt",
                          "Client specified an invalid argument"), False, InvalidRequest),
    ("error_403_credits_exhausted_body.json", 403,
     lambda: fixture_json("error_403_credits_exhausted_body.json"), False, BillingExhausted),
    ("error_403_credits_exhausted_body.json", 403,
     lambda: fixture_json("error_403_credits_exhausted_body.json"), True, BillingExhausted),
    ("error_404_model_not_found_pyrepr.txt", 404,
     lambda: pyrepr_dict("error_404_model_not_found_pyrepr.txt"), False, ModelNotFound),
    ("error_404_no_route_pyrepr.txt", 404,
     lambda: pyrepr_dict("error_404_no_route_pyrepr.txt"), True, InvalidRequest),
    ("error_404_no_route_pyrepr.txt", 404,
     lambda: pyrepr_dict("error_404_no_route_pyrepr.txt"), False, InvalidRequest),
    ("error_410_live_search_deprecated_message.txt", 410,
     lambda: message_body("error_410_live_search_deprecated_message.txt",
                          "The requested resource is no longer available"), False, FeatureGone),
    ("error_429_credits_exhausted_body.json", 429,
     lambda: fixture_json("error_429_credits_exhausted_body.json"), False, BillingExhausted),
    ("error_429_credits_exhausted_body.json", 429,
     lambda: fixture_json("error_429_credits_exhausted_body.json"), True, BillingExhausted),
    ("error_429_credits_exhausted_message.txt", 429,
     lambda: message_body("error_429_credits_exhausted_message.txt",
                          "Some resource has been exhausted"), False, BillingExhausted),
]


@pytest.mark.parametrize(("name", "status", "payload", "on_poll", "expected"), ERROR_FIXTURES)
def test_error_for_every_fixture(
    name: str,
    status: int,
    payload: Callable[[], dict[str, Any]],
    on_poll: bool,
    expected: type[GrokDeferError],
) -> None:
    exc = error_for(httpx.Response(status, json=payload()), on_poll=on_poll)
    assert type(exc) is expected, (name, type(exc), str(exc))
    assert exc.status == status and "\n" not in str(exc)
    if expected is BillingExhausted:
        assert exc.final
    assert not isinstance(exc, ResultGone)


def test_every_error_fixture_is_covered() -> None:
    covered = {row[0] for row in ERROR_FIXTURES}
    assert covered == {p.name for p in FIXTURES.glob("error_*")}


def test_url_encoded_bad_key_message_is_decoded() -> None:
    payload = pyrepr_dict("error_400_incorrect_api_key_pyrepr.txt")
    exc = error_for(httpx.Response(400, json=payload), on_poll=False)
    assert isinstance(exc, BadApiKey)
    assert "Incorrect API key provided: ba***na. You can obtain an API key" in str(exc)
    assert "%20" not in str(exc)


def test_rate_limit_http_date_retry_after() -> None:
    response = httpx.Response(
        429, json={"code": "Some resource has been exhausted", "error": "Rate limit exceeded"},
        headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
    )
    exc = error_for(response, on_poll=True)
    assert isinstance(exc, RateLimited) and exc.retry_after == 0.0


def test_deferred_404_on_poll_is_result_gone_but_model_404_on_submit_is_not() -> None:
    gone = {"code": "Some requested entity was not found",
            "error": "No deferred completion could be found with the given request_id."}
    assert isinstance(error_for(httpx.Response(404, json=gone), on_poll=True), ResultGone)
    model = pyrepr_dict("error_404_model_not_found_pyrepr.txt")
    assert isinstance(error_for(httpx.Response(404, json=model), on_poll=False), ModelNotFound)


def test_schema_check_is_not_vacuous() -> None:
    assert not list(CHAT_REQUEST.iter_errors({**body(), "deferred": True}))
    assert list(CHAT_REQUEST.iter_errors({**body(), "temperature": 5}))
    assert list(CHAT_REQUEST.iter_errors({"model": "grok-4", "messages": [{"role": "robot"}]}))


# --- a one-answer server for shapes the emulator never produces -----------------------------------


class Scripted:
    """A loopback HTTP server that gives every request the same answer and counts them."""

    def __init__(self, status: int, text: str) -> None:
        self.status, self.text, self.count = status, text.encode(), 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                owner.count += 1
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(owner.text)))
                self.end_headers()
                self.wfile.write(owner.text)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> Scripted:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

"""A tiny scripted stand-in for xAI that answers badly on purpose (stdlib ``http.server`` on
127.0.0.1). The emulator is well-behaved by design; this server picks its script by the case name
in the prompt (``case=NAME``), so a table of malformed answers can run in-process or in a kernel.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TRANSIENT_LIMIT = 2  # max_transient_failures: a 5xx job gives up after 3 GETs


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"


def json_answer(status: int, payload: Any) -> Answer:
    return Answer(status, json.dumps(payload).encode())


COMPLETION = {
    "id": "x", "object": "chat.completion", "created": 1, "model": "grok-4-0709",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "An answer."}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}
PROXY_502 = Answer(502, b"<html><head><title>502 Bad Gateway</title></head><body><center>"
                        b"<h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body>"
                        b"</html>", "text/html")
PENDING = Answer(202, b"", None)


@dataclass(frozen=True)
class Case:
    """One hostile script: the submit answer, the poll answers (the last one repeats)."""

    submit: Answer
    polls: tuple[Answer, ...]
    error: str  # a word the one-line error must contain
    gets: int  # GETs the client must make, exactly
    journaled: bool = False  # a 200 body that must be kept verbatim

    @property
    def fetched_200(self) -> int:
        return sum(1 for a in self.polls[: self.gets] if a.status == 200)


OK_SUBMIT = json_answer(200, {"request_id": "__ID__"})
CASES: dict[str, Case] = {
    "non_json_200": Case(OK_SUBMIT, (PENDING, Answer(200, b"Service OK", "text/plain")),
                         "not JSON", 2, journaled=True),
    "truncated_json_200": Case(
        OK_SUBMIT, (Answer(200, json.dumps(COMPLETION).encode()[:57]),), "not JSON", 1,
        journaled=True),
    "empty_200": Case(OK_SUBMIT, (PENDING, Answer(200, b"")), "not JSON", 2, journaled=True),
    "binary_200": Case(OK_SUBMIT, (Answer(200, b"\xff\xfe\x00garbage\x80"),), "not JSON", 1,
                       journaled=True),
    "no_choices_200": Case(
        OK_SUBMIT, (json_answer(200, {k: v for k, v in COMPLETION.items() if k != "choices"}),),
        "no choices", 1, journaled=True),
    "empty_choices_200": Case(OK_SUBMIT, (json_answer(200, {**COMPLETION, "choices": []}),),
                              "no choices", 1, journaled=True),
    "no_message_200": Case(
        OK_SUBMIT, (json_answer(200, {**COMPLETION, "choices": [{"index": 0}]}),),
        "no message", 1, journaled=True),
    "array_200": Case(OK_SUBMIT, (json_answer(200, [COMPLETION]),), "not a JSON object", 1,
                      journaled=True),
    "202_with_body": Case(OK_SUBMIT, (PENDING, json_answer(202, {"status": "queued"})),
                          "202 with a body", 2),
    "teapot_418": Case(OK_SUBMIT, (Answer(418, b"I'm a teapot", "text/plain"),), "418", 1),
    "redirect_302": Case(OK_SUBMIT, (Answer(302, b"", None),), "302", 1),
    "proxy_502_html": Case(OK_SUBMIT, (PENDING, PROXY_502), "502", 2 + TRANSIENT_LIMIT),
    "submit_without_request_id": Case(json_answer(200, {"id": "abc", "status": "queued"}), (),
                                      "no request_id", 0),
    "submit_request_id_not_text": Case(json_answer(200, {"request_id": 42}), (),
                                       "no request_id", 0),
    "submit_not_json": Case(Answer(200, b"<html>queued!</html>", "text/html"), (), "not JSON",
                            0),
    "submit_418": Case(Answer(418, b"teapot", "text/plain"), (), "418", 0),
}


class Hostile:
    """The stand-in xAI: POST answers by the case named in the prompt, GETs by request id."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileHandler)
        self.server.daemon_threads = True
        self.server.hostile = self  # type: ignore[attr-defined]
        self.lock = threading.Lock()
        self.seen: list[tuple[str, str, int]] = []  # method, case, status
        self.gets: Counter[str] = Counter()
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def answer(self, method: str, path: str, body: bytes) -> Answer:
        if method == "POST" and path == "/v1/chat/completions":
            name = _case_of(body)
            case = CASES[name]
            submit = case.submit
            if submit is OK_SUBMIT:
                submit = json_answer(200, {"request_id": f"case-{name}"})
            self._note(method, name, submit.status)
            return submit
        name = path.rsplit("/", 1)[-1].removeprefix("case-")
        if method != "GET" or name not in CASES:
            return json_answer(404, {"code": "not found", "error": f"no route {path}"})
        with self.lock:
            index = self.gets[name]
            self.gets[name] += 1
        polls = CASES[name].polls
        answer = polls[min(index, len(polls) - 1)]
        self._note(method, name, answer.status)
        return answer

    def _note(self, method: str, name: str, status: int) -> None:
        with self.lock:
            self.seen.append((method, name, status))

    def statuses(self, name: str, method: str) -> list[int]:
        with self.lock:
            return [s for m, n, s in self.seen if n == name and m == method]

    def __enter__(self) -> Hostile:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _case_of(body: bytes) -> str:
    match = re.search(r"\bcase=(\w+)", body.decode("utf-8", "replace"))
    return match.group(1) if match else "missing"


class _HostileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._reply("GET")

    def do_POST(self) -> None:
        self._reply("POST")

    def _reply(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.server.hostile.answer(method, self.path, body)  # type: ignore[attr-defined]
        self.send_response(answer.status)
        if answer.content_type:
            self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass

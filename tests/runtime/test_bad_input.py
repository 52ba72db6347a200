"""Bad input, as tables: malformed magic lines, and malformed server answers.

Every malformed option or value to ``%%grok_defer``, ``%grok_wait`` and ``%grok_result`` is a
one-line ``UsageError`` and sends nothing. Every malformed answer from the server ends the job
``failed`` with one clear line in ``job.error``: never a hang, never a dead kernel. The emulator
is well-behaved by design, so the bad answers come from a tiny scripted stand-in server
(stdlib ``http.server`` on 127.0.0.1) that picks its script by the case name in the prompt.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from tests.support import FAKE_KEY
from tests.support.kernels import Kernel
from xai_defer_magic.core.job import Job
from xai_defer_magic.core.schedule import PollSchedule
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.engines.deferred.poller import PollSettings
from xai_defer_magic.errors import GrokDeferError
from xai_defer_magic.runtime.runtime import Runtime, Settings

TRANSIENT_LIMIT = 2  # max_transient_failures: a 5xx job gives up after 3 GETs

# --- malformed magic lines ----------------------------------------------------------------------

DEFER_LINES = [
    ("-t hot", "temperature"),
    ("-t 2.5", "temperature"),
    ("-t -0.1", "temperature"),
    ("-t nan", "temperature"),
    ("--temperature inf", "temperature"),
    ("--max-tokens 0", "max-tokens"),
    ("--max-tokens -5", "max-tokens"),
    ("--max-tokens 1.5", "max-tokens"),
    ("--max-tokens lots", "max-tokens"),
    ("--max-tokens 2000001", "max-tokens"),
    ("--reasoning-effort 'very high'", "reasoning-effort"),
    ("--reasoning-effort ''", "reasoning-effort"),
    ("--timeout 0", "timeout"),
    ("--timeout -3", "timeout"),
    ("--timeout inf", "timeout"),
    ("--timeout soon", "timeout"),
    ("-o 1job", "-o/--out"),
    ("-o class", "-o/--out"),
    ("-o job.result", "-o/--out"),
    ("-m ''", "model"),
    ("-m 'grok 4'", "model"),
    ("-s ''", "system"),
    ("-s '   '", "system"),
    ("--bogus", "unknown option"),
    ("--model", "expected one argument"),
    ("-t", "expected one argument"),
    ("stray-word", "unexpected argument"),
    ("--wait=yes", "ignored explicit argument"),
    ("-m grok-4 'unclosed", "closing quotation"),
]

LINE_MAGIC_LINES = [
    ("grok_wait", "--timeout soon", "timeout"),
    ("grok_wait", "--timeout 0", "timeout"),
    ("grok_wait", "--timeout -1", "timeout"),
    ("grok_wait", "--timeout nan", "timeout"),
    ("grok_wait", "--bogus", "unknown option"),
    ("grok_wait", "no-such-request-id", "no job"),
    ("grok_wait", "--timeout", "expected one argument"),
    ("grok_result", "", "required"),
    ("grok_result", "no-such-request-id", "no job"),
    ("grok_result", "a b", "unexpected argument"),
    ("grok_result", "--bogus x", "unknown option"),
    ("grok_result", "'unclosed", "closing quotation"),
    ("grok_wait", '"unclosed', "closing quotation"),
]


def assert_one_line(error: BaseException, word: str) -> None:
    message = str(error)
    assert message and "\n" not in message, repr(message)
    assert word.lower() in message.lower(), message


@pytest.mark.parametrize(("line", "word"), DEFER_LINES)
def test_bad_grok_defer_line_is_one_usage_error(
    ip: Any, emulator: Emulator, line: str, word: str
) -> None:
    before = set(ip.user_ns)
    with pytest.raises(UsageError) as refused:
        ip.run_cell_magic("grok_defer", line, "A valid prompt.")
    assert_one_line(refused.value, word)
    assert emulator.requests() == [], "a malformed line must send nothing"
    assert set(ip.user_ns) == before


@pytest.mark.parametrize("body", ["", "   \n\t\n"])
def test_empty_cell_is_one_usage_error(ip: Any, emulator: Emulator, body: str) -> None:
    with pytest.raises(UsageError) as refused:
        ip.run_cell_magic("grok_defer", "-o job", body)
    assert_one_line(refused.value, "empty")
    assert emulator.requests() == []


@pytest.mark.parametrize(("magic", "line", "word"), LINE_MAGIC_LINES)
def test_bad_wait_or_result_line_is_one_usage_error(
    ip: Any, emulator: Emulator, magic: str, line: str, word: str
) -> None:
    with pytest.raises(UsageError) as refused:
        ip.run_line_magic(magic, line)
    assert_one_line(refused.value, word)
    assert emulator.requests() == []


# --- malformed server answers: a scripted stand-in server --------------------------------------


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


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    with Hostile() as server:
        yield server


@pytest.fixture
def runtime(hostile: Hostile, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.setenv("XAI_API_KEY", FAKE_KEY)
    schedule = PollSchedule(first=0.1, growth=0.1, cap=0.5)
    poll = PollSettings(schedule=schedule, max_transient_failures=TRANSIENT_LIMIT,
                        request_timeout=10.0)
    rt = Runtime(Settings(home=str(home), base_url=hostile.base_url, poll=poll))
    try:
        yield rt
    finally:
        rt.close()


def finish(job: Job, bound: float = 30.0) -> None:
    try:
        job.result(bound)
    except GrokDeferError:
        pass
    assert job.done, f"{job} still {job.status} after {bound} s: it hangs"


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_answer_fails_the_job_with_one_line(
    hostile: Hostile, runtime: Runtime, name: str
) -> None:
    case = CASES[name]
    job, _ = runtime.defer(f"case={name} Please answer.", display=False)
    finish(job)
    assert job.status == "failed", (job.status, job.error)
    assert job.error and "\n" not in job.error and len(job.error) <= 400, job.error
    assert case.error.lower() in job.error.lower(), job.error
    assert "<" not in job.error, f"markup in the error line: {job.error}"
    with pytest.raises(GrokDeferError):
        job.result(0)
    deadline = time.monotonic() + 10
    while runtime.poller.active_count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert runtime.poller.active_count == 0
    assert len(hostile.statuses(name, "POST")) == 1
    gets = hostile.statuses(name, "GET")
    assert len(gets) == case.gets, gets
    assert gets.count(200) == case.fetched_200 <= 1
    if case.gets == 0:
        assert job.request_id is None and runtime.journal.all() == []
        return
    record = runtime.journal.get(job.request_id or "")
    assert record is not None and record.status == "failed" and record.error == job.error
    if case.journaled:
        body = case.polls[case.gets - 1].body
        assert record.response_text == body.decode("utf-8", "replace"), "raw body not journaled"
    else:
        assert record.response_text is None


def test_the_runtime_still_works_after_every_bad_answer(
    hostile: Hostile, runtime: Runtime, emulator: Emulator
) -> None:
    """All cases at once in one runtime, then a good job: nothing is wedged."""
    jobs = [runtime.defer(f"case={name} again", display=False)[0] for name in CASES]
    for job in jobs:
        finish(job)
    assert [j.status for j in jobs] == ["failed"] * len(CASES)
    runtime.settings.base_url = emulator.base_url
    good, _ = runtime.defer("A normal question.", display=False)
    assert "Emulated answer" in good.result(30)


# --- the same table in a real kernel --------------------------------------------------------------


@pytest.mark.kernel
def test_bad_answers_in_a_real_kernel(hostile: Hostile, home: Path, tmp_path: Path) -> None:
    env = {"XAI_API_KEY": FAKE_KEY, "XAI_BASE_URL": hostile.base_url,
           "XAI_DEFER_HOME": str(home)}
    kernel = Kernel(env, cwd=str(tmp_path))
    try:
        kernel.run("%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.1\n"
                   "%config GrokDefer.max_poll_interval = 0.5\n"
                   f"%config GrokDefer.max_transient_failures = {TRANSIENT_LIMIT}")
        for name in CASES:
            kernel.run(f"%%grok_defer -o job_{name}\ncase={name} from a kernel")
        kernel.run("%grok_wait --timeout 60", 90)
        code = "import json\nprint(json.dumps({n: [j.status, j.error] for n, j in " \
               "((k[4:], v) for k, v in dict(globals()).items() if k.startswith('job_'))}))"
        outcome = json.loads(kernel.run(code).text())
        assert kernel.run("print(6 * 7)").text().strip() == "42"
        cards = kernel.widgets.cards()
        errors = [kernel.widgets.card_parts(c)["error"] for c in cards]
    finally:
        kernel.stop()
    assert set(outcome) == set(CASES)
    for name, (status, error) in outcome.items():
        assert status == "failed" and error and "\n" not in error, (name, status, error)
        assert CASES[name].error.lower() in error.lower(), (name, error)
    assert len(cards) >= len(CASES)  # %grok_wait adds a card for a job it waited on
    assert all("xdm-error" in e and "Traceback" not in e for e in errors), errors

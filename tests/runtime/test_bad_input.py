"""Bad input, as tables: malformed magic lines, and malformed server answers.

Every malformed option or value to ``%%grok_defer``, ``%grok_wait`` and ``%grok_result`` is a
one-line ``UsageError`` and sends nothing. Every malformed answer from the server ends the job
``failed`` with one clear line in ``job.error``: never a hang, never a dead kernel. The emulator
is well-behaved by design, so the bad answers come from a tiny scripted stand-in server
(stdlib ``http.server`` on 127.0.0.1) that picks its script by the case name in the prompt.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from tests.support import FAKE_KEY
from tests.support.hostile import CASES, TRANSIENT_LIMIT, Hostile
from xai_defer_magic.core.job import Job
from xai_defer_magic.core.schedule import PollSchedule, PollSettings
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.errors import GrokDeferError
from xai_defer_magic.runtime.runtime import Runtime
from xai_defer_magic.runtime.settings import Settings

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


# --- malformed server answers, from the scripted stand-in server ----------------------------


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

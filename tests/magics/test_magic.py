"""The magics in IPython's real test shell against the emulator over loopback HTTP.

Options must reach the wire exactly, bad input must stop before anything is sent (one
``UsageError`` line, no request), and the handle must behave as documented: stored at once,
waitable, awaitable, cancellable and resumable, with the answer fetched exactly once.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import xai_defer_magic
from tests.support import XAI_DATA
from tests.support.polling import assert_not_polled, poll_witness
from tests.support.shell import HANG, posts, run, sent, submitted, usage_error, wait_for
from xai_defer_magic.core.job import Job
from xai_defer_magic.core.schedule import PollSchedule
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.errors import JobTimeout
from xai_defer_magic.runtime import runtime
from xai_defer_magic.runtime.runtime import close_runtime

SPEC = json.loads((XAI_DATA / "openapi.json").read_text(encoding="utf-8"))
CHAT_REQUEST = jsonschema.Draft202012Validator(
    {"$ref": "#/components/schemas/ChatRequest", "components": SPEC["components"]}
)
# Jobs answer in 0.3 s and are polled from 0.2 s on; a test that needs a job still pending
# asks for [[latency=60]] or a slower emulator.
pytestmark = [pytest.mark.emulator(latency=0.3), pytest.mark.grok_config(first_poll=0.2)]


# --- options map to the request -----------------------------------------------------------------


def test_options_reach_the_request(shell: Any, emulator: Emulator) -> None:
    run(shell, '%%grok_defer -m grok-3-mini -s "Be brief and kind." -t 0.5 --max-tokens 50 '
               "--reasoning-effort high -o job\nList three primes.")
    job = shell.user_ns["job"]
    submitted(job)
    assert isinstance(job, Job) and job.request_id
    [body] = posts(emulator)
    assert body["model"] == "grok-3-mini"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief and kind."},
        {"role": "user", "content": "List three primes."},
    ]
    assert body["temperature"] == 0.5 and body["max_completion_tokens"] == 50
    assert "max_tokens" not in body  # deprecated by xAI
    assert body["reasoning_effort"] == "high" and body["deferred"] is True
    assert "stream" not in body
    assert not [e.message for e in CHAT_REQUEST.iter_errors(body)]
    assert job.result(HANG)
    assert job.usage and job.usage["completion_tokens"] <= 50


def test_long_option_names(shell: Any, emulator: Emulator) -> None:
    run(shell, "%%grok_defer --model grok-3 --system 'Terse.' --temperature 0 --out other\nHi")
    [body] = sent(emulator, 1)
    assert body["model"] == "grok-3" and body["temperature"] == 0
    assert body["messages"][0] == {"role": "system", "content": "Terse."}
    assert "max_completion_tokens" not in body and "max_tokens" not in body
    assert "reasoning_effort" not in body
    assert isinstance(shell.user_ns.pop("other"), Job)


def test_out_stores_the_handle_before_the_job_finishes(shell: Any, emulator: Emulator) -> None:
    run(shell, "%%grok_defer -o job\nHello [[latency=60]]")
    job = shell.user_ns["job"]
    assert job.status in ("submitting", "pending"), "the cell waited for the answer"
    submitted(job)
    assert job.status == "pending" and emulator.delivered_count(job.request_id) == 0
    emulator.complete(job.request_id)
    assert job.result(HANG) == job.content and job.status == "done"


def test_config_changes_the_default_model(shell: Any, emulator: Emulator) -> None:
    run(shell, '%config GrokDefer.model = "grok-3"')
    run(shell, "%%grok_defer -o job\nHello")
    assert sent(emulator, 1)[0]["model"] == "grok-3"
    assert shell.user_ns["job"].model == "grok-3"


# --- bad input stops before anything is sent ------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("%%grok_defer\n", "empty"),
        ("%%grok_defer\n   \n\n", "empty"),
        ("%%grok_defer --bogus\nHi", "--bogus"),
        ("%%grok_defer -t abc\nHi", "temperature"),
        ("%%grok_defer -t 2.5\nHi", "temperature"),
        ("%%grok_defer -t nan\nHi", "temperature"),
        ("%%grok_defer -t -0.1\nHi", "temperature"),
        ("%%grok_defer --max-tokens 0\nHi", "max-tokens"),
        ("%%grok_defer --max-tokens 1.5\nHi", "max-tokens"),
        ("%%grok_defer --max-tokens many\nHi", "max-tokens"),
        ("%%grok_defer --reasoning-effort ''\nHi", "reasoning-effort"),
        ("%%grok_defer -o 1bad\nHi", "1bad"),
        ("%%grok_defer -o class\nHi", "class"),
        ("%%grok_defer --timeout -3\nHi", "timeout"),
        ("%%grok_defer --timeout soon\nHi", "timeout"),
        ("%%grok_defer -m 'two words'\nHi", "model"),
        ("%%grok_defer -s ''\nHi", "system"),
    ],
)
def test_invalid_input_is_one_usage_error_and_sends_nothing(
    shell: Any, emulator: Emulator, cell: str, expected: str
) -> None:
    message = usage_error(shell, cell)
    assert expected in message, message
    assert emulator.requests() == []
    assert "job" not in shell.user_ns


def test_missing_api_key_is_a_usage_error(
    shell: Any, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("XAI_API_KEY")
    empty = tmp_path / "no-dotenv"
    empty.mkdir()
    monkeypatch.chdir(empty)
    message = usage_error(shell, "%%grok_defer -o job\nHi")
    assert "XAI_API_KEY is not set" in message
    assert emulator.requests() == []
    assert "job" not in shell.user_ns


def test_key_from_dotenv_is_used(
    shell: Any, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("XAI_API_KEY")
    (tmp_path / ".env").write_text('XAI_API_KEY="fake-test-key-not-a-secret"\n')
    monkeypatch.chdir(tmp_path)
    run(shell, "%%grok_defer -o job\nHi")
    assert len(sent(emulator, 1)) == 1


def test_plain_http_to_a_remote_host_is_refused(
    shell: Any, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAI_BASE_URL", "http://example.com/v1")
    message = usage_error(shell, "%%grok_defer -o job\nHi")
    assert "http" in message and "example.com" in message
    assert emulator.requests() == []


# --- waiting and showing --------------------------------------------------------------------------


def test_wait_blocks_and_prints_the_answer(
    shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, "%%grok_defer --wait -o job\nName a prime.")
    job = shell.user_ns["job"]
    assert job.status == "done", "--wait returned before the job finished"
    out = capsys.readouterr().out
    assert "Emulated answer" in out and job.request_id in out
    assert emulator.delivered_count(job.request_id) == 1


def test_grok_wait_without_pending_jobs(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run(shell, "%grok_wait")
    assert "No pending jobs." in capsys.readouterr().out


@pytest.mark.emulator(latency=1.0)  # both jobs still pending when %grok_wait starts
def test_grok_wait_waits_for_all_pending(
    shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, "%%grok_defer -o a\nFirst")
    run(shell, "%%grok_defer -o b\nSecond")
    capsys.readouterr()
    run(shell, "%grok_wait")
    a, b = shell.user_ns.pop("a"), shell.user_ns.pop("b")
    assert a.status == b.status == "done"
    out = capsys.readouterr().out
    assert a.request_id in out and b.request_id in out


def test_grok_wait_timeout_reports_still_running(
    shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, "%%grok_defer -o job\nA long one [[latency=60]]")
    job = shell.user_ns["job"]
    submitted(job)
    capsys.readouterr()
    started = time.monotonic()
    run(shell, f"%grok_wait {job.request_id} --timeout 0.5")
    waited = time.monotonic() - started
    assert 0.4 <= waited < 0.5 + 10
    assert "still running" in capsys.readouterr().out
    assert job.status == "pending"


def test_grok_wait_bad_timeout_and_unknown_id(shell: Any) -> None:
    assert "timeout" in usage_error(shell, "%grok_wait --timeout -1")
    assert "no-such-id" in usage_error(shell, "%grok_wait no-such-id")


def test_grok_result_by_id_and_prefix(
    shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, "%%grok_defer -o job\nTell me about primes.")
    job = shell.user_ns["job"]
    answer = job.result(HANG)
    capsys.readouterr()
    run(shell, f"%grok_result {job.request_id}")
    assert answer.splitlines()[0] in capsys.readouterr().out
    run(shell, f"%grok_result {job.request_id[:8]}")
    assert answer.splitlines()[0] in capsys.readouterr().out
    assert emulator.delivered_count(job.request_id) == 1
    assert emulator.gets_after_delivery(job.request_id) == 0


def test_grok_result_of_a_pending_job_says_so(
    shell: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, "%%grok_defer -o job\nSlow [[latency=60]]")
    submitted(shell.user_ns["job"])
    capsys.readouterr()
    run(shell, f"%grok_result {shell.user_ns['job'].request_id}")
    assert "not finished" in capsys.readouterr().out


def test_grok_result_unknown_id(shell: Any) -> None:
    assert "deadbeef" in usage_error(shell, "%grok_result deadbeef")


# --- the handle ---------------------------------------------------------------------------------


def test_timeout_then_resume_fetches_exactly_once(shell: Any, emulator: Emulator) -> None:
    run(shell, "%%grok_defer --timeout 1 -o job\nTen seconds please [[latency=10]]")
    job = shell.user_ns["job"]
    wait_for(lambda: job.status == "timed_out", "the local timeout")
    with pytest.raises(JobTimeout):
        job.result(0)
    assert emulator.delivered_count(job.request_id) == 0
    emulator.complete(job.request_id)  # the job finishes at xAI while nobody polls
    job.resume()
    assert job.status == "pending"
    assert job.result(HANG) == job.content and job.status == "done"
    statuses = [r.status for r in emulator.requests() if r.request_id == job.request_id
                and r.method == "GET"]
    assert statuses.count(200) == 1 and statuses[-1] == 200
    assert emulator.gets_after_delivery(job.request_id) == 0


def test_cancel_then_resume(shell: Any, emulator: Emulator, tmp_path: Path) -> None:
    run(shell, "%%grok_defer -o job\nSlow [[latency=60]]")
    job = shell.user_ns["job"]
    job.cancel()  # most likely while its POST is still on the wire
    wait_for(lambda: job.status == "cancelled", "the cancel")
    wait_for(lambda: job.request_id, "the id of the cancelled job")
    with poll_witness(emulator, tmp_path / "witness", PollSchedule(first=0.2)) as witness:
        assert_not_polled(emulator, job.request_id, witness)  # a cancelled job stops polling
    emulator.complete(job.request_id)
    job.resume()
    assert job.result(HANG) and job.status == "done"
    assert emulator.delivered_count(job.request_id) == 1


def test_result_timeout_on_a_pending_job_is_quick(shell: Any) -> None:
    run(shell, "%%grok_defer -o job\nSlow [[latency=60]]")
    job = shell.user_ns["job"]
    submitted(job)
    started = time.monotonic()
    with pytest.raises(JobTimeout) as raised:
        job.result(timeout=0.2)
    assert 0.15 <= time.monotonic() - started < 5
    assert job.request_id in str(raised.value)
    assert job.status == "pending", "a result() timeout must not stop polling"


def test_await_job_inside_asyncio_run(shell: Any) -> None:
    run(shell, "%%grok_defer -o job\nHello")
    job = shell.user_ns["job"]

    async def wait() -> str:
        return await asyncio.wait_for(job, HANG)

    answer = asyncio.run(wait())
    assert answer == job.content and "Emulated answer" in answer


def test_defer_without_the_magic(env: dict[str, str], emulator: Emulator) -> None:
    try:
        job = xai_defer_magic.defer("Hello from Python", system="Brief.", display=False)
        assert job.status == "submitting", "defer() waited for the POST"
        assert "Emulated answer" in job.result(HANG) and job.request_id
        [body] = posts(emulator)
        assert body["model"] == "grok-4.3"
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
        assert job in xai_defer_magic.jobs()
    finally:
        close_runtime()


# --- unload and reload --------------------------------------------------------------------------


def poller_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "xai-defer-poller" and t.is_alive()]


def test_unload_removes_magics_and_stops_the_poller(shell: Any, emulator: Emulator) -> None:
    run(shell, "%%grok_defer -o job\nHello")
    assert shell.find_cell_magic("grok_defer") is not None and poller_threads()
    run(shell, "%unload_ext xai_defer_magic")
    assert shell.find_cell_magic("grok_defer") is None
    for name in ("grok_wait", "grok_result", "grok_jobs"):
        assert shell.find_line_magic(name) is None
    assert not poller_threads()
    run(shell, "%config GrokDefer.first_poll = 0.3")  # must not revive the unloaded extension
    assert not poller_threads() and runtime._runtime is None

    run(shell, "%load_ext xai_defer_magic")
    run(shell, "%config GrokDefer.first_poll = 0.2")
    assert shell.find_cell_magic("grok_defer") is not None
    run(shell, "%%grok_defer -o job\nAgain")
    assert len(poller_threads()) == 1
    assert "Emulated answer" in shell.user_ns["job"].result(HANG)

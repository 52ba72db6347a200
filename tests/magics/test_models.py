"""Today's xAI from the client's side: efforts passed through, ``max_completion_tokens``, the
current default model, who answered (``grok-4 → grok-4.3``), and costs estimated when a body
has no ``cost_in_usd_ticks``. Against the emulator over loopback HTTP, in IPython's test shell.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from IPython.core.error import UsageError

from tests.support.shell import run
from xai_defer_magic.core.job import Job
from xai_defer_magic.emulator import Emulator

HANG = 30.0


pytestmark = [pytest.mark.emulator(latency=0.2), pytest.mark.grok_config(first_poll=0.1)]


def chat_posts(emulator: Emulator) -> list[dict[str, Any]]:
    return [r.body for r in emulator.requests() if r.path == "/v1/chat/completions"]


def finished(job: Job) -> Job:
    job._finished.result(HANG)
    return job


# --- 1. efforts and max_completion_tokens reach the server as written ---------------------------


@pytest.mark.parametrize("effort", ["xhigh", "none", "medium"])
def test_grok_4_3_efforts_reach_the_server_and_end_done(
    shell: Any, emulator: Emulator, effort: str
) -> None:
    run(shell, f"%%grok_defer -m grok-4.3 --reasoning-effort {effort} -o job\nThink hard.")
    job = finished(shell.user_ns["job"])
    assert chat_posts(emulator)[0]["reasoning_effort"] == effort
    assert job.status == "done", job.error


def test_an_effort_the_model_rejects_is_xais_400_in_one_line(
    shell: Any, emulator: Emulator
) -> None:
    run(shell, "%%grok_defer -m grok-3-mini --reasoning-effort xhigh -o job\nThink.")
    job = finished(shell.user_ns["job"])
    assert chat_posts(emulator)[0]["reasoning_effort"] == "xhigh"
    assert job.status == "failed" and job.error and "\n" not in job.error
    assert "400" in job.error and "xhigh" in job.error


def test_an_unknown_effort_word_is_passed_through(shell: Any, emulator: Emulator) -> None:
    run(shell, "%%grok_defer -m grok-4.3 --reasoning-effort extreme -o job\nThink.")
    job = finished(shell.user_ns["job"])
    assert chat_posts(emulator)[0]["reasoning_effort"] == "extreme"
    assert job.status == "failed" and "400" in (job.error or "")


@pytest.mark.parametrize("value", ["''", "'  '"])
def test_an_empty_effort_is_refused_with_one_line(
    shell: Any, emulator: Emulator, value: str
) -> None:
    result = shell.run_cell(f"%%grok_defer --reasoning-effort {value}\nHi")
    assert isinstance(result.error_in_exec, UsageError)
    assert "reasoning-effort" in str(result.error_in_exec)
    assert "\n" not in str(result.error_in_exec)
    assert emulator.requests() == []


def test_max_tokens_is_sent_as_max_completion_tokens(shell: Any, emulator: Emulator) -> None:
    run(shell, "%%grok_defer -m grok-4.3 --max-tokens 12 -o job\nA long answer, please.")
    job = finished(shell.user_ns["job"])
    body = chat_posts(emulator)[0]
    assert body["max_completion_tokens"] == 12 and "max_tokens" not in body
    assert job.status == "done" and job.completion is not None
    assert job.completion.finish_reason == "length"


# --- 2. the default model --------------------------------------------------------------------


def test_the_default_model_is_grok_4_3(shell: Any, emulator: Emulator) -> None:
    from xai_defer_magic.magics.grok_defer import GrokDefer
    from xai_defer_magic.runtime.settings import Settings

    assert GrokDefer.model.default_value == "grok-4.3" and Settings().model == "grok-4.3"
    run(shell, "%%grok_defer -o job\nHello.")
    job = finished(shell.user_ns["job"])
    assert chat_posts(emulator)[0]["model"] == "grok-4.3"
    assert job.served_model == "grok-4.3" and job.status == "done"


# --- 3. who answered -------------------------------------------------------------------------


def test_a_retired_slug_names_who_answered_and_its_price(
    shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    from xai_defer_magic.views import static, text

    run(shell, "%%grok_defer -m grok-4 -o job\nWho are you?")
    job = finished(shell.user_ns["job"])
    assert chat_posts(emulator)[0]["model"] == "grok-4"  # sent as the user wrote it
    assert job.model == "grok-4" and job.served_model == "grok-4.3"
    assert "grok-4 → grok-4.3" in repr(job)
    deadline = time.monotonic() + HANG  # the runtime fetches the prices once the job finished
    while job.catalogue is None and time.monotonic() < deadline:
        time.sleep(0.02)
    note = text.redirect_line(job)
    assert note is not None and "\n" not in note
    assert "grok-4 is retired" in note and "grok-4.3" in note
    assert "$1.25" in note and "$0.20" in note and "$2.50" in note  # grok-4.3, from the catalogue
    bundle = static.job_bundle(job)
    for mime in ("text/plain", "text/markdown", "text/html"):
        assert "grok-4 → grok-4.3" in bundle[mime], mime
        assert "grok-4 is retired" in bundle[mime], mime
    from xai_defer_magic.views.jobs_table import Row, row_html
    from xai_defer_magic.views.jobs_table import text_table as panel_table

    assert "grok-4 → grok-4.3" in row_html(Row(job), time.time())
    assert "grok-4 → grok-4.3" in panel_table([Row(job)], "", time.time(), "")
    run(shell, f"%grok_result {job.request_id}")  # terminal: the text rendering
    printed = capsys.readouterr().out
    assert "grok-4 → grok-4.3" in printed and "grok-4 is retired" in printed


def test_no_note_when_the_model_answered_itself(shell: Any, emulator: Emulator) -> None:
    from xai_defer_magic.views import text

    run(shell, "%%grok_defer -m grok-3-mini -o job\nWho are you?")
    job = finished(shell.user_ns["job"])
    assert job.served_model == "grok-3-mini" and text.redirect_line(job) is None
    assert "→" not in text.status_line(job)
    assert not any(r.path.startswith("/v1/language-models") for r in emulator.requests())


def test_catalogue_unavailable_still_names_who_answered(
    shell: Any, emulator: Emulator
) -> None:
    import xai_defer_magic
    from xai_defer_magic.errors import GrokDeferError
    from xai_defer_magic.views import text

    emulator.faults.faults_apply_to = "get"
    emulator.faults.error_5xx_rate = 1.0  # the catalogue GET fails, and is not asked again soon
    with pytest.raises(GrokDeferError):
        xai_defer_magic.models()
    emulator.faults.error_5xx_rate = 0.0
    run(shell, "%%grok_defer -m grok-3 -o job\nWho are you?")
    job = finished(shell.user_ns["job"])
    note = text.redirect_line(job)
    assert note is not None and "grok-3" in note and "grok-4.3" in note and "$" not in note
    assert any(r.path == "/v1/language-models" and r.status >= 500 for r in emulator.requests())

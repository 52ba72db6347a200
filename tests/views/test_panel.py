"""The ``%grok_jobs`` panel: real jobs on the emulator, real widget clicks, a real kernel."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pytest

from tests.support import XAI_DATA
from tests.support.polling import assert_not_polled, poll_witness
from tests.support.shell import submitted, wait_for
from xai_defer_magic import defer
from xai_defer_magic.core.job import Job
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.journal import JobRecord, Journal
from xai_defer_magic.runtime.runtime import Runtime, close_runtime, get_runtime
from xai_defer_magic.views.card import JobCard, header_html
from xai_defer_magic.views.jobs_table import Row
from xai_defer_magic.views.panel import BODY_HEIGHT, PAGE_SIZE, JobsPanel, RowView

ROW = re.compile(r'data-request-id="([^"]*)" data-status="([^"]*)"')


@pytest.fixture
def panels() -> Iterator[list[JobsPanel]]:
    made: list[JobsPanel] = []
    yield made
    for panel in made:
        panel.close()


def rows(panel: JobsPanel) -> list[tuple[str, str]]:
    """(request id, status) of each row the panel shows, top to bottom, read from its HTML."""
    shown = [r for r in panel.body.children
             if isinstance(r, widgets.HBox) and r.layout.display != "none"]
    found = []
    for box in shown:
        match = ROW.search(box.children[0].value) if box.children else None
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def row(panel: JobsPanel, job: Job) -> RowView:
    view = panel.row_for(job)
    assert view is not None, f"{job} has no row"
    return view


def make_panel(runtime: Runtime, panels: list[JobsPanel], **kwargs: Any) -> JobsPanel:
    panel = JobsPanel(runtime, **kwargs)
    panels.append(panel)
    return panel


def record(base_url: str, prompt: str, status: str = "pending", age: float = 0.0,
           response_text: str | None = None) -> JobRecord:
    now = time.time()
    return JobRecord(
        request_id=str(uuid.uuid4()), created_at=now - age, model="grok-4",
        request={"model": "grok-4", "messages": [{"role": "user", "content": prompt}]},
        base_url=base_url, status=status, response_text=response_text,
        finished_at=None if status == "pending" else now - age + 7,
    )


def test_table_lists_pending_then_finished_with_totals_and_filter(
    runtime: Runtime, panels: list[JobsPanel]
) -> None:
    fast = defer("[[latency=0]] Name a prime.", display=False)
    slow = defer("[[latency=300]] Think for a long time.", display=False)
    fast.result(20)
    panel = make_panel(runtime, panels)
    assert runtime.panels[-1] is panel, "the panel is ticked by the runtime"
    assert rows(panel) == [(slow.request_id, "pending"), (fast.request_id, "done")]
    tokens = fast.completion.usage.total_tokens  # type: ignore[union-attr]
    assert tokens and fast.cost_usd
    assert panel.totals.value == f"1 pending · 1 done · {tokens:,} tokens · ${fast.cost_usd:.4f}"
    assert panel.page_label.value == "rows 1–2 of 2"
    cells = row(panel, slow).cells.value
    assert f'title="{slow.request_id}">{(slow.request_id or "")[:8]}<' in cells
    assert "Think for a long time." in cells and "grok-4" in cells and "xdm-status-pending" in cells

    panel.filter.value = "pending"
    assert rows(panel) == [(slow.request_id, "pending")]
    assert panel.page_label.value == "rows 1–1 of 1"
    panel.filter.value = "all"
    assert len(rows(panel)) == 2
    assert rows(make_panel(runtime, panels, which="pending")) == [(slow.request_id, "pending")]

    later = defer("[[latency=0]] Another one.", display=False)  # after the panel was built
    wait_for(lambda: (later.request_id, "done") in rows(panel), "the tick to show the new job", 20)
    assert rows(panel)[0] == (slow.request_id, "pending")
    assert panel.totals.value.startswith("1 pending · 2 done · ")
    slow.cancel()


def test_pending_filter_shows_pending_jobs_even_just_added_by_another_kernel(
    runtime: Runtime, panels: list[JobsPanel], env: dict[str, str], home: Path
) -> None:
    """Issue 10: "pending" said "No jobs here yet." with 22 pending jobs in the journal."""
    done = defer("[[latency=0]] Quick.", display=False)
    done.result(20)
    panel = make_panel(runtime, panels, scope="journal")
    other = Journal(home)  # another kernel's journal connection, writing just now
    try:
        added = [record(env["XAI_BASE_URL"], f"other kernel {i}") for i in range(22)]
        for rec in added:
            other.add(rec)
    finally:
        other.close()
    panel.filter.value = "pending"
    assert sorted(rid for rid, _s in rows(panel)) == sorted(r.request_id for r in added)
    assert {s for _rid, s in rows(panel)} == {"pending"}
    assert panel.totals.value.startswith("22 pending · 1 done · ")


def test_totals_count_each_outcome_separately(runtime: Runtime, panels: list[JobsPanel]) -> None:
    done = defer("[[latency=0]] Done.", display=False)
    failed = defer("[[latency=0]] [[fail=500]] Fails.", display=False)
    timed_out = defer("[[latency=300]] Too slow.", display=False, timeout=0.3)
    cancelled = defer("[[latency=300]] Cancelled.", display=False)
    cancelled.cancel()
    pending = defer("[[latency=300]] Pending.", display=False)
    done.result(20)
    wait_for(lambda: failed.done and timed_out.done, "the failure and the timeout", 30)
    assert (failed.status, timed_out.status) == ("failed", "timed_out")
    panel = make_panel(runtime, panels)
    summary = panel.totals.value
    assert summary.startswith("1 pending · 1 done · 1 failed · 1 cancelled · 1 timed out · ")
    assert "finished" not in summary
    pending.cancel()


def test_default_scope_is_this_kernel_and_what_it_resumed(
    env: dict[str, str], home: Path, panels: list[JobsPanel]
) -> None:
    journal = Journal(home)
    try:
        resumable = record(env["XAI_BASE_URL"], "[[latency=300]] left by an earlier kernel")
        elsewhere = record("http://127.0.0.1:9/v1", "left for another server")
        finished = record("http://127.0.0.1:9/v1", "finished long ago", status="done", age=600,
                          response_text=(XAI_DATA / "fixtures"
                                         / "chat_completion_200_real_grok4.json").read_text())
        for rec in (resumable, elsewhere, finished):
            journal.add(rec)
    finally:
        journal.close()
    close_runtime()
    runtime = get_runtime()
    try:
        assert [j.request_id for j in runtime.resume_unfinished()] == [resumable.request_id]
        mine = defer("[[latency=300]] Submitted here.", display=False)
        submitted(mine)
        panel = make_panel(runtime, panels)
        assert panel.scope.value == "kernel"
        assert rows(panel) == [(mine.request_id, "pending"), (resumable.request_id, "pending")]
        assert panel.totals.value.startswith("2 pending · 0 done · ")
        panel.scope.value = "journal"
        assert {rid for rid, _s in rows(panel)} == {
            mine.request_id, resumable.request_id, elsewhere.request_id, finished.request_id}
        assert panel.totals.value.startswith("3 pending · 1 done · ")

        empty = make_panel(runtime, panels, which="pending")
        mine.cancel()
        runtime.get(resumable.request_id or "").cancel()  # type: ignore[union-attr]
        empty.refresh()
        assert rows(empty) == []
        assert empty.empty.value == "No pending jobs from this kernel (1 more in the journal)."
    finally:
        close_runtime()


def test_rows_have_their_own_buttons_and_a_click_selects_the_row(
    runtime: Runtime, panels: list[JobsPanel], emulator: Emulator, tmp_path: Path
) -> None:
    done = defer("[[latency=0]] Quick.", display=False)
    slow = defer("[[latency=300]] Slow.", display=False)
    done.result(20)
    panel = make_panel(runtime, panels)
    assert panel.selected is None
    assert row(panel, slow).toggle.description == "Cancel"
    assert row(panel, done).toggle.layout.visibility == "hidden", "nothing to cancel or resume"

    row(panel, slow).show.click()
    assert panel.selected is slow and "xdm-jobs-selected" in row(panel, slow).box._dom_classes
    assert "xdm-jobs-selected" not in row(panel, done).box._dom_classes
    view = panel.output.outputs[0]["data"]["application/vnd.jupyter.widget-view+json"]
    card = panel.shown_card
    assert isinstance(card, JobCard) and card.job is slow and card.model_id == view["model_id"]

    row(panel, slow).toggle.click()
    assert slow.status == "cancelled"
    wait_for(lambda: runtime.poller.active_count == 0, "the polling task to end", 10)
    assert (slow.request_id, "cancelled") in rows(panel)
    resume = row(panel, slow).toggle
    assert resume.description == "Resume" and "xdm-jobs-resume" in resume._dom_classes
    with poll_witness(emulator, tmp_path / "witness") as witness:
        assert_not_polled(emulator, slow.request_id or "", witness)  # polling ended at cancel

    resume.click()
    assert slow.status == "pending" and row(panel, slow).toggle.description == "Cancel"
    emulator.complete(slow.request_id or "")
    assert slow.result(20)
    wait_for(lambda: (slow.request_id, "done") in rows(panel), "the row to say done", 10)
    assert emulator.delivered_count(slow.request_id or "") == 1

    row(panel, done).forget.click()
    assert panel.selected is done and panel.confirm_box.layout.display == ""
    assert panel.confirm_text.value == (
        f"<b>Forget {(done.request_id or '')[:8]}?</b> This deletes its journal row and saved "
        "answer."
    )
    panel.keep.click()
    assert panel.confirm_box.layout.display == "none"
    assert done in runtime.jobs() and runtime.journal.get(done.request_id or "") is not None

    row(panel, done).forget.click()
    panel.confirm.click()
    assert panel.confirm_box.layout.display == "none"
    assert done not in runtime.jobs()
    assert runtime.journal.get(done.request_id or "") is None
    assert [rid for rid, _status in rows(panel)] == [slow.request_id]


def test_forgetting_a_pending_job_says_it_keeps_running_at_xai(
    runtime: Runtime, panels: list[JobsPanel], emulator: Emulator, tmp_path: Path
) -> None:
    job = defer("[[latency=300]] Still running.", display=False)
    submitted(job)
    panel = make_panel(runtime, panels)
    row(panel, job).forget.click()
    question = panel.confirm_text.value
    assert "keeps running, and costing, at xAI" in question and "stops polling" in question
    panel.confirm.click()
    assert job.status == "cancelled"
    assert job.error == (
        f"Forgotten: {job.request_id} is no longer polled and its journal row is gone; the job "
        "still runs, and costs, at xAI."
    )
    assert "resume()" not in repr(job) and "Forgotten" in repr(job)
    wait_for(lambda: runtime.poller.active_count == 0, "the polling task to end", 10)
    with poll_witness(emulator, tmp_path / "witness") as witness:
        witness.rounds(1)  # a GET that was on the wire at the forget has landed
        gets = emulator.get_count(job.request_id or "")
        job.resume()  # nothing to resume: the answer could no longer be journaled
        witness.rounds(2)  # a live poller would have polled it by now
    assert job.status == "cancelled" and emulator.get_count(job.request_id or "") == gets


def test_elapsed_and_polls_read_as_on_the_card(runtime: Runtime, panels: list[JobsPanel]) -> None:
    job = defer("[[latency=2]] Count my polls.", display=False)
    job.result(20)
    pending = defer("[[latency=300]] Still going.", display=False)
    wait_for(lambda: pending.polls >= 1, "a poll", 20)
    panel = make_panel(runtime, panels)
    for each in (job, pending):
        now = time.time()
        head = header_html(each, now)
        cells = Row(each).cells(now)
        elapsed = re.search(r'class="xdm-elapsed">([^<]*)<', head)
        polls = re.search(r'class="xdm-polls">(\d+) poll', head)
        assert elapsed and polls
        assert cells["elapsed"] == elapsed.group(1) and cells["polls"] == polls.group(1)
    html = row(panel, job).cells.value
    assert f'class="xdm-col-polls">{job.polls}<' in html
    pending.cancel()


def test_a_thousand_jobs_render_one_small_page_in_a_scrolling_box(
    runtime: Runtime, panels: list[JobsPanel]
) -> None:
    body = (XAI_DATA / "fixtures" / "chat_completion_200_real_grok4.json").read_text()
    records = []
    for i in range(1000):
        pending = i % 100 == 0
        prompt = f"job {i} <script>alert({i})</script> <img src=x onerror=alert(1)>"
        rec = record("http://127.0.0.1:9/v1", prompt, "pending" if pending else "done",
                     60 * i, None if pending else body)
        runtime.journal.add(rec)
        records.append(rec)
    tokens = json.loads(body)["usage"]["total_tokens"]
    panel = make_panel(runtime, panels, scope="journal")
    assert (panel.body.layout.max_height, panel.body.layout.overflow) == (BODY_HEIGHT, "auto")
    assert panel.page_label.value == f"rows 1–{PAGE_SIZE} of 1,000"
    assert len(rows(panel)) == PAGE_SIZE
    assert [s for _rid, s in rows(panel)][:10] == ["pending"] * 10
    assert rows(panel)[10] == (records[1].request_id, "done")
    assert panel.totals.value == f"10 pending · 990 done · {990 * tokens:,} tokens · –"
    assert panel.prev.disabled and not panel.next.disabled

    panel.next.click()
    assert panel.page_label.value == f"rows {PAGE_SIZE + 1}–{2 * PAGE_SIZE} of 1,000"
    assert rows(panel)[0] == (records[PAGE_SIZE - 9].request_id, "done")
    while not panel.next.disabled:
        panel.next.click()
    assert rows(panel)[-1] == (records[-1].request_id, "done")
    assert len(panel.body.children) == 1 + PAGE_SIZE, "row widgets are reused, not piled up"

    panel.filter.value = "pending"
    assert panel.page_label.value == "rows 1–10 of 10" and panel.next.disabled
    html = "".join(r.cells.value for r in panel.row_views())
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(0)&lt;/script&gt;" in html

    target = runtime.get(records[501].request_id)  # done: 10 pending + 495 done rows before it
    assert target is not None
    panel.select(target)
    assert panel.filter.value == "all" and panel.selected is target
    assert (target.request_id, "done") in rows(panel)


def test_model_and_prompt_markup_is_inert(runtime: Runtime, panels: list[JobsPanel]) -> None:
    job = defer('[[latency=300]] "><script>window.x=1</script><b onmouseover=alert(1)>hi',
                display=False)
    panel = make_panel(runtime, panels)
    html = row(panel, job).cells.value
    assert "<script" not in html and "<b " not in html
    assert "&quot;&gt;&lt;script&gt;window.x=1&lt;/script&gt;" in html
    static = panel._repr_mimebundle_()["text/html"]  # type: ignore[index]
    assert "<script" not in static and "&lt;script&gt;" in static
    job.cancel()


def test_the_panel_carries_a_text_and_an_html_table(
    runtime: Runtime, panels: list[JobsPanel]
) -> None:
    job = defer("[[latency=0]] A static copy.", display=False)
    job.result(20)
    bundle = make_panel(runtime, panels)._repr_mimebundle_()
    assert bundle is not None and "application/vnd.jupyter.widget-view+json" in bundle
    plain = bundle["text/plain"].splitlines()
    assert plain[0].startswith("0 pending · 1 done · ")
    assert plain[1].split()[:3] == ["status", "model", "created"]
    assert plain[2].startswith("done ") and (job.request_id or "")[:8] in plain[2]
    assert "JobsPanel(" not in bundle["text/plain"]
    assert f'<tr data-request-id="{job.request_id}">' in bundle["text/html"]


def test_terminal_prints_a_text_table(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ip.run_cell_magic("grok_defer", "-o job", "[[latency=0]] Hi \x1b[31mred\x1b[0m <b>x</b>")
    job: Job = ip.user_ns["job"]
    job.result(20)
    capsys.readouterr()
    ip.run_line_magic("grok_jobs", "")
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("0 pending · 1 done · ")
    assert lines[1].split() == [
        "status", "model", "created", "elapsed", "polls", "tokens", "cost", "id", "prompt"
    ]
    assert lines[2].startswith("done ") and (job.request_id or "")[:8] in lines[2]
    assert "\x1b" not in out and "<b>x</b>" in lines[2]
    ip.run_line_magic("grok_jobs", "--pending")
    assert capsys.readouterr().out.splitlines()[1] == "No pending jobs from this kernel."
    ip.run_line_magic("grok_jobs", "--journal")
    assert (job.request_id or "")[:8] in capsys.readouterr().out

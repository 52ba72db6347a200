"""The ``%grok_jobs`` panel: real jobs on the emulator, real widget clicks, a real kernel."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import XAI_DATA
from tests.kernels import Kernel
from xai_defer_magic import defer
from xai_defer_magic.card import JobCard
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.job import Job
from xai_defer_magic.journal import JobRecord
from xai_defer_magic.panel import JobsPanel, option_label
from xai_defer_magic.runtime import Runtime, close_runtime, get_runtime

ROW_ID = re.compile(
    r'<tr class="xdm-jobs-row[^"]*" data-request-id="([^"]*)" data-status="([^"]*)"'
)


@pytest.fixture
def runtime(env: dict[str, str]) -> Iterator[Runtime]:
    close_runtime()
    try:
        yield get_runtime()
    finally:
        close_runtime()


@pytest.fixture
def panels() -> Iterator[list[JobsPanel]]:
    made: list[JobsPanel] = []
    yield made
    for panel in made:
        panel.close()


def rows(panel: JobsPanel) -> list[tuple[str, str]]:
    """(request id, status) of each table row, top to bottom."""
    return ROW_ID.findall(panel.table.value)


def until(predicate: Callable[[], Any], timeout: float = 20, what: str = "condition") -> None:
    """Wait for ``predicate``; the timeout only bounds a hang."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def make_panel(runtime: Runtime, panels: list[JobsPanel], **kwargs: Any) -> JobsPanel:
    panel = JobsPanel(runtime, **kwargs)
    panels.append(panel)
    return panel


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
    assert panel.totals.value == (
        f"1 pending · 1 finished · {tokens:,} tokens · ${fast.cost_usd:.4f}"
    )
    assert panel.page_label.value == "rows 1–2 of 2"
    row = panel.table.value.split(f'data-request-id="{slow.request_id}"')[1].split("</tr>")[0]
    assert f'title="{slow.request_id}">{slow.request_id[:8]}<' in row
    assert "Think for a long time." in row and "grok-4" in row and "xdm-status-pending" in row

    panel.filter.value = "pending"
    assert rows(panel) == [(slow.request_id, "pending")]
    assert panel.page_label.value == "rows 1–1 of 1"
    assert [v for _label, v in panel.selector.options] == [slow]
    panel.filter.value = "all"
    assert len(rows(panel)) == 2
    assert rows(make_panel(runtime, panels, which="pending")) == [(slow.request_id, "pending")]

    later = defer("[[latency=0]] Another one.", display=False)  # after the panel was built
    until(lambda: (later.request_id, "done") in rows(panel), 20, "the tick to show the new job")
    assert rows(panel)[0] == (slow.request_id, "pending")
    assert panel.totals.value.startswith("1 pending · 2 finished · ")
    slow.cancel()


def test_show_cancel_resume_and_forget_by_clicking(
    runtime: Runtime, panels: list[JobsPanel], emulator: Emulator
) -> None:
    done = defer("[[latency=0]] Quick.", display=False)
    slow = defer("[[latency=300]] Slow.", display=False)
    done.result(20)
    panel = make_panel(runtime, panels)
    assert panel.selected is slow, "the first row is selected"
    label = f"{slow.request_id[:8]} · grok-4.3 · pending · [[latency=300]] Slow."
    assert option_label(slow) == label
    assert not panel.cancel.disabled and panel.resume.disabled and not panel.show.disabled

    panel.show.click()
    view = panel.output.outputs[0]["data"]["application/vnd.jupyter.widget-view+json"]
    card = panel.shown_card
    assert isinstance(card, JobCard) and card.job is slow and card.model_id == view["model_id"]

    panel.cancel.click()
    until(lambda: slow.status == "cancelled", 10, "cancelled")
    until(lambda: runtime.poller.active_count == 0, 10, "the polling task to end")
    until(lambda: (slow.request_id, "cancelled") in rows(panel), 10, "the row to say cancelled")
    assert panel.cancel.disabled and not panel.resume.disabled
    gets = emulator.get_count(slow.request_id or "")
    time.sleep(2.5)  # a live poller would have polled at least once by now
    assert emulator.get_count(slow.request_id or "") == gets, "polling went on after cancel"

    panel.resume.click()
    assert slow.status == "pending" and panel.resume.disabled and not panel.cancel.disabled
    emulator.complete(slow.request_id or "")
    assert slow.result(20)
    until(lambda: (slow.request_id, "done") in rows(panel), 10, "the row to say done")
    assert emulator.delivered_count(slow.request_id or "") == 1

    panel.selector.value = done
    assert 'class="xdm-jobs-row xdm-jobs-selected" data-request-id="' + str(done.request_id) in (
        panel.table.value
    )
    panel.forget.click()
    assert panel.confirm_box.layout.display == ""
    assert panel.confirm_text.value == (
        f"<b>Forget {done.request_id[:8]}?</b> This deletes its journal row and saved answer."
    )
    assert panel.forget.disabled
    panel.keep.click()
    assert panel.confirm_box.layout.display == "none"
    assert done in runtime.jobs() and runtime.journal.get(done.request_id or "") is not None

    panel.forget.click()
    panel.confirm.click()
    assert panel.confirm_box.layout.display == "none"
    assert done not in runtime.jobs()
    assert runtime.journal.get(done.request_id or "") is None
    assert [rid for rid, _status in rows(panel)] == [slow.request_id]
    assert panel.selected is slow


def journal_rows(runtime: Runtime, count: int, pending_every: int) -> list[JobRecord]:
    """``count`` synthetic journal rows: a real 200 body for finished ones, hostile prompts."""
    body = (XAI_DATA / "fixtures" / "chat_completion_200_real_grok4.json").read_text()
    now = time.time()
    records = []
    for i in range(count):
        pending = i % pending_every == 0
        prompt = f"job {i} <script>alert({i})</script> <img src=x onerror=alert(1)>"
        record = JobRecord(
            request_id=str(uuid.uuid4()), created_at=now - 60 * i, model="grok-4",
            request={"model": "grok-4", "messages": [{"role": "user", "content": prompt}]},
            base_url="http://127.0.0.1:9/v1", status="pending" if pending else "done",
            response_text=None if pending else body,
            finished_at=None if pending else now - 60 * i + 7,
        )
        runtime.journal.add(record)
        records.append(record)
    return records


def test_a_thousand_jobs_render_one_small_page(
    runtime: Runtime, panels: list[JobsPanel]
) -> None:
    records = journal_rows(runtime, 1000, pending_every=100)
    tokens = json.loads(records[1].response_text or "")["usage"]["total_tokens"]
    panel = make_panel(runtime, panels)
    assert panel.page_label.value == "rows 1–50 of 1,000"
    assert len(rows(panel)) == 50 and len(panel.selector.options) == 50
    assert len(panel.table.value) < 100_000
    assert [s for _rid, s in rows(panel)][:10] == ["pending"] * 10
    assert rows(panel)[10] == (records[1].request_id, "done")
    assert panel.totals.value == f"10 pending · 990 finished · {990 * tokens:,} tokens · –"
    assert panel.prev.disabled and not panel.next.disabled

    panel.next.click()
    assert panel.page_label.value == "rows 51–100 of 1,000" and not panel.prev.disabled
    assert rows(panel)[0] == (records[41].request_id, "done")
    while not panel.next.disabled:
        panel.next.click()
    assert panel.page_label.value == "rows 951–1,000 of 1,000"
    assert rows(panel)[-1] == (records[-1].request_id, "done")

    panel.filter.value = "pending"
    assert panel.page_label.value == "rows 1–10 of 10" and panel.next.disabled
    assert "<script" not in panel.table.value and "<img" not in panel.table.value
    assert "&lt;script&gt;alert(0)&lt;/script&gt;" in panel.table.value

    target = runtime.get(records[501].request_id)  # done: 10 pending + 495 done rows before it
    assert target is not None
    panel.select(target)
    assert panel.filter.value == "all" and panel.selected is target
    assert panel.page_label.value == "rows 501–550 of 1,000"


def test_model_and_prompt_markup_is_inert(runtime: Runtime, panels: list[JobsPanel]) -> None:
    job = defer('[[latency=300]] "><script>window.x=1</script><b onmouseover=alert(1)>hi',
                display=False)
    panel = make_panel(runtime, panels)
    html = panel.table.value
    assert "<script" not in html and "<b " not in html
    assert "&quot;&gt;&lt;script&gt;window.x=1&lt;/script&gt;" in html
    assert html.count("<tr") == 2  # the header and one job: no markup leaked into a new row
    job.cancel()


def test_terminal_prints_a_text_table(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ip.run_cell_magic("grok_defer", "-o job", "[[latency=0]] Hi \x1b[31mred\x1b[0m <b>x</b>")
    job: Job = ip.user_ns["job"]
    job.result(20)
    capsys.readouterr()
    ip.run_line_magic("grok_jobs", "")
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("0 pending · 1 finished · ")
    assert lines[1].split() == [
        "status", "model", "created", "elapsed", "polls", "tokens", "cost", "id", "prompt"
    ]
    assert lines[2].startswith("done ") and (job.request_id or "")[:8] in lines[2]
    assert "\x1b" not in out and "<b>x</b>" in lines[2]
    ip.run_line_magic("grok_jobs", "--pending")
    assert capsys.readouterr().out.splitlines()[1] == "No pending jobs."


@pytest.mark.kernel
def test_kernel_shows_a_live_panel_whose_buttons_work(
    env: dict[str, str], tmp_path: Path
) -> None:
    kernel = Kernel(env, cwd=str(tmp_path))
    try:
        kernel.run("%load_ext xai_defer_magic")
        kernel.run("%%grok_defer -o job\n[[latency=3]] Panel in a kernel.")
        request_id = kernel.run("print(job.request_id)").text().strip()
        cell = kernel.run("%grok_jobs")
        assert "application/vnd.jupyter.widget-view+json" in cell.outputs[-1]["content"]["data"]

        def part(hook: str) -> tuple[str, dict[str, Any]]:
            found = [(cid, m) for cid, m in kernel.widgets.models.items()
                     if hook in m.get("_dom_classes", ())]
            assert len(found) == 1, f"expected one {hook}, saw {len(found)}"
            return found[0]

        table = part("xdm-jobs-table")[1]
        assert f'data-request-id="{request_id}" data-status="pending"' in table["value"]
        kernel.pump_until(
            lambda: f'data-request-id="{request_id}" data-status="done"' in table["value"],
            30, "the panel to show the job done",
        )
        show_id, _show = part("xdm-jobs-show")
        message = kernel.kc.session.msg("comm_msg", {
            "comm_id": show_id, "data": {"method": "custom", "content": {"event": "click"}},
        })
        kernel.kc.shell_channel.send(message)
        output = part("xdm-jobs-output")[1]
        kernel.pump_until(lambda: bool(output.get("outputs")), 15, "Show to put a card below")
        view = output["outputs"][0]["data"]["application/vnd.jupyter.widget-view+json"]
        card = kernel.widgets.models[view["model_id"]]
        assert "xdm-card" in card["_dom_classes"]
        assert "xdm-status-done" in kernel.widgets.child(card["children"][1])["value"]
    finally:
        kernel.stop()

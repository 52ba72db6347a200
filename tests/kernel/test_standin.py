"""The plain-data stand-in of each live widget, in a real kernel, as a frontend receives it.

A frontend shows, for every display id, the last ``display_data``/``update_display_data`` it
got (``Kernel.displays``). While a widget is live its stand-in says the same in brief; when its
job or group ends the stand-in is retired and the widget's own output is plain data.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.kernels import Execution, Kernel, request_id_of
from xai_defer_magic.emulator import Emulator

pytestmark = [pytest.mark.kernel, pytest.mark.grok_config(first_poll=0.3)]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def pair(cell: Execution) -> tuple[str, str]:
    """(the widget's display id, its stand-in's), in the order the cell showed them."""
    shown = [(o["content"]["transient"]["display_id"], o["content"]["data"])
             for o in cell.outputs if o["msg_type"] == "display_data"]
    assert len(shown) == 2, shown
    (widget_id, widget), (standin_id, standin) = shown
    assert WIDGET_VIEW in widget and widget["text/plain"].startswith("[grok]")
    assert 'class="xdm-standin ' in standin["text/html"] and 'style="display:none"' in standin[
        "text/html"], "hidden unless the rules for JupyterLab's output area show it"
    assert standin["text/plain"] == "", "plain-text views read the widget's own line only"
    return widget_id, standin_id


def says(data: dict[str, Any]) -> str:
    """The stand-in's words: its HTML without the style block and tags."""
    body = re.sub(r"<style>.*?</style>", "", data["text/html"], flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip()


def live_class(kernel: Kernel, standin_html: str) -> str:
    """The class the stand-in's CSS waits for, which the widget's root must carry."""
    token = standin_html.split("xdm-standin-", 1)[1][:32]
    live = f"xdm-live-{token}"
    assert any(live in m.get("_dom_classes", ()) for m in kernel.widgets.models.values())
    return live


def retired(data: dict[str, Any]) -> bool:
    return says(data) == "" and "xdm-retired" in data["text/html"]


def test_a_job_card_stand_in_follows_the_job_is_retired_and_comes_back_on_resume(
    kernel: Kernel, emulator: Emulator
) -> None:
    cell = kernel.run("%%grok_defer -m grok-4.3 -o job --timeout 1.5\nslow [[latency=4]]")
    widget_id, standin_id = pair(cell)
    live_class(kernel, kernel.displays.latest[standin_id]["text/html"])
    rid = request_id_of(kernel)
    shows = kernel.displays.latest
    kernel.pump_until(lambda: "timed_out" in shows[widget_id].get("text/plain", ""), 20,
                      "the job to time out")
    assert retired(shows[standin_id]) and WIDGET_VIEW not in shows[widget_id]

    kernel.run("job.timeout = None\njob.resume()")  # no second timeout: let it finish
    kernel.pump_until(lambda: "pending when this output last changed" in says(shows[standin_id]),
                      10, "the stand-in to say pending again")
    assert WIDGET_VIEW in shows[widget_id], "the live card is back"
    assert rid in shows[standin_id]["text/html"] and "%grok_result" in shows[standin_id][
        "text/html"]

    kernel.pump_until(lambda: "xdm-status-done" in shows[widget_id].get("text/html", ""), 20,
                      "the answer")
    assert retired(shows[standin_id])
    # Nothing said twice: each change of status is one message, polls are not.
    said = [says(d) for _t, d in kernel.displays.updates(standin_id)]
    assert all(a != b for a, b in itertools.pairwise(said)), said


def test_group_stand_in_is_paced_and_retired_and_the_panel_keeps_a_table(
    kernel: Kernel, emulator: Emulator
) -> None:
    kernel.run("xs = ['a', 'b', 'c']")
    cell = kernel.run("%%grok_defer --over xs -o g\n{item} [[latency=3]]")
    widget_id, standin_id = pair(cell)
    shows = kernel.displays.latest
    kernel.pump_until(lambda: "3 submitted" in says(shows[standin_id]), 20,
                      "the group stand-in to catch up")
    assert "%grok_wait g-" in says(shows[standin_id])

    panel_cell = kernel.run("%grok_jobs")
    outputs = [o for o in panel_cell.outputs if o["msg_type"] == "display_data"]
    panel_standin = outputs[-1]["content"]
    assert WIDGET_VIEW in outputs[-2]["content"]["data"] and "xdm-standin" in panel_standin[
        "data"]["text/html"]
    panel_id = panel_standin["transient"]["display_id"]

    kernel.pump_until(lambda: "3 done" in shows[widget_id].get("text/plain", ""), 30,
                      "the group to end")
    assert retired(shows[standin_id]) and WIDGET_VIEW not in shows[widget_id]
    times = [t for t, _d in kernel.displays.updates(standin_id)]
    assert len(times) >= 3, "it followed the group (positive control for the pace check)"
    live = times[1:-1]  # the first display and the retirement are not paced
    gaps = [b - a for a, b in itertools.pairwise(live)]
    assert all(gap >= 0.9 for gap in gaps), gaps
    # The panel's stand-in follows its table: a job sent after the panel was shown ends there.
    kernel.run("%%grok_defer -o solo\nsolo [[latency=1]]")
    solo = request_id_of(kernel, "solo")[:8]
    kernel.pump_until(lambda: solo in says(shows[panel_id]) and "1 done" in says(
        shows[panel_id]), 15, "the panel's stand-in to list the finished job")


def test_headless_run_saves_no_stale_stand_in(env: dict[str, str], tmp_path: Path) -> None:
    """papermill/nbclient keep only the running cell's messages: ``%grok_wait`` retires the
    stand-in from its own cell, so the saved card cell holds the answer and nothing pending."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (
        "%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.3",
        "%%grok_defer -m grok-4.3\nheadless [[latency=1]]",
        "%grok_wait",
    )]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={
        "metadata": {"path": str(tmp_path)}}).execute(env={**env})
    outputs = nb.cells[1].outputs
    texts = json.dumps([o.get("data", {}) for o in outputs])
    assert "xdm-status-done" in texts and WIDGET_VIEW not in texts, texts[:1500]
    assert ": pending when this output last changed" not in texts

"""The magic in a real ipykernel: returns at once, keeps the kernel usable, the card goes live."""

from __future__ import annotations

import re

import pytest

from tests.support.kernels import Kernel, request_id_of
from xai_defer_magic.emulator import Emulator

pytestmark = pytest.mark.kernel


def card_parts(kernel: Kernel) -> dict:
    cards = kernel.widgets.cards()
    assert len(cards) == 1, f"expected one card, saw {len(cards)}"
    return kernel.widgets.card_parts(cards[0])


def test_cell_is_idle_before_the_job_finishes_and_the_card_fills_in(
    kernel: Kernel, emulator: Emulator
) -> None:
    emulator.latency = 6.0
    cell = kernel.run("%%grok_defer -m grok-3-mini -o job\nList three prime numbers.")
    assert cell.idle_at is not None and cell.idle_at - cell.started < 3.0
    request_id = request_id_of(kernel)
    assert emulator.delivered_count(request_id) == 0, "the cell waited for the answer"

    following = kernel.run("print(job.status, 6 * 7)")
    assert following.text().split() == ["pending", "42"]

    kernel.pump_until(lambda: "xdm-status-done" in card_parts(kernel)["header"], 30, "done")
    parts = card_parts(kernel)
    html = parts["answer"]["outputs"][0]["data"]["text/html"]
    assert "<h2" in html and "<li>" in html and "<table>" in html
    assert '<pre class="xdm-code"' in html
    assert "Emulated answer" in html
    assert request_id in parts["footer"] and "total" in parts["footer"]
    reasoning = parts["reasoning"]["value"]
    assert "Emulated reasoning" in reasoning
    assert "<details" in reasoning and "<details open" not in reasoning, "starts collapsed"

    check = kernel.run("print(job.result(5) == job.content, job.status, job.polls > 1)")
    assert check.text().split() == ["True", "done", "True"]
    assert emulator.delivered_count(request_id) == 1
    assert emulator.gets_after_delivery(request_id) == 0


def test_card_keeps_ticking_while_another_cell_sleeps(kernel: Kernel, emulator: Emulator) -> None:
    emulator.latency = 30.0
    kernel.run("%%grok_defer -o job\nA long one.")
    sleeper = kernel.submit("import time; time.sleep(5)")
    kernel.wait(sleeper, 20)
    start = sleeper.started + 0.5
    updates = kernel.widgets.header_updates(start, sleeper.idle_at or start + 5)
    elapsed = [re.search(r'xdm-elapsed">([^<]*)<', u) for u in updates]
    distinct = {m.group(1) for m in elapsed if m}
    assert len(distinct) >= 4, f"card froze during time.sleep: {distinct}"
    kernel.run("job.cancel()")


def test_wait_leaves_the_answer_in_the_cell_output(kernel: Kernel, emulator: Emulator) -> None:
    emulator.latency = 2.0
    cell = kernel.run("%%grok_defer --wait -m grok-4\nExplain deferred completions.", 60)
    markdown = cell.text("text/markdown")
    assert "Emulated answer" in markdown
    assert "application/vnd.jupyter.widget-view+json" not in cell.outputs[-1]["content"]["data"]
    assert cell.outputs[-1]["msg_type"] == "update_display_data"


def test_error_card_shows_one_line(kernel: Kernel, emulator: Emulator) -> None:
    kernel.run("%%grok_defer -m grok-nonexistent -o job\nhi")
    kernel.pump_until(lambda: "xdm-status-failed" in card_parts(kernel)["header"], 10, "failed")
    error = card_parts(kernel)["error"]
    assert "Model not found" in error and "Traceback" not in error
    out = kernel.run("print(job.status); print(job.error)").text()
    assert out.startswith("failed\n") and out.count("\n") == 2


def test_extension_loads_from_ipython_config(env: dict[str, str], tmp_path) -> None:
    """``c.InteractiveShellApp.extensions = ["xai_defer_magic"]`` works without %load_ext."""
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text(
        'c.InteractiveShellApp.extensions = ["xai_defer_magic"]\n'
    )
    k = Kernel({**env, "IPYTHONDIR": str(tmp_path / "ipython")}, cwd=str(tmp_path))
    try:
        cell = k.run("%%grok_defer --wait -m grok-3\nLoaded by configuration.", 60)
        assert "Emulated answer" in cell.text("text/markdown")
    finally:
        k.stop()

"""A finished job as plain rich data in a real kernel: what the frontend receives, and what a
headless run saves in each card's own cell."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.kernels import Kernel
from xai_defer_magic.emulator import Emulator

WIDGET = "application/vnd.jupyter.widget-view+json"

pytestmark = pytest.mark.grok_config(first_poll=0.3)


def display_id_of(cell: Any) -> str:
    ids = [o["content"].get("transient", {}).get("display_id") for o in cell.outputs
           if o["msg_type"] == "display_data" and WIDGET in o["content"]["data"]]
    assert len(ids) == 1 and ids[0], cell.outputs
    return str(ids[0])


def test_outputs_need_no_widget_state(kernel: Kernel, emulator: Emulator) -> None:
    emulator.latency = 2.0
    card = kernel.run("%%grok_defer -m grok-3-mini -o job\nList three primes.")
    display_id = display_id_of(card)
    sleeper = kernel.submit("import time; time.sleep(6)")

    def swaps() -> list[dict[str, Any]]:
        return [o for o in sleeper.outputs if o["msg_type"] == "update_display_data"
                and WIDGET not in o["content"]["data"]
                and o["content"]["transient"].get("display_id") == display_id]

    # The card's output becomes plain data while the other cell sleeps, by display id, stamped
    # with the running cell's header (so nbclient, which reads only that cell's, saves it too).
    kernel.pump_until(lambda: bool(swaps()), 30, "the card to become plain data")
    assert sleeper.idle_at is None, "the swap came only after the sleeping cell"
    kernel.wait(sleeper, 30)
    assert len(swaps()) == 1, sleeper.outputs
    data = swaps()[0]["content"]["data"]
    assert set(data) == {"text/html", "text/markdown", "text/plain"}
    assert "Emulated answer" in data["text/html"] and "xdm-status-done" in data["text/html"]
    assert "<details" in data["text/html"]

    waited = kernel.run("%%grok_defer --wait -m grok-4\nExplain deferred completions.", 60)
    final = waited.outputs[-1]
    assert final["msg_type"] == "update_display_data", waited.outputs
    assert WIDGET not in final["content"]["data"]
    assert "Emulated answer" in final["content"]["data"]["text/html"]

    kernel.run("%%grok_defer -o other\nOne more.")
    for cell in (kernel.run("%grok_wait", 60), kernel.run("%grok_result {job.request_id}")):
        shown = [o for o in cell.outputs if o["msg_type"] == "display_data"]
        assert shown and all(WIDGET not in o["content"]["data"] for o in shown), cell.outputs
        assert "Emulated answer" in shown[-1]["content"]["data"]["text/html"]

    last_line = kernel.run("job.result()")
    result = next(o for o in last_line.outputs if o["msg_type"] == "execute_result")["content"]
    assert "<h2" in result["data"]["text/html"] and "text/markdown" in result["data"]
    check = kernel.run("print(job.result() == job.content, type(job.result()).__name__)")
    assert check.text().split() == ["True", "Answer"]
    assert json.dumps(result["data"]["text/plain"]).count("\\\\n") == 0


def test_a_headless_run_saves_plain_data_in_the_card_cells(
    env: dict[str, str], emulator: Emulator, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """papermill/nbconvert: ``%grok_wait`` leaves each card's own cell as plain data too."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    emulator.latency = (1.0, 3.0)
    cells = ["%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.3",
             "%%grok_defer\nFirst headless prompt.", "%%grok_defer\nSecond headless prompt.",
             "%grok_wait"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={
        "metadata": {"path": str(tmp_path)}})
    client.km_kwargs = {}
    client.execute()
    for cell in nb.cells[1:3]:
        mimes = {m for o in cell.outputs for m in o.get("data", {})}
        assert WIDGET not in mimes, cell.outputs
        assert any("Emulated answer" in o.get("data", {}).get("text/html", "")
                   for o in cell.outputs), cell.outputs

"""The ``%grok_jobs`` panel in real kernels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

from tests.support.kernels import Kernel, request_id_of


def test_headless_run_saves_a_readable_table(env: dict[str, str], tmp_path: Path) -> None:
    """nbclient (as papermill runs it): the saved %grok_jobs output is a table, not a repr."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(f"import os\nos.environ.update({env!r})"),
        nbformat.v4.new_code_cell("%load_ext xai_defer_magic"),
        nbformat.v4.new_code_cell("%%grok_defer --wait -o job\n[[latency=0]] Headless."),
        nbformat.v4.new_code_cell("%grok_jobs"),
    ]
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, str(path))
    saved = nbformat.read(str(path), as_version=4).cells[-1].outputs
    plain = "".join(o.get("data", {}).get("text/plain", "") for o in saved)
    assert "JobsPanel(" not in plain and "<style>" not in plain
    lines = plain.splitlines()
    assert lines[0].startswith("0 pending · 1 done · "), plain
    assert lines[2].startswith("done ") and "Headless." in lines[2]
    html = "".join(o.get("data", {}).get("text/html", "") for o in saved)
    assert "<table" in html and "Headless." in html


def test_kernel_shows_a_live_panel_whose_row_buttons_work(
    env: dict[str, str], tmp_path: Path
) -> None:
    kernel = Kernel(env, cwd=str(tmp_path))
    try:
        kernel.run("%load_ext xai_defer_magic")
        kernel.run("%%grok_defer -o job\n[[latency=3]] Panel in a kernel.")
        request_id = request_id_of(kernel)
        cell = kernel.run("%grok_jobs")
        shown = [o["content"]["data"] for o in cell.outputs if o["msg_type"] == "display_data"]
        assert "application/vnd.jupyter.widget-view+json" in shown[-2], "the panel"
        assert "xdm-standin" in shown[-1]["text/html"], "then its stand-in"

        def with_class(hook: str) -> list[tuple[str, dict[str, Any]]]:
            return [(cid, m) for cid, m in kernel.widgets.models.items()
                    if hook in m.get("_dom_classes", ())]

        def cells() -> str:
            return "".join(kernel.widgets.child(m["children"][0]).get("value", "")
                           for _cid, m in with_class("xdm-jobs-row"))

        assert f'data-request-id="{request_id}" data-status="pending"' in cells()
        kernel.pump_until(lambda: f'data-request-id="{request_id}" data-status="done"' in cells(),
                          30, "the panel to show the job done")
        (row_id, row_model), = with_class("xdm-jobs-row")
        show_id = row_model["children"][1].removeprefix("IPY_MODEL_")
        message = kernel.kc.session.msg("comm_msg", {
            "comm_id": show_id, "data": {"method": "custom", "content": {"event": "click"}},
        })
        kernel.kc.shell_channel.send(message)
        (_oid, output), = with_class("xdm-jobs-output")
        kernel.pump_until(lambda: bool(output.get("outputs")), 15, "Show to put a card below")
        view = output["outputs"][0]["data"]["application/vnd.jupyter.widget-view+json"]
        card = kernel.widgets.models[view["model_id"]]
        assert "xdm-card" in card["_dom_classes"]
        assert "xdm-status-done" in kernel.widgets.child(card["children"][0])["value"]
        kernel.pump_until(
            lambda: "xdm-jobs-selected" in kernel.widgets.models[row_id]["_dom_classes"],
            15, "the clicked row to be selected")
    finally:
        kernel.stop()

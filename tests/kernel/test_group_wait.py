"""``%%grok_defer --over ... --wait`` leaves ONE summary in its cell, as plain data.

The group card of the cell is replaced in place by the summary (as ``--wait`` does for one job),
not followed by a second copy; the saved notebook needs no widget state.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = pytest.mark.kernel

WIDGET = "application/vnd.jupyter.widget-view+json"


def run_headless(notebook: Any, env: dict[str, str], tmp_path: Path) -> None:
    """Execute as papermill would, with this test's emulator and journal in the environment."""
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    saved = os.environ.copy()
    os.environ.update(env)
    try:
        NotebookClient(notebook, timeout=120, resources={"metadata": {"path": str(tmp_path)}}
                       ).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_fan_out_wait_shows_one_summary_and_no_widget(
    env: dict[str, str], tmp_path: Path
) -> None:
    notebook = new_notebook(cells=[
        new_code_cell("%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.2\n"
                      "xs = ['ant', 'bee', 'cat']"),
        new_code_cell("%%grok_defer --over xs --wait -o g\nName {item}"),
        new_code_cell("print(g.results())"),
    ])
    run_headless(notebook, env, tmp_path)
    nbformat.validate(notebook)
    outputs = notebook.cells[1].outputs
    # The live card's stand-in (standin.py) stays as an empty, self-hiding output.
    retired = [o for o in outputs if 'class="xdm-retired' in o.get("data", {}).get("text/html", "")]
    assert all(o["data"]["text/plain"] == "" for o in retired)
    summaries = [o for o in outputs if "text/html" in o.get("data", {}) and o not in retired]
    assert len(summaries) == 1, [sorted(o.get("data", {})) for o in outputs]
    assert not [o for o in outputs if WIDGET in o.get("data", {})], "a widget was saved"
    assert "3 done · 0 failed · 0 pending of 3" in summaries[0]["data"]["text/plain"]
    assert "None" not in notebook.cells[2].outputs[0]["text"]


def test_python_wait_in_the_same_cell_leaves_the_summary_not_a_live_card(
    env: dict[str, str], tmp_path: Path
) -> None:
    """``g.wait()`` returns only once the card is the summary: a headless run keeps only the
    running cell's messages, so a card finished a moment after the cell ends stays a widget."""
    notebook = new_notebook(cells=[
        new_code_cell("%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.2\n"
                      "import xai_defer_magic\nxs = ['ant', 'bee', 'cat']"),
        new_code_cell("g = xai_defer_magic.defer_many('Name {item}', xs)\ng.wait(60)\n"
                      "g.counts()['done']"),
    ])
    run_headless(notebook, env, tmp_path)
    outputs = notebook.cells[1].outputs
    assert not [o for o in outputs if WIDGET in o.get("data", {})], "the live card was saved"
    texts = "".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "3 done · 0 failed · 0 pending of 3" in texts, texts
    assert "pending when this output last changed" not in json.dumps(outputs)

"""``%grok_models`` and the redirect note in real kernels: a live card (the catalogue arrives on
the loop thread, then the card re-renders) and a headless nbclient run (saved text outputs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.html import visible_text
from tests.support.kernels import Kernel
from xai_defer_magic.emulator import Emulator

pytestmark = pytest.mark.kernel


def test_rich_models_table_and_a_live_card_naming_who_answered(
    kernel: Kernel, emulator: Emulator
) -> None:
    shown = kernel.run("%grok_models")
    html = shown.text("text/html")
    assert '<table class="xdm-models">' in html and "<td>grok-4.3-latest</td>" in html
    assert '<tr class="xdm-models-default"><td>*</td><td>grok-4.3</td>' in html
    assert "$1.25" in html and "prices in USD per 1M tokens" in html
    assert "grok-3-mini" in shown.text("text/plain")

    emulator.latency = 0.5
    kernel.run("%%grok_defer -m grok-4 -o job\nWho answers a retired name?")

    def card() -> dict[str, Any]:
        [only] = kernel.widgets.cards()
        return kernel.widgets.card_parts(only)

    kernel.pump_until(lambda: "grok-4 is retired" in card()["footer"], 30, "the redirect note")
    parts = card()
    assert "grok-4 → grok-4.3" in parts["header"]
    footer = visible_text(parts["footer"])  # each $ sits in a span MathJax ignores
    assert "$1.25 input, $0.20 cached, $2.50 output per 1M tokens" in footer
    handle = kernel.run("print(job.model, job.served_model, job.cost_estimated)")
    assert handle.text().split() == ["grok-4", "grok-4.3", "False"]


def test_headless_run_keeps_the_models_table_and_the_note(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    emulator.latency = 0.3
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in (
        "%load_ext xai_defer_magic",
        "%grok_models",
        "%%grok_defer --wait -m grok-4\nSay who you are.",
    )]
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    table = "".join(o.get("data", {}).get("text/plain", "") for o in nb.cells[1].outputs)
    assert table.splitlines()[0].split()[:2] == ["model", "aliases"]
    assert any(line.startswith("*") and "grok-4.3" in line and "$2.50" in line
               for line in table.splitlines())
    waited = nb.cells[2].outputs
    plain = "".join(o.get("data", {}).get("text/plain", "") for o in waited)
    markdown = "".join(o.get("data", {}).get("text/markdown", "") for o in waited)
    assert "grok-4 → grok-4.3: done" in plain and "grok-4 is retired" in plain
    assert "grok-4 is retired" in markdown and r"\$1.25" in markdown

"""notebooks/quickstart.ipynb runs top to bottom, headless, with no key: the emulator answers.

Executed with nbclient in a real kernel, exactly as a user without ``XAI_API_KEY`` would run it
(fresh ``XAI_DEFER_HOME``, no ``XAI_BASE_URL``): the notebook's own ``use_emulator()`` call must
make every cell work and leave the answers in the outputs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.kernel

QUICKSTART = Path(__file__).resolve().parent.parent / "notebooks" / "quickstart.ipynb"


def output_text(cell: Any) -> str:
    """Everything a reader could see in a cell's outputs, as text (stream, plain, markdown)."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        for mime in ("text/plain", "text/markdown", "text/html"):
            parts.append(str(out.get("data", {}).get(mime, "")))
    return "\n".join(parts)


def find(nb: Any, source: str) -> Any:
    """The one code cell whose source starts with ``source``."""
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(source)]
    assert len(cells) == 1, f"expected one cell starting with {source!r}, found {len(cells)}"
    return cells[0]


def test_committed_notebook_has_no_outputs_and_no_key() -> None:
    nb = nbformat.read(str(QUICKSTART), as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "widgets" not in nb.metadata, "saved widget state in the committed notebook"
    text = QUICKSTART.read_text()
    assert not re.search(r"xai-[A-Za-z0-9]{20,}", text), "something that looks like a key"
    assert "XAI_API_KEY'] =" not in text and 'XAI_API_KEY"] =' not in text


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The quickstart after a headless run without XAI_API_KEY (one run for every test here)."""
    work = tmp_path_factory.mktemp("quickstart")
    home = work / "journal"
    home.mkdir()
    mp = pytest.MonkeyPatch()
    mp.delenv("XAI_API_KEY", raising=False)
    mp.delenv("XAI_BASE_URL", raising=False)
    mp.setenv("XAI_DEFER_HOME", str(home))
    try:
        nb = nbformat.read(str(QUICKSTART), as_version=4)
        client = NotebookClient(
            nb, timeout=300, kernel_name="python3", allow_errors=False,
            resources={"metadata": {"path": str(work)}},
        )
        client.execute()
    finally:
        mp.undo()
    nbformat.write(nb, str(work / "executed.ipynb"))
    return nb


def test_every_code_cell_ran_without_error(executed: Any) -> None:
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    errors = [o for c in code for o in c.outputs if o["output_type"] == "error"]
    assert errors == []
    stderr = [o["text"] for c in code for o in c.outputs
              if o["output_type"] == "stream" and o["name"] == "stderr"]
    assert not any("Traceback" in s or "Error" in s for s in stderr), stderr


def test_it_used_the_builtin_emulator(executed: Any) -> None:
    said = output_text(find(executed, "from xai_defer_magic.emulator.quick import use_emulator"))
    assert "No XAI_API_KEY: using the built-in emulator at http://127.0.0.1:" in said


def test_the_answers_are_in_the_outputs(executed: Any) -> None:
    answer = output_text(find(executed, "answer = job.result()"))
    assert "Emulated answer" in answer
    usage = output_text(find(executed, "print(job.status, job.usage"))
    assert re.search(r"^done \d+ tokens\ncost in USD: 0\.\d+", usage), usage
    waited = find(executed, "%grok_wait")
    assert "Emulated answer" in output_text(waited)
    html = "".join(str(o.get("data", {}).get("text/html", "")) for o in waited.outputs)
    assert "<h2" in html and "<li>" in html and '<pre class="xdm-code"' in html
    again = output_text(find(executed, "%grok_result"))
    assert "Emulated answer" in again and "Three tips" not in again  # the emulator, not a model
    loop = output_text(find(executed, "for topic, j in zip(topics, batch):\n    first_line"))
    assert loop.count(": done, ") == 3 and loop.count("Emulated answer") == 3


def test_each_deferred_cell_shows_a_card(executed: Any) -> None:
    cards = [c for c in executed.cells
             if c.cell_type == "code" and c.source.startswith("%%grok_defer")]
    assert len(cards) == 5
    for cell in cards:
        # A card that finished while a later cell ran was saved as plain data (no widget);
        # one still pending when its cell was saved is the live card with a text fallback.
        shown = [o for o in cell.outputs if o.get("data", {}).get("text/plain", "")
                 .startswith("[grok] ")]
        assert shown, f"no card in {cell.source.splitlines()[0]!r}"
        data = shown[0]["data"]
        static = 'class="xdm-card xdm-static"' in data.get("text/html", "")
        assert static or "application/vnd.jupyter.widget-view+json" in data, data.keys()

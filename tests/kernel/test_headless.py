"""Headless runs: nbconvert and papermill save every answer; the cell id reaches the journal.

nbclient (under both tools) keeps only messages whose parent is the running cell, so the saved
notebook holds what ``%grok_wait`` displays while it runs, not the cards' later updates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.support import FAKE_KEY
from tests.support.kernels import Execution, Kernel, request_id_of
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.journal import DB_NAME, Journal

pytestmark = pytest.mark.kernel

BIN = Path(sys.executable).parent  # the venv's jupyter and papermill
PROMPTS = ("Headless prompt alpha", "Headless prompt bravo", "Headless prompt charlie")
RUN_TIMEOUT = 180  # bounds a hang only; a run takes a few seconds

Runner = Callable[[Path, Path, dict[str, str], Path], subprocess.CompletedProcess[str]]


def build_notebook(path: Path) -> nbformat.NotebookNode:
    """Load, three deferred cells, then one blocking wait; nbformat 4.5 cells carry ids."""
    cells = [new_code_cell("%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.5")]
    cells += [new_code_cell(f"%%grok_defer -o job_{i}\n{p}") for i, p in enumerate(PROMPTS)]
    cells.append(new_code_cell("%grok_wait"))
    notebook = new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(notebook, path)
    return notebook


def run_nbconvert(src: Path, dst: Path, env: dict[str, str], cwd: Path
                  ) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute", str(src),
               "--output", dst.name, "--output-dir", str(dst.parent),
               "--ExecutePreprocessor.timeout=120"]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, check=False)


def run_papermill(src: Path, dst: Path, env: dict[str, str], cwd: Path
                  ) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "papermill"), str(src), str(dst), "--kernel", "python3",
               "--cwd", str(cwd), "--no-progress-bar", "--execution-timeout", "120"]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, check=False)


def child_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """This process's environment plus the test's key, emulator URL and journal, isolated
    from the user's Jupyter runtime and IPython profile."""
    return {**os.environ, **env, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
            "IPYTHONDIR": str(tmp_path / "ipython")}


def markdown_outputs(cell: nbformat.NotebookNode) -> list[str]:
    return [out["data"]["text/markdown"] for out in cell.get("outputs", [])
            if "text/markdown" in out.get("data", {})]


def journal_rows(home: Path) -> list[Any]:
    journal = Journal(home)
    try:
        assert journal.path is not None, journal.problem
        return journal.all()
    finally:
        journal.close()


@pytest.mark.parametrize("runner", [run_nbconvert, run_papermill], ids=["nbconvert", "papermill"])
def test_headless_run_saves_every_answer_and_never_the_key(
    runner: Runner, env: dict[str, str], emulator: Emulator, home: Path, tmp_path: Path
) -> None:
    emulator.latency = (2.0, 4.0)
    src, dst = tmp_path / "three_jobs.ipynb", tmp_path / "three_jobs.out.ipynb"
    source = build_notebook(src)

    done = runner(src, dst, child_env(env, tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert FAKE_KEY not in done.stdout + done.stderr

    saved_text = dst.read_text(encoding="utf-8")
    assert FAKE_KEY not in saved_text
    saved = nbformat.reads(saved_text, as_version=4)
    errors = [o for c in saved.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors == []

    rows = {row.request_id: row for row in journal_rows(home)}
    prompt_of = {rid: row.request["messages"][-1]["content"] for rid, row in rows.items()}
    assert sorted(prompt_of.values()) == sorted(PROMPTS)
    waited = markdown_outputs(saved.cells[-1])
    assert len(waited) == 3, saved.cells[-1]
    for rid, prompt in prompt_of.items():
        shown = [m for m in waited if rid in m]
        assert len(shown) == 1, f"{prompt}: {waited}"
        assert "Emulated answer" in shown[0] and f"Re: “{prompt}”" in shown[0]
        assert rows[rid].status == "done"
        assert (emulator.delivered_count(rid), emulator.gets_after_delivery(rid)) == (1, 0)

    # nbclient 0.11 sends no cellId with execute_request (JupyterLab does; see the test
    # below); whatever reaches the journal must be the id of the cell that made the job.
    cell_of = {cell.source.split("\n", 1)[1]: cell.id for cell in source.cells[1:4]}
    for rid, prompt in prompt_of.items():
        assert rows[rid].cell_id in (None, cell_of[prompt])
    for path in home.iterdir():
        assert FAKE_KEY.encode() not in path.read_bytes(), path
    assert (home / DB_NAME).exists()


def run_as_jupyterlab(kernel: Kernel, code: str, cell_id: str, timeout: float = 60) -> Execution:
    """Execute ``code`` with the metadata JupyterLab sends with every cell."""
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
               "allow_stdin": False, "stop_on_error": True}
    metadata = {"cellId": cell_id, "deletedCells": [], "recordTiming": False}
    msg = kernel.kc.session.msg("execute_request", content, metadata=metadata)
    kernel.kc.shell_channel.send(msg)
    execution = Execution(msg["header"]["msg_id"])
    kernel._pending[execution.msg_id] = execution
    return kernel.wait(execution, timeout)


def test_cell_id_sent_by_the_frontend_reaches_the_journal(
    env: dict[str, str], emulator: Emulator, home: Path, tmp_path: Path
) -> None:
    emulator.latency = 30.0  # the job only has to be submitted
    kernel = Kernel(env, cwd=str(tmp_path))
    try:
        kernel.run("%load_ext xai_defer_magic")
        cell_id = str(uuid.uuid4())
        cell = run_as_jupyterlab(kernel, "%%grok_defer -o job\nWhich cell am I in?", cell_id)
        assert cell.status == "ok", cell.outputs
        request_id_of(kernel)
        seen = json.loads(kernel.run(
            "import json; print(json.dumps([job.request_id, job.cell_id]))").text())
        kernel.run("%%grok_defer -o other\nA frontend that sends no cell id")
        kernel.run("job.cancel(); other.cancel()")
    finally:
        kernel.stop()
    rows = {row.request_id: row for row in journal_rows(home)}
    assert seen == [seen[0], cell_id]
    assert rows[seen[0]].cell_id == cell_id
    assert [row.cell_id for rid, row in rows.items() if rid != seen[0]] == [None]

"""``%load_ext`` is as cheap as importing ipywidgets (benchmark B6 has the figures): with no
journal yet it imports none of the machinery and starts no thread; with a journal it resumes
what an earlier kernel left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.kernels import Kernel
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.journal import Journal

pytestmark = pytest.mark.kernel

MACHINERY = ("httpx", "ipywidgets", "markdown_it", "nh3", "pandas",
             "xai_defer_magic.journal", "xai_defer_magic.runtime.runtime",
             "xai_defer_magic.views.card")
PROBE = ("import json, sys, threading\n"
         f"print(json.dumps([[m for m in {MACHINERY!r} if m in sys.modules],\n"
         "                  sorted(t.name for t in threading.enumerate())]))")


def test_load_imports_no_machinery_until_first_use(
    env: dict[str, str], emulator: Emulator, home: Path, tmp_path: Path
) -> None:
    emulator.latency = 0.2
    kernel = Kernel(env, cwd=str(tmp_path))
    try:
        kernel.run("%load_ext xai_defer_magic")
        imported, threads = json.loads(kernel.run(PROBE).text())
        assert imported == [] and "xai-defer-poller" not in threads, (imported, threads)
        assert not (home / "jobs.sqlite3").exists(), "load created the journal"

        cell = kernel.run("%%grok_defer --wait -o job\nFirst use.", 60)
        assert "Emulated answer" in cell.text("text/markdown")
        imported, threads = json.loads(kernel.run(PROBE).text())
        assert "httpx" in imported and "xai-defer-poller" in threads
    finally:
        kernel.stop()


def test_load_with_a_journal_resumes_what_a_killed_kernel_left(
    env: dict[str, str], emulator: Emulator, home: Path, tmp_path: Path
) -> None:
    emulator.latency = 1.0
    first = Kernel(env, cwd=str(tmp_path))
    try:
        first.run("%load_ext xai_defer_magic\n%config GrokDefer.resume_on_load = True")
        first.run("%%grok_defer -o job\nLeft pending by a kernel that stops.")
        first.run("import time\nwhile job.request_id is None: time.sleep(0.02)")
    finally:
        first.kill()
        first.stop()
    second = Kernel(env, cwd=str(tmp_path))
    try:
        second.run("%load_ext xai_defer_magic")
        shown = second.run("%grok_wait", 60)
        assert "Left pending by a kernel that stops." in shown.text("text/markdown")
    finally:
        second.stop()
    journal = Journal(home)
    try:
        assert [r.status for r in journal.all()] == ["done"]
    finally:
        journal.close()

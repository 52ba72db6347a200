"""A two-turn thread in a default JupyterLab: the follow-up, run before the first answer is
in, shows a queued card that says which turn it waits for, then the answer that carries the
history ("thread plan · turn 2"). JupyterLab sends each cell's id, so a second "Run All" of
the finished notebook re-asks nothing, and the saved notebook keeps both answers as plain data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import (
    LONG,
    JupyterLab,
    NotebookPage,
    kernel_env_cell,
    write_notebook,
)
from xai_defer_magic.emulator import Emulator

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

FIRST, SECOND = 2, 3


def chat_posts(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests() if r.method == "POST")


def test_two_turn_thread_queues_then_answers_and_run_all_again_sends_nothing(
        default_lab: JupyterLab, browser: Browser, tmp_path: Path) -> None:
    with Emulator(latency=0.3) as emu:
        write_notebook(default_lab.root / "thread.ipynb", [
            ("code", kernel_env_cell(emu.base_url, tmp_path / "journal")),
            ("code", "%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.2"),
            ("code", '%%grok_defer --thread plan -s "Be brief."\n'
                     "Suggest a name for a CSV tool. [[latency=4]]"),
            ("code", "%%grok_defer --thread plan\nWhy that one?"),
        ])
        page = NotebookPage(default_lab, browser, "thread.ipynb")
        try:
            page.open()
            page.run_all()
            page.wait_all_ran()
            waiting = page.cell(SECOND).locator(".xdm-card")
            expect(waiting.locator(".xdm-pill").first).to_have_text("queued", timeout=LONG)
            expect(waiting.first).to_contain_text("waits for turn 1")
            assert chat_posts(emu) == 1, "the follow-up was sent before the answer it follows"
            answer = page.cell(SECOND).locator(".xdm-static")
            expect(answer).to_contain_text("thread plan · turn 2", timeout=LONG)
            expect(answer).to_contain_text("Follow-up after 1 earlier turn")
            page.screenshot(page.cell(SECOND), "thread-turn-2.png")
            assert chat_posts(emu) == 2

            page.run_all()  # the same cells, the same ids: every turn is reused
            page.wait_all_ran()
            reused = page.cell(SECOND).locator(".xdm-static")
            expect(reused).to_contain_text("reused answer from", timeout=LONG)
            expect(reused).to_contain_text("thread plan · turn 2")
            assert chat_posts(emu) == 2, "Run All of a finished thread re-asked"
            page.save_and_wait()
        finally:
            page.close()
    saved = json.loads((default_lab.root / "thread.ipynb").read_text())
    kept = json.dumps(saved["cells"][SECOND]["outputs"], ensure_ascii=False)
    assert "thread plan · turn 2" in kept and "Follow-up after 1 earlier turn" in kept

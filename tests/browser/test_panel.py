"""The ``%grok_jobs`` panel as a person uses it: JupyterLab 4 in headless Chromium.

What only a browser shows: the "pending" filter lists the pending rows, a row's own buttons
work by clicking (and select the row), the table scrolls inside a bounded height, and the scope
switch brings in the rest of the journal. The screenshot goes to test-artifacts/jobs-panel.png.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, expect

from tests.support import FAKE_KEY
from tests.support.browser import JupyterLab, NotebookPage, write_notebook, xss_flag
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.journal import JobRecord, Journal

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

LONG = 90_000  # ms: bounds a hang on a slow, loaded 2-core machine; never a speed assertion
PENDING = 14  # more rows than the bounded body shows at once


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab-panel")


@pytest.fixture(scope="module")
def lab(base: Path) -> Iterator[JupyterLab]:
    with JupyterLab(base) as server:
        yield server


def row_of(panel: Locator, request_id: str) -> Locator:
    return panel.locator(f'.xdm-jobs-row:has([data-request-id="{request_id}"])')


def seed_other_server_job(home: Path) -> str:
    """A pending job an earlier kernel left on another server: only the journal scope lists it."""
    journal = Journal(home)
    try:
        rid = str(uuid.uuid4())
        journal.add(JobRecord(
            request_id=rid, created_at=time.time() - 3600, model="grok-4",
            request={"model": "grok-4", "messages": [{"role": "user", "content": "elsewhere"}]},
            base_url="http://127.0.0.1:9/v1", status="pending",
        ))
        return rid
    finally:
        journal.close()


def test_panel_filter_row_buttons_scrolling_and_scope(
    lab: JupyterLab, browser: Browser, base: Path
) -> None:
    home = base / "journal"
    home.mkdir()
    elsewhere = seed_other_server_job(home)
    env = {"XAI_BASE_URL": "", "XAI_API_KEY": FAKE_KEY, "XAI_DEFER_HOME": str(home)}
    with Emulator(latency=600.0) as emu:  # nothing finishes unless the test says so
        env["XAI_BASE_URL"] = emu.base_url
        write_notebook(lab.root / "panel.ipynb", [
            ("code", f"import os\nos.environ.update({env!r})"),
            ("code", "%load_ext xai_defer_magic"),
            ("code", "import xai_defer_magic as x\n"
                     f"jobs = [x.defer(f'Question {{i}}: why is the sky blue?', display=False)"
                     f" for i in range({PENDING})]\n"
                     "quick = x.defer('Summarise deferred completions.', model='grok-3-mini',"
                     " display=False)"),
            ("code", "%grok_jobs"),
        ])
        nbp = NotebookPage(lab, browser, "panel.ipynb").open()
        try:
            nbp.run_all()
            nbp.wait_all_ran()
            panel = nbp.output(3).locator(".xdm-jobs").first
            rows = panel.locator(".xdm-jobs-row:visible")
            expect(rows).to_have_count(PENDING + 1, timeout=LONG)
            # The cells returned before their POSTs answered: wait until every row has its id.
            expect(panel.locator('.xdm-jobs-cells[data-status="submitting"]')).to_have_count(
                0, timeout=LONG)
            ids = [c.get_attribute("data-request-id") or "" for c in
                   panel.locator(".xdm-jobs-cells").all()]
            quick = panel.locator('.xdm-jobs-cells:has-text("Summarise deferred")')
            quick_id = quick.get_attribute("data-request-id") or ""
            assert elsewhere not in ids, "another server's job is not this kernel's"
            emu.complete(quick_id)
            expect(quick).to_have_attribute("data-status", "done", timeout=LONG)
            expect(panel.locator(".xdm-jobs-totals")).to_contain_text(f"{PENDING} pending · 1 done")

            body = panel.locator(".xdm-jobs-body")
            box = body.bounding_box()
            assert box is not None and box["height"] <= 270, box
            scroll = body.evaluate("el => [el.scrollHeight, el.clientHeight]")
            assert scroll[0] > scroll[1] + 50, f"the rows should overflow the body: {scroll}"
            body.evaluate("el => { el.scrollTop = el.scrollHeight; }")
            last = row_of(panel, quick_id)
            expect(last).to_be_in_viewport()
            assert body.evaluate("el => el.scrollTop") > 0
            body.evaluate("el => { el.scrollTop = 0; }")
            nbp.screenshot(panel, "jobs-panel.png")

            panel.locator(".xdm-jobs-filter button", has_text="pending").click()
            expect(rows).to_have_count(PENDING)
            for cells in panel.locator(".xdm-jobs-row:visible .xdm-jobs-cells").all():
                expect(cells).to_have_attribute("data-status", "pending")

            others = [i for i in ids if i != quick_id]
            target = others[0]
            row_of(panel, target).locator("button.xdm-jobs-cancel").click()
            expect(row_of(panel, target)).to_have_count(0)  # no longer pending
            panel.locator(".xdm-jobs-filter button", has_text="all").click()
            expect(row_of(panel, target)).to_have_class(re.compile(r"\bxdm-jobs-selected\b"))
            cancelled = row_of(panel, target).locator(".xdm-jobs-cells")
            expect(cancelled).to_have_attribute("data-status", "cancelled", timeout=LONG)
            expect(row_of(panel, target).locator("button.xdm-jobs-resume")).to_be_visible()

            row_of(panel, quick_id).locator("button.xdm-jobs-show").click()
            shown = panel.locator(".xdm-jobs-output .xdm-card")
            expect(shown.locator(".xdm-pill")).to_have_text("done")
            expect(shown.locator(".widget-output .jp-OutputArea-output")).to_contain_text(
                "Emulated answer")

            doomed = others[1]
            row_of(panel, doomed).locator("button.xdm-jobs-forget").click()
            confirm = panel.locator(".xdm-jobs-confirm-box")
            expect(confirm).to_contain_text("keeps running, and costing, at xAI")
            expect(row_of(panel, doomed)).to_have_count(1)  # nothing removed before confirming
            panel.locator("button.xdm-jobs-confirm").click()
            expect(row_of(panel, doomed)).to_have_count(0)
            assert emu.delivered_count(doomed) == 0

            panel.locator(".xdm-jobs-scope button", has_text="whole journal").click()
            expect(row_of(panel, elsewhere)).to_have_count(1)
            expect(panel.locator(".xdm-jobs-totals")).to_contain_text(f"{PENDING - 1} pending")
            assert xss_flag(nbp.page) is None
            assert nbp.errors == []
        finally:
            nbp.close()

"""A notebook saved while its jobs are still pending, reopened in a default JupyterLab.

JupyterLab does not save widget state by default, and its widget renderer has no text fallback
for a model it cannot find: a widget output reopens as "Error displaying widget: model not
found". So every live widget (a job's card, a fan-out's card, ``%grok_jobs``) has a plain-data
stand-in beside it, hidden while the widget renders and kept current with its status. Reopened
with no kernel, a person reads the last status instead of an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import (
    LONG,
    WIDGET_ERRORS,
    JupyterLab,
    NotebookPage,
    assert_no_widget_error,
    close_sessions,
    kernel_env_cell,
    nbconvert_html,
    open_offline,
    untrusted_copy,
    write_notebook,
)
from xai_defer_magic.emulator import Emulator

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

CELLS = {"card": 2, "group": 4, "panel": 5}
QUICK = 6  # a job that ends before the save: its stand-in is retired, its card is plain data
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(latency=0.5) as emulator:
        yield emulator


def test_notebook_saved_while_pending_reopens_with_last_status_not_a_widget_error(
    default_lab: JupyterLab, browser: Browser, emu: Emulator, tmp_path: Path
) -> None:
    write_notebook(default_lab.root / "pending.ipynb", [
        ("code", kernel_env_cell(emu.base_url, tmp_path / "journal")),
        ("code", "%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.5"),
        ("code", "%%grok_defer -m grok-4.3 -o slow\nStill thinking [[latency=600]]"),
        ("code", "xs = ['alpha', 'beta']"),
        ("code", "%%grok_defer --over xs -o g\n{item} [[latency=600]]"),
        ("code", "%grok_jobs"),
        ("code", "%%grok_defer -m grok-4.3\nA quick one"),
    ])
    live = NotebookPage(default_lab, browser, "pending.ipynb")
    try:
        live.open()
        live.run_all()
        live.wait_all_ran()
        card = live.cell(CELLS["card"]).locator(".xdm-card.widget-vbox")  # the live widget
        expect(card.locator(".xdm-pill")).to_have_text("pending", timeout=LONG)
        expect(card.locator(".xdm-polls")).not_to_have_text("0 polls", timeout=LONG)
        request_id = card.locator(".xdm-id").inner_text()
        expect(live.cell(CELLS["group"]).locator(".xdm-bar")).to_be_visible(timeout=LONG)
        expect(live.cell(CELLS["panel"]).locator(".xdm-jobs")).to_be_visible(timeout=LONG)
        expect(live.cell(QUICK).locator(".xdm-static")).to_contain_text("Emulated answer",
                                                                        timeout=LONG)
        assert live.cell(QUICK).locator(".xdm-standin").count() == 0
        # The hidden stand-ins follow what their widgets show (at most once a second).
        live_group = live.cell(CELLS["group"]).locator(".xdm-standin")
        expect(live_group).to_contain_text("2 pending of 2 · 2 submitted", timeout=LONG)
        expect(live.cell(CELLS["card"]).locator(".xdm-standin .xdm-pill")).to_have_text("pending")
        # In the live session a person sees each widget once: the stand-in stays hidden.
        for name in CELLS:
            shown = live.cell(CELLS[name]).locator(".xdm-standin:visible")
            assert shown.count() == 0, (name, shown.all_inner_texts())
        live.screenshot(live.cell(CELLS["card"]), "pending-live-card.png")
        live.save_and_wait()
        live.shutdown_kernel()
    finally:
        live.close()

    saved = json.loads((default_lab.root / "pending.ipynb").read_text())
    assert "widgets" not in saved["metadata"], "this test is about no saved widget state"
    card_html = " ".join(
        "".join(o["data"]["text/html"]) for o in saved["cells"][CELLS["card"]]["outputs"]
        if "text/html" in o.get("data", {})
    )
    assert request_id in card_html and "pending" in card_html, card_html

    close_sessions(default_lab)
    reopened = NotebookPage(default_lab, browser, "pending.ipynb")
    try:
        reopened.open()
        reopened.shutdown_kernel()  # read it with no kernel at all
        card_cell = reopened.cell(CELLS["card"])
        expect(card_cell.locator(".xdm-standin")).to_be_visible(timeout=LONG)
        expect(card_cell.locator(".xdm-standin")).to_contain_text(request_id)
        expect(card_cell.locator(".xdm-standin .xdm-pill")).to_have_text("pending")
        group = reopened.cell(CELLS["group"]).locator(".xdm-standin")
        expect(group).to_be_visible()
        expect(group).to_contain_text("2 pending of 2 · 2 submitted")
        expect(group).to_contain_text("%grok_wait g-")
        panel = reopened.cell(CELLS["panel"]).locator(".xdm-standin")
        expect(panel).to_be_visible()
        expect(panel).to_contain_text(request_id[:8])
        reopened.page.wait_for_timeout(1500)  # give the widget renderer time to fail
        assert_no_widget_error(reopened.page)
        for name in CELLS:
            reopened.screenshot(reopened.cell(CELLS[name]), f"pending-reopened-{name}.png")
        expect(reopened.cell(QUICK).locator(".xdm-static")).to_contain_text("Emulated answer")
        assert reopened.errors == []
    finally:
        reopened.close()

    # A colleague's copy opens untrusted: no <style> (the stand-in stays hidden) and no widget
    # renderer: the widget output's own text line shows, once.
    untrusted_copy(default_lab, "pending.ipynb", "copy.ipynb")
    untrusted = NotebookPage(default_lab, browser, "copy.ipynb")
    try:
        untrusted.open()
        untrusted.shutdown_kernel()
        card_area = untrusted.cell(CELLS["card"]).locator(".jp-OutputArea")
        expect(card_area).to_contain_text(f"[grok] {request_id} grok-4.3: pending",
                                          timeout=LONG)
        untrusted.page.wait_for_timeout(1500)
        assert_no_widget_error(untrusted.page)
        assert card_area.inner_text().count(request_id) == 1, card_area.inner_text()
    finally:
        untrusted.close()

    # Notebook 7 reopens it the same way (it shares JupyterLab's output area and renderer).
    classic = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    try:
        classic.goto(default_lab.page_url("notebooks/pending.ipynb"), timeout=LONG)
        outputs = classic.locator(".jp-Notebook .jp-Cell").nth(CELLS["card"])
        expect(outputs.locator(".xdm-standin")).to_contain_text(request_id, timeout=LONG)
        expect(outputs.locator(".xdm-standin")).to_be_visible()
        expect(classic.locator(".jp-Notebook .jp-Cell").nth(QUICK)).to_contain_text(
            "Emulated answer")
        classic.wait_for_timeout(2500)  # the kernel starts: the widget manager gives up then
        text = classic.locator(".jp-Notebook").inner_text()
        for phrase in WIDGET_ERRORS:
            assert phrase not in text, f"{phrase!r} in Notebook 7"
    finally:
        classic.context.close()

    html_file = nbconvert_html(default_lab.root / "pending.ipynb")
    page, _errors = open_offline(browser, html_file)
    try:
        body = page.locator("body").inner_text()
        assert request_id in body, body[:2000]
        assert body.count(request_id) == 1, "the status is shown once, by the stand-in"
        for phrase in WIDGET_ERRORS:
            assert phrase not in body
        assert "2 pending of 2 · 2 submitted" in body
    finally:
        page.context.close()

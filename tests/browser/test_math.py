"""Formulas in answers are typeset by the frontend's MathJax, live and after a reload.

An emulated answer with ``[[math]]`` holds the four usual forms (``$…$``, ``\\(…\\)``,
``$$…$$``, ``\\[…\\]``) and prices in dollars; with ``[[xss]]`` also TeX that tries to smuggle
markup or a ``javascript:`` link. JupyterLab runs on default settings (widget state not saved):
the finished card, ``--wait``, ``job.result()``, the group card's row and the panel's Show are
read live; then the notebook is saved, its kernel shut down and the page reloaded (and an
untrusted copy opened, whose HTML JupyterLab sanitizes before typesetting). Notebook 7
reads the same saved file, then runs a notebook of its own live and reloads it; nbconvert's HTML
keeps the TeX in its delimiters. No formula makes the page fetch anything.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.support.browser import (
    ARTIFACTS,
    LONG,
    JupyterLab,
    NotebookPage,
    close_sessions,
    kernel_env_cell,
    nbconvert_html,
    open_offline,
    untrusted_copy,
    write_notebook,
    xss_flag,
)
from xai_defer_magic.emulator import Emulator

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

CURRENCY = "it costs $5 and $10 today"
# TeX a person must never see raw once MathJax has run (each is in the emulated answer).
RAW = ("$a_1", "\\(x_i", "$$\\int", "\\[", "\\frac", "x_1\\,dx", "\\sum_")
CELLS = {"card": 2, "wait": 3, "result": 4, "group": 6, "panel": 7, "grok_result": 8}
STATIC = ("card", "wait", "result", "grok_result")  # plain data: what a saved notebook keeps


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(latency=0.5) as emulator:
        yield emulator


def assert_typeset(answer: Locator, *, forms: int = 4, hostile: bool = False) -> None:
    """The answer's formulas are MathJax's, none of its TeX shows raw, no ``<em>`` came from
    math and the prices are text. (The hostile TeX is not all valid TeX: MathJax may show an
    error box for it, as text.)"""
    expect(answer.locator("mjx-container").nth(forms - 1)).to_be_attached(timeout=LONG)
    text = answer.inner_text()
    for raw in RAW:
        assert raw not in text, (raw, text)
    assert CURRENCY in " ".join(text.split()), text
    assert answer.locator('mjx-container[display="true"]').count() >= 2
    emphasised = answer.locator("em").all_inner_texts()
    assert all("Emulated answer" in em for em in emphasised), emphasised
    if not hostile:
        assert answer.locator("mjx-merror").count() == 0


def assert_no_live_markup(page: Page) -> None:
    """TeX smuggled nothing: no script ran, no javascript: link exists, MathJax's \\href is
    dropped by JupyterLab's safe handler."""
    page.wait_for_timeout(500)
    assert xss_flag(page) is None
    assert page.locator('[href^="javascript" i]').count() == 0
    assert page.locator("script:has-text('__xss')").count() == 0


def screenshot_math_section(page: Page, answer: Locator, name: str) -> Path:
    """The answer's "Math" section (heading to the prices line): the README's picture."""
    answer.locator("p", has_text="Prices are not math").scroll_into_view_if_needed()
    head = answer.locator("h3", has_text="Math").bounding_box()
    whole = answer.bounding_box()
    last = answer.locator("p", has_text="Prices are not math").bounding_box()
    assert head is not None and last is not None and whole is not None
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), animations="disabled", clip={
        "x": whole["x"] - 8, "y": head["y"] - 6, "width": whole["width"] + 16,
        "height": last["y"] + last["height"] - head["y"] + 14})
    assert path.stat().st_size > 5_000, f"{name} looks empty"
    return path


def closed_form(page: Page) -> Locator:
    """The answer ``%grok_wait`` shows in Notebook 7's fifth cell (the one that asked for LaTeX;
    the other job may have ended before it waited)."""
    card = page.locator(".jp-Notebook .jp-Cell").nth(4).locator(
        ".xdm-card", has_text="Re: “The closed form")
    return card.locator(".xdm-answer").first


def expect_saved(path: Path, text: str, timeout: float = 30) -> None:
    """Until the notebook on disk holds ``text`` (Notebook 7 saves asynchronously)."""
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        assert time.monotonic() < deadline, f"{path.name} was not saved with {text!r}"
        time.sleep(0.3)


def test_formulas_are_typeset_live_after_reload_in_notebook7_and_kept_by_nbconvert(
    default_lab: JupyterLab, browser: Browser, emu: Emulator, tmp_path: Path
) -> None:
    write_notebook(default_lab.root / "math.ipynb", [
        ("code", kernel_env_cell(emu.base_url, tmp_path / "journal")),
        ("code", "%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.5"),
        ("code", "%%grok_defer -m grok-4.3 -o m\nA sum, please [[math]] [[xss]]"),
        ("code", "%%grok_defer --wait -m grok-3-mini -o r\nThe closed form [[math]]"),
        ("code", "m.result()"),
        ("code", "xs = ['alpha [[math]]', 'beta [[latency=600]]']"),
        ("code", "%%grok_defer --over xs -o g\n{item}"),
        ("code", "%grok_jobs"),
        ("code", "%grok_result {m.request_id}"),
    ])
    live = NotebookPage(default_lab, browser, "math.ipynb")
    requests: list[str] = []
    live.page.on("request", lambda request: requests.append(request.url))
    try:
        live.open()
        live.run_all()
        live.wait_all_ran()
        card = live.cell(CELLS["card"]).locator(".xdm-static")
        assert_typeset(card.locator(".xdm-answer").first, hostile=True)
        waited = live.cell(CELLS["wait"]).locator(".xdm-static")
        assert_typeset(waited.locator(".xdm-answer").first)
        waited.locator("details.xdm-reasoning > summary").click()
        expect(waited.locator("details.xdm-reasoning mjx-container").nth(1)).to_be_visible()
        assert_typeset(live.output(CELLS["result"]).locator(".xdm-answer"), hostile=True)
        assert_typeset(live.cell(CELLS["grok_result"]).locator(".xdm-answer").first,
                       hostile=True)
        # The group card is still live (one item waits 600 s): its row shows in HTMLMath.
        rows = live.cell(CELLS["group"]).locator(".xdm-group-rows select")
        rows.select_option(index=0)
        row_answer = live.cell(CELLS["group"]).locator(".widget-htmlmath")
        assert_typeset(row_answer)
        # The panel's Show: the card's answer, and its reasoning in HTMLMath.
        request_id = waited.locator(".xdm-id").inner_text()
        panel = live.cell(CELLS["panel"]).locator(".xdm-jobs").first
        panel.locator(f'.xdm-jobs-row:has([data-request-id="{request_id}"])').locator(
            "button.xdm-jobs-show").click()
        shown = panel.locator(".xdm-jobs-output .xdm-card")
        assert_typeset(shown.locator(".xdm-answer").first)
        shown.locator("details.xdm-reasoning > summary").click()
        expect(shown.locator(".widget-htmlmath details mjx-container").nth(1)).to_be_visible()
        assert_no_live_markup(live.page)
        live.screenshot(card, "math-card.png")
        screenshot_math_section(live.page, waited.locator(".xdm-answer").first, "math.png")
        origin = default_lab.url + "/"
        assert requests and [u for u in requests if not u.startswith(origin)] == []  # no fetch
        live.save_and_wait()
        live.shutdown_kernel()
    finally:
        live.close()

    close_sessions(default_lab)
    reopened = NotebookPage(default_lab, browser, "math.ipynb")
    try:
        reopened.open()
        reopened.shutdown_kernel()  # read it with no kernel at all
        for name in STATIC:
            answer = reopened.cell(CELLS[name]).locator(".xdm-answer").first
            assert_typeset(answer, hostile=name != "wait")
        assert_no_live_markup(reopened.page)
        assert reopened.errors == []
    finally:
        reopened.close()

    # A colleague's copy opens untrusted: JupyterLab sanitizes the HTML, then typesets it.
    untrusted_copy(default_lab, "math.ipynb", "copy.ipynb")
    untrusted = NotebookPage(default_lab, browser, "copy.ipynb")
    try:
        untrusted.open()
        untrusted.shutdown_kernel()
        for name in STATIC:
            answer = untrusted.cell(CELLS[name]).locator(".xdm-answer").first
            assert_typeset(answer, hostile=name != "wait")
        assert_no_live_markup(untrusted.page)
    finally:
        untrusted.close()

    # Notebook 7 (the same server): the saved notebook, then a fresh one run live and reloaded.
    write_notebook(default_lab.root / "nb7.ipynb", [  # its own journal: nothing else pending
        ("code", kernel_env_cell(emu.base_url, tmp_path / "journal-nb7")),
        ("code", "%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.5"),
        ("code", "%%grok_defer -m grok-4.3\nA sum in Notebook 7 [[math]] [[xss]]"),
        ("code", "%%grok_defer -m grok-3-mini\nThe closed form, in LaTeX"),
        ("code", "%grok_wait"),
    ])
    classic = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    requests.clear()
    classic.on("request", lambda request: requests.append(request.url))
    try:
        classic.goto(default_lab.page_url("notebooks/math.ipynb"), timeout=LONG)
        for name in STATIC:
            cell = classic.locator(".jp-Notebook .jp-Cell").nth(CELLS[name])
            assert_typeset(cell.locator(".xdm-answer").first, hostile=name != "wait")
        classic.goto(default_lab.page_url("notebooks/nb7.ipynb"), timeout=LONG)
        classic.locator(".jp-Notebook .jp-Cell").first.click()
        classic.get_by_text("Run", exact=True).first.click()
        classic.get_by_text("Run All Cells", exact=True).first.click()
        answer = classic.locator(".jp-Notebook .jp-Cell").nth(2).locator(".xdm-answer").first
        assert_typeset(answer, hostile=True)
        assert_typeset(closed_form(classic))
        assert_no_live_markup(classic)
        classic.keyboard.press("Control+s")
        expect_saved(default_lab.root / "nb7.ipynb", "$a_1 + b_2$")
        classic.reload(timeout=LONG)
        answer = classic.locator(".jp-Notebook .jp-Cell").nth(2).locator(".xdm-answer").first
        assert_typeset(answer, hostile=True)
        assert_typeset(closed_form(classic))
        assert_no_live_markup(classic)
        origin = default_lab.url + "/"
        assert requests and [u for u in requests if not u.startswith(origin)] == []  # no fetch
    finally:
        classic.context.close()

    html_file = nbconvert_html(default_lab.root / "math.ipynb")
    source = html_file.read_text()
    for tex in ("$a_1 + b_2$", "\\(x_i^2\\)", "$$\\int_0^1 x_1\\,dx$$",
                "\\[ \\sum_{i=1}^{n} i = \\frac{n(n+1)}{2} \\]"):
        assert tex in source, tex  # in delimiters, for nbconvert's own MathJax
    assert re.search(r"costs <span class=\"mathjax_ignore tex2jax_ignore\">\$</span>5", source)
    page, _errors = open_offline(browser, html_file)
    try:
        assert CURRENCY in " ".join(page.locator("body").inner_text().split())
        assert xss_flag(page) is None
    finally:
        page.context.close()

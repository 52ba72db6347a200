"""What a person sees: JupyterLab 4 in headless Chromium, real kernels, the emulator on loopback.

One JupyterLab server and one browser serve the whole module. The server's environment has no
``XAI_API_KEY`` (so the quickstart's own ``use_emulator()`` kicks in); the other notebooks point
their kernel at this module's emulators in their first cell. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.support import REPO
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
    xss_flag,
)
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.emulator.answers import XSS_BOLD, XSS_IMG, XSS_SCRIPT
from xai_defer_magic.journal import Journal

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

QUICKSTART = REPO / "notebooks" / "quickstart.ipynb"


# --- module fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(latency=3.0) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def lab(base: Path) -> Iterator[JupyterLab]:
    home = base / "quickstart-journal"
    home.mkdir()
    with JupyterLab(base, env={"XAI_DEFER_HOME": str(home)}) as server:
        yield server




@pytest.fixture
def notebook(lab: JupyterLab, browser: Browser) -> Iterator[list[NotebookPage]]:
    """Pages opened by a test, closed afterwards even when it fails."""
    pages: list[NotebookPage] = []
    yield pages
    for page in pages:
        page.close()


def open_page(
    pages: list[NotebookPage], lab: JupyterLab, browser: Browser, name: str
) -> NotebookPage:
    page = NotebookPage(lab, browser, name)
    pages.append(page)
    return page.open()


# --- helpers ----------------------------------------------------------------------------------


def card_of(area: Locator) -> Locator:
    return area.locator(".xdm-card").first


def pending_tick(cards: list[Locator]) -> tuple[str, str]:
    """Two elapsed readings of one card that stayed pending for 2 s in between."""
    for card in cards:
        expect(card).to_be_visible(timeout=LONG)
        if card.locator(".xdm-pill").inner_text() != "pending":
            continue
        first = card.locator(".xdm-elapsed").inner_text()
        time.sleep(2.0)
        second = card.locator(".xdm-elapsed").inner_text()
        if card.locator(".xdm-pill").inner_text() == "pending":
            return first, second
    raise AssertionError("no card stayed pending for 2 s: cannot observe the elapsed time tick")


def expand_reasoning(area: Locator) -> Locator:
    """Open every closed Reasoning ``<details>`` in ``area``; return their bodies."""
    summaries = area.locator("details.xdm-reasoning > summary")
    for i in range(summaries.count()):
        details = area.locator("details.xdm-reasoning").nth(i)
        if details.get_attribute("open") is None:
            summaries.nth(i).click()
        expect(details).to_have_attribute("open", "")
    return area.locator("details.xdm-reasoning .xdm-answer")


_HOSTILE_JS = r"""el => {
  const found = [];
  for (const s of el.querySelectorAll('script')) {
    if (s.textContent.includes('__xss')) found.push('script element');
  }
  for (const e of el.querySelectorAll('*')) {
    for (const a of e.attributes) {
      if (a.name.startsWith('on')) found.push(e.tagName + ' has ' + a.name);
      if (/^\s*javascript:/i.test(a.value)) found.push(e.tagName + ' ' + a.name + '=javascript:');
    }
  }
  for (const i of el.querySelectorAll('img')) {
    if ((i.getAttribute('src') || '') === 'x') found.push('img src=x');
  }
  for (const b of el.querySelectorAll('b')) {
    if (b.textContent === 'bold html') found.push('raw <b> became bold');
  }
  return found;
}"""


def assert_inert(page: Page, area: Locator, where: str) -> None:
    """The hostile payloads are visible as text and nothing in ``area`` can run them."""
    shown = area.inner_text()
    for payload in (XSS_SCRIPT, XSS_IMG, XSS_BOLD):
        assert payload in shown, f"{where}: {payload!r} is not shown as text"
    assert area.evaluate(_HOSTILE_JS) == [], where
    links = area.locator("a", has_text="click me")
    for i in range(links.count()):  # markdown-it drops javascript: links; click any that exist
        links.nth(i).click()
    assert xss_flag(page) is None, f"{where}: an answer ran script"






def answers_in_journal(home: Path) -> dict[str, str]:
    """Request id -> answer text of every finished job in a journal."""
    journal = Journal(home)
    try:
        found = {}
        for record in journal.all():
            if record.response_text is not None:
                body = json.loads(record.response_text)
                found[record.request_id] = body["choices"][0]["message"]["content"]
        return found
    finally:
        journal.close()


def fingerprint(answer: str) -> str:
    """The emulator's per-prompt hash, shown in every answer's table: a unique, ASCII marker."""
    match = re.search(r"\| fingerprint \| `([0-9a-f]{8})` \|", answer)
    assert match, answer
    return match.group(1)


# --- 1. the quickstart, Run All ---------------------------------------------------------------


def test_quickstart_run_all_shows_live_cards_then_answers(
    lab: JupyterLab, browser: Browser, notebook: list[NotebookPage]
) -> None:
    shutil.copy(QUICKSTART, lab.root / "quickstart.ipynb")
    nbp = open_page(notebook, lab, browser, "quickstart.ipynb")
    sources = nbp.page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets"
        ".map(c => c.model.sharedModel.getSource())"
    )
    deferred = [i for i, s in enumerate(sources) if s.startswith("%%grok_defer")]
    reasoning = next(i for i in deferred if "-m grok-3-mini" in sources[i].splitlines()[0])
    nbp.run_all()

    first, second = pending_tick([card_of(nbp.output(i)) for i in deferred])
    assert first != second, f"elapsed time froze at {first!r} while pending"

    nbp.wait_all_ran(timeout=180)
    for i in deferred:
        expect(card_of(nbp.output(i)).locator(".xdm-pill")).to_have_text("done", timeout=LONG)
    card = card_of(nbp.output(reasoning))
    expect(card).to_have_class(re.compile(r"\bxdm-static\b"), timeout=LONG)  # plain data now
    answer = card.locator(".xdm-answer").first
    for selector in ("h2", "li", "pre code"):
        expect(answer.locator(selector).first).to_be_visible()
    expect(answer).to_contain_text("Emulated answer")
    expect(card.locator(".xdm-usage")).to_contain_text("total")

    summary = card.locator("details.xdm-reasoning > summary")
    contents = card.locator("details.xdm-reasoning .xdm-answer")
    expect(summary).to_contain_text("Reasoning")
    expect(contents).to_be_hidden()
    summary.click()
    expect(contents).to_be_visible()
    expect(contents).to_contain_text("Emulated reasoning")

    nbp.screenshot(card, "card.png")
    keyword = answer.locator("pre.xdm-code .k").first
    light = keyword.evaluate("e => getComputedStyle(e).color")
    nbp.set_theme("JupyterLab Dark")
    try:
        dark = keyword.evaluate("e => getComputedStyle(e).color")
        assert dark != light, f"highlighting ignores the theme: {light} in both"
        nbp.screenshot(card, "card-dark.png")
    finally:
        nbp.set_theme("JupyterLab Light")
    assert xss_flag(nbp.page) is None
    assert nbp.errors == []


# --- 2. a bad key ------------------------------------------------------------------------------


def test_bad_key_card_is_one_readable_error_line(
    lab: JupyterLab, browser: Browser, base: Path, notebook: list[NotebookPage]
) -> None:
    wrong = "a-wrong-fake-key-not-a-secret"
    with Emulator(api_key="the-right-fake-key") as strict:
        write_notebook(lab.root / "badkey.ipynb", [
            ("code", kernel_env_cell(strict.base_url, base / "badkey-journal", key=wrong)),
            ("code", "%load_ext xai_defer_magic"),
            ("code", "%%grok_defer -o job\nHello?"),
        ])
        nbp = open_page(notebook, lab, browser, "badkey.ipynb")
        nbp.run_all()
        nbp.wait_all_ran()
        area = nbp.output(2)
        card = card_of(area)
        expect(card.locator(".xdm-pill")).to_have_text("failed", timeout=LONG)
        expect(card.locator(".xdm-head")).not_to_contain_text("submitting")
        error = card.locator(".xdm-error")
        expect(error).to_be_visible()
        line = error.inner_text().strip()
        assert line.startswith("xAI rejected the API key (400)"), line  # "failed" is the pill's
        assert "\n" not in line and len(line) <= 300, line
        assert card.inner_text().count("failed") == 1, card.inner_text()
        height = error.evaluate("e => e.getBoundingClientRect().height")
        line_height = error.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
        assert line_height < 24, f"the error box is not single-spaced: {line_height}px lines"
        assert height < 6 * line_height, f"{height}px for one line"
        color = error.evaluate("e => getComputedStyle(e).borderLeftColor")
        assert color == "rgb(197, 34, 31)", f"not styled as an error: {color}"
        shown = nbp.cell(2).locator(".jp-Cell-outputArea").inner_text()
        assert "Traceback" not in shown and wrong not in shown
        assert nbp.cell(2).locator('[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0
        nbp.screenshot(card, "error-card.png")


# --- 3. untrusted output, then 4. the saved notebook ------------------------------------------


XSS_CELLS = {"card": 2, "wait": 3, "result": 4}


@pytest.fixture(scope="module")
def xss_home(base: Path) -> Path:
    return base / "xss-journal"


def test_hostile_answer_and_reasoning_stay_inert(
    lab: JupyterLab, browser: Browser, emu: Emulator, xss_home: Path,
    notebook: list[NotebookPage],
) -> None:
    write_notebook(lab.root / "xss.ipynb", [
        ("code", kernel_env_cell(emu.base_url, xss_home)),
        ("code", "%load_ext xai_defer_magic"),
        ("code", "%%grok_defer -m grok-3-mini -o job\n[[xss]] Show me hostile HTML."),
        ("code", "%grok_wait"),
        ("code", "%grok_result {job.request_id}"),
    ])
    nbp = open_page(notebook, lab, browser, "xss.ipynb")
    nbp.run_all()
    nbp.wait_all_ran()
    for where, index in XSS_CELLS.items():
        area = nbp.output(index)
        card = card_of(area)
        expect(card.locator(".xdm-pill")).to_have_text("done", timeout=LONG)
        assert_inert(nbp.page, area, where)
        contents = expand_reasoning(area)
        expect(contents.first).to_contain_text(f"Payloads: {XSS_SCRIPT} {XSS_IMG}")
        assert_inert(nbp.page, area, f"{where}, reasoning expanded")
    nbp.save_and_wait()
    saved = json.loads((lab.root / "xss.ipynb").read_text())
    assert "application/vnd.jupyter.widget-state+json" in saved["metadata"].get("widgets", {})
    assert nbp.errors == []


def test_saved_notebook_keeps_answers_inert_in_nbconvert_html(
    lab: JupyterLab, browser: Browser, xss_home: Path, tmp_path: Path
) -> None:
    saved = lab.root / "xss.ipynb"
    assert saved.exists(), "runs after test_hostile_answer_and_reasoning_stay_inert"
    answers = answers_in_journal(xss_home)
    assert len(answers) == 1

    with_state = nbconvert_html(saved)
    html = with_state.read_text()
    for answer in answers.values():
        assert fingerprint(answer) in html
    assert "&lt;script&gt;window.__xss=1" in html  # the escaped payload

    nb = json.loads(saved.read_text())
    nb["metadata"].pop("widgets")  # what a headless run or a renderer without widgets sees
    plain = tmp_path / "xss-no-widget-state.ipynb"
    plain.write_text(json.dumps(nb))
    plain_html = nbconvert_html(plain)

    for html_file in (with_state, plain_html):
        page, _errors = open_offline(browser, html_file)
        try:
            live = page.evaluate(
                """() => [...document.querySelectorAll('script')]
                     .filter(s => !s.type || /javascript|module/.test(s.type))
                     .filter(s => s.textContent.includes('__xss')).length"""
            )
            assert live == 0, f"{html_file.name}: a live <script> carries the answer's payload"
            assert page.locator("img[onerror]").count() == 0
            assert xss_flag(page) is None
            if html_file is plain_html:
                body = page.locator("body").inner_text()
                assert body.count("Emulated answer") >= 2  # %grok_wait and %grok_result
                assert XSS_SCRIPT in body and XSS_IMG in body  # visible, inert
                for answer in answers.values():
                    assert fingerprint(answer) in body
        finally:
            page.context.close()


def test_saved_notebook_shows_answers_when_reopened_without_running(
    lab: JupyterLab, browser: Browser, notebook: list[NotebookPage]
) -> None:
    saved = lab.root / "xss.ipynb"
    assert saved.exists(), "runs after test_hostile_answer_and_reasoning_stay_inert"
    close_sessions(lab)  # no kernel left with live widgets
    nbp = open_page(notebook, lab, browser, "xss.ipynb")  # a fresh kernel that runs nothing
    counts = [c["count"] for c in nbp.cell_states()["cells"]]
    assert all(c is not None for c in counts), "the saved execution counts are there"
    for where, index in XSS_CELLS.items():
        area = nbp.output(index)
        card = card_of(area)
        expect(card.locator(".xdm-pill")).to_have_text("done", timeout=LONG)
        expect(card.locator(".xdm-answer h2").first).to_be_visible()
        expect(area).to_contain_text("Emulated answer")
        assert_inert(nbp.page, area, f"reopened {where}")
    nbp.shutdown_kernel()
    for index in XSS_CELLS.values():
        expect(nbp.output(index)).to_contain_text("Emulated answer")  # still there, no kernel
    assert nbp.errors == []


# --- 4b. JupyterLab's default settings: widget state NOT saved (issue 8 items 2, 8) -----------


class _CountingServer:
    """Counts every request on 127.0.0.1: an answer's image must never make the page ask."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _CountingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


DEFAULT_CELLS = {"card": 2, "sleep": 3, "wait_flag": 4, "grok_wait": 6, "result": 7, "last": 8}




def test_default_settings_saved_notebook_shows_every_answer_after_reload(
    default_lab: JupyterLab, browser: Browser, emu: Emulator, base: Path, tmp_path: Path
) -> None:
    home = base / "default-journal"
    with _CountingServer() as counter:
        port = counter.port
        write_notebook(default_lab.root / "default.ipynb", [
            ("code", kernel_env_cell(emu.base_url, home)),
            ("code", "%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.5"),
            ("code", f"%%grok_defer -m grok-3-mini -o job\n![](//127.0.0.1:{port}/a.png) ok"),
            ("code", "import time\ntime.sleep(9)"),
            ("code", f"%%grok_defer --wait -m grok-4\n![w](http://127.0.0.1:{port}/w.png)"),
            ("code", "%%grok_defer -o other\n![r](r.png) and [[latency=2]]"),
            ("code", "%grok_wait"),
            ("code", "%grok_result {job.request_id}"),
            ("code", "job.result()"),
        ])
        nbp = NotebookPage(default_lab, browser, "default.ipynb")
        requests: list[str] = []
        nbp.page.on("request", lambda r: requests.append(r.url))
        try:
            nbp.open()
            nbp.run_all()
            # While the next cell sleeps, the card's own cell turns into plain data (no widget).
            card = card_of(nbp.output(DEFAULT_CELLS["card"]))
            expect(card).to_have_class(re.compile(r"\bxdm-static\b"), timeout=LONG)
            sleeping = nbp.cell_states()["cells"][DEFAULT_CELLS["sleep"]]
            assert sleeping["count"] is None, "the sleep cell finished before the card updated"
            assert nbp.output(DEFAULT_CELLS["card"]).locator(".jupyter-widgets").count() == 0

            nbp.wait_all_ran(timeout=180)
            check_rendering(nbp)
            for theme, name in (("JupyterLab Dark", "card-dark.png"),
                                ("JupyterLab Light", "card.png")):
                nbp.set_theme(theme)
                shot = card_of(nbp.output(DEFAULT_CELLS["card"]))
                expand_reasoning(nbp.output(DEFAULT_CELLS["card"]))
                nbp.screenshot(shot, f"default-{name}")
            nbp.save_and_wait()
            nbp.shutdown_kernel()
        finally:
            nbp.close()

        saved = json.loads((default_lab.root / "default.ipynb").read_text())
        assert "widgets" not in saved["metadata"], "this test is about no saved widget state"
        for name in ("card", "wait_flag", "grok_wait", "result", "last"):
            outputs = saved["cells"][DEFAULT_CELLS[name]]["outputs"]
            mimes = {m for o in outputs for m in o.get("data", {})}
            assert "application/vnd.jupyter.widget-view+json" not in mimes, (name, outputs)
            assert "text/html" in mimes, (name, outputs)

        close_sessions(default_lab)
        reopened = NotebookPage(default_lab, browser, "default.ipynb")
        reopened.page.on("request", lambda r: requests.append(r.url))
        try:
            reopened.open()
            reopened.shutdown_kernel()  # read it with no kernel at all
            for name in ("card", "wait_flag", "grok_wait", "result", "last"):
                area = reopened.output(DEFAULT_CELLS[name])
                expect(area).to_contain_text("Emulated answer", timeout=LONG)
                expect(area.locator(".xdm-answer h2").first).to_be_visible()
            reopened.page.wait_for_timeout(1500)  # give a widget renderer time to fail
            assert_no_widget_error(reopened.page)
            check_rendering(reopened)
            assert reopened.errors == []
        finally:
            reopened.close()

        # Elsewhere (a colleague's server, papermill's output) the notebook is untrusted: the
        # frontend sanitizes it and drops <style>; the inline styles must carry the look.
        untrusted_copy(default_lab, "default.ipynb", "untrusted.ipynb")
        close_sessions(default_lab)
        untrusted = NotebookPage(default_lab, browser, "untrusted.ipynb")
        try:
            untrusted.open()
            trusted = untrusted.page.evaluate(
                "() => window.jupyterapp.shell.currentWidget.content.model.cells.get(2).trusted"
            )
            assert trusted is False, "the copy should open untrusted"
            expect(untrusted.output(DEFAULT_CELLS["card"])).to_contain_text("Emulated answer")
            check_rendering(untrusted)
            assert_no_widget_error(untrusted.page)
        finally:
            untrusted.close()

        html_file = nbconvert_html(default_lab.root / "default.ipynb")
        page, _errors = open_offline(browser, html_file)
        try:
            body = page.locator("body").inner_text()
            assert body.count("Emulated answer") >= 5, body[:2000]
            for phrase in WIDGET_ERRORS:
                assert phrase not in body
            assert page.locator("img").count() == 0
        finally:
            page.context.close()

    loaded = [u for u in requests if re.search(r"/(a|w|r)\.png", u)]
    assert loaded == [] and counter.hits == [], (loaded, counter.hits)


def check_rendering(nbp: NotebookPage) -> None:
    """What only a browser shows: highlighted code in colour, left-aligned cells, a sane h1."""
    area = nbp.output(DEFAULT_CELLS["card"])
    answer = card_of(area).locator(".xdm-answer").first
    keyword = answer.locator("pre.xdm-code .k").first
    expect(keyword).to_be_visible()
    colours = keyword.evaluate(
        "e => [getComputedStyle(e).color, getComputedStyle(e.closest('pre')).color]"
    )
    assert colours[0] != colours[1], f"keywords are not coloured: {colours}"
    for cell in answer.locator("td, th").all():
        align = cell.evaluate("e => getComputedStyle(e).textAlign")
        assert align in ("left", "start"), f"a table cell is aligned {align}"
    sizes = answer.evaluate(
        "e => [parseFloat(getComputedStyle(e.querySelector('h2')).fontSize),"
        " parseFloat(getComputedStyle(e).fontSize)]"
    )
    assert sizes[0] < 1.5 * sizes[1], f"h2 {sizes[0]}px dwarfs the card's {sizes[1]}px"
    expect(answer.locator("img")).to_have_count(0)
    link = answer.locator("a", has_text="image:").first
    expect(link).to_be_visible()
    assert "127.0.0.1" in (link.get_attribute("href") or "")


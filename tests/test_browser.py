"""What a person sees: JupyterLab 4 in headless Chromium, real kernels, the emulator on loopback.

One JupyterLab server and one browser serve the whole module. The server's environment has no
``XAI_API_KEY`` (so the quickstart's own ``use_emulator()`` kicks in); the other notebooks point
their kernel at this module's emulators in their first cell. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser import (
    JupyterLab,
    NotebookPage,
    chromium,
    write_notebook,
    xss_flag,
)
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.emulator.answers import XSS_BOLD, XSS_IMG, XSS_SCRIPT
from xai_defer_magic.journal import Journal

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

QUICKSTART = Path(__file__).resolve().parent.parent / "notebooks" / "quickstart.ipynb"
FAKE_KEY = "fake-test-key-not-a-secret"
LONG = 90_000  # ms: bounds a hang on a slow, loaded 2-core machine; never a speed assertion


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def kernel_env_cell(base_url: str, home: Path, key: str = FAKE_KEY) -> str:
    """First cell of a test notebook: this kernel talks to a test emulator, with its own journal."""
    home.mkdir(parents=True, exist_ok=True)
    env = {"XAI_BASE_URL": base_url, "XAI_API_KEY": key, "XAI_DEFER_HOME": str(home)}
    return f"import os\nos.environ.update({env!r})"


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
    """Click every collapsed Reasoning header in ``area``; return the accordion contents."""
    headers = area.locator(".jupyter-widget-Collapse-header")
    for i in range(headers.count()):
        contents = area.locator(".jupyter-widget-Collapse-contents").nth(i)
        if not contents.is_visible():
            headers.nth(i).click()
        expect(contents).to_be_visible()
    return area.locator(".jupyter-widget-Collapse-contents")


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


def open_offline(browser: Browser, html_file: Path) -> tuple[Page, list[str]]:
    """Load an nbconvert HTML file with every non-file request blocked (no network here)."""
    context = browser.new_context()
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(html_file.as_uri(), wait_until="load", timeout=LONG)
    return page, errors


def nbconvert_html(path: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", str(path)],
        check=True, capture_output=True, timeout=120,
    )
    return path.with_suffix(".html")


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
    answer = card.locator(".widget-output .jp-OutputArea-output")
    for selector in ("h2", "li", "pre code"):
        expect(answer.locator(selector).first).to_be_visible()
    expect(answer).to_contain_text("Emulated answer")
    expect(card.locator(".xdm-usage")).to_contain_text("total")

    contents = card.locator(".jupyter-widget-Collapse-contents")
    expect(card.locator(".jupyter-widget-Collapse-header")).to_contain_text("Reasoning")
    expect(contents).to_be_hidden()
    card.locator(".jupyter-widget-Collapse-header").click()
    expect(contents).to_be_visible()
    expect(contents).to_contain_text("Emulated reasoning")

    nbp.screenshot(card, "card.png")
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
        assert line.startswith("failed: xAI rejected the API key (400)"), line
        assert "\n" not in line and len(line) < 300, line
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
    nbp.save()
    nbp.page.wait_for_function(
        "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=LONG
    )
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
    for session in lab.api("GET", "api/sessions").json():  # no kernel left with live widgets
        lab.api("DELETE", f"api/sessions/{session['id']}")
    nbp = open_page(notebook, lab, browser, "xss.ipynb")  # a fresh kernel that runs nothing
    counts = [c["count"] for c in nbp.cell_states()["cells"]]
    assert all(c is not None for c in counts), "the saved execution counts are there"
    for where, index in XSS_CELLS.items():
        area = nbp.output(index)
        card = card_of(area)
        expect(card.locator(".xdm-pill")).to_have_text("done", timeout=LONG)
        expect(card.locator(".widget-output .jp-OutputArea-output h2")).to_be_visible()
        expect(area).to_contain_text("Emulated answer")
        assert_inert(nbp.page, area, f"reopened {where}")
    nbp.shutdown_kernel()
    for index in XSS_CELLS.values():
        expect(nbp.output(index)).to_contain_text("Emulated answer")  # still there, no kernel
    assert nbp.errors == []

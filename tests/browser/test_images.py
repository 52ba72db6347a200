"""What a person sees of ``--image`` in JupyterLab: the card names the plot and shows a small
thumbnail, live and once finished; the saved notebook and its nbconvert HTML keep the name and
the thumbnail (rendered with the network blocked), never the full image."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import (
    LONG,
    JupyterLab,
    NotebookPage,
    kernel_env_cell,
    nbconvert_html,
    open_offline,
    write_notebook,
)
from xai_defer_magic.emulator import Emulator

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

ASK = 3  # the %%grok_defer --image cell
PIXELS = re.compile(r"fig · \d+×\d+ px · \d+ KB")  # the figure's dpi is the backend's
THUMB_SIZE = "el => [el.naturalWidth, el.naturalHeight, el.complete]"


def test_the_card_and_the_saved_notebook_show_a_thumbnail_not_the_image(
    default_lab: JupyterLab, browser: Browser, tmp_path: Path
) -> None:
    with Emulator(latency=2.0) as emu:
        write_notebook(default_lab.root / "images.ipynb", [
            ("code", kernel_env_cell(emu.base_url, tmp_path / "journal")),
            ("code", "%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.3"),
            ("code", "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(6, 4))\n"
                     "ax.plot([1, 2, 3, 4], [2, 4, 3, 6], marker='o');"),
            ("code", "%%grok_defer -m grok-4.3 --image fig -o job\nWhat does this plot show?"),
        ])
        page = NotebookPage(default_lab, browser, "images.ipynb")
        try:
            page.open()
            page.run_all()
            page.wait_all_ran()
            cell = page.cell(ASK)
            live = cell.locator(".xdm-card.widget-vbox img.xdm-thumb")
            expect(live).to_be_visible(timeout=LONG)
            expect(cell.locator(".xdm-card.widget-vbox")).to_contain_text(PIXELS)
            width, height, complete = live.evaluate(THUMB_SIZE)
            assert complete and 0 < width <= 160 and 0 < height <= 160, (width, height)
            static = cell.locator(".xdm-static")
            expect(static).to_contain_text("Images seen", timeout=LONG)  # the answer arrived
            width, height, complete = static.locator("img.xdm-thumb").evaluate(THUMB_SIZE)
            assert complete and width == 160 and 100 <= height <= 110, (width, height)  # 3:2
            page.screenshot(cell, "images-card.png")
            page.save_and_wait()
            page.shutdown_kernel()
            assert page.errors == []
        finally:
            page.close()

    saved = json.loads((default_lab.root / "images.ipynb").read_text())
    outputs = json.dumps(saved["cells"][ASK]["outputs"], ensure_ascii=False)
    assert "xdm-thumb" in outputs and re.search(r"fig · \d+×\d+ px", outputs)
    assert len(outputs) < 120_000, "the card keeps a thumbnail, not the figure"
    html_file = nbconvert_html(default_lab.root / "images.ipynb")
    offline, _errors = open_offline(browser, html_file)
    try:
        thumb = offline.locator("img.xdm-thumb").last
        expect(thumb).to_be_visible()
        width, _height, complete = thumb.evaluate(THUMB_SIZE)
        assert complete and 0 < width <= 160
        assert re.search(r"fig · \d+×\d+ px", offline.locator("body").inner_text())
    finally:
        offline.context.close()

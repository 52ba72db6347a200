"""Fixtures every browser test module shares: one headless Chromium per module, and a
JupyterLab on the defaults a user gets (widget state NOT saved)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.support.browser import JupyterLab, chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def default_lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[JupyterLab]:
    """JupyterLab as a user gets it: widget state is NOT saved."""
    name = request.module.__name__.rpartition(".")[2].removeprefix("test_")
    with JupyterLab(tmp_path_factory.mktemp(f"{name}-lab"), save_widget_state=False) as server:
        yield server

"""Shared fixtures: the emulator on loopback, an isolated journal, a real IPython shell."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xai_defer_magic.emulator import Emulator

FAKE_KEY = "fake-test-key-not-a-secret"
XAI_DATA = Path(__file__).resolve().parent / "xai"  # copy of ../shared/xai: spec and real bodies


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(latency=1.0) as emu:
        yield emu


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "journal"
    path.mkdir()
    return path


@pytest.fixture
def env(emulator: Emulator, home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point this process at the emulator and a fresh journal (and return the same for kernels)."""
    values = {"XAI_API_KEY": FAKE_KEY, "XAI_BASE_URL": emulator.base_url,
              "XAI_DEFER_HOME": str(home)}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def ip(env: dict[str, str]) -> Iterator[Any]:
    """IPython's real test shell with the extension loaded; unloaded afterwards."""
    from IPython.testing import globalipapp

    # start_ipython() returns the shell only on its first call in a process; later calls None.
    shell = globalipapp.start_ipython() or globalipapp.get_ipython()
    assert shell is not None
    shell.run_line_magic("load_ext", "xai_defer_magic")
    try:
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "xai_defer_magic")
        shell.user_ns.pop("job", None)

"""Shared fixtures for every test below ``tests/``: the emulator on loopback, an isolated
journal, IPython's real test shell, the process-wide runtime and a real ipykernel.

Configure them per module or per test with markers instead of redefining them:

- ``@pytest.mark.emulator(latency=0.2, api_key=...)``: keyword arguments for ``Emulator``
  (default ``latency=1.0``: jobs stay pending long enough to act on them);
- ``@pytest.mark.grok_config(first_poll=0.1, model="grok-3")``: ``%config GrokDefer.<name>``
  lines the ``shell`` and ``kernel`` fixtures run after loading the extension.

Tests in ``tests/kernel/`` are marked ``kernel`` and tests in ``tests/browser/`` ``browser`` by
folder; a kernel test elsewhere carries ``@pytest.mark.kernel`` itself. A new test file in any
folder below ``tests/`` gets all of this with no boilerplate (no ``__init__.py`` needed: pytest
imports test files in importlib mode). Helpers two test files share go in ``tests/support/``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import FAKE_KEY, TESTS
from tests.support.kernels import Kernel
from tests.support.shell import run
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.runtime.runtime import Runtime, close_runtime, get_runtime

# ``import jsonschema`` builds rfc3987_syntax's lark grammars (about 2 s of CPU in every pytest
# worker that collects a test using it) for the "iri" formats, which no test checks; without
# the module jsonschema validates exactly the same. Tests only: the kernels keep it.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]

# Browser tests share module-scoped JupyterLab servers: one xdist worker runs them all, in turn.
FOLDER_MARKS = {"kernel": [pytest.mark.kernel],
                "browser": [pytest.mark.browser, pytest.mark.xdist_group("browser")]}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(item.path).resolve().relative_to(TESTS).parts[0]
        for mark in FOLDER_MARKS.get(folder, []):
            item.add_marker(mark)


def marker_kwargs(request: pytest.FixtureRequest, name: str) -> dict[str, Any]:
    """The keyword arguments of the closest ``name`` marker (test over class over module)."""
    marker = request.node.get_closest_marker(name)
    return dict(marker.kwargs) if marker else {}


def grok_config_lines(request: pytest.FixtureRequest) -> list[str]:
    return [f"%config GrokDefer.{name} = {value!r}"
            for name, value in marker_kwargs(request, "grok_config").items()]


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(**{"latency": 1.0, **marker_kwargs(request, "emulator")}) as emu:
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
    """IPython's real test shell with the extension loaded. It is one per process, so afterwards
    the extension is unloaded and every ``%config GrokDefer`` setting and every name the test's
    cells bound are dropped: tests sharing it stay apart, whatever order they run in."""
    from IPython.testing import globalipapp

    # start_ipython() returns the shell only on its first call in a process; later calls None.
    shell = globalipapp.start_ipython() or globalipapp.get_ipython()
    assert shell is not None
    before = set(shell.user_ns)
    close_runtime()  # a runtime an earlier test left open would keep that test's journal
    shell.run_line_magic("load_ext", "xai_defer_magic")
    try:
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "xai_defer_magic")
        shell.config.pop("GrokDefer", None)  # %config outlives the extension
        for name in set(shell.user_ns) - before:
            if not name.startswith("_"):
                shell.user_ns.pop(name, None)


@pytest.fixture
def shell(ip: Any, request: pytest.FixtureRequest) -> Any:
    """The test shell with the ``grok_config`` marker's settings (``ip`` drops them after)."""
    for line in grok_config_lines(request):
        run(ip, line)
    return ip


@pytest.fixture
def runtime(env: dict[str, str]) -> Iterator[Runtime]:
    """The process-wide runtime, new for this test and pointed at ``env``; closed afterwards."""
    close_runtime()
    try:
        yield get_runtime()
    finally:
        close_runtime()


@pytest.fixture
def kernel(env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
           ) -> Iterator[Kernel]:
    """A real ipykernel on ``env`` with the extension loaded and the ``grok_config`` settings."""
    started = Kernel(env, cwd=str(tmp_path))
    try:
        started.run("\n".join(["%load_ext xai_defer_magic", *grok_config_lines(request)]))
        yield started
    finally:
        started.stop()

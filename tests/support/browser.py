"""JupyterLab 4 + Playwright + Debian's Chromium, exactly as DESIGN §5 prescribes.

``JupyterLab`` runs one server on 127.0.0.1 with isolated config/data/runtime/settings dirs and
stops it by its own PID. ``chromium()`` launches the system browser (never ``playwright
install``). ``NotebookPage`` drives one notebook through ``window.jupyterapp``: open with
``?reset``, wait for an idle kernel, Run All, wait for every code cell to finish.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Locator, Page, sync_playwright

from tests.support import FAKE_KEY, REPO

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
ARTIFACTS = REPO / "test-artifacts"
TOKEN = "browser-test-token-not-a-secret"
VENV_BIN = str(Path(sys.executable).parent)

# User settings written into the isolated JUPYTERLAB_SETTINGS_DIR.
SETTINGS: dict[str, dict[str, Any]] = {
    # No news toast over the page, no update checks.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True,
    },
    # Widget state goes into saved notebooks (what a person who saves a notebook gets).
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True},
    # Every cell attached to the DOM, so off-screen outputs can be read and clicked.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any XAI_* variable, plus ``extra``; venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XAI_")}
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


class JupyterLab:
    """One JupyterLab server in ``base`` (a temp dir) serving ``base/root``."""

    def __init__(
        self, base: Path, env: dict[str, str] | None = None, *, save_widget_state: bool = True
    ) -> None:
        self.base = base
        self.settings = dict(SETTINGS)
        if not save_widget_state:  # JupyterLab's default: widget state is not saved
            self.settings.pop("@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings")
        self.root = base / "root"
        self.port = free_port()
        self.env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = base / "jupyterlab.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def page_url(self, path: str) -> str:
        return f"{self.url}/{path.lstrip('/')}?token={TOKEN}&reset"

    def _dirs(self) -> dict[str, str]:
        names = {
            "JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data",
            "JUPYTER_RUNTIME_DIR": "runtime", "JUPYTERLAB_SETTINGS_DIR": "settings",
            "JUPYTERLAB_WORKSPACES_DIR": "workspaces", "IPYTHONDIR": "ipython",
        }
        dirs = {var: str(self.base / sub) for var, sub in names.items()}
        for path in [*dirs.values(), str(self.root)]:
            Path(path).mkdir(parents=True, exist_ok=True)
        for name, value in self.settings.items():
            target = self.base / "settings" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(value))
        return dirs

    def start(self, timeout: float = 90) -> JupyterLab:
        env = clean_env({**self._dirs(), **self.env})
        argv = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
            "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}", f"--IdentityProvider.token={TOKEN}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly", "--LabApp.expose_app_in_browser=True",
        ]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv, env=env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"JupyterLab did not start:\n{self.log()}")
            time.sleep(0.25)
        return self

    def _answers(self) -> bool:
        try:
            return self.api("GET", "api/status").status_code == 200
        except httpx.HTTPError:
            return False

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"token {TOKEN}"}
        return httpx.request(method, f"{self.url}/{path}", headers=headers, timeout=10, **kwargs)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Ask the server to shut down (it stops its kernels), then make sure by its PID."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(httpx.HTTPError):
            self.api("POST", "api/shutdown")
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # the group this harness created
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def __enter__(self) -> JupyterLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium through Playwright; closed on exit."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=60_000
        )
        try:
            yield browser
        finally:
            browser.close()


_KERNEL_READY_JS = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!(k && k.status === 'idle' && k.connectionStatus === 'connected'
            && w.content && w.content.widgets && w.content.widgets.length > 0);
}"""

_CELLS_JS = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  const cells = w.content.widgets.filter(c => c.model.type === 'code').map(c => ({
    count: c.model.executionCount,
    errors: c.model.outputs.toJSON().filter(o => o.output_type === 'error')
              .map(o => o.ename + ': ' + o.evalue),
  }));
  return {kernel: k ? k.status : 'none', cells: cells};
}"""


class NotebookPage:
    """One notebook open in JupyterLab in its own browser context."""

    def __init__(self, lab: JupyterLab, browser: Browser, name: str) -> None:
        self.lab = lab
        self.name = name
        self.context = browser.new_context(viewport={"width": 1280, "height": 1000})
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def open(self, timeout: float = 90) -> NotebookPage:
        self.page.goto(self.lab.page_url(f"lab/tree/{self.name}"), timeout=timeout * 1000)
        self.page.wait_for_function(_KERNEL_READY_JS, timeout=timeout * 1000, polling=250)
        return self

    def run_all(self) -> None:
        # Not returning the promise: Playwright would otherwise wait for every cell.
        self.page.evaluate(
            "() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
        )

    def cell_states(self) -> dict[str, Any]:
        result: dict[str, Any] = self.page.evaluate(_CELLS_JS)
        return result

    def wait_all_ran(self, timeout: float = 120) -> None:
        """Until every code cell has an execution count and the kernel is idle; fail on errors."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.cell_states()
            errors = [e for c in state["cells"] for e in c["errors"]]
            if errors:
                raise AssertionError(f"a cell raised: {errors}")
            done = all(c["count"] is not None for c in state["cells"])
            if done and state["kernel"] == "idle":
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"cells still running after {timeout} s: {state}")
            time.sleep(0.3)

    def cell(self, index: int) -> Locator:
        """The ``index``-th cell (markdown cells count)."""
        return self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").nth(index)

    def output(self, index: int, nth: int = 0) -> Locator:
        """The ``nth`` top-level output of cell ``index`` (not the outputs nested in widgets)."""
        return self.cell(index).locator(
            ".jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output"
        ).nth(nth)

    def save(self) -> None:
        self.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")

    def save_and_wait(self, timeout: float = 90) -> None:
        """Save and wait until the document is clean (written to disk)."""
        self.save()
        self.page.wait_for_function(
            "() => !window.jupyterapp.shell.currentWidget.context.model.dirty",
            timeout=timeout * 1000,
        )

    def set_theme(self, theme: str) -> None:
        """'JupyterLab Light' or 'JupyterLab Dark'; waits until the body says so."""
        self.page.evaluate(
            "t => { window.jupyterapp.commands.execute('apputils:change-theme', {theme: t}); }",
            theme,
        )
        light = "true" if "Light" in theme else "false"
        self.page.wait_for_function(
            f"() => document.body.dataset.jpThemeLight === '{light}'", timeout=30_000
        )

    def shutdown_kernel(self) -> None:
        self.page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()"
        )

    def screenshot(self, locator: Locator, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        locator.scroll_into_view_if_needed()
        locator.screenshot(path=str(path), animations="disabled")
        assert path.stat().st_size > 5_000, f"{name} looks empty"
        return path

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.context.close()


def xss_flag(page: Page) -> Any:
    """``window.__xss``: anything but ``None`` (undefined) means an answer ran script."""
    return page.evaluate("() => window.__xss === undefined ? null : window.__xss")


def write_notebook(path: Path, cells: list[tuple[str, str]]) -> Path:
    """A notebook of ``("code"|"markdown", source)`` cells for the python3 kernel."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    makers = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell}
    nb.cells = [makers[kind](source) for kind, source in cells]
    nbformat.write(nb, str(path))
    return path


LONG = 90_000  # ms: bounds a hang on a slow, loaded 2-core machine; never a speed assertion
WIDGET_ERRORS = ("Error displaying widget", "model not found", "Loading widget")


def kernel_env_cell(base_url: str, home: Path, key: str = FAKE_KEY) -> str:
    """First cell of a test notebook: this kernel talks to a test emulator, with its own journal."""
    home.mkdir(parents=True, exist_ok=True)
    env = {"XAI_BASE_URL": base_url, "XAI_API_KEY": key, "XAI_DEFER_HOME": str(home)}
    return f"import os\nos.environ.update({env!r})"


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


def untrusted_copy(lab: JupyterLab, name: str, copy: str) -> None:
    """A copy of a saved notebook that no longer matches its signature (a colleague's copy)."""
    changed = json.loads((lab.root / name).read_text())
    changed["metadata"]["xdm_copied"] = True
    (lab.root / copy).write_text(json.dumps(changed))


def close_sessions(lab: JupyterLab) -> None:
    """Shut every kernel session down, so the next page opens the notebook fresh."""
    for session in lab.api("GET", "api/sessions").json():
        lab.api("DELETE", f"api/sessions/{session['id']}")


def assert_no_widget_error(page: Page) -> None:
    text = page.locator(".jp-NotebookPanel .jp-Notebook").inner_text()
    for phrase in WIDGET_ERRORS:
        assert phrase not in text, f"{phrase!r} on the page"

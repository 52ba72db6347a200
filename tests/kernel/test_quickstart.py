"""notebooks/quickstart.ipynb runs top to bottom, headless, with no key: the emulator answers.

Executed with nbclient in a real kernel, exactly as a user without ``XAI_API_KEY`` would run it
(fresh ``XAI_DEFER_HOME``, no ``XAI_BASE_URL``): the notebook's own ``use_emulator()`` call must
make every cell work and leave the answers in the outputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from nbclient import NotebookClient

from tests.support import REPO

# The tests share one module-scoped headless run: one xdist worker runs them, and it, once.
pytestmark = [pytest.mark.kernel, pytest.mark.xdist_group("quickstart")]

QUICKSTART = REPO / "notebooks" / "quickstart.ipynb"


def output_text(cell: Any) -> str:
    """Everything a reader could see in a cell's outputs, as text (stream, plain, markdown)."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        for mime in ("text/plain", "text/markdown", "text/html"):
            parts.append(str(out.get("data", {}).get(mime, "")))
    return "\n".join(parts)


def find(nb: Any, source: str) -> Any:
    """The one code cell whose source starts with ``source``."""
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(source)]
    assert len(cells) == 1, f"expected one cell starting with {source!r}, found {len(cells)}"
    return cells[0]


def test_committed_notebook_has_no_outputs_and_no_key() -> None:
    nb = nbformat.read(str(QUICKSTART), as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "widgets" not in nb.metadata, "saved widget state in the committed notebook"
    text = QUICKSTART.read_text()
    assert not re.search(r"xai-[A-Za-z0-9]{20,}", text), "something that looks like a key"
    assert "XAI_API_KEY'] =" not in text and 'XAI_API_KEY"] =' not in text


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The quickstart after a headless run without XAI_API_KEY (one run for every test here)."""
    work = tmp_path_factory.mktemp("quickstart")
    home = work / "journal"
    home.mkdir()
    mp = pytest.MonkeyPatch()
    mp.delenv("XAI_API_KEY", raising=False)
    mp.delenv("XAI_BASE_URL", raising=False)
    mp.setenv("XAI_DEFER_HOME", str(home))
    try:
        nb = nbformat.read(str(QUICKSTART), as_version=4)
        client = NotebookClient(
            nb, timeout=300, kernel_name="python3", allow_errors=False,
            resources={"metadata": {"path": str(work)}},
        )
        client.execute()
    finally:
        mp.undo()
    nbformat.write(nb, str(work / "executed.ipynb"))
    return nb


def test_every_code_cell_ran_without_error(executed: Any) -> None:
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    errors = [o for c in code for o in c.outputs if o["output_type"] == "error"]
    assert errors == []
    stderr = [o["text"] for c in code for o in c.outputs
              if o["output_type"] == "stream" and o["name"] == "stderr"]
    assert not any("Traceback" in s or "Error" in s for s in stderr), stderr


def test_it_used_the_builtin_emulator(executed: Any) -> None:
    said = output_text(find(executed, "from xai_defer_magic.emulator.quick import use_emulator"))
    assert "No XAI_API_KEY: using the built-in emulator at http://127.0.0.1:" in said


def test_the_answers_are_in_the_outputs(executed: Any) -> None:
    answer = output_text(find(executed, "answer = job.result()"))
    assert "Emulated answer" in answer
    usage = output_text(find(executed, "print(job.status, job.usage"))
    assert re.search(r"^done \d+ tokens\ncost in USD: 0\.\d+", usage), usage
    waited = find(executed, "%grok_wait")
    assert "Emulated answer" in output_text(waited)
    html = "".join(str(o.get("data", {}).get("text/html", "")) for o in waited.outputs)
    assert "<h2" in html and "<li>" in html and '<pre class="xdm-code"' in html
    again = output_text(find(executed, "%grok_result"))
    assert "Emulated answer" in again and "Three tips" not in again  # the emulator, not a model
    loop = output_text(find(executed, "for topic, j in zip(topics, batch):\n    first_line"))
    assert loop.count(": done, ") == 3 and loop.count("Emulated answer") == 3
    follow_up = output_text(find(executed, "import xai_defer_magic\n\ntips = "))
    assert "2 turns; turn 2 sent 4 messages" in follow_up, follow_up  # system, 1, 1, 2
    transcript = output_text(find(executed, "%grok_thread tips"))
    assert "turn 1" in transcript and "turn 2" in transcript, transcript
    math = find(executed, "%%grok_defer --wait\nWhat is 1 + 2")
    shown = "".join(str(o.get("data", {}).get("text/html", "")) for o in math.outputs)
    assert "\\frac" in shown or "\\sum" in shown or "$$" in shown, shown[:500]  # TeX, as text
    plot = output_text(find(executed, "%%grok_defer --image fig"))
    assert "Emulated answer" in plot and "fig" in plot, plot


def test_each_deferred_cell_shows_a_card(executed: Any) -> None:
    cards = [c for c in executed.cells
             if c.cell_type == "code" and c.source.startswith("%%grok_defer")]
    assert len(cards) == 9
    for cell in cards:
        # A card that finished while a later cell ran was saved as plain data (no widget);
        # one still pending when its cell was saved is the live card with a text fallback.
        shown = [o for o in cell.outputs if o.get("data", {}).get("text/plain", "")
                 .startswith("[grok] ")]
        assert shown, f"no card in {cell.source.splitlines()[0]!r}"
        data = shown[0]["data"]
        static = 'class="xdm-card xdm-static"' in data.get("text/html", "")
        assert static or "application/vnd.jupyter.widget-view+json" in data, data.keys()


# --- scripts/quickstart.sh: a copy to run, a quiet JupyterLab -----------------------------------

ROOT = QUICKSTART.parent.parent
TOKEN = "quickstart-test-token-not-a-secret"
NOTIFICATION = "@jupyterlab/apputils-extension:notification"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A throwaway git checkout holding the quickstart script and notebook, as committed."""
    repo = tmp_path / "repo"
    for part in ("scripts/quickstart.sh", "scripts/setup.sh", "notebooks/quickstart.ipynb",
                 ".gitignore"):
        (repo / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / part, repo / part)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "x")
    return repo


def start_quickstart(repo: Path, tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XAI_", "JUPYTER"))}
    env.update(QUICKSTART_VENV=sys.prefix, PYTHONPATH=str(ROOT))
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        env[var] = str(tmp_path / var.lower())
    log = open(tmp_path / "lab.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        ["bash", "scripts/quickstart.sh", "--no-browser", f"--port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}"],
        cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def api(port: int, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"http://127.0.0.1:{port}/{path}", timeout=10,
                         headers={"Authorization": f"token {TOKEN}"}, **kwargs)


def stop(proc: subprocess.Popen[bytes], port: int) -> None:
    with contextlib.suppress(httpx.HTTPError):
        api(port, "POST", "api/shutdown")
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # the session this test started
        proc.wait(timeout=10)


def wait_until_up(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if api(port, "GET", "api/status").status_code == 200:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.25)


def test_quickstart_opens_a_copy_without_the_news_toast(checkout: Path, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = start_quickstart(checkout, tmp_path, port)
    try:
        wait_until_up(proc, port, tmp_path / "lab.log")
        copy = checkout / "build" / "quickstart" / "quickstart.ipynb"
        assert copy.read_bytes() == (checkout / "notebooks" / "quickstart.ipynb").read_bytes()
        said = (tmp_path / "lab.log").read_text()
        assert "Opening build/quickstart/quickstart.ipynb (a copy of notebooks/quickstart" in said
        assert f"Serving notebooks from local directory: {copy.parent}\n" in said, said[-2000:]

        schema = api(port, "GET", f"lab/api/settings/{NOTIFICATION}").json()["schema"]
        defaults = {name: p.get("default") for name, p in schema["properties"].items()}
        assert defaults["fetchNews"] == "false", defaults  # "none" asks with the news toast
        assert defaults["checkForUpdates"] is False
        overrides = checkout / "build/jupyter-config/labconfig/default_setting_overrides.json"
        assert json.loads(overrides.read_text())[NOTIFICATION]["fetchNews"] == "false"

        model = api(port, "GET", "api/contents/quickstart.ipynb").json()
        model["content"]["cells"][1]["outputs"] = [
            {"output_type": "stream", "name": "stdout", "text": "ran\n"}]
        model["content"]["cells"][1]["execution_count"] = 1
        saved = api(port, "PUT", "api/contents/quickstart.ipynb",
                    json={"type": "notebook", "format": "json", "content": model["content"]})
        assert saved.status_code == 200, saved.text
    finally:
        stop(proc, port)
    assert git(checkout, "status", "--porcelain") == "", "a tracked file changed"
    assert '"ran\\n"' in copy.read_text()
    rerun = start_quickstart(checkout, tmp_path, port)  # a second run keeps the user's copy
    try:
        wait_until_up(rerun, port, tmp_path / "lab.log")
        assert '"ran\\n"' in copy.read_text()
    finally:
        stop(rerun, port)


def test_emulator_start_line_says_any_key_works_and_how_to_stop() -> None:
    env = {k: v for k, v in os.environ.items() if k != "XAI_EMULATOR_KEY"}
    proc = subprocess.Popen([sys.executable, "-m", "xai_defer_magic.emulator"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"XAI_BASE_URL=http://127\.0\.0\.1:\d+/v1", url), url
        line = proc.stderr.readline().strip()
        assert line == (
            f"xai-defer-emulator: emulated xAI at {url.split('=', 1)[1]} (export {url}); "
            "any XAI_API_KEY works, e.g. export XAI_API_KEY=emulated; press Ctrl-C to stop."
        )
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


FAKE_PIP = r"""#!/usr/bin/env bash
# Stands in for .venv/bin/python: says what pip and setuptools say, fails when told to.
echo "pip $* PYTHONWARNINGS=${PYTHONWARNINGS:-}" >> "$(dirname "$0")/calls"
echo "WARNING: Location 'file:///opt/pypi-more/simple/pip/' is ignored: it is neither a file" \
  "nor a directory." >&2
case "$*" in *"-e .[dev]"*)
  echo "ERROR: Could not find a version that satisfies the requirement nh3>=99" >&2
  exit "${FAKE_STATUS:-0}";;
esac
"""


@pytest.mark.parametrize("status", [0, 1])
def test_setup_hides_known_noise_but_not_errors(tmp_path: Path, status: int) -> None:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", repo / "scripts" / "setup.sh")
    fake = repo / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(FAKE_PIP)
    fake.chmod(0o755)
    done = subprocess.run(["bash", "scripts/setup.sh"], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, "FAKE_STATUS": str(status)}, timeout=60)
    assert done.returncode == status
    assert done.stdout == ""
    assert done.stderr == "ERROR: Could not find a version that satisfies the requirement nh3>=99\n"
    calls = (fake.parent / "calls").read_text().splitlines()
    assert calls == [
        "pip -m pip install --quiet --upgrade pip PYTHONWARNINGS=ignore:Editable installation",
        "pip -m pip install --quiet -e .[dev] PYTHONWARNINGS=ignore:Editable installation",
    ]

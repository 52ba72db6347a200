"""Secret audit in real kernels: a canary API key goes through full runs and must surface nowhere.

A real kernel (every iopub message, widget state, kernel stdout/stderr with debug logging,
reprs, a verbose traceback, the journal's files) and a notebook executed by nbclient (the saved
``.ipynb`` with widget state, the kernel's logs). The emulator *requires* the canary for the good
jobs, which proves the canary really was the key in use.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.kernels import Kernel
from tests.support.secrets import assert_absent, journal_bytes, new_canary
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.emulator.server import mask_key

OTHER_KEY = "server-expects-another-key-0000"
# The HTTP stack and the package log at DEBUG to the kernel's stderr (root stays quiet:
# ipykernel's own debug logs would feed back into iopub).
LIBRARY_DEBUG_LOGGING = """
import logging, sys
handler = logging.StreamHandler(sys.__stderr__)
for name in ("httpx", "httpcore", "xai_defer_magic", "asyncio"):
    logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger(name).addHandler(handler)
"""
FAST_POLLING = "%config GrokDefer.first_poll = 0.2\n%config GrokDefer.max_poll_interval = 1.0"


@pytest.fixture
def canary() -> str:
    return new_canary()


class AuditedKernel(Kernel):
    """tests.kernels.Kernel, with the kernel's stdout/stderr in a file and every message kept."""

    def __init__(self, env: dict[str, str], cwd: str, log_path: Path) -> None:
        self.log_file = log_path.open("wb")
        self.messages: list[str] = []
        # --debug: the kernel logs every message it handles
        super().__init__(env, cwd, extra_args=("--debug",), output=self.log_file)

    def _route(self, msg: dict[str, Any]) -> None:
        self.messages.append(json.dumps(msg, default=str))
        super()._route(msg)

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.log_file.close()


def run_failing(kernel: Kernel, code: str) -> dict[str, Any]:
    """Run a cell that must raise; return the error message content."""
    execution = kernel.wait(kernel.submit(code), 30)
    assert execution.status == "error", execution.outputs
    errors = [o["content"] for o in execution.outputs if o["msg_type"] == "error"]
    assert errors, execution.outputs
    return errors[0]


def card_status(kernel: Kernel, index: int) -> str:
    cards = kernel.widgets.cards()
    if len(cards) <= index:
        return ""
    return str(kernel.widgets.card_parts(cards[index])["header"])


def test_canary_key_never_leaves_the_kernel(
    canary: str, emulator: Emulator, home: Path, tmp_path: Path
) -> None:
    emulator.api_key = canary  # the good jobs succeed only if the canary is the key sent
    env = {"XAI_API_KEY": canary, "XAI_BASE_URL": emulator.base_url, "XAI_DEFER_HOME": str(home)}
    log_path = tmp_path / "kernel.log"
    kernel = AuditedKernel(env, str(tmp_path), log_path)
    try:
        exercise_kernel(kernel, emulator, canary)
    finally:
        kernel.stop()
    assert len(kernel.messages) > 50 and "Emulated answer" in "".join(kernel.messages)
    for i, message in enumerate(kernel.messages):
        assert_absent(canary, f"iopub/shell message {i}", message)
    log = log_path.read_bytes()
    assert b"execute_request" in log, "the kernel's debug log was not captured"
    assert b"HTTP Request: POST" in log, "the HTTP stack's debug log was not captured"
    assert_absent(canary, "kernel stdout/stderr", log)
    files = journal_bytes(home)
    assert "jobs.sqlite3" in files
    assert any(b"Emulated answer" in data for data in files.values())
    for name, data in files.items():
        assert_absent(canary, f"journal file {name}", data)


def exercise_kernel(kernel: Kernel, emulator: Emulator, canary: str) -> None:
    """Every surface a user sees: cards, --wait, %grok_wait, %grok_result, reprs, errors."""
    kernel.run(LIBRARY_DEBUG_LOGGING)
    kernel.run("%load_ext xai_defer_magic\n" + FAST_POLLING)
    kernel.run("%%grok_defer -m grok-4 -o job\nSay hello to the auditor.")
    kernel.pump_until(lambda: "xdm-status-done" in card_status(kernel, 0), 30, "card done")
    waited = kernel.run("%%grok_defer --wait -m grok-3-mini -o waited\nAnother one.", 60)
    assert "Emulated answer" in waited.text("text/markdown")
    kernel.run("%%grok_defer -o third\nA third one. [[latency=4]]")
    assert "Emulated answer" in kernel.run("%grok_wait", 60).text("text/markdown")
    request_id = kernel.run("print(job.request_id)").text().strip()
    shown = kernel.run(f"%grok_result {request_id}")
    assert "Emulated answer" in shown.text("text/markdown")
    assert kernel.run("%grok_jobs").outputs, "%grok_jobs showed nothing"
    reprs = kernel.run(
        "import xai_defer_magic\nfrom xai_defer_magic.runtime.runtime import get_runtime\n"
        "rt = get_runtime()\n"
        "print(repr(job)); print(vars(job)); print(repr(rt.poller.client_for(job.base_url)))\n"
        "print(repr(rt.journal)); print(xai_defer_magic.jobs())\n%config GrokDefer\njob"
    )
    assert "XaiClient(base_url=" in reprs.text() and "<Job " in reprs.text()

    emulator.api_key = OTHER_KEY  # from here on the server refuses the canary
    kernel.run("%%grok_defer -o bad\nThis one is refused.")
    error = kernel.run("print(bad.status); print(bad.error)").text().splitlines()
    assert error[0] == "failed" and len(error) == 2, error
    assert "Incorrect API key provided" in error[1] and mask_key(canary) in error[1], error
    assert canary not in mask_key(canary)
    kernel.run("%xmode Verbose")  # tracebacks with every frame's local variables
    verbose = run_failing(kernel, "bad.result()")
    assert verbose["ename"] == "BadApiKey" and "Incorrect API key" in verbose["evalue"]
    frames = "\n".join(verbose["traceback"])
    assert "XaiClient.submit" in frames and "response = " in frames, "no loop-thread locals shown"
    kernel.run("%xmode Context")
    run_failing(kernel, "waited.cancel(); bad.resume(); bad.result(10)")
    assert kernel.run("print(6 * 7)").text().strip() == "42"


# --- a notebook executed headless ------------------------------------------------------------


def audit_notebook(bad_base_url: str) -> nbformat.NotebookNode:
    cells = [
        "%load_ext xai_defer_magic\n" + FAST_POLLING,
        "%%grok_defer --wait -o job\nSummarise deferred completions.",
        "%%grok_defer -o live\nA live card.",
        "%grok_wait",
        "get_ipython().run_line_magic('grok_result', job.request_id)",
        "print(repr(job), repr(live))\njob",
        f"%config GrokDefer.base_url = {bad_base_url!r}",
        "%%grok_defer -o bad\nRefused: the server expects another key.",
        "print(bad.status, bad.error)",
        "bad.result()",
    ]
    cells.insert(4, "%grok_jobs")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def test_canary_key_not_in_saved_notebook_or_logs(
    canary: str, emulator: Emulator, home: Path, tmp_path: Path
) -> None:
    emulator.api_key = canary
    with Emulator(api_key=OTHER_KEY) as refusing:
        nb = audit_notebook(refusing.base_url)
        env = {**os.environ, "XAI_API_KEY": canary, "XAI_BASE_URL": emulator.base_url,
               "XAI_DEFER_HOME": str(home)}
        log_path = tmp_path / "nbclient-kernel.log"
        with log_path.open("wb") as log_file:
            client = NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3",
                                    extra_arguments=["--debug"],
                                    resources={"metadata": {"path": str(tmp_path)}})
            client.execute(env=env, stdout=log_file, stderr=log_file)
        assert [r.status for r in refusing.requests()] == [400]
    failing = [c.source for c in nb.cells if any(o.output_type == "error" for o in c.outputs)]
    assert failing == ["bad.result()"], failing
    saved = tmp_path / "audited.ipynb"
    nbformat.write(nb, saved)
    text = saved.read_text(encoding="utf-8")
    assert "Emulated answer" in text and "Incorrect API key provided" in text
    assert mask_key(canary) in text and "BadApiKey" in text
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any("xdm-card" in json.dumps(model) for model in state.values())
    assert_absent(canary, "saved notebook", text)
    log = log_path.read_bytes()
    assert b"execute_request" in log, "the kernel's debug log was not captured"
    assert_absent(canary, "nbclient kernel stdout/stderr", log)
    for name, data in journal_bytes(home).items():
        assert_absent(canary, f"journal file {name}", data)



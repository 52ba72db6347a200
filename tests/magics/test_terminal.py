"""Terminal IPython (no widgets): the same magics print plain lines and answers, never reprs.

Runs the venv's real ``ipython`` as a subprocess, feeding it commands on stdin with
``--simple-prompt`` (a cell magic ends at two empty lines there), against the emulator.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import FAKE_KEY
from xai_defer_magic.emulator import Emulator

pytestmark = pytest.mark.timeout(120)

WIDGET_REPRS = ("VBox(", "HBox(", "HTML(value=", "Output(", "Accordion(", "JobsPanel(",
                "JobCard(", "widget-view+json", "<IPython.core.display")

SCRIPT = """\
%load_ext xai_defer_magic
%%grok_defer -m grok-3-mini -o job
[[latency=3]] Why is the sky blue?


import time; time.sleep(1)
%grok_wait
%%grok_defer --wait -m grok-4
Give three tips for reproducible notebooks.


%grok_result {job.request_id}
%grok_jobs
print("END", job.status)
"""


def run_ipython(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "IPython", "--no-banner", "--simple-prompt",
            "--no-confirm-exit", "--colors=nocolor"]
    return subprocess.run(argv, input=script, capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=90)


def by_prompt(stdout: str) -> dict[int, str]:
    """What was printed after each ``In [N]:`` prompt, before the next one."""
    pieces = re.split(r"In \[(\d+)\]: ", stdout)
    return {int(n): body for n, body in zip(pieces[1::2], pieces[2::2], strict=True)}


@pytest.fixture
def terminal_env(tmp_path: Path, emulator: Emulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XAI_")}
    env.update(XAI_API_KEY=FAKE_KEY, XAI_BASE_URL=emulator.base_url,
               XAI_DEFER_HOME=str(tmp_path / "journal"), IPYTHONDIR=str(tmp_path / "ipython"))
    return env


def test_terminal_prints_status_lines_and_answers(
    terminal_env: dict[str, str], tmp_path: Path
) -> None:
    done = run_ipython(SCRIPT, terminal_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    out = by_prompt(done.stdout)

    submitted = out[2] + out[3]  # the id line comes when the POST answers, in the background
    assert "Emulated answer" not in submitted, "the cell waited for the answer"
    assert re.search(r"\[grok\] [0-9a-f-]{36} grok-3-mini: pending, .*\(%grok_wait blocks until "
                     r"done\)", submitted), submitted

    waited = out[4]
    assert "Re: “Why is the sky blue?”" in waited, waited
    assert "--- reasoning ---" in waited and "Emulated reasoning" in waited

    blocked = out[5]
    assert "Re: “Give three tips for reproducible notebooks.”" in blocked, blocked
    assert re.search(r"grok-4 → grok-4.3: done, .* total \d+ tokens", blocked), blocked
    assert "grok-4 is retired: xAI redirected it to grok-4.3" in blocked  # with its price

    again = out[6]
    assert "Re: “Why is the sky blue?”" in again and "grok-3-mini: done" in again

    listing = out[7]
    assert "0 pending · 2 done" in listing
    assert "Why is the sky blue?" in listing and "Give three tips" in listing

    assert "END done" in out[8]
    for marker in WIDGET_REPRS:
        assert marker not in done.stdout, f"a widget repr leaked into the terminal: {marker}"


def test_terminal_usage_error_is_one_line(terminal_env: dict[str, str], tmp_path: Path) -> None:
    script = "%load_ext xai_defer_magic\n%%grok_defer -t 7\nhi\n\n\nprint('still here')\n"
    done = run_ipython(script, terminal_env, tmp_path)
    assert done.returncode == 0
    text = done.stdout + done.stderr
    assert "UsageError: --temperature" in text and "Traceback" not in text, text
    assert "still here" in by_prompt(done.stdout)[3]

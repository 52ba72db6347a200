"""binder/start really starts the emulator, points a command at it, and cleans up after it.

The start script runs for real with a Python command in place of JupyterLab; the command submits
a deferred request over loopback HTTP to the exported ``XAI_BASE_URL``. The emulator's PID (from
the state dir) must be gone shortly after the command exits; if not, the test stops it by that
PID and fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import REPO

BINDER = REPO / "binder"

pytestmark = pytest.mark.timeout(120)

COMMAND = r"""
import json, os, httpx
from urllib.parse import urlsplit
from xai_defer_magic.emulator.quick import use_emulator
base, key = os.environ["XAI_BASE_URL"], os.environ["XAI_API_KEY"]
assert urlsplit(base).hostname == "127.0.0.1", base
pid = int(open(os.path.join(os.environ["XAI_EMULATOR_STATE_DIR"], "pid")).read())
os.kill(pid, 0)  # the emulator runs while the command does
headers = {"Authorization": f"Bearer {key}"}
body = {"model": "grok-3-mini", "deferred": True,
        "messages": [{"role": "user", "content": "Hello from Binder."}]}
submitted = httpx.post(f"{base}/chat/completions", json=body, headers=headers, timeout=10)
request_id = submitted.json()["request_id"]
polled = httpx.get(f"{base}/chat/deferred-completion/{request_id}", headers=headers, timeout=10)
print(json.dumps({"base": base, "key": key, "pid": pid, "submit": submitted.status_code,
                  "request_id": request_id, "poll": polled.status_code,
                  "quick": use_emulator()}))
"""


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def start_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XAI_")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["XAI_EMULATOR_STATE_DIR"] = str(tmp_path / "state")
    env["XAI_EMULATOR_LATENCY"] = "30"
    env.update(extra)
    return env


def test_start_runs_the_emulator_for_the_command_and_stops_it(tmp_path: Path) -> None:
    env = start_env(tmp_path)
    pid_file = tmp_path / "state" / "pid"
    try:
        done = subprocess.run(
            ["bash", str(BINDER / "start"), sys.executable, "-c", COMMAND],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        assert seen["submit"] == 200 and len(seen["request_id"]) == 36
        assert seen["poll"] == 202, "the job is pending at the emulator"
        assert seen["key"] == "emulator-key-not-a-secret"
        assert seen["quick"] == f"Using the emulator at {seen['base']} (offline, emulated answers)."
        assert "using the offline emulator at http://127.0.0.1:" in done.stderr
        pid = int(pid_file.read_text())
        assert pid == seen["pid"]
        deadline = time.monotonic() + 15
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(pid), "the emulator outlived the command"
    finally:
        if pid_file.exists():
            pid = int(pid_file.read_text())
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)


def test_start_with_a_key_changes_nothing(tmp_path: Path) -> None:
    env = start_env(tmp_path, XAI_API_KEY="fake-test-key-not-a-secret")
    code = "import os; print(os.environ.get('XAI_BASE_URL', 'unset'), os.environ['XAI_API_KEY'])"
    done = subprocess.run(
        ["bash", str(BINDER / "start"), sys.executable, "-c", code],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["unset", "fake-test-key-not-a-secret"]
    assert not (tmp_path / "state" / "pid").exists(), "an emulator was started anyway"


def test_binder_build_installs_this_checkout_and_saves_widget_state() -> None:
    requirements = (BINDER / "requirements.txt").read_text()
    assert "jupyterlab" in requirements and "ipywidgets" in requirements
    post_build = (BINDER / "postBuild").read_text()
    assert "pip install --no-cache-dir -e ." in post_build
    assert '{"saveState": true}' in post_build
    for script in ("postBuild", "start"):
        path = BINDER / script
        assert os.access(path, os.X_OK), f"binder/{script} must be executable"
        subprocess.run(["bash", "-n", str(path)], check=True)

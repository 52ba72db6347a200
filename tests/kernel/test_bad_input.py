"""Malformed server answers in a real kernel: every job of the table ends ``failed`` with one
clear line on its card, and the kernel stays usable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import FAKE_KEY
from tests.support.hostile import CASES, TRANSIENT_LIMIT, Hostile
from tests.support.kernels import Kernel


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    with Hostile() as server:
        yield server


def test_bad_answers_in_a_real_kernel(hostile: Hostile, home: Path, tmp_path: Path) -> None:
    env = {"XAI_API_KEY": FAKE_KEY, "XAI_BASE_URL": hostile.base_url,
           "XAI_DEFER_HOME": str(home)}
    kernel = Kernel(env, cwd=str(tmp_path))
    try:
        kernel.run("%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.1\n"
                   "%config GrokDefer.max_poll_interval = 0.5\n"
                   f"%config GrokDefer.max_transient_failures = {TRANSIENT_LIMIT}")
        for name in CASES:
            kernel.run(f"%%grok_defer -o job_{name}\ncase={name} from a kernel")
        kernel.run("%grok_wait --timeout 60", 90)
        code = "import json\nprint(json.dumps({n: [j.status, j.error] for n, j in " \
               "((k[4:], v) for k, v in dict(globals()).items() if k.startswith('job_'))}))"
        outcome = json.loads(kernel.run(code).text())
        assert kernel.run("print(6 * 7)").text().strip() == "42"
        cards = kernel.widgets.cards()
        errors = [kernel.widgets.card_parts(c)["error"] for c in cards]
    finally:
        kernel.stop()
    assert set(outcome) == set(CASES)
    for name, (status, error) in outcome.items():
        assert status == "failed" and error and "\n" not in error, (name, status, error)
        assert CASES[name].error.lower() in error.lower(), (name, error)
    assert len(cards) >= len(CASES)  # %grok_wait adds a card for a job it waited on
    assert all("xdm-error" in e and "Traceback" not in e for e in errors), errors

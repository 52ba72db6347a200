"""``--fresh`` holds for ``%%grok_defer --batch`` on one prompt too: the request is sent again.

The single-prompt ``--batch`` path used to drop ``--fresh`` on the way to the fan-out, so an
identical earlier answer was reused although the line says ``--fresh``.
"""

from __future__ import annotations

from typing import Any

from xai_defer_magic.emulator import Emulator

HANG = 30.0


def run(ip: Any, code: str) -> None:
    result = ip.run_cell(code)
    assert result.success, (code, result.error_before_exec, result.error_in_exec)


def test_fresh_sends_a_one_prompt_batch_again(ip: Any, emulator: Emulator) -> None:
    emulator.latency = 0.1
    try:
        run(ip, "%config GrokDefer.first_poll = 0.1")
        run(ip, "%%grok_defer --batch -o first\nSay the same thing twice.")
        assert ip.user_ns["first"].results(HANG)
        run(ip, "%%grok_defer --batch -o again\nSay the same thing twice.")
        assert ip.user_ns["again"].jobs[0].reused_from is not None  # reuse is the default
        run(ip, "%%grok_defer --batch --fresh -o fresh\nSay the same thing twice.")
        fresh = ip.user_ns["fresh"]
        assert fresh.results(HANG)
        assert fresh.jobs[0].reused_from is None
        assert len(emulator.batches.batch_ids()) == 2
    finally:
        ip.config.pop("GrokDefer", None)
        for name in ("first", "again", "fresh"):
            ip.user_ns.pop(name, None)

"""A ceiling on spending, and per-item reuse in groups: checked at the emulator's counters.

A refused cell sends no chat request (only the catalogue and tokenizer reads the estimate
needs) and journals nothing; the estimate is the price formula on the server's token count.
"""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError

import xai_defer_magic
from tests.support.shell import run
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.emulator.catalogue import count_prompt_tokens

pytestmark = [pytest.mark.emulator(latency=0.2), pytest.mark.grok_config(first_poll=0.1)]

HANG = 30.0


def refused(ip: Any, code: str) -> str:
    result = ip.run_cell(code)
    assert isinstance(result.error_in_exec, UsageError), (code, result.error_in_exec)
    line = str(result.error_in_exec)
    assert "\n" not in line
    return line


def chat_posts(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests()
               if r.method == "POST" and r.path.endswith("/chat/completions"))


def test_a_cell_over_max_cost_is_refused_with_nothing_sent(shell: Any, emulator: Emulator) -> None:
    line = refused(shell, "%%grok_defer --max-cost 0.0000001 -o a\nName a prime.")
    assert "estimated at $" in line and "--max-cost" in line
    assert chat_posts(emulator) == 0 and "a" not in shell.user_ns
    assert xai_defer_magic.jobs() == []


def test_the_estimate_is_the_price_formula_and_shown(
    shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    prompt = "Summarise the trade-offs of deferred completions."
    run(shell, f"%%grok_defer -m grok-4.3 --max-tokens 100 --max-cost 5 --wait -o a\n{prompt}")
    job = shell.user_ns["a"]
    expected = (count_prompt_tokens(prompt) * 1.25 + 100 * 2.50) / 1e6  # grok-4.3, $/1M
    assert job.estimated_cost_usd == pytest.approx(expected)
    assert chat_posts(emulator) == 1 and job.status == "done"
    assert "estimated before sending" in capsys.readouterr().out


def test_the_daily_budget_counts_what_the_journal_spent(shell: Any, emulator: Emulator) -> None:
    run(shell, "%%grok_defer --wait -o a\nName a prime.")
    spent = shell.user_ns["a"].cost_usd
    assert spent and spent > 0
    run(shell, f"%config GrokDefer.daily_budget_usd = {spent + 1e-7!r}")
    line = refused(shell, "%%grok_defer\nName an even prime.")
    assert "spent in the last 24 h" in line and "daily_budget_usd" in line
    assert chat_posts(emulator) == 1
    run(shell, "%config GrokDefer.daily_budget_usd = 100.0")
    run(shell, "%%grok_defer --wait\nName an even prime.")
    assert chat_posts(emulator) == 2


def test_a_fan_out_over_max_cost_sends_and_journals_nothing(
    shell: Any, emulator: Emulator
) -> None:
    shell.user_ns["xs"] = [f"item {i}" for i in range(30)]
    line = refused(shell, "%%grok_defer --over xs --max-cost 0.0000001 -o g\nSay {item}.")
    assert "these 30 requests" in line
    assert chat_posts(emulator) == 0 and xai_defer_magic.groups() == []


@pytest.mark.parametrize(
    ("code", "word"),
    [
        ("%%grok_defer --max-cost lots\nHi", "--max-cost"),
        ("%%grok_defer --max-cost -1\nHi", "--max-cost"),
        ("%%grok_defer --max-cost 0\nHi", "--max-cost"),
    ],
)
def test_bad_limits_are_one_line(shell: Any, emulator: Emulator, code: str, word: str) -> None:
    assert word in refused(shell, code)
    assert chat_posts(emulator) == 0


def test_bad_config_limit_is_refused(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    magics = shell.magics_manager.registry["GrokDefer"]
    shell.run_cell("%config GrokDefer.daily_budget_usd = -3")
    assert magics.daily_budget_usd is None
    run(shell, "%config GrokDefer.daily_budget_usd = 2.5")
    assert magics.daily_budget_usd == 2.5 and magics.runtime().settings.daily_budget_usd == 2.5


def test_a_re_run_group_sends_only_the_edited_items(shell: Any, emulator: Emulator) -> None:
    shell.user_ns["xs"] = ["one", "two", "three", "four", "five"]
    run(shell, "%%grok_defer --over xs --wait -o g\nSpell {item} backwards.")
    first = shell.user_ns["g"]
    assert chat_posts(emulator) == 5
    shell.user_ns["xs"] = ["one", "TWO", "three", "FOUR", "five"]
    run(shell, "%%grok_defer --over xs --wait -o g\nSpell {item} backwards.")
    again = shell.user_ns["g"]
    assert chat_posts(emulator) == 7, "only the two edited items may be sent"
    answers = again.results(HANG)
    assert answers[0] == first.results(HANG)[0] and answers[2] == first.results(HANG)[2]
    assert [job.reused_from is not None for job in again] == [True, False, True, False, True]
    run(shell, "%%grok_defer --over xs --wait --fresh -o g\nSpell {item} backwards.")
    assert chat_posts(emulator) == 12

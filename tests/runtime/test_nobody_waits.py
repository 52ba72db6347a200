"""Nothing a cell starts waits for the network (DESIGN §3.14), against an emulator whose
POSTs, catalogue and batch calls are slow as a loaded xAI's can be; where waiting is the point
(a cost limit needs the catalogue first) it is bounded by ``GrokDefer.request_timeout`` and
ends in one line."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.shell import run, sent, usage_error, wait_for
from xai_defer_magic.core.group import Group
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.views.group_summary import title

pytestmark = [pytest.mark.emulator(latency=0.0), pytest.mark.grok_config(first_poll=0.1)]

SLOW = 3.0  # seconds every slow route holds a request
QUICK = SLOW / 2  # a cell that took longer than this waited for the network (the margin
# either way is for a loaded machine: a cell that waited takes at least SLOW)


def timed(shell: Any, cell: str) -> float:
    started = time.monotonic()
    run(shell, cell)
    return time.monotonic() - started


def test_a_slow_post_does_not_hold_the_cell(shell: Any, emulator: Emulator) -> None:
    emulator.configure({"submit_delay": SLOW})
    assert timed(shell, "%%grok_defer -o job\nHello") < QUICK
    job = shell.user_ns["job"]
    assert job.status == "submitting" and job.request_id is None
    assert "Emulated answer" in job.result(SLOW + 20) and job.request_id
    assert len(sent(emulator, 1)) == 1


def test_a_fan_out_without_a_budget_asks_nothing_before_returning(
    shell: Any, emulator: Emulator
) -> None:
    emulator.configure({"submit_delay": SLOW, "catalogue_delay": SLOW})
    shell.user_ns["xs"] = ["one", "two", "three"]
    assert timed(shell, "%%grok_defer --over xs -o g\nSay {item}") < QUICK
    g: Group = shell.user_ns["g"]
    assert len(g.results(timeout=SLOW * 3 + 20)) == 3


def test_a_batch_cell_returns_before_the_batch_is_created(shell: Any, emulator: Emulator) -> None:
    emulator.configure({"batch_delay": SLOW})
    shell.user_ns["xs"] = ["alpha", "beta"]
    assert timed(shell, "%%grok_defer --batch --over xs -o g\nSay {item}") < QUICK
    g: Group = shell.user_ns["g"]
    assert title(g).endswith("· creating batch"), title(g)
    answers = g.results(timeout=SLOW * 10 + 30)
    assert ["Say alpha" in answers[0], "Say beta" in answers[1]] == [True, True]
    assert title(g).endswith("· admitted") and g.batch_id in title(g), title(g)


def test_a_retired_name_with_a_slow_catalogue_never_delays_the_cell_or_a_read(
    shell: Any, emulator: Emulator
) -> None:
    emulator.configure({"catalogue_delay": SLOW})
    assert timed(shell, "%%grok_defer -m grok-4 -o job\nWho answers?") < QUICK
    job = shell.user_ns["job"]
    job.result(20)
    started = time.monotonic()
    seen = job.cost_usd, job.served_model, repr(job)
    assert time.monotonic() - started < QUICK, "a property read went to the network"
    assert seen[1] == "grok-4.3"
    wait_for(lambda: job.catalogue is not None, "the catalogue, in the background", SLOW + 20)


def test_a_cost_limit_waits_for_prices_at_most_the_request_timeout(
    shell: Any, emulator: Emulator
) -> None:
    emulator.configure({"catalogue_delay": 5.0})
    run(shell, "%config GrokDefer.request_timeout = 0.5")
    started = time.monotonic()
    line = usage_error(shell, "%%grok_defer --max-cost 0.01\nHow much?")
    assert time.monotonic() - started < 5.0, "waited past request_timeout for the catalogue"
    assert "cost cannot be estimated" in line, line
    assert [r for r in emulator.requests() if r.method == "POST"] == [], "sent without an estimate"


def test_a_reload_while_the_batch_is_being_created_resumes_the_same_batch(
    shell: Any, emulator: Emulator
) -> None:
    emulator.configure({"batch_delay": 1.0})
    shell.user_ns["xs"] = ["[[latency=1.5]] a", "[[latency=1.5]] b"]
    run(shell, "%%grok_defer --batch --over xs -o g\n{item}")
    g: Group = shell.user_ns["g"]
    run(shell, "%reload_ext xai_defer_magic")  # the create is still on the wire
    run(shell, "%config GrokDefer.first_poll = 0.1")
    assert all(answer is not None for answer in g.results(timeout=60)), [j.error for j in g]
    assert len(emulator.batches.batch_ids()) == 1, "a second batch was created"

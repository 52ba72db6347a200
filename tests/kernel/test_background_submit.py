"""A cell never waits for the POST (DESIGN §3.14): against a server whose POSTs take seconds,
the cell is idle at once, the card says ``submitting``, and the id reaches the card, the
handle and the journal when it comes. An interrupt or a ``kill -9`` while the POST is on the
wire loses nothing that can be known."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.kernels import Kernel
from tests.support.shell import wait_for
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.journal import Journal

pytestmark = [pytest.mark.kernel, pytest.mark.grok_config(first_poll=0.2)]

POST_SECONDS = 3.0  # each deferred POST is held this long by the server


def journal_rows(home: Path) -> list[tuple[str, str, str]]:
    journal = Journal(home)
    try:
        return [(r.request_id, r.status, r.request.get("messages", [{}])[-1].get("content", ""))
                for r in journal.all()]
    finally:
        journal.close()


def chat_posts(emulator: Emulator) -> list[str]:
    return [r.request_id or "" for r in emulator.requests() if r.method == "POST"]


def card_header(kernel: Kernel) -> str:
    [card] = kernel.widgets.cards()
    return str(kernel.widgets.card_parts(card)["header"])


def card_text(kernel: Kernel) -> str:
    [card] = kernel.widgets.cards()
    parts = kernel.widgets.card_parts(card)
    return f"{parts['header']} {parts['footer']}"


def test_a_slow_post_leaves_the_cell_idle_and_the_id_arrives_later(
    kernel: Kernel, emulator: Emulator, home: Path
) -> None:
    emulator.latency = 0.5
    emulator.configure({"submit_delay": POST_SECONDS})
    cell = kernel.run("%%grok_defer -o job\nSent in the background.")
    assert cell.idle_at is not None and cell.idle_at - cell.started < POST_SECONDS / 2, (
        "the cell waited for the POST")
    assert kernel.run("print(job.status, job.request_id)").text().split() == [
        "submitting", "None"]
    assert "submitting" in card_header(kernel)
    [(key, status, prompt)] = journal_rows(home)  # the intent, journaled before the POST
    assert key.startswith("local+") and status == "submitting"
    assert prompt == "Sent in the background."

    kernel.pump_until(lambda: len(chat_posts(emulator)) == 1, 20, "the POST's answer")
    [rid] = chat_posts(emulator)
    kernel.pump_until(lambda: rid in card_text(kernel), 20, "the id on the card")
    out = kernel.run("print(job.request_id, 'Emulated answer' in job.result(20))").text()
    assert out.split() == [rid, "True"]
    wait_for(lambda: journal_rows(home)[0][:2] == (rid, "done"), "the row re-keyed and done")


def test_an_interrupt_while_the_post_is_on_the_wire_loses_nothing(
    kernel: Kernel, emulator: Emulator, home: Path
) -> None:
    """The interrupt lands in whatever cell runs next; the POST is the loop thread's, so it
    finishes, its id is journaled, and the handle (stored by -o) follows it to done."""
    emulator.latency = 0.5
    emulator.configure({"submit_delay": POST_SECONDS})
    kernel.run("%%grok_defer -o job\nInterrupted while it was being sent")
    sleeper = kernel.submit("import time; time.sleep(30)")
    kernel.pump(0.5)
    kernel.km.interrupt_kernel()
    kernel.wait(sleeper, 30)
    assert sleeper.status == "error" and sleeper.reply is not None
    assert sleeper.reply["content"]["ename"] == "KeyboardInterrupt"

    out = kernel.run("print('Emulated answer' in job.result(20), job.status, job.request_id)")
    answered, status, rid = out.text().split()
    assert (answered, status) == ("True", "done"), out.outputs
    assert chat_posts(emulator) == [rid], "not exactly one POST"
    wait_for(lambda: [r[:2] for r in journal_rows(home)] == [(rid, "done")], "the row done")
    assert (emulator.delivered_count(rid), emulator.gets_after_delivery(rid)) == (1, 0)


def test_kill_9_while_the_post_is_on_the_wire_keeps_the_intent_and_sends_nothing_twice(
    env: dict[str, str], emulator: Emulator, home: Path, tmp_path: Path
) -> None:
    emulator.configure({"submit_delay": POST_SECONDS})
    first = Kernel(env, cwd=str(tmp_path))
    try:
        first.run("%load_ext xai_defer_magic")
        first.run("%%grok_defer -o job\nThe kernel dies while this is sent.")
        [(key, status, prompt)] = journal_rows(home)
        assert key.startswith("local+") and status == "submitting"
        wait_for(lambda: emulator.traffic.open_sockets(), "the POST to be on the wire")
        first.kill()
    finally:
        first.stop()
    emulator.configure({"submit_delay": 0.0})
    second = Kernel(env, cwd=str(tmp_path))
    try:
        second.run("%load_ext xai_defer_magic")
        listed = second.run("%grok_jobs --journal").text()
        assert "The kernel dies while this is sent." in listed and "submitting" in listed, listed
        second.pump(POST_SECONDS + 0.5)  # the dead kernel's POST reaches the server meanwhile
    finally:
        second.stop()
    assert len(chat_posts(emulator)) == 1, "the new kernel sent the request again"
    [(key_after, status_after, prompt_after)] = journal_rows(home)
    assert (key_after, status_after, prompt_after) == (key, "submitting", prompt), (
        "the intent row was lost or rewritten")


def test_a_slow_catalogue_fills_the_redirect_line_and_price_in_later(
    kernel: Kernel, emulator: Emulator
) -> None:
    """A retired slug's answer arrives before the catalogue: the finished card shows it at
    once, and its redirect line and price when the catalogue answers."""
    emulator.latency = 0.2
    emulator.configure({"catalogue_delay": 4.0})
    cell = kernel.run("%%grok_defer -m grok-4 -o job\nWho serves a retired name?")
    assert cell.idle_at is not None and cell.idle_at - cell.started < 2.0
    kernel.pump_until(lambda: "done" in kernel.run("print(job.status)").text(), 20, "done")

    def finished_card() -> str:
        shown = [data.get("text/markdown", "") for data in kernel.displays.latest.values()]
        return "\n".join(s for s in shown if "Who serves a retired name?" in s)

    kernel.pump_until(lambda: "Emulated answer" in finished_card(), 10, "the finished card")
    assert "grok-4 is retired" not in finished_card(), "the catalogue was not that slow"
    kernel.pump_until(lambda: "grok-4 is retired" in finished_card(), 20,
                      "the redirect line once the catalogue answered")

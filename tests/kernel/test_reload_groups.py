"""Fan-out group handles across ``%reload_ext`` in a real kernel: the card still follows them."""

from __future__ import annotations

from typing import Any

from tests.support.kernels import Kernel, group_cards, record_messages
from tests.support.shell import HANG
from xai_defer_magic.emulator import Emulator


def test_a_group_card_shown_before_reload_ext_follows_it_to_the_summary(
    env: dict[str, str], tmp_path: Any, emulator: Emulator
) -> None:
    emulator.latency = 2.0
    kernel = Kernel(env, cwd=str(tmp_path))
    try:
        kernel.run("%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.1\n"
                   "%config GrokDefer.model = 'grok-3'\nxs = ['ant', 'bee', 'cat']")
        seen = record_messages(kernel)
        kernel.run("%%grok_defer --over xs -o g\nName {item}")
        [card] = group_cards(kernel)
        head = kernel.widgets.child(card["children"][1])
        assert "0 done" in head["value"]
        kernel.run("%reload_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.1")

        def summaries() -> list[dict[str, Any]]:
            return [m["content"]["data"] for m in seen if m["msg_type"] == "update_display_data"
                    and m["content"]["transient"].get("display_id", "").startswith("xdm-group")]

        kernel.pump_until(lambda: "3 done" in head["value"], HANG, "the card to show 3 done")
        kernel.pump_until(lambda: bool(summaries()), 10, "the card's static summary")
        [summary] = summaries()
        assert "application/vnd.jupyter.widget-view+json" not in summary
        assert summary["text/plain"].count("  done  ") == 3 and "3 done" in summary["text/plain"]
    finally:
        kernel.stop()

"""Showing a group in a cell: the live group card in a kernel, lines in a terminal, and the
static summary (``group_summary``) that replaces the card when the group ends.

``show_group`` and ``show_summary`` run on the kernel thread while a cell executes. The card's
own replacement happens from the loop thread through ``update_display`` on its display id
(DESIGN §3.10), so a saved notebook holds the summary and needs no widget state.
"""

from __future__ import annotations

from typing import Any

from IPython.display import display, update_display

from xai_defer_magic.core.group import Group
from xai_defer_magic.loop import LoopThread
from xai_defer_magic.views.group_summary import (
    standin_html,
    summary_bundle,
    title,
)
from xai_defer_magic.views.show import has_widgets
from xai_defer_magic.views.standin import Standin

STANDIN_SECONDS = 1.0  # a live card's stand-in follows its changes at most this often


def show_group(group: Group, loop: LoopThread) -> Any:
    """The live group card and its stand-in (kernel) or one line (terminal); returns the card,
    which refreshes itself on ``loop`` (the runtime's)."""
    if not has_widgets():
        print(f"{title(group)}: submitting (%grok_wait {group.id} blocks until done)")
        return None
    from xai_defer_magic.views.group_card import GroupCard  # ipywidgets: only when shown

    card = GroupCard(group, loop)
    standin = Standin(min_interval=STANDIN_SECONDS)
    standin.attach(card)
    display(card, display_id=card.display_id)
    standin.show(standin_html(group, make_thumbnails=False))  # the cell decodes no image
    card.start()
    return card


def replace_card(group: Group) -> None:
    """Turn the group's card, displayed in this cell, into the summary (kernel thread)."""
    if group.card.standin is not None:
        group.card.standin.retire()
    update_display(summary_bundle(group), raw=True, display_id=group.card.display_id)


def show_summary(group: Group) -> None:
    """The group's static summary in the current cell (``%grok_wait``, ``%grok_result``)."""
    bundle = summary_bundle(group)
    if not has_widgets():
        print(bundle["text/plain"])
        return
    display(bundle, raw=True)

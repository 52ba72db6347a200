"""A jobs panel's refresh only reads: it never writes the journal or starts polling.

A group that a dead kernel left in the journal, with an item whose job row is missing, is the
case where rebuilding the group writes that row and polls the job: work for the runtime, on
the kernel thread, never for a view's once-a-second refresh on the loop thread.
"""

from __future__ import annotations

import time
import uuid

from xai_defer_magic.journal.groups import GroupRow, GroupStore, ItemRow, new_group_id
from xai_defer_magic.runtime.runtime import Runtime
from xai_defer_magic.views.panel import JobsPanel


def test_panel_refresh_does_not_rebuild_groups_from_the_journal(runtime: Runtime) -> None:
    request_id = str(uuid.uuid4())
    group_id = new_group_id()
    store = GroupStore(runtime.journal)
    body = {"model": "grok-3", "messages": [{"role": "user", "content": "left behind"}]}
    store.create(GroupRow(group_id, time.time(), runtime.base_url(), "grok-3", "{item}", 1, [],
                          "elsewhere:1", False), [ItemRow(0, 0, "left behind", body)])
    store.set_state(group_id, 0, "accepted", request_id=request_id)

    panel = JobsPanel(runtime)
    try:
        panel.refresh()
        panel.tick()
    finally:
        panel.close()

    assert runtime.journal.get(request_id) is None, "a view refresh wrote the journal"
    assert runtime.pending() == [], "a view refresh started polling"

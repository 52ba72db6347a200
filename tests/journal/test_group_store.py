"""The group tables live beside the job journal, private, and survive a reopen."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from xai_defer_magic.journal import DB_NAME, Journal
from xai_defer_magic.journal.groups import GroupRow, GroupStore, ItemRow


def test_groups_share_the_journal_file_and_survive_a_reopen(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.path is not None
    store = GroupStore(journal)
    store.create(GroupRow("g-1", 1.0, "http://127.0.0.1:1/v1", "grok-3", "{item}", 2, [],
                          "host:1", False),
                 [ItemRow(0, 0, "a", {"model": "grok-3"}), ItemRow(1, 1, "b", {"model": "x"})])
    store.set_state("g-1", 0, "sending")
    store.set_state("g-1", 0, "accepted", request_id="rid-0")
    store.set_state("g-1", 1, "failed", error="bad")
    journal.close()
    assert stat.S_IMODE((tmp_path / DB_NAME).stat().st_mode) == 0o600
    tables = {r[0] for r in sqlite3.connect(tmp_path / DB_NAME).execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"jobs", "groups", "group_items"} <= tables
    again = GroupStore(Journal(tmp_path))  # reopening the file keeps the rows
    items = again.items("g-1")
    assert [(i.state, i.request_id, i.error) for i in items] == [
        ("accepted", "rid-0", None), ("failed", None, "bad")]
    assert [g.group_id for g in again.groups()] == ["g-1"]
    assert again.grouped_request_ids() == {"rid-0"}
    again.journal.close()

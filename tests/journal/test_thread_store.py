"""The thread tables live in the journal's file, go through its ops (so a held write lock
is waited out and a queued write is read back), and survive a reopen."""

from __future__ import annotations

from pathlib import Path

from tests.support.locks import on_disk, release, write_lock
from xai_defer_magic.core.thread import Turn
from xai_defer_magic.journal import DB_NAME, Journal
from xai_defer_magic.journal.threads import ThreadStore, new_turn_id


def turn(turn_id: str, parent: str | None, state: str = "sent") -> Turn:
    return Turn(turn_id, "plan", parent, "cell", 1.0, "Sys",
                [{"role": "user", "content": f"q {turn_id}"}], {"model": "grok-3"}, state,
                body={"model": "grok-3", "messages": []} if state == "sent" else None)


def test_turns_and_the_head_survive_a_reopen(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    store = ThreadStore(journal)
    first, second = new_turn_id(), new_turn_id()
    store.add_turn(turn(first, None))
    store.add_turn(turn(second, first, "queued"))
    store.set_state(second, "sent", body={"model": "grok-3", "messages": [1]})
    store.set_state(second, "sent", request_id="rid-2")
    journal.close()
    again = ThreadStore(Journal(tmp_path))
    row = again.thread("plan")
    assert row is not None and row.head == second
    turns = again.turns("plan")
    assert [(t.turn_id, t.parent, t.state, t.request_id) for t in turns] == [
        (first, None, "sent", None), (second, first, "sent", "rid-2")]
    assert turns[1].body == {"model": "grok-3", "messages": [1]}
    assert [t.turn_id for t in again.unsettled()] == [first]  # sent, id never noted
    assert [r.name for r in again.threads()] == ["plan"]
    again.journal.close()


def test_a_held_write_lock_queues_turns_readable_at_once_and_written_after(
        tmp_path: Path) -> None:
    journal = Journal(tmp_path, timeout=0.5)  # a short busy timeout: the write queues sooner
    store = ThreadStore(journal)
    store.threads()  # the file and its tables exist
    with write_lock(tmp_path / DB_NAME, 60.0) as holder:
        store.add_turn(turn("t-1", None, "queued"))
        assert [t.turn_id for t in store.unsettled()] == ["t-1"], "a queued write is read back"
        assert on_disk(tmp_path, "SELECT count(*) FROM thread_turns") == [(0,)]
        kept = "".join(p.read_text() for p in tmp_path.glob("pending-*.jsonl"))
        assert '"thread_turn"' in kept, "a kill -9 now would lose the turn"
        release(holder)
    store.set_state("t-1", "failed", error="nope")
    journal.close()
    assert on_disk(tmp_path, "SELECT turn_id, state, error FROM thread_turns") == [
        ("t-1", "failed", "nope")]


def test_a_turns_options_survive_and_an_older_table_gains_their_column(tmp_path: Path) -> None:
    """A journal written before turns kept their options (--timeout, --fresh) is brought up
    to date on open; the options come back as they were written."""
    import sqlite3

    Journal(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("ALTER TABLE thread_turns DROP COLUMN options")
    journal = Journal(tmp_path)
    store = ThreadStore(journal)
    store.add_turn(Turn(new_turn_id(), "plan", None, None, 1.0, None, [], {"model": "m"},
                        "queued", options={"timeout": 5.0, "fresh": True}))
    store.add_turn(Turn(new_turn_id(), "plan", None, None, 2.0, None, [], {"model": "m"},
                        "queued"))
    assert [t.options for t in store.turns("plan")] == [{"timeout": 5.0, "fresh": True}, {}]
    journal.close()

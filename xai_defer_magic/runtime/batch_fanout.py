"""Starting, rebuilding and resuming ``--batch`` groups (the fan-out side of the Batch API).

:func:`launch` is called by :func:`fanout.start_group` once the group and every item's request
are journaled: it starts the group's :class:`engines.batch.groups.BatchGroupRunner` and waits
(at most ``ADMIT_WAIT`` seconds) for xAI to admit the first add call, because that is where a
model that is not batch-enabled is refused (a 400 on the add; the create before it cannot tell).
Adds are atomic per call, so a refused batch holds no request: it is left empty, nothing else is
sent, the group is forgotten and the cell shows one line. After a crash, :func:`resume` gives
each unfinished batch group of a dead kernel a runner again, which resumes the SAME batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xai_defer_magic.core.group import Group
from xai_defer_magic.core.job import Job
from xai_defer_magic.engines.batch.engine import parse_result_text
from xai_defer_magic.engines.batch.groups import (
    BatchGroupRunner,
    batch_request_id,
    engine_for,
    finish_from_result,
    journal_home,
)
from xai_defer_magic.errors import InvalidArgument, InvalidRequest, JobCancelled
from xai_defer_magic.journal.batches import SQLiteBatchStore
from xai_defer_magic.journal.groups import GroupRow, GroupStore

if TYPE_CHECKING:
    from xai_defer_magic.runtime.fanout import Registry
    from xai_defer_magic.runtime.runtime import Runtime

ADMIT_WAIT = 30.0  # seconds the cell waits for the first add call's answer


def check_journal(registry: Registry) -> None:
    """``--batch`` needs the journal file: the batch id must outlive the kernel."""
    if journal_home(registry.store) is None:
        raise InvalidArgument("--batch needs the journal file (it keeps the batch id across "
                              "restarts), and the journal is unusable: see the warning above.")


def launch(runtime: Runtime, registry: Registry, group: Group, *, display: bool,
           cell_id: str | None) -> Group:
    """Run ``group`` as one batch; InvalidArgument (nothing left behind) if xAI refuses it."""
    runner = BatchGroupRunner(runtime, registry.store, group, cell=cell_label(cell_id))
    engine_for(runtime).adopt(runner)
    runner.start()
    try:
        refused = runner.wait_admitted(ADMIT_WAIT)
    except KeyboardInterrupt:  # the batch goes on in the background: show what follows it
        _show(runtime, group, display)
        raise
    if isinstance(refused, InvalidRequest):
        registry.groups.pop(group.id, None)
        registry.store.forget(group.id)
        raise InvalidArgument(refused.message)
    _show(runtime, group, display)
    return group


def _show(runtime: Runtime, group: Group, display: bool) -> None:
    if display:
        group.shown_in(runtime.presenter.show_group(group, runtime.loop))


def cell_label(cell_id: str | None) -> str | None:
    """Which cell, for the batch's name: ``In [12]`` and the notebook's cell id when known."""
    try:
        from IPython import get_ipython

        count = getattr(get_ipython(), "execution_count", None)
    except ImportError:  # pragma: no cover - IPython is a dependency
        count = None
    parts = [f"In [{count}]"] if isinstance(count, int) and count > 0 else []
    if cell_id:
        parts.append(cell_id)
    return " ".join(parts) or None


def rebuild_jobs(runtime: Runtime, groups: GroupStore, row: GroupRow,
                 jobs: list[Job]) -> str | None:
    """Give the jobs of a journaled batch group their results; returns the batch id."""
    engine = engine_for(runtime)  # its items name this engine: %grok_wait, job.cancel() reach it
    for job in jobs:
        job.run_by(engine.name)
    if journal_home(groups) is None:  # the file is unusable: no results to read
        return None
    store = SQLiteBatchStore(groups.journal, row.group_id)
    saved = store.saved_batch()
    results = store.saved_results()
    added = saved is not None and saved.adds_done
    for position, job in enumerate(jobs):
        if added:
            job.accepted(batch_request_id(row.group_id, position))
        text = results.get(batch_request_id(row.group_id, position))
        if text is not None:
            finish_from_result(job, parse_result_text(text), saved.batch_id if saved else None)
        elif row.cancelled:
            job.set_status("cancelled", error=JobCancelled(
                f"Not run: group {row.group_id} was cancelled before xAI ran this item."))
        elif added:
            job.set_status("pending")
    return saved.batch_id if saved is not None else None


def adopt_live(runtime: Runtime, group: Group) -> None:
    """A handle of this process seen by a new runtime: its items name this runtime's engine."""
    engine_for(runtime)
    group.driven_by(None)  # the old runtime's runner is gone; resume() gives a new one


def resume(runtime: Runtime, groups: GroupStore, group: Group) -> None:
    """Follow a dead kernel's unfinished batch group again (same batch, no re-send)."""
    runner = BatchGroupRunner(runtime, groups, group)
    engine_for(runtime).adopt(runner)
    runner.start()

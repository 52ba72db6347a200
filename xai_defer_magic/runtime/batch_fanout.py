"""Starting, rebuilding and resuming ``--batch`` groups (the fan-out side of the Batch API).

:func:`launch` is called by :func:`fanout.start_group` once the group and every item's request
are journaled: it starts the group's :class:`engines.batch.groups.BatchGroupRunner`, which
creates the batch and adds the requests on the loop thread, and returns: a cell never waits
for xAI. The first add is where a model that is not batch-enabled is refused (a 400; the
create before it cannot tell). Adds are atomic per call, so a refused batch holds no request:
the items fail with xAI's line, nothing else is sent, and the group is forgotten. After a
crash, :func:`resume` gives each unfinished batch group of a dead kernel a runner again, which
resumes the SAME batch.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xai_defer_magic.core.group import Group
from xai_defer_magic.core.images import images_in
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
from xai_defer_magic.http.batch import MAX_BYTES_PER_ADD, add_call_size
from xai_defer_magic.journal.batches import SQLiteBatchStore
from xai_defer_magic.journal.groups import GroupRow, GroupStore

if TYPE_CHECKING:
    from xai_defer_magic.runtime.fanout import Registry
    from xai_defer_magic.runtime.runtime import Runtime


def check_journal(registry: Registry) -> None:
    """``--batch`` needs the journal file: the batch id must outlive the kernel."""
    if journal_home(registry.store) is None:
        raise InvalidArgument("--batch needs the journal file (it keeps the batch id across "
                              "restarts), and the journal is unusable: see the warning above.")


def check_sizes(group_id: str, bodies: Sequence[dict[str, Any]], labels: Sequence[Any]) -> None:
    """One ``InvalidArgument`` line, before anything is created or sent, for an item that
    cannot go in any add call: its images inlined as base64 make it larger than one call may
    carry (the deferred path takes it: no 4/3 envelope limit there, 20 MiB per image)."""
    for position, body in enumerate(bodies):
        size = add_call_size(batch_request_id(group_id, position), body)
        if size > MAX_BYTES_PER_ADD:
            names = "; ".join(image.source for image in images_in(body))
            raise InvalidArgument(
                f"--batch: item {labels[position]} ({names or 'no image'}) is "
                f"{size / 2**20:.1f} MiB with its images as base64, over the "
                f"{MAX_BYTES_PER_ADD / 2**20:.0f} MiB one batch request may be; send it "
                "without --batch (each image may be up to 20 MiB there). Nothing was sent.")


def launch(runtime: Runtime, registry: Registry, group: Group, *, display: bool,
           cell_id: str | None) -> Group:
    """Run ``group`` as one batch, created and filled on the loop thread; returns at once.

    The card says "creating batch", then "admitted". If xAI refuses the first add (a model
    that is not batch-enabled: the create cannot tell), every item fails with xAI's one line,
    nothing else is sent, and the group leaves the journal: there is nothing to resume.
    """
    runner = BatchGroupRunner(runtime, registry.store, group, cell=cell_label(cell_id))
    engine_for(runtime).adopt(runner)
    runner.admitted.add_done_callback(
        lambda admitted: _forget_if_refused(registry, group, admitted))
    runner.start()
    _show(runtime, group, display)
    return group


def _forget_if_refused(registry: Registry, group: Group,
                       admitted: concurrent.futures.Future[None]) -> None:
    if admitted.cancelled() or not isinstance(admitted.exception(), InvalidRequest):
        return
    registry.groups.pop(group.id, None)
    registry.store.forget(group.id)
    registry.store.journal.sweep_images()  # its images, unless another row still sends them


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

"""Forgetting a job (or a group) removes the stored images no row of the journal refers to any
more; an image another row still sends stays. Files touched in the last minutes stay too:
another kernel may be about to write the row that refers to one (see ``journal.blobs``)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

import xai_defer_magic
from tests.support.images import png
from tests.support.shell import HANG, submitted, wait_for
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.journal.blobs import SWEEP_GRACE
from xai_defer_magic.runtime.runtime import Runtime

pytestmark = pytest.mark.emulator(latency=0.1)


def stored(home: Path) -> set[str]:
    folder = home / "images"
    return {f.name for f in folder.iterdir()} if folder.exists() else set()


def age(home: Path) -> None:
    """Every stored image last used before the sweep's grace period."""
    then = time.time() - SWEEP_GRACE - 60
    for blob in (home / "images").iterdir():
        os.utime(blob, (then, then))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_forgetting_jobs_removes_only_the_images_no_row_refers_to(
    runtime: Runtime, emulator: Emulator, home: Path
) -> None:
    shared, own = png(30, 20), png(8, 8, (0, 200, 0))
    first = xai_defer_magic.defer("A?", images=[shared, own], model="grok-4.3", display=False)
    second = xai_defer_magic.defer("B?", images=[shared], model="grok-4.3", display=False)
    submitted(first, second)  # journaled under their ids; their answers do not matter here
    assert stored(home) == {sha(shared), sha(own)}
    runtime.forget(first)  # both just used: the grace period keeps them
    assert stored(home) == {sha(shared), sha(own)}
    age(home)
    runtime.forget(second)  # a row forgotten earlier leaves its images to the next sweep
    assert stored(home) == set()


def test_a_shared_image_stays_while_another_row_still_refers_to_it(
    runtime: Runtime, emulator: Emulator, home: Path
) -> None:
    shared, own = png(30, 20), png(8, 8, (0, 200, 0))
    first = xai_defer_magic.defer("A?", images=[shared, own], model="grok-4.3", display=False)
    group = xai_defer_magic.defer_many("Q{item}?", [1, 2], images=[shared], model="grok-4.3",
                                       display=False)
    submitted(first, *group.jobs)
    age(home)
    runtime.forget(first)
    assert stored(home) == {sha(shared)}  # the group's rows (and its jobs') still send it
    for job in group.jobs:
        runtime.forget(job)
    assert stored(home) == {sha(shared)}  # the group's own rows still refer to it


def test_a_refused_batch_group_leaves_no_image_behind(
    runtime: Runtime, emulator: Emulator, home: Path
) -> None:
    emulator.configure({"catalogue_delay": 0.2})
    old = png(5, 5)
    runtime.journal.blobs.put(old)  # left by a cell refused long ago: no row refers to it
    age(home)
    group = xai_defer_magic.defer_many("Q{item}?", [1, 2], images=[png(9, 9)],
                                       model="grok-3-mini", batch=True, display=False)
    wait_for(lambda: group.done, "the refusal", HANG)
    assert xai_defer_magic.groups() == []
    assert stored(home) == {sha(png(9, 9))}  # the old one swept; the new one in its grace

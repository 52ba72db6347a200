"""Jobs read back from the journal (a new kernel, ``%grok_jobs`` of an earlier session) list the
same images as in the kernel that sent them, and their card names them and shows thumbnails
made from the stored bytes; a stored image that is gone is named and said to be gone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.images import png
from tests.support.shell import HANG
from xai_defer_magic.core.images import PromptImage, image_from_url
from xai_defer_magic.core.job import Job
from xai_defer_magic.core.options import RequestOptions
from xai_defer_magic.core.schedule import PollSchedule, PollSettings
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.journal.groups import GroupStore
from xai_defer_magic.runtime import fanout
from xai_defer_magic.runtime.image_sources import resolve
from xai_defer_magic.runtime.registry import JOBS
from xai_defer_magic.runtime.runtime import Runtime
from xai_defer_magic.runtime.settings import Settings
from xai_defer_magic.views.presenter import PRESENTER
from xai_defer_magic.views.static import job_bundle

pytestmark = pytest.mark.emulator(latency=0.1)

FAST = PollSettings(schedule=PollSchedule(first=0.05, growth=0.1, cap=0.2))


def listed(images: tuple[PromptImage, ...]) -> list[tuple[Any, ...]]:
    """What ``job.images`` promises: source label, media type, bytes, pixel size, SHA-256."""
    return [(i.source, i.media_type, i.size, i.width, i.height, i.sha256, i.url)
            for i in images]


def new_kernel(home: Path) -> Runtime:
    """Another kernel on the same journal (this process's handles are left out of it)."""
    return Runtime(Settings(home=str(home), poll=FAST), PRESENTER)


def sent_job(home: Path) -> tuple[str, list[tuple[Any, ...]]]:
    runtime = new_kernel(home)
    try:
        chart = resolve(png(30, 20), "chart")
        remote = image_from_url("https://example.org/cat.png", "cat")
        job, _card = runtime.defer("Compare them.", RequestOptions(
            model="grok-4.3", images=(chart, remote)), display=False)
        job.result(timeout=HANG)
        assert job.request_id is not None
        JOBS.remove(job)  # as if it had been another kernel's
        return job.request_id, listed(job.images)
    finally:
        runtime.close()


def read_back(home: Path, request_id: str) -> Job:
    runtime = new_kernel(home)
    try:
        job = runtime.get(request_id)
        assert job is not None and job.status == "done"
        JOBS.remove(job)
        return job
    finally:
        runtime.close()


def test_a_job_read_back_lists_the_same_images_and_shows_their_thumbnails(
    env: dict[str, str], emulator: Emulator, home: Path
) -> None:
    request_id, sent = sent_job(home)
    job = read_back(home, request_id)
    assert listed(job.images) == sent
    assert sent[0][0] == "chart" and sent[1][0] == "cat"
    runtime = new_kernel(home)  # a kernel shows it: the thumbnail comes from the stored bytes
    try:
        bundle = job_bundle(job)
    finally:
        runtime.close()
    page = bundle["text/html"]
    assert page.count('class="xdm-thumb"') == 1 and 'src="data:image/' in page
    assert "chart · 30×20 px" in page and "cat · remote, not loaded" in page
    assert "images: chart · 30×20 px" in bundle["text/plain"]


def test_an_image_no_longer_stored_is_named_and_said_to_be_gone(
    env: dict[str, str], emulator: Emulator, home: Path
) -> None:
    request_id, sent = sent_job(home)
    for blob in (home / "images").iterdir():
        blob.unlink()
    job = read_back(home, request_id)
    assert listed(job.images) == sent
    runtime = new_kernel(home)
    try:
        bundle = job_bundle(job)
    finally:
        runtime.close()
    assert 'class="xdm-thumb"' not in bundle["text/html"]
    assert "chart · 30×20 px · 0 KB · no longer stored" in bundle["text/html"]
    assert "no longer stored" in bundle["text/plain"] and "no longer stored" in bundle[
        "text/markdown"]


def test_a_fan_outs_journaled_items_keep_each_items_image_label(
    env: dict[str, str], emulator: Emulator, home: Path, tmp_path: Path
) -> None:
    """What a new kernel rebuilds a group's items from: the bodies in ``group_items``."""
    paths = []
    for n in range(3):
        paths.append(tmp_path / f"p{n}.png")
        paths[-1].write_bytes(png(10 + n, 10))
    runtime = new_kernel(home)
    try:
        group = fanout.start_group(runtime, "Label {item}.", [str(p) for p in paths],
                                   RequestOptions(model="grok-4.3"), images=["item"],
                                   display=False)
        group.results(timeout=HANG)
        items = GroupStore(runtime.journal).items(group.id)
        sent = [listed(job.images) for job in group.jobs]
    finally:
        runtime.close()
    assert [row[0][0] for row in sent] == [str(p) for p in paths]
    assert [listed(Job(model="grok-4.3", request=item.request, base_url="").images)
            for item in items] == sent

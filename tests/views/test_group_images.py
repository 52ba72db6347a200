"""The group card of a fan-out over images says which image each item carries: its name on
every row, a small thumbnail on the first rows only, an image every item shares once; and the
saved summary of a 1,000-item image fan-out stays small."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.html import image_sources
from tests.support.images import noisy_png, png
from tests.support.shell import wait_for
from xai_defer_magic.core.completion import parse_completion_text
from xai_defer_magic.core.group import Group
from xai_defer_magic.core.images import PromptImage, image_from_bytes
from xai_defer_magic.core.job import Job
from xai_defer_magic.journal.blobs import BlobStore
from xai_defer_magic.loop import LoopThread
from xai_defer_magic.runtime.image_sources import resolve
from xai_defer_magic.runtime.thumbnails import Thumbnails
from xai_defer_magic.views import images as image_views
from xai_defer_magic.views.group_card import GroupCard
from xai_defer_magic.views.group_images import ROW_THUMBNAILS
from xai_defer_magic.views.group_summary import summary_bundle

SUMMARY_BOUND = 200 * 1024  # bytes of the three formats together, for 1,000 items


@pytest.fixture
def blobs(tmp_path: Path) -> Iterator[BlobStore]:
    """A blob store the views make thumbnails from (the runtime hands them its own)."""
    store = BlobStore(tmp_path)
    image_views.use_thumbnails(Thumbnails(lambda: store))
    try:
        yield store
    finally:
        image_views.use_thumbnails(None)


def stored(blobs: BlobStore, data: bytes, source: str) -> PromptImage:
    blobs.put(data)
    return image_from_bytes(data, source).without_data()


def answered(images: tuple[PromptImage, ...], n: int) -> Job:
    job = Job(model="grok-4.3", request={"messages": [
        {"role": "user", "content": f"Label photo {n}."}]}, base_url="http://127.0.0.1:1/v1")
    job.sent_images(images)
    job.request_id = f"id-{n}"
    body = {"choices": [{"message": {"role": "assistant", "content": "A red square. " * 8}}],
            "usage": {"prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320}}
    job.finish(parse_completion_text(json.dumps(body)))
    return job


def image_group(jobs: list[Job]) -> Group:
    return Group("g-images", jobs, labels=list(range(len(jobs))), values=[0] * len(jobs),
                 columns=[], template="Label {item}.", model="grok-4.3")


def test_every_row_names_its_image_and_the_first_rows_show_a_thumbnail(
    blobs: BlobStore,
) -> None:
    logo = resolve(png(40, 40, (1, 2, 3)), "logo")
    blobs.put(png(40, 40, (1, 2, 3)))
    jobs = [answered((stored(blobs, png(10 + n, 9), f"photos/p{n}.png"), logo.without_data()), n)
            for n in range(ROW_THUMBNAILS + 5)]
    bundle = summary_bundle(image_group(jobs))
    page = bundle["text/html"]
    assert page.count('class="xdm-row-thumb"') == ROW_THUMBNAILS
    assert page.count("logo · 40×40 px") == 1 and page.count('class="xdm-thumb"') == 1
    for n in range(ROW_THUMBNAILS + 5):
        assert f"photos/p{n}.png" in page and f"photos/p{n}.png" in bundle["text/markdown"]
        assert f"photos/p{n}.png" in bundle["text/plain"]
    assert all(src.startswith('<img class="xdm-') for src in image_sources(page))
    assert all(re.search(r'src="data:image/(png|jpeg);base64,', src)
               for src in image_sources(page))


def test_an_image_no_longer_stored_is_named_on_its_row(blobs: BlobStore) -> None:
    gone = image_from_bytes(png(7, 7), "photos/gone.png").without_data()
    jobs = [answered((gone,), 0), answered((stored(blobs, png(8, 8), "photos/kept.png"),), 1)]
    page = summary_bundle(image_group(jobs))["text/html"]
    assert page.count('class="xdm-row-thumb"') == 1 and "photos/gone.png" in page


def test_the_live_card_names_the_rows_images_and_shows_the_selected_ones(
    blobs: BlobStore,
) -> None:
    loop = LoopThread()
    try:
        jobs = [answered((stored(blobs, png(10 + n, 9), f"p{n}.png"),), n) for n in range(3)]
        card = GroupCard(image_group(jobs), loop)
        labels = [label for label, _ in card._rows.options]
        assert all(f"p{n}.png" in labels[n] for n in range(3)), labels
        assert "xdm-row-thumb" not in card._thumbs.value  # the cell decodes no image...
        card.start()  # ...the card's renders on the loop thread do
        wait_for(lambda: card._thumbs.value.count('class="xdm-row-thumb"') == 3,
                 "the strip's thumbnails")
        card._rows.value = 1
        assert "p1.png · 11×9 px" in card._answer.value
        assert card._answer.value.count('class="xdm-thumb"') == 1
    finally:
        loop.stop()


def test_the_saved_summary_of_a_1000_item_image_fan_out_stays_small(blobs: BlobStore) -> None:
    """The worst thumbnails (noise does not compress) on the first rows, a long name on
    every row: the three formats together stay under SUMMARY_BOUND."""
    jobs = []
    for n in range(1000):
        data = noisy_png(30_000) if n < ROW_THUMBNAILS else png(9, 9, (n % 256, 0, 0))
        name = f"/home/someone/pictures/2024/holiday/IMG_{n:05d}.png"
        image = stored(blobs, data, name) if n < ROW_THUMBNAILS else (
            image_from_bytes(data, name).without_data())
        jobs.append(answered((image,), n))
    bundle = summary_bundle(image_group(jobs))
    size = sum(len(text.encode()) for text in bundle.values())
    print(f"1,000-item image fan-out, saved summary: {size / 1024:.0f} KB")
    assert bundle["text/html"].count('class="xdm-row-thumb"') == ROW_THUMBNAILS
    assert size < SUMMARY_BOUND, size

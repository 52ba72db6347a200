"""The card and the saved output name each image and show a small thumbnail from our own
bytes; never the full image, never anything remote, never an unescaped name."""

from __future__ import annotations

import base64
import re

from tests.support.html import image_sources
from tests.support.images import noisy_png
from xai_defer_magic.core.images import image_from_url
from xai_defer_magic.core.job import Job
from xai_defer_magic.runtime.image_sources import resolve
from xai_defer_magic.views.card import JobCard
from xai_defer_magic.views.static import card_markdown, job_bundle, standin_html


def job_with_images() -> tuple[Job, bytes]:
    data = noisy_png(300 * 1024)
    local = resolve(data, "photo<script>x</script>")
    remote = image_from_url("https://tracker.example/p.png")
    job = Job(model="grok-4.3", request={"messages": []}, base_url="http://127.0.0.1:1/v1")
    job.sent_images((local.without_data(), remote))
    return job, data


def test_the_saved_output_has_names_and_thumbnails_never_the_image() -> None:
    job, data = job_with_images()
    job.set_status("failed", error="boom")
    bundle = job_bundle(job)
    page = bundle["text/html"]
    [img] = set(image_sources(page))
    src = re.search(r'src="([^"]+)"', img)
    assert src and src.group(1) == job.images[0].thumbnail
    assert src.group(1).startswith("data:image/") and len(src.group(1)) < 60 * 1024
    assert base64.b64encode(data)[:200].decode() not in page  # the full image is not there
    assert "tracker.example" in page and "remote, not loaded" in page  # named, not loaded
    assert "<script>x" not in page and "&lt;script&gt;" in page
    assert "px" in page and "KB" in page
    assert "images: photo<script>x</script> · " in bundle["text/plain"]  # plain text: as is
    markdown = card_markdown(job)
    assert "images: " in markdown and "data:" not in markdown
    assert set(image_sources(standin_html(job))) == {img}


def test_the_live_card_shows_the_same_thumbnail() -> None:
    job, _data = job_with_images()
    card = JobCard(job)
    html = "".join(str(getattr(w, "value", "")) for w in card.children)
    assert job.images[0].thumbnail in html and "photo&lt;script&gt;" in html


def test_a_thumbnail_that_is_not_ours_is_dropped() -> None:
    job, _data = job_with_images()
    hostile = resolve(noisy_png(1000), "x")
    object.__setattr__(hostile, "thumbnail", 'data:image/png;base64,AA" onerror="alert(1)')
    job.sent_images((hostile,))
    assert image_sources(job_bundle(job)["text/html"]) == []

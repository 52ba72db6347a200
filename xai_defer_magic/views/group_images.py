"""Which image each item of a fan-out carries, within the card's size budget.

An image every item sends (``--image logo`` beside ``--image item``) is shown once, above the
rows; each row names its own images (``--image item``, a column) and the first
``ROW_THUMBNAILS`` of them get a thumbnail of at most 48 px and 3 KB, so the saved summary of a
1,000-item fan-out stays small (``tests/views/test_group_images.py`` measures it). Thumbnails
come from ``views.images``: the runtime makes them from the stored bytes when first shown, off
the kernel thread for a live card (``make=False`` there: decoding 16 phone photos would add
half a second to the cell that starts the fan-out; the card's next render shows them).
"""

from __future__ import annotations

from collections.abc import Iterable

from xai_defer_magic.core.group import Group
from xai_defer_magic.core.images import ROW_THUMBNAIL, PromptImage
from xai_defer_magic.core.job import Job
from xai_defer_magic.render.plain import escape
from xai_defer_magic.views.images import figures_html, thumbnail_html

ROW_THUMBNAILS = 16  # row images with a thumbnail, per summary (and per page of the live card)
SHARED_SHOWN = 4  # images every item sends, shown above the rows (the rest are counted)
NAME_CHARS = 40  # of a row's image name: its end (the file name) is kept

Keys = frozenset[str]


def _key(image: PromptImage) -> str:
    return image.sha256 or image.url or image.source


def shared_keys(group: Group) -> Keys:
    """The images every item of ``group`` sends (none for a group of fewer than two)."""
    if len(group.jobs) < 2 or not group.jobs[0].images:
        return frozenset()
    common = {_key(image) for image in group.jobs[0].images}
    for job in group.jobs[1:]:
        common &= {_key(image) for image in job.images}
        if not common:
            break
    return frozenset(common)


def has_images(group: Group) -> bool:
    return any(job.images for job in group.jobs)


def own_images(job: Job, shared: Keys) -> tuple[PromptImage, ...]:
    return tuple(image for image in job.images if _key(image) not in shared)


def short_name(image: PromptImage) -> str:
    name = image.source
    if len(name) > NAME_CHARS:
        name = "…" + name[-(NAME_CHARS - 1):]
    return name if image.stored else f"{name} (no longer stored)"


def row_names(job: Job, shared: Keys) -> str:
    """The item's own images, by name: ``p3.png; p3-back.png``."""
    return "; ".join(short_name(image) for image in own_images(job, shared))


def shared_images(group: Group, shared: Keys) -> tuple[PromptImage, ...]:
    return tuple(i for i in group.jobs[0].images if _key(i) in shared) if shared else ()


def shared_line(group: Group, shared: Keys) -> str:
    """``every item sends: logo · 40×40 px · 1 KB`` (text and Markdown)."""
    return "every item sends: " + "; ".join(i.describe() for i in shared_images(group, shared))


def shared_html(group: Group, shared: Keys, make: bool = True) -> str:
    """The images every item sends, named with a thumbnail, once ("" when none)."""
    images = shared_images(group, shared)
    if not images:
        return ""
    more = len(images) - SHARED_SHOWN
    tail = f'<div class="xdm-muted">and {more} more</div>' if more > 0 else ""
    return ('<div class="xdm-muted">every item sends:</div>'
            f"{figures_html(images[:SHARED_SHOWN], make)}{tail}")


class RowThumbnails:
    """Hands out row thumbnails until ``ROW_THUMBNAILS`` have been given (then names only)."""

    def __init__(self, make: bool = True, budget: int = ROW_THUMBNAILS) -> None:
        self.left = budget
        self.make = make

    def html(self, images: Iterable[PromptImage]) -> str:
        parts = []
        for image in images:
            if self.left <= 0:
                break
            self.left -= 1
            parts.append(thumbnail_html(image, ROW_THUMBNAIL, "xdm-row-thumb", self.make))
        return "".join(parts)


def strip_html(group: Group, positions: Iterable[int], shared: Keys, make: bool = True) -> str:
    """The live card's strip: what every item sends, then the first rows' own thumbnails
    on this page, each over its row label."""
    thumbs = RowThumbnails(make)
    cells = []
    for position in positions:
        own = own_images(group.jobs[position], shared)
        thumbnails = thumbs.html(own) if own else ""
        if not thumbnails:
            continue
        cells.append(
            '<figure class="xdm-image" style="display:inline-block;margin:2px 6px 2px 0;'
            f'text-align:center;vertical-align:top">{thumbnails}<figcaption '
            f'class="xdm-muted">{escape(str(group.labels[position])[:12])}</figcaption></figure>')
    return shared_html(group, shared, make) + "".join(cells)

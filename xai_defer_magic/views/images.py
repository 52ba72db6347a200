"""The images a job sent, as the card and the saved output show them: a name, its pixel size
and size in KB, and a small thumbnail (at most 160 px, 40 KB) as a ``data:`` URL made from
our own bytes; never the full image, and nothing remote (an https image is named, not loaded).

An image with no thumbnail of its own (a job read back from the journal, an item of a fan-out
over images) gets one from the runtime's maker (:func:`use_thumbnails`, handed over through
the presenter: views never reach the journal themselves), made from the stored bytes; an
image the journal no longer holds is named and said to be gone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from xai_defer_magic.core.failures import log_once
from xai_defer_magic.core.images import CARD_THUMBNAIL, PromptImage, ThumbnailSize
from xai_defer_magic.core.job import Job
from xai_defer_magic.render.markdown import escape_markdown
from xai_defer_magic.render.plain import escape

# What a thumbnail may be: our PNG or JPEG, base64, nothing else (no URL that loads).
_THUMBNAIL = re.compile(r"data:image/(png|jpeg);base64,[A-Za-z0-9+/]+=*")
_STYLE = "display:inline-block;margin:4px 8px 2px 0;text-align:center;vertical-align:top"


# ``maker(image, size, make)``: a ``data:`` URL of ``image`` within ``size``, or None;
# ``make`` False: only one already made (the kernel thread, while a cell runs, decodes nothing).
ThumbnailMaker = Callable[[PromptImage, ThumbnailSize, bool], str | None]


class _Maker:
    """The one maker the views use (the runtime's, via ``Presenter.use_thumbnails``)."""

    current: ThumbnailMaker | None = None


def use_thumbnails(maker: ThumbnailMaker | None) -> None:
    """Make missing thumbnails with ``maker`` from now on (None: show names only)."""
    _Maker.current = maker


def thumbnail_of(image: PromptImage, size: ThumbnailSize = CARD_THUMBNAIL,
                 make: bool = True) -> str | None:
    """The image's own thumbnail for a card, else the maker's (None: no thumbnail; see
    ``ThumbnailMaker`` for ``make``)."""
    if size == CARD_THUMBNAIL and image.thumbnail is not None:
        return image.thumbnail
    maker = _Maker.current
    if maker is None or image.url is not None or not image.stored:
        return None
    try:
        return maker(image, size, make)
    except Exception as exc:  # a view never fails for a thumbnail
        log_once("making a thumbnail", exc)
        return None


def thumbnail_html(image: PromptImage, size: ThumbnailSize = CARD_THUMBNAIL,
                   kind: str = "xdm-thumb", make: bool = True) -> str:
    thumb = thumbnail_of(image, size, make)
    if thumb is None or not _THUMBNAIL.fullmatch(thumb):
        return ""
    return (f'<img class="{kind}" src="{thumb}" alt="{escape(image.source)}" '
            f'style="max-width:{size.pixels}px;max-height:{size.pixels}px;'
            'border:1px solid #ccc">')


def figures_html(images: tuple[PromptImage, ...], make: bool = True) -> str:
    """Each image as a thumbnail over its name, in the order sent ("" without images)."""
    if not images:
        return ""
    figures = "".join(
        f'<figure class="xdm-image" style="{_STYLE}">{thumbnail_html(image, make=make)}'
        f'<figcaption class="xdm-muted">{escape(image.describe())}</figcaption></figure>'
        for image in images)
    return f'<div class="xdm-images">{figures}</div>'


def images_html(job: Job) -> str:
    """The images of ``job``'s prompt, in the order sent ("" without images)."""
    return figures_html(job.images)


def images_markdown(job: Job) -> str:
    """One line naming the images (Markdown keeps no thumbnail)."""
    if not job.images:
        return ""
    names = "; ".join(escape_markdown(image.describe()) for image in job.images)
    return f"*images: {names}*"

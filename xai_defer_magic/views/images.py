"""The images a job sent, as the card and the saved output show them: a name, its pixel size
and size in KB, and a small thumbnail (at most 160 px, 40 KB) as a ``data:`` URL made from
our own bytes; never the full image, and nothing remote (an https image is named, not loaded).
"""

from __future__ import annotations

import re

from xai_defer_magic.core.images import PromptImage
from xai_defer_magic.core.job import Job
from xai_defer_magic.render.markdown import escape_markdown
from xai_defer_magic.render.plain import escape

# What a thumbnail may be: our PNG or JPEG, base64, nothing else (no URL that loads).
_THUMBNAIL = re.compile(r"data:image/(png|jpeg);base64,[A-Za-z0-9+/]+=*")
_STYLE = "display:inline-block;margin:4px 8px 2px 0;text-align:center;vertical-align:top"


def thumbnail_html(image: PromptImage) -> str:
    thumb = image.thumbnail
    if thumb is None or not _THUMBNAIL.fullmatch(thumb):
        return ""
    return (f'<img class="xdm-thumb" src="{thumb}" alt="{escape(image.source)}" '
            'style="max-width:160px;max-height:160px;border:1px solid #ccc">')


def images_html(job: Job) -> str:
    """The images of ``job``'s prompt, in the order sent ("" without images)."""
    if not job.images:
        return ""
    figures = "".join(
        f'<figure class="xdm-image" style="{_STYLE}">{thumbnail_html(image)}'
        f'<figcaption class="xdm-muted">{escape(image.describe())}</figcaption></figure>'
        for image in job.images)
    return f'<div class="xdm-images">{figures}</div>'


def images_markdown(job: Job) -> str:
    """One line naming the images (Markdown keeps no thumbnail)."""
    if not job.images:
        return ""
    names = "; ".join(escape_markdown(image.describe()) for image in job.images)
    return f"*images: {names}*"

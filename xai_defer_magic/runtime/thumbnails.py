"""Thumbnails of images the journal holds, made when a view first shows them.

A job read back from the journal (a new kernel, ``%grok_jobs`` of an earlier session) and the
items of a fan-out over images carry no thumbnail: making one decodes the whole image (tens of
ms for a phone photo), so 1,000 of them are made only if a view shows them. The runtime hands
a :class:`Thumbnails` to the views (``Presenter.use_thumbnails``); each is made once per image
and size and kept (a few MB at most), so a live card re-rendering four times a second costs a
dictionary lookup. An image the journal no longer holds, or that Pillow cannot read, has none.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from xai_defer_magic.core.images import PromptImage, ThumbnailSize
from xai_defer_magic.journal.blobs import BlobStore, MissingImage
from xai_defer_magic.runtime.image_sources import make_thumbnail

KEPT_CHARACTERS = 8 * 1024 * 1024  # of data: URLs; the least recently shown go first


class Thumbnails:
    """``thumbnails(image, size)``: a ``data:`` URL made from the stored bytes, or None."""

    def __init__(self, blobs: Callable[[], BlobStore]) -> None:
        self._blobs = blobs  # the current journal's store (a %config may move the journal)
        self._kept: OrderedDict[tuple[str, ThumbnailSize], str | None] = OrderedDict()
        self._characters = 0  # of the kept URLs
        self._lock = threading.Lock()

    def __call__(self, image: PromptImage, size: ThumbnailSize, make: bool = True
                 ) -> str | None:
        """``make=False``: only a thumbnail already made (nothing is read or decoded)."""
        if image.sha256 is None or not image.stored:
            return None
        key = (image.sha256, size)
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        if not make:
            return None
        try:
            data = self._blobs().read(image.sha256)
        except MissingImage:
            return None  # not kept: the same image sent again brings it back
        made = make_thumbnail(data, size)  # None (kept too) when Pillow cannot read it
        with self._lock:
            if key not in self._kept:  # another thread may have made it meanwhile
                self._kept[key] = made
                self._characters += len(made or "")
            while len(self._kept) > 1 and self._characters > KEPT_CHARACTERS:
                self._characters -= len(self._kept.popitem(last=False)[1] or "")
        return made

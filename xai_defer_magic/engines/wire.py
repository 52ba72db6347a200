"""The body that goes on the wire: stored images become ``data:`` URLs just before a POST.

Jobs and journal rows keep images as SHA-256 references (``core.images``); every engine sends
through :func:`wire_body`, so a resumed job, a group item sent by the next kernel and a batch
re-add all read the same bytes back from the journal's blob store. An image that is gone
fails the job with one line (``journal.blobs.MissingImage``).
"""

from __future__ import annotations

from typing import Any

from xai_defer_magic.core.images import expand
from xai_defer_magic.journal.blobs import BlobStore


def wire_body(body: dict[str, Any], blobs: BlobStore) -> dict[str, Any]:
    """``body`` with its stored images inlined (the same object when it has none)."""
    return expand(body, blobs.data_url)

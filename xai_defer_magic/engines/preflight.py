"""The last check before a body with images is sent, on the loop thread: does its model read
images? The cell could not wait for the catalogue (DESIGN §3.14), so the engine asks it here,
bounded by the request timeout; a model the catalogue lists without ``image`` fails the job
with one line and nothing is sent. Both engines ask: the deferred one before each POST, the
batch one before it creates its batch (a refused batch is never created). When the catalogue
cannot say in time, the server judges (its 400 is the job's, or the first add's, one line)."""

from __future__ import annotations

import asyncio
from typing import Any

from xai_defer_magic.core.images import image_refusal, images_in
from xai_defer_magic.http.catalogue import CatalogueCache
from xai_defer_magic.loop import within


async def images_refused(catalogues: CatalogueCache | None, body: dict[str, Any],
                         base_url: str, wait: float) -> str | None:
    """The refusal line for ``body``'s images, or None (no images, fine, or unknown)."""
    if catalogues is None or not images_in(body):
        return None
    future = catalogues.fetch_for(base_url)
    if future is None:
        return None
    try:
        catalogue = await within(wait, asyncio.wrap_future(future))
    except Exception:  # not in time, or unreachable: the server judges
        return None
    return image_refusal(catalogue, str(body.get("model", "")))

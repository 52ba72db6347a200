"""Images meet the runtime: the model must take them, and they are stored before any row.

:func:`refuse_unsupported` checks the catalogue's ``input_modalities`` (xAI lists ``image``
for models that read images); :func:`keep` writes each image's bytes once to the journal's
blob store (``journal.blobs``) and returns the images without their bytes, which is what
jobs hold. Without a reachable catalogue the request goes out and xAI's own 400 is the job's
one-line error.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from xai_defer_magic.core.images import PerItem, PromptImage, image_refusal
from xai_defer_magic.core.items import Items
from xai_defer_magic.core.job import Job
from xai_defer_magic.errors import InvalidArgument
from xai_defer_magic.journal import Journal
from xai_defer_magic.runtime.image_sources import resolve

if TYPE_CHECKING:
    from xai_defer_magic.runtime.runtime import Runtime

def refuse_unsupported(runtime: Runtime, model: str, has_images: bool, base_url: str) -> None:
    """One ``InvalidArgument`` line when the catalogue, already here, says ``model`` does not
    read images. The cell never waits for it (DESIGN §3.14): when it is not here yet it is
    fetched in the background, and the engine asks it again just before the POST
    (``engines.preflight``), so nothing is sent to a model that cannot read them."""
    if not has_images:
        return
    future = runtime.catalogues.fetch_for(base_url)
    if future is None or not future.done() or future.exception() is not None:
        return
    refusal = image_refusal(future.result(), model)  # on the catalogue's word only
    if refusal is not None:
        raise InvalidArgument(refusal)


def restored(journal: Journal, job: Job) -> Job:
    """A job read back from the journal: its images (named as the sending kernel named them,
    see ``core.images.images_in``) marked when the journal no longer holds their bytes, so
    its card says so rather than showing nothing. A file check per image, no decoding."""
    if any(i.sha256 and not journal.blobs.has(i.sha256) for i in job.images):
        job.sent_images(tuple(
            replace(i, stored=False) if i.sha256 and not journal.blobs.has(i.sha256) else i
            for i in job.images))
    return job


def keep(journal: Journal, images: Iterable[PromptImage]) -> tuple[PromptImage, ...]:
    """Store each image's bytes once (durable before this returns); the images without them."""
    kept = []
    for image in images:
        if image.data is not None:
            journal.blobs.put(image.data)
        kept.append(image.without_data())
    return tuple(kept)


# --- fan-out: one image per item (``--over photos --image item``) ------------------------------


Plan = tuple["PromptImage | PerItem", ...]


def plan(journal: Journal, sources: Sequence[Any], as_name: str,
         columns: Sequence[str]) -> Plan:
    """The images of every item, in the order given: shared ones resolved and stored now,
    the item's or a column's name (:class:`PerItem`) left to read per item."""
    found: list[PromptImage | PerItem] = []
    for source in sources:
        if isinstance(source, str) and (source == as_name or source in columns):
            source = PerItem(source)
        found.append(source if isinstance(source, PerItem) else keep(journal, [resolve(source)])[0])
    return tuple(found)


def item_images(journal: Journal, items: Items, position: int, as_name: str,
                planned: Plan) -> tuple[PromptImage, ...]:
    """Item ``position``'s images in order; its own are stored (no thumbnail: the group card
    shows none)."""
    value = items.values[position]
    found = []
    for entry in planned:
        if isinstance(entry, PromptImage):
            found.append(entry)
            continue
        source = value if entry.name == as_name else _column(value, entry.name, as_name)
        label = None if isinstance(source, (str, os.PathLike)) else (
            f"{entry.name}[{items.labels[position]}]")
        found += keep(journal, [resolve(source, label, thumbnail=False)])
    return tuple(found)


def _column(row: Any, name: str, as_name: str) -> Any:
    if isinstance(row, dict) and name in row:
        return row[name]
    raise InvalidArgument(f"--image {name}: not the item ({as_name}) nor a column of --over.")


def plain_value(value: Any) -> Any:
    """What the group table keeps of an item: an image object or bytes become a short label
    (the bytes are in the blob store), so a row never holds an image."""
    if isinstance(value, dict):
        return {k: plain_value(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value):,} bytes>"
    if callable(getattr(value, "savefig", None)) or callable(getattr(value, "save", None)):
        return f"<{type(value).__name__}>"
    return value

"""Images in a prompt: the value a job keeps of each one, and the content parts it sends.

An image travels in two forms. The *stored* form, in the body a job keeps and the journal
writes, names the image by its SHA-256 (``{"type": "image_url", "image_url": {"url":
"blob:image/png;sha256,<hex>"}, "blob": {...}, "source": "chart"}``), so a 5 MiB image sent
with 1,000 prompts is one file, not 1,000 base64 copies, reuse identity includes the hash, and
a job read back from the journal lists its images as the kernel that sent them did (the
``source`` label, pixel size and bytes are stored-only keys). The *wire* form, made by
:func:`expand` just before a POST, carries the bytes as a ``data:`` URL, exactly as xAI
takes them (docs.x.ai image understanding: jpg/jpeg or png, up to 20 MiB each). An ``https://``
image is sent as its URL (xAI fetches it) and never loaded here. Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from xai_defer_magic.core.catalogue import Catalogue
from xai_defer_magic.errors import InvalidArgument

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # xAI's limit per image
SENT_TYPES = ("image/png", "image/jpeg")
BLOB_PREFIX = "blob:"
STORED_ONLY = ("blob", "source")  # keys of a stored part that never go on the wire
# The budget rule (README "Images"): 448 px tiles at 256 prompt tokens each, plus one tile for
# the overview; an image of unknown size (an https URL) counts as 6 tiles.
TILE_PX = 448
TOKENS_PER_TILE = 256
UNKNOWN_SIZE_TILES = 6


@dataclass(frozen=True)
class ThumbnailSize:
    """How big a thumbnail may be: its longest side, and its bytes before base64."""

    pixels: int
    max_bytes: int


CARD_THUMBNAIL = ThumbnailSize(160, 40 * 1024)  # a job's card (issue 20: <= 160 px, 40 KB)
ROW_THUMBNAIL = ThumbnailSize(48, 3 * 1024)  # a row of a group's card (views.group_images)


@dataclass(frozen=True)
class PerItem:
    """``--image item`` (or a column) under ``--over``: a different image for every item."""

    name: str


@dataclass(frozen=True)
class PromptImage:
    """One image of a prompt: what ``job.images`` lists and the card names.

    ``data`` (the exact bytes sent) is held only until the image is stored in the journal;
    ``thumbnail`` is a small ``data:`` URL made from those bytes, for the card (a job read
    back from the journal has none: the views ask for one, made from the stored bytes);
    ``stored`` is False for such a job whose image the journal no longer holds.
    """

    source: str  # what the user named: a variable, a path, an URL
    media_type: str | None  # image/png or image/jpeg; None for an https URL
    size: int | None  # bytes
    sha256: str | None
    width: int | None = None
    height: int | None = None
    url: str | None = None  # an https source, sent as it is
    thumbnail: str | None = field(default=None, repr=False, compare=False)
    data: bytes | None = field(default=None, repr=False, compare=False)
    stored: bool = field(default=True, compare=False)

    @property
    def pixels(self) -> str | None:
        return f"{self.width}×{self.height} px" if self.width and self.height else None

    def describe(self) -> str:
        """``fig · 640×480 px · 23 KB`` (an URL: ``https://… · remote``; an image the
        journal no longer holds: ``… · no longer stored``)."""
        if self.url is not None:
            return f"{self.source} · remote, not loaded"
        bits = [self.source, self.pixels, f"{(self.size or 0) / 1024:,.0f} KB",
                None if self.stored else "no longer stored"]
        return " · ".join(b for b in bits if b)

    def part(self) -> dict[str, Any]:
        """The stored content part (see the module docstring)."""
        if self.url is not None:
            named = {} if self.source == self.url else {"source": self.source}
            return {"type": "image_url", "image_url": {"url": self.url}, **named}
        meta: dict[str, Any] = {"size": self.size}
        if self.width and self.height:
            meta["width"], meta["height"] = self.width, self.height
        return {"type": "image_url", "image_url": {"url": blob_url(self)}, "blob": meta,
                "source": self.source}

    def without_data(self) -> PromptImage:
        return replace(self, data=None)

    def tokens(self) -> int:
        """Prompt tokens this image is counted as before sending (the README's rule)."""
        if not (self.width and self.height):
            return (UNKNOWN_SIZE_TILES + 1) * TOKENS_PER_TILE
        tiles = math.ceil(self.width / TILE_PX) * math.ceil(self.height / TILE_PX)
        return (tiles + 1) * TOKENS_PER_TILE


def check_images(images: Any) -> tuple[PromptImage, ...]:
    """``RequestOptions.images``: resolved images only (sources are resolved above core)."""
    found = tuple(images or ())
    for image in found:
        if not isinstance(image, PromptImage):
            raise InvalidArgument(f"images: expected resolved images, not {type(image).__name__}.")
    return found


def blob_url(image: PromptImage) -> str:
    return f"{BLOB_PREFIX}{image.media_type};sha256,{image.sha256}"


def sniff(data: bytes) -> str | None:
    """The media type from the first bytes (never from a file name)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def pixel_size(data: bytes, media_type: str) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR or a JPEG's SOF marker; None if unreadable."""
    if media_type == "image/png" and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return (width, height) if width and height else None
    if media_type == "image/jpeg":
        return _jpeg_size(data)
    return None


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            at += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", data[at + 2:at + 4])[0]
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return (width, height) if width and height else None
        at += 2 + length
    return None


def image_from_bytes(data: bytes, source: str, *, thumbnail: str | None = None) -> PromptImage:
    """A PNG or JPEG of at most 20 MiB, as sent; anything else is one ``InvalidArgument``."""
    media_type = sniff(data)
    if media_type not in SENT_TYPES:
        found = f" ({media_type})" if media_type else ""
        raise InvalidArgument(f"--image {source}: not a PNG or JPEG image{found}; xAI takes "
                              "PNG and JPEG (GIF and WebP are converted when Pillow reads them).")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidArgument(f"--image {source}: {len(data) / 2**20:.1f} MiB, over xAI's "
                              "20 MiB limit per image.")
    assert media_type is not None
    size = pixel_size(data, media_type)
    return PromptImage(source=source, media_type=media_type, size=len(data),
                       sha256=hashlib.sha256(data).hexdigest(),
                       width=size[0] if size else None, height=size[1] if size else None,
                       thumbnail=thumbnail, data=data)


def image_from_url(url: str, source: str | None = None) -> PromptImage:
    """An ``https://`` image: named, sent as its URL, never loaded here."""
    if not url.startswith("https://") or any(c.isspace() for c in url):
        raise InvalidArgument(f"--image {url}: only https:// URLs are sent as URLs.")
    return PromptImage(source=source or url, media_type=None, size=None, sha256=None, url=url)


def attach(messages: list[dict[str, Any]], images: Iterable[PromptImage]) -> list[dict[str, Any]]:
    """The messages with the last user message as content parts: its text, then each image."""
    parts = [image.part() for image in images]
    if not parts:
        return messages
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.get("role") != "user":
            continue
        content = message.get("content")
        texts = ([{"type": "text", "text": content}] if isinstance(content, str)
                 else list(content or []))
        result = list(messages)
        result[index] = {**message, "content": texts + parts}
        return result
    raise InvalidArgument("Images go with a user message, and this prompt has none.")


def _parts(body: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            yield from (p for p in content if isinstance(p, dict) and p.get("type") == "image_url")


def _url_of(part: dict[str, Any]) -> str:
    inner = part.get("image_url")
    url = inner.get("url") if isinstance(inner, dict) else None
    return url if isinstance(url, str) else ""


def blob_hashes(body: dict[str, Any]) -> list[str]:
    """The SHA-256 of every stored image a body refers to, in order."""
    return [_url_of(p).rpartition(",")[2] for p in _parts(body)
            if _url_of(p).startswith(BLOB_PREFIX)]


def images_in(body: dict[str, Any]) -> tuple[PromptImage, ...]:
    """What a stored body says of its images (a job read back from the journal)."""
    found = []
    for number, part in enumerate(_parts(body), 1):
        url = _url_of(part)
        named = part.get("source")
        label = named if isinstance(named, str) and named else None
        if not url.startswith(BLOB_PREFIX):
            found.append(PromptImage(label or url or f"image {number}", None, None, None,
                                     url=url))
            continue
        media_type, _, digest = url[len(BLOB_PREFIX):].partition(";sha256,")
        blob = part.get("blob")
        meta: dict[str, Any] = blob if isinstance(blob, dict) else {}
        found.append(PromptImage(label or f"image {number} ({digest[:8]})", media_type,
                                 meta.get("size"), digest, meta.get("width"),
                                 meta.get("height")))
    return tuple(found)


def image_tokens(body: dict[str, Any]) -> int:
    """Prompt tokens the body's images count as before sending (see :meth:`PromptImage.tokens`)."""
    return sum(image.tokens() for image in images_in(body))


def expand(body: dict[str, Any], data_url: Callable[[str, str], str]) -> dict[str, Any]:
    """The wire body: every stored image part becomes ``{"type": "image_url", "image_url":
    {"url": "data:...;base64,..."}}`` and an URL part loses its stored-only ``source``;
    ``data_url(media_type, sha256)`` makes the URL (raising when the image is gone). A body
    without stored-only keys is returned as it is."""
    if not any(key in part for part in _parts(body) for key in STORED_ONLY):
        return body
    messages = []
    for message in body["messages"]:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            messages.append(message)
            continue
        parts = []
        for part in content:
            url = _url_of(part) if isinstance(part, dict) else ""
            if url.startswith(BLOB_PREFIX):
                media_type, _, digest = url[len(BLOB_PREFIX):].partition(";sha256,")
                part = {"type": "image_url", "image_url": {"url": data_url(media_type, digest)}}
            elif url:
                part = {k: v for k, v in part.items() if k not in STORED_ONLY}
            parts.append(part)
        messages.append({**message, "content": parts})
    return {**body, "messages": messages}


def data_url(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def image_refusal(catalogue: Catalogue, model: str) -> str | None:
    """The one line that refuses images for ``model``, on the catalogue's word only: a model it
    lists without ``image`` among its input modalities (one it does not list, or lists
    without modalities, is left to the server)."""
    found = catalogue.find(model)
    if found is None or not found.input_modalities or "image" in found.input_modalities:
        return None
    readers = [m.id for m in catalogue if "image" in m.input_modalities]
    hint = f" (models that do: {', '.join(readers)})" if readers else ""
    return f"Not sent: {model} does not read images{hint}."

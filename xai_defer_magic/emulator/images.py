"""Images in chat requests, as xAI takes them (docs.x.ai image understanding, CHANGES.md).

A user message's ``content`` may be a list of parts: ``{"type": "text", "text": ...}`` and
``{"type": "image_url", "image_url": {"url": ..., "detail": ...}}``. A ``data:`` URL must hold
base64 PNG or JPEG bytes of at most 20 MiB; an ``https://`` URL is taken as given (the
emulator fetches nothing). A model whose catalogue entry lacks ``image`` in its input
modalities is answered with a 400. Image tokens: 256 per 448 px tile plus one overview tile
(an URL counts as 6 tiles), the rule the client's README states for its estimates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import struct
from dataclasses import dataclass
from typing import Any

MAX_BYTES = 20 * 1024 * 1024
PART_TYPES = ("text", "image_url")
_DATA_URL = re.compile(r"data:(?P<type>image/[a-z+.-]+);base64,(?P<data>.*)", re.DOTALL)
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


@dataclass(frozen=True)
class SeenImage:
    """One image of a request as the emulator read it."""

    size: int | None  # bytes (None for an URL)
    width: int | None
    height: int | None
    sha256: str | None
    url: str | None = None

    def tokens(self) -> int:
        if not (self.width and self.height):
            return 7 * 256
        return (math.ceil(self.width / 448) * math.ceil(self.height / 448) + 1) * 256

    def line(self, number: int) -> str:
        if self.url is not None:
            return f"- image {number}: remote URL ({len(self.url)} characters), not fetched"
        return (f"- image {number}: {self.width}×{self.height} px, {self.size:,} bytes, "
                f"sha256 `{(self.sha256 or '')[:12]}`")


def shape_problem(where: str, content: list[Any]) -> str | None:
    """What is wrong with a list of parts (the 422 text), or None."""
    for index, part in enumerate(content):
        at = f"{where}.content[{index}]"
        if not isinstance(part, dict) or part.get("type") not in PART_TYPES:
            return f"{at}: expected a text or image_url part"
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            return f"{at}.text: expected a string"
        inner = part.get("image_url")
        if part["type"] == "image_url" and (
                not isinstance(inner, dict) or not isinstance(inner.get("url"), str)):
            return f"{at}.image_url: missing field `url`"
    return None


def _parts(messages: list[Any]) -> list[dict[str, Any]]:
    found = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            found += [p for p in content if isinstance(p, dict) and p.get("type") == "image_url"]
    return found


def read_images(messages: list[Any]) -> list[SeenImage] | str:
    """Every image of the request, or the 400 message for the first bad one."""
    seen = []
    for number, part in enumerate(_parts(messages), 1):
        url = part["image_url"]["url"]
        if url.startswith("https://"):
            seen.append(SeenImage(None, None, None, None, url=url))
            continue
        match = _DATA_URL.fullmatch(url)
        if match is None:
            return (f"Image {number}: the url must be an https URL or a base64 data URL "
                    "(data:image/png;base64,... or data:image/jpeg;base64,...).")
        try:
            data = base64.b64decode(match.group("data"), validate=True)
        except (binascii.Error, ValueError):
            return f"Image {number}: invalid base64 data."
        if len(data) > MAX_BYTES:
            return f"Image {number}: {len(data)} bytes, over the maximum image size of 20MiB."
        size = _pixel_size(data)
        if size is None:
            return (f"Image {number}: unsupported image format; supported formats are jpg/jpeg "
                    "and png.")
        seen.append(SeenImage(len(data), size[0], size[1], hashlib.sha256(data).hexdigest()))
    return seen


def modality_problem(messages: list[Any], model_id: str, modalities: tuple[str, ...]) -> str | None:
    if _parts(messages) and "image" not in modalities:
        return f"Model {model_id} does not support image inputs."
    return None


def answer_lines(messages: list[Any]) -> str:
    """The emulated answer's paragraph about the images (empty without images)."""
    seen = read_images(messages)
    if isinstance(seen, str) or not seen:
        return ""
    lines = "\n".join(image.line(n) for n, image in enumerate(seen, 1))
    return f"\n**Images seen** ({len(seen)}):\n\n{lines}\n"


def image_tokens(messages: list[Any]) -> int:
    seen = read_images(messages)
    return 0 if isinstance(seen, str) else sum(image.tokens() for image in seen)


def _pixel_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG or JPEG; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return (width, height) if width and height else None
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            at += 2
            continue
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return (width, height) if width and height else None
        at += 2 + struct.unpack(">H", data[at + 2:at + 4])[0]
    return None

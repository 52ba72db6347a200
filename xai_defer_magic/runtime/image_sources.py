"""What ``--image SOURCE`` may name, turned into the bytes sent: :func:`resolve`.

A path (``str`` or ``pathlib.Path``) to a PNG or JPEG, ``bytes``, a matplotlib ``Figure``
(rendered to PNG), a PIL image (PNG), an ``IPython.display.Image``, or an ``https://`` URL
(sent as the URL, never loaded). Objects are recognised by what they can do (``savefig``, a
PIL ``save``), so neither matplotlib nor Pillow is imported unless such an object is given
or a GIF/WebP needs converting; Pillow also makes the card's thumbnail when it is installed.
Every refusal is one ``InvalidArgument`` line, before anything is stored or sent.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any

from xai_defer_magic.core.images import (
    CARD_THUMBNAIL,
    MAX_IMAGE_BYTES,
    PromptImage,
    ThumbnailSize,
    image_from_bytes,
    image_from_url,
    sniff,
)
from xai_defer_magic.errors import InvalidArgument

THUMBNAIL_PX = CARD_THUMBNAIL.pixels  # longest side
THUMBNAIL_BYTES = CARD_THUMBNAIL.max_bytes


def resolve(source: Any, label: str | None = None, *, thumbnail: bool = True) -> PromptImage:
    """The image ``source`` names, as sent; ``label`` is how the card names it."""
    name = label or _label(source)
    if isinstance(source, PromptImage):
        return source
    if isinstance(source, str) and source.startswith(("https://", "http://")):
        return image_from_url(source, name)
    if isinstance(source, (str, os.PathLike)):
        data = _read(Path(source), name)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        rendered = _rendered(source, name)
        if rendered is None:
            url = getattr(source, "url", None)  # an IPython Image(url=...) with no data
            if isinstance(url, str) and url.startswith("https://"):
                return image_from_url(url, name)
            raise InvalidArgument(
                f"--image {name}: cannot send a {type(source).__name__} as an image (give a "
                "path, PNG/JPEG bytes, a matplotlib Figure, a PIL image, an "
                "IPython.display.Image or an https:// URL).")
        data = rendered
    data = _as_png_if_needed(data, name)
    image = image_from_bytes(data, name)  # refuses what is not PNG/JPEG or over 20 MiB
    if thumbnail:
        return PromptImage(**{**_fields(image), "thumbnail": make_thumbnail(data)})
    return image


def _fields(image: PromptImage) -> dict[str, Any]:
    return {name: getattr(image, name) for name in image.__dataclass_fields__}


def _label(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return type(source).__name__


def _read(path: Path, name: str) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise InvalidArgument(f"--image {name}: {size / 2**20:.1f} MiB, over xAI's 20 MiB "
                                  "limit per image.")
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidArgument(f"--image {name}: no such file (and no variable of that name)."
                              ) from None
    except IsADirectoryError:
        raise InvalidArgument(f"--image {name}: is a folder, not an image file.") from None
    except OSError as exc:
        raise InvalidArgument(f"--image {name}: cannot read it ({exc.strerror or exc}).") from None


def _rendered(source: Any, name: str) -> bytes | None:
    """PNG bytes of a figure or PIL image, an IPython Image's own bytes; None otherwise."""
    if callable(getattr(source, "savefig", None)):  # a matplotlib Figure
        buffer = io.BytesIO()
        try:
            source.savefig(buffer, format="png")
        except Exception as exc:
            raise InvalidArgument(f"--image {name}: the figure did not render ({exc}).") from None
        return buffer.getvalue()
    if callable(getattr(source, "save", None)) and hasattr(source, "mode"):  # a PIL image
        return _pil_png(source, name)
    data = getattr(source, "data", None)  # IPython.display.Image
    if isinstance(data, bytes) and callable(getattr(source, "_repr_mimebundle_", None)):
        return data
    if isinstance(data, str) and callable(getattr(source, "_repr_mimebundle_", None)):
        try:  # an Image built from base64 text keeps it as str
            return base64.b64decode(data, validate=True)
        except ValueError:
            return None
    return None


def _pil_png(image: Any, name: str) -> bytes:
    buffer = io.BytesIO()
    try:
        if image.mode not in ("1", "L", "LA", "I", "P", "RGB", "RGBA"):
            image = image.convert("RGBA")
        image.save(buffer, format="PNG")
    except Exception as exc:
        raise InvalidArgument(f"--image {name}: the PIL image did not save as PNG ({exc})."
                              ) from None
    return buffer.getvalue()


def _as_png_if_needed(data: bytes, name: str) -> bytes:
    """A GIF or WebP becomes PNG (its first frame) when Pillow reads it; else unchanged."""
    if sniff(data) not in ("image/gif", "image/webp"):
        return data
    try:
        from PIL import Image  # only for an image xAI would refuse as it is
    except ImportError:
        raise InvalidArgument(f"--image {name}: a {sniff(data)} image; xAI takes PNG and JPEG "
                              "(install Pillow to convert GIF and WebP).") from None
    try:
        with Image.open(io.BytesIO(data)) as opened:
            return _pil_png(opened.convert("RGBA"), name)
    except (OSError, ValueError):
        raise InvalidArgument(f"--image {name}: an unreadable {sniff(data)}; xAI takes PNG and "
                              "JPEG.") from None


def make_thumbnail(data: bytes, size: ThumbnailSize = CARD_THUMBNAIL) -> str | None:
    """A ``data:`` URL of at most ``size`` (160 px on its long side and 40 KB for a card),
    made from ``data`` and turned upright by its EXIF orientation (a phone's JPEG is stored
    on its side; xAI gets the exact bytes and turns it itself); None without Pillow or when
    it cannot read the image."""
    try:
        from PIL import Image, ImageOps
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.draft("RGB", (size.pixels * 2, size.pixels * 2))  # JPEG: decode it small
            small = ImageOps.exif_transpose(opened)
    except (OSError, ValueError, SyntaxError):
        return None
    small.thumbnail((size.pixels, size.pixels))
    for quality in (None, 80, 60, 40):
        buffer = io.BytesIO()
        if quality is None:
            small.save(buffer, format="PNG", optimize=True)
            kind = "png"
        else:
            small.convert("RGB").save(buffer, format="JPEG", quality=quality)
            kind = "jpeg"
        if buffer.tell() <= size.max_bytes:
            encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
            return f"data:image/{kind};base64,{encoded}"
    return None

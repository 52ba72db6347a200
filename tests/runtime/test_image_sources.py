"""Every kind of SOURCE ``--image`` takes becomes the bytes sent, or one line saying why not."""

from __future__ import annotations

import base64
import io
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.images import GIF, jpeg, png
from xai_defer_magic.errors import InvalidArgument
from xai_defer_magic.runtime.image_sources import THUMBNAIL_BYTES, make_thumbnail, resolve


def test_paths_and_bytes_are_sent_as_they_are(tmp_path: Path) -> None:
    data = jpeg(40, 30)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    for source in (str(path), path, data, bytearray(data)):
        image = resolve(source)
        assert image.data == data and image.media_type == "image/jpeg"
        assert (image.width, image.height) == (40, 30)
    assert resolve(path).source == str(path) and resolve(data, "raw").source == "raw"


def test_a_figure_and_a_pil_image_are_rendered_to_png() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from PIL import Image

    figure = Figure(figsize=(2, 1), dpi=50)
    figure.add_subplot().plot([1, 2, 3])
    image = resolve(figure, "fig")
    assert image.media_type == "image/png" and (image.width, image.height) == (100, 50)
    opened = Image.open(io.BytesIO(image.data or b""))
    assert opened.size == (100, 50)
    pil = resolve(Image.new("RGB", (7, 9), "red"), "pic")
    assert pil.media_type == "image/png" and (pil.width, pil.height) == (7, 9)
    cmyk = resolve(Image.new("CMYK", (4, 4)), "cmyk")
    assert cmyk.media_type == "image/png"


def test_an_ipython_image_sends_its_own_bytes_or_its_url() -> None:
    from IPython.display import Image as IPythonImage

    data = png(6, 6)
    assert resolve(IPythonImage(data=data)).data == data
    assert resolve(IPythonImage(data=jpeg(), format="jpeg")).media_type == "image/jpeg"
    remote = resolve(IPythonImage(url="https://example.org/x.png", embed=False))
    assert remote.url == "https://example.org/x.png" and remote.data is None


def test_a_gif_becomes_png_and_an_unreadable_one_is_refused() -> None:
    image = resolve(GIF, "anim")
    assert image.media_type == "image/png" and (image.width, image.height) == (1, 1)
    with pytest.raises(InvalidArgument, match="PNG and JPEG"):
        resolve(GIF[:20] + b"broken", "bad")


def test_without_pillow_a_gif_is_refused_naming_the_formats(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(InvalidArgument) as refused:
        resolve(GIF, "anim")
    assert "PNG and JPEG" in str(refused.value) and "Pillow" in str(refused.value)
    assert resolve(png(), "still fine").thumbnail is None  # no thumbnail, nothing else lost


@pytest.mark.parametrize(("source", "words"), [
    ("no/such/file.png", "no such file"),
    (".", "is a folder"),
    (42, "cannot send a int"),
    (b"plain text", "not a PNG or JPEG"),
    ("http://example.org/x.png", "only https://"),
])
def test_refusals_are_one_line(source: Any, words: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        resolve(source)
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    """A path through a file (ENOTDIR): unreadable whoever runs the test, root included."""
    (tmp_path / "file.png").write_bytes(png())
    with pytest.raises(InvalidArgument, match="cannot read it"):
        resolve(tmp_path / "file.png" / "inner.png")


def test_the_thumbnail_is_small_and_made_from_our_bytes() -> None:
    from PIL import Image

    big = io.BytesIO()
    Image.effect_noise((1200, 800), 80).convert("RGB").save(big, format="PNG")
    thumb = make_thumbnail(big.getvalue())
    assert thumb is not None and thumb.startswith("data:image/")
    raw = base64.b64decode(thumb.split(",", 1)[1])
    assert len(raw) <= THUMBNAIL_BYTES
    assert max(Image.open(io.BytesIO(raw)).size) <= 160
    assert resolve(big.getvalue(), "big").thumbnail == thumb
    assert resolve(big.getvalue(), "big", thumbnail=False).thumbnail is None


def test_a_phone_jpeg_is_sent_as_it_is_and_its_thumbnail_stands_upright() -> None:
    """EXIF orientation 6 (the phone was held upright: turn 90° clockwise to view): xAI gets
    the exact bytes and applies the tag itself; the card's thumbnail must already be turned."""
    from PIL import Image

    stored = Image.new("RGB", (80, 40), (220, 20, 20))
    stored.paste((20, 20, 220), (40, 0, 80, 40))  # stored: red on the left, blue on the right
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    data = buffer.getvalue()
    image = resolve(data, "phone")
    assert image.data == data and (image.width, image.height) == (80, 40)  # as stored
    assert image.thumbnail is not None
    thumb = Image.open(io.BytesIO(base64.b64decode(image.thumbnail.split(",", 1)[1])))
    width, height = thumb.size
    assert height > width, "the thumbnail lies on its side"
    top = thumb.convert("RGB").getpixel((width // 2, height // 5))
    bottom = thumb.convert("RGB").getpixel((width // 2, height * 4 // 5))
    assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0], (top, bottom)

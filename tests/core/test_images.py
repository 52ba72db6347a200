"""Images as a prompt keeps them: sniffed by their bytes, stored by hash, inlined on the wire."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tests.support.images import GIF, jpeg, png
from xai_defer_magic.core.images import (
    MAX_IMAGE_BYTES,
    PromptImage,
    attach,
    blob_hashes,
    expand,
    image_from_bytes,
    image_from_url,
    image_tokens,
    images_in,
    pixel_size,
    sniff,
)
from xai_defer_magic.core.options import RequestOptions
from xai_defer_magic.core.request import build_request
from xai_defer_magic.errors import InvalidArgument


def test_media_type_and_pixel_size_come_from_the_bytes() -> None:
    assert sniff(png()) == "image/png" and pixel_size(png(640, 480), "image/png") == (640, 480)
    assert sniff(jpeg()) == "image/jpeg" and pixel_size(jpeg(33, 17), "image/jpeg") == (33, 17)
    assert sniff(GIF) == "image/gif" and sniff(b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    assert sniff(b"%PDF-1.7") is None


def test_an_image_is_named_by_its_hash_and_sizes() -> None:
    data = png(30, 20)
    image = image_from_bytes(data, "fig")
    assert image.sha256 == hashlib.sha256(data).hexdigest() and image.size == len(data)
    assert (image.media_type, image.width, image.height) == ("image/png", 30, 20)
    assert image.describe() == "fig · 30×20 px · 0 KB"
    assert image.data == data and image.without_data().data is None


@pytest.mark.parametrize(("data", "words"), [
    (GIF, "(image/gif)"), (b"hello", "not a PNG or JPEG"),
    (b"\x89PNG\r\n\x1a\n" + bytes(MAX_IMAGE_BYTES), "20 MiB"),
])
def test_what_xai_would_refuse_is_one_line(data: bytes, words: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        image_from_bytes(data, "x")
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_only_https_urls_are_sent_as_urls() -> None:
    image = image_from_url("https://example.org/cat.png")
    assert image.part() == {"type": "image_url", "image_url": {"url": "https://example.org/cat.png"}}
    assert image.describe().endswith("remote, not loaded")
    with pytest.raises(InvalidArgument):
        image_from_url("http://example.org/cat.png")


def test_the_stored_body_names_the_hash_and_the_wire_body_carries_the_bytes() -> None:
    data = png(5, 5)
    image = image_from_bytes(data, "fig")
    body = build_request("What is it?", RequestOptions(model="grok-4.3", images=(image,)))
    content = body["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "What is it?"}
    assert content[1]["image_url"]["url"] == f"blob:image/png;sha256,{image.sha256}"
    assert base64.b64encode(data).decode() not in str(body)  # rows never hold the bytes
    assert blob_hashes(body) == [image.sha256]
    wire = expand(body, lambda kind, digest: f"data:{kind};base64,{digest[:4]}")
    assert wire["messages"][0]["content"][1] == {
        "type": "image_url", "image_url": {"url": f"data:image/png;base64,{image.sha256[:4]}"}}
    assert wire["messages"][0]["content"][0] == content[0]
    plain = build_request("No image", RequestOptions(model="grok-4.3"))
    assert expand(plain, lambda *_: "unused") is plain


def test_a_job_read_back_knows_its_images_from_the_body() -> None:
    image = image_from_bytes(png(900, 500), "fig")
    url = image_from_url("https://example.org/a.jpg")
    body = {"model": "m", "messages": attach([{"role": "user", "content": "hi"}], [image, url])}
    found = images_in(body)
    assert [(i.sha256, i.width, i.height, i.size) for i in found[:1]] == [
        (image.sha256, 900, 500, image.size)]
    assert found[1].url == "https://example.org/a.jpg"
    # 900x500 is 3x2 tiles (+1 overview); an URL counts as 6 (+1).
    assert image_tokens(body) == (6 + 1) * 256 + (6 + 1) * 256


def test_images_go_with_the_last_user_message() -> None:
    image = image_from_bytes(png(), "x")
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    attached = attach(messages, [image])
    assert attached[1] == messages[1] and attached[3]["content"][0]["text"] == "c"
    with pytest.raises(InvalidArgument):
        attach([{"role": "system", "content": "s"}], [image])


def test_options_take_resolved_images_only() -> None:
    with pytest.raises(InvalidArgument):
        RequestOptions(images=("cat.png",))  # type: ignore[arg-type]
    assert RequestOptions(images=[image_from_bytes(png(), "x")]).images  # type: ignore[arg-type]
    assert isinstance(RequestOptions(images=(image_from_bytes(png(), "x"),)).images[0],  # type: ignore[index]
                      PromptImage)


def test_the_estimate_counts_images_at_the_image_price() -> None:
    from xai_defer_magic.core.catalogue import Catalogue, LanguageModel
    from xai_defer_magic.core.pricing import Tokenizer, estimate_request_cost

    catalogue = Catalogue((LanguageModel("grok-4.3", input_usd_per_m=1.0, output_usd_per_m=2.0,
                                         image_input_usd_per_m=3.0),))
    image = image_from_bytes(png(1000, 400), "x")  # 3x1 tiles + 1: 1,024 tokens
    options = RequestOptions(model="grok-4.3")
    plain = estimate_request_cost(build_request("abcd" * 10, options), catalogue, Tokenizer(None))
    with_image = estimate_request_cost(
        build_request("abcd" * 10, RequestOptions(model="grok-4.3", images=(image,))),
        catalogue, Tokenizer(None))
    assert plain is not None and with_image is not None
    assert with_image.prompt_tokens == plain.prompt_tokens + 1024
    assert with_image.input_usd == pytest.approx(plain.input_usd + 1024 * 3.0 / 1e6)


"""The emulator takes images as xAI does: content parts, PNG/JPEG data URLs of at most 20 MiB,
https URLs, and only for models that list ``image`` among their input modalities."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.images import GIF, jpeg, png
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.emulator.replies import INVALID_ARGUMENT

KEY = "xai-test-key-0123456789abcdefyz"
pytestmark = pytest.mark.emulator(latency=1000.0)


@pytest.fixture
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, headers={"Authorization": f"Bearer {KEY}"},
                      timeout=30) as c:
        yield c


def with_images(*urls: str, model: str = "grok-4.3") -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": "What is in these pictures?"}]
    parts += [{"type": "image_url", "image_url": {"url": url, "detail": "auto"}} for url in urls]
    return {"model": model, "messages": [{"role": "user", "content": parts}]}


def data_url(data: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def test_each_image_is_named_by_pixel_size_and_hash_and_counted(client: httpx.Client) -> None:
    first, second = png(900, 500), jpeg(40, 30)
    response = client.post("/chat/completions", json=with_images(
        data_url(first), data_url(second, "image/jpeg"), "https://example.org/cat.png"))
    assert response.status_code == 200, response.text
    answer = response.json()
    content = answer["choices"][0]["message"]["content"]
    assert "900×500 px" in content and hashlib.sha256(first).hexdigest()[:12] in content
    assert "40×30 px" in content and hashlib.sha256(second).hexdigest()[:12] in content
    assert "remote URL" in content
    details = answer["usage"]["prompt_tokens_details"]
    # 900x500: 3x2 tiles + 1; 40x30: 1 + 1; an URL 6 + 1 (256 tokens a tile).
    assert details["image_tokens"] == (7 + 2 + 7) * 256
    assert answer["usage"]["prompt_tokens"] == details["text_tokens"] + details["image_tokens"]
    again = client.post("/chat/completions", json=with_images(data_url(first)))
    assert again.json()["choices"][0]["message"]["content"] != content  # deterministic per image


@pytest.mark.parametrize(("url", "needle"), [
    ("data:image/png;base64,@@notbase64@@", "invalid base64"),
    (data_url(GIF, "image/gif"), "supported formats are jpg/jpeg and png"),
    (data_url(b"not an image at all"), "supported formats are jpg/jpeg and png"),
    ("ftp://example.org/x.png", "https URL or a base64 data URL"),
])
def test_a_bad_image_is_xais_400(client: httpx.Client, url: str, needle: str) -> None:
    response = client.post("/chat/completions", json={**with_images(url), "deferred": True})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == INVALID_ARGUMENT and needle in response.json()["error"]


def test_an_image_over_20_mib_is_refused(client: httpx.Client) -> None:
    big = b"\x89PNG\r\n\x1a\n" + bytes(20 * 1024 * 1024)
    response = client.post("/chat/completions", json=with_images(data_url(big)))
    assert response.status_code == 400 and "20MiB" in response.json()["error"]


def test_a_text_only_model_refuses_images(emulator: Emulator, client: httpx.Client) -> None:
    response = client.post("/chat/completions", json=with_images(data_url(png()),
                                                                  model="grok-3-mini"))
    assert response.status_code == 400
    assert "grok-3-mini does not support image inputs" in response.json()["error"]
    models = client.get("/language-models").json()["models"]
    modalities = {m["id"]: m["input_modalities"] for m in models}
    assert "image" in modalities["grok-4.3"] and "image" not in modalities["grok-3-mini"]


def test_a_malformed_part_is_422(client: httpx.Client) -> None:
    body = {"model": "grok-4.3", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": "data:image/png;base64,AAAA"}]}]}
    response = client.post("/chat/completions", json=body)
    assert response.status_code == 422 and "image_url" in response.text

"""Images in real kernels: every SOURCE kind reaches the emulator as the right bytes, every
refusal is one line with nothing sent, the card and the saved output show thumbnails (never
the image), and a ``kill -9`` mid-fan-out or mid-``--batch`` resumes with the right images
read back from the journal."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.images import png
from tests.support.kernels import Kernel
from tests.support.polling import post_rounds
from xai_defer_magic.emulator import Emulator

pytestmark = [pytest.mark.kernel, pytest.mark.emulator(latency=0.3)]

SETUP = """\
%load_ext xai_defer_magic
%config GrokDefer.first_poll = 0.1
import base64, hashlib, io, json, pathlib
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from PIL import Image as PILImage
from IPython.display import Image as IPythonImage
"""

SOURCES = """\
raw = base64.b64decode({raw!r})
pathlib.Path("photo.png").write_bytes(base64.b64decode({photo!r}))
path_obj = pathlib.Path("photo.png")
fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)
ax.plot([1, 3, 2])
pil = PILImage.new("RGB", (12, 7), (0, 90, 200))
ipy = IPythonImage(data=raw)
"""


def data_urls(body: dict[str, Any]) -> list[str]:
    return [p["image_url"]["url"] for p in body["messages"][-1]["content"]
            if p.get("type") == "image_url"]


def decoded(url: str) -> bytes:
    return base64.b64decode(url.split(",", 1)[1])


def chat_posts(emulator: Emulator) -> list[dict[str, Any]]:
    """Chat POSTs that carry content parts (post_rounds' witness sends plain text)."""
    return [r.body for r in emulator.requests()
            if r.method == "POST" and r.path.endswith("/chat/completions")
            and isinstance(r.body["messages"][-1]["content"], list)]


def error_line(kernel: Kernel, code: str) -> str:
    """The one line of a cell that fails with a UsageError (IPython prints no traceback)."""
    execution = kernel.wait(kernel.submit(code))
    assert execution.reply is not None and execution.status == "error", execution.outputs
    content = execution.reply["content"]
    assert content["ename"] == "UsageError" and not content["traceback"], content
    shown = execution.text()
    assert shown.strip().count("\n") == 0 and content["evalue"] in shown, shown
    return str(content["evalue"])


def test_every_source_kind_refusals_and_thumbnails_in_a_kernel(
    kernel: Kernel, emulator: Emulator
) -> None:
    raw, photo = png(30, 20), png(64, 48, (10, 200, 10))
    kernel.run(SETUP + SOURCES.format(raw=base64.b64encode(raw).decode(),
                                      photo=base64.b64encode(photo).decode()))
    # 1. Every kind, in the order given, as the right bytes.
    cell = ("%%grok_defer --wait -o job --image photo.png --image path_obj --image fig "
            "--image pil --image raw --image ipy --image https://example.org/cat.png\n"
            "What do these show?")
    shown = kernel.run(cell, timeout=60)
    [body] = chat_posts(emulator)
    urls = data_urls(body)
    assert len(urls) == 7 and urls[6] == "https://example.org/cat.png"
    assert [decoded(u) for u in urls[:2]] == [photo, photo]
    assert decoded(urls[4]) == raw and decoded(urls[5]) == raw
    fig_png, pil_png = decoded(urls[2]), decoded(urls[3])
    assert fig_png.startswith(b"\x89PNG") and fig_png[16:24] == (100).to_bytes(4, "big") + (
        75).to_bytes(4, "big")  # 2 x 1.5 in at 50 dpi
    assert pil_png[16:24] == (12).to_bytes(4, "big") + (7).to_bytes(4, "big")
    listed = json.loads(kernel.run(
        "print(json.dumps([[i.source, i.media_type, i.size, i.width, i.height, i.sha256] "
        "for i in job.images]))").text())
    assert [row[0] for row in listed] == ["photo.png", "path_obj", "fig", "pil", "raw", "ipy",
                                          "https://example.org/cat.png"]
    assert [row[5] for row in listed[:6]] == [hashlib.sha256(decoded(u)).hexdigest()
                                             for u in urls[:6]]
    # 2. The saved output (--wait: plain rich data) has thumbnails and names, not the images.
    html = shown.texts("text/html")[-1]  # the final bundle
    assert html.count('class="xdm-thumb"') == 6 and "cat.png · remote, not loaded" in html
    assert base64.b64encode(photo).decode()[:60] not in html
    assert "Images seen" in html  # the emulator's answer names them
    # 3. The live card shows them too, and so does the bundle that replaces it.
    live = kernel.run("%%grok_defer -o live --image pil\nAnd this one?")
    kernel.pump_until(lambda: any('class="xdm-thumb"' in str(m.get("value", ""))
                                  for m in kernel.widgets.models.values()),
                      what="a thumbnail in the live card")
    waited = kernel.run("live.result(30)")
    kernel.pump(0.5)
    final = [o["content"]["data"]["text/html"] for o in live.outputs + waited.outputs
             if o["msg_type"] == "update_display_data" and "text/html" in o["content"]["data"]]
    assert final and 'class="xdm-thumb"' in final[-1] and "Emulated answer" in final[-1]
    # 4. Refusals: one line each, nothing sent.
    sent = len(chat_posts(emulator))
    kernel.run("gif = b'GIF89a' + bytes(20)\nbig = b'\\x89PNG\\r\\n\\x1a\\n' + bytes(21 << 20)")
    kernel.run("import xai_defer_magic; _ = xai_defer_magic.models()")  # the catalogue is here
    for line, words in {"--image nothing.png": "no such file",
                        "--image gif": "PNG and JPEG",
                        "--image big": "20 MiB",
                        "--image raw -m grok-3-mini": "does not read images"}.items():
        message = error_line(kernel, f"%%grok_defer {line}\nWhat is it?")
        assert words in message and "\n" not in message, (line, message)
    assert len(chat_posts(emulator)) == sent


def test_kill_mid_fan_out_resends_the_right_images(
    env: dict[str, str], tmp_path: Path, emulator: Emulator
) -> None:
    n = 30
    emulator.faults.slow_rate = 1.0
    emulator.faults.slow_seconds = 0.25
    emulator.faults.faults_apply_to = "post"
    photos = {f"p{i}.png": png(10 + i, 5) for i in range(n)}
    for name, data in photos.items():
        (tmp_path / name).write_bytes(data)
    first = Kernel(env, cwd=str(tmp_path))
    try:
        first.run("%load_ext xai_defer_magic\n"
                  f"photos = [f'p{{i}}.png' for i in range({n})]")
        first.run("%%grok_defer --over photos --image item -o g\nLabel {item}.")
        deadline = time.monotonic() + 30
        while len([r for r in emulator.requests() if r.status == 200]) < 6:
            assert time.monotonic() < deadline, "submission never started"
            time.sleep(0.02)
        first.kill()
    finally:
        first.stop()
    post_rounds(emulator, 1)
    before = len(chat_posts(emulator))
    assert before < n, "killed mid-submission"
    emulator.faults.slow_rate = 0.0
    second = Kernel(env, cwd=str(tmp_path))
    try:
        second.run("%load_ext xai_defer_magic\nimport xai_defer_magic\n"
                   "g = xai_defer_magic.groups()[0]")
        waited = second.run("%grok_wait " + second.run("print(g.id)").text().strip(),
                            timeout=90)
        # Read back from the journal: the group names each item's image, thumbnails on the
        # first rows (made from the stored bytes); one item's card shows its image too.
        summary = waited.texts("text/html")[-1]
        assert summary.count('class="xdm-row-thumb"') == 16 and "p29.png" in summary
        first_id = second.run("print(g.jobs[0].request_id)").text().strip()
        card = second.run(f"%grok_result {first_id}").texts("text/html")[-1]
        assert 'class="xdm-thumb"' in card and "p0.png · 10×5 px" in card, card[-600:]
    finally:
        second.stop()
    bodies = chat_posts(emulator)
    assert len(bodies) > before, "the second kernel sent the rest"
    for body in bodies:  # each item's own photo, read back from the journal's blob store
        name = body["messages"][-1]["content"][0]["text"].split()[1].rstrip(".")
        assert [decoded(u) for u in data_urls(body)] == [photos[name]], name
    texts = [b["messages"][-1]["content"][0]["text"] for b in bodies]
    assert len(texts) == len(set(texts)), "no item sent twice"


def test_a_killed_batch_re_adds_the_right_images(
    env: dict[str, str], tmp_path: Path, emulator: Emulator
) -> None:
    n = 12
    emulator.latency = 30.0
    emulator.faults.slow_rate = 1.0
    emulator.faults.slow_seconds = 1.0
    emulator.faults.faults_apply_to = "post"
    shared = png(40, 40, (1, 2, 3))
    (tmp_path / "logo.png").write_bytes(shared)
    photos = {f"b{i}.png": png(20 + i, 9) for i in range(n)}
    for name, data in photos.items():
        (tmp_path / name).write_bytes(data)
    first = Kernel(env, cwd=str(tmp_path))
    try:
        first.run("%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.1\n"
                  "import xai_defer_magic.engines.batch.groups as bg\nbg.CHUNK_ITEMS = 3\n"
                  f"photos = [f'b{{i}}.png' for i in range({n})]")
        first.run("%%grok_defer --batch --over photos --image item --image logo.png -o g\n"
                  "Label {item}.")
        deadline = time.monotonic() + 30
        while not emulator.batches.batch_ids() or not emulator.batches.items(
                emulator.batches.batch_ids()[0]):
            assert time.monotonic() < deadline, "no add landed"
            time.sleep(0.02)
        first.kill()  # after the first add, before the last
    finally:
        first.stop()
    (batch_id,) = emulator.batches.batch_ids()
    added_before = len(emulator.batches.items(batch_id))
    assert added_before < n
    emulator.faults.slow_rate = 0.0
    emulator.latency = 0.3
    second = Kernel(env, cwd=str(tmp_path))
    try:
        second.run("%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.1\n"
                   "import xai_defer_magic\ng = xai_defer_magic.groups()[0]")
        waited = second.run("%grok_wait " + second.run("print(g.id)").text().strip(),
                            timeout=120).text()
    finally:
        second.stop()
    assert f"{n} done" in waited
    items = emulator.batches.items(batch_id)
    assert len(items) == n and emulator.batches.batch_ids() == [batch_id]
    for item in items.values():
        chat = item.request["chat_get_completion"]
        name = chat["messages"][-1]["content"][0]["text"].split()[1].rstrip(".")
        assert [decoded(u) for u in data_urls(chat)] == [photos[name], shared], name

"""``--image`` in IPython's real shell against the emulator: what reaches the wire, what the
journal keeps, reuse by hash, fan-out over images, and every refusal as one line, nothing sent."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import xai_defer_magic
from tests.support.images import GIF, noisy_png, png
from tests.support.shell import posts, run, usage_error, wait_for
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.errors import InvalidArgument
from xai_defer_magic.views.group_summary import summary_bundle

pytestmark = [pytest.mark.emulator(latency=0.2), pytest.mark.grok_config(first_poll=0.1)]


def sent_images(body: dict[str, Any]) -> list[bytes]:
    """The image bytes of one request as the emulator received them."""
    content = body["messages"][-1]["content"]
    prefix = "data:image/png;base64,"
    return [base64.b64decode(p["image_url"]["url"][len(prefix):]) for p in content
            if p.get("type") == "image_url"]


def chat_posts(emulator: Emulator) -> list[dict[str, Any]]:
    return [b for b in posts(emulator) if isinstance(b, dict) and "messages" in b]


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def test_images_reach_the_wire_in_order_and_the_journal_keeps_hashes(
    shell: Any, emulator: Emulator, home: Path, tmp_path: Path
) -> None:
    first, second = png(30, 20), png(8, 8, (0, 200, 0))
    (tmp_path / "b c.png").write_bytes(second)
    shell.user_ns["chart"] = first
    run(shell, f"%%grok_defer -o job --image chart --image '{tmp_path / 'b c.png'}'\n"
               "Compare them.")
    job = shell.user_ns["job"]
    assert "Images seen" in job.result(timeout=30)
    [body] = chat_posts(emulator)
    assert body["messages"][-1]["content"][0] == {"type": "text", "text": "Compare them."}
    assert sent_images(body) == [first, second]
    assert [i.source for i in job.images] == ["chart", str(tmp_path / "b c.png")]
    assert [i.sha256 for i in job.images] == [hashlib.sha256(d).hexdigest() for d in (first,
                                                                                      second)]
    assert {f.name for f in (home / "images").iterdir()} == {i.sha256 for i in job.images}
    stored = (home / "jobs.sqlite3").read_bytes() + b"".join(
        f.read_bytes() for f in home.glob("jobs.sqlite3-*"))
    assert base64.b64encode(first)[:40] not in stored  # rows refer to the hash only
    # The same cell again is reused (identity includes the hashes); another image is sent.
    run(shell, f"%%grok_defer -o again --image chart --image '{tmp_path / 'b c.png'}'\n"
               "Compare them.")
    again = shell.user_ns["again"]
    assert again.reused_from is not None and len(chat_posts(emulator)) == 1
    assert [i.source for i in again.images] == ["chart", str(tmp_path / "b c.png")]
    assert again.images[0].thumbnail and again.images[0].data is None
    shell.user_ns["chart"] = png(31, 20)
    run(shell, f"%%grok_defer -o third --image chart --image '{tmp_path / 'b c.png'}'\n"
               "Compare them.")
    wait_for(lambda: len(chat_posts(emulator)) == 2, "the changed image's POST")


def test_refusals_are_one_line_and_send_nothing(shell: Any, emulator: Emulator,
                                                tmp_path: Path) -> None:
    shell.user_ns.update(gif_bytes=GIF[:20] + b"x", number=7, pic=png())
    (tmp_path / "big.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20 * 1024 * 1024 + 1))
    cases = {
        "--image missing.png": "no such file",
        "--image gif_bytes": "PNG and JPEG",
        "--image number": "cannot send a int",
        f"--image {tmp_path / 'big.png'}": "20 MiB",
        "--image pic -m grok-3-mini": "grok-3-mini does not read images",
    }
    shell.user_ns["photos"] = [str(tmp_path / "ok.png"), str(tmp_path / "gone.png")]
    (tmp_path / "ok.png").write_bytes(png())
    cases.update({
        "--over photos --image item": "gone.png: no such file",
        "--over photos --image colour": "colour: not the item (item) nor a column",
    })
    xai_defer_magic.models()  # the catalogue here: a cell refuses on its word without waiting
    for line, words in cases.items():
        assert words in usage_error(shell, f"%%grok_defer {line}\nWhat is it?"), line
    assert chat_posts(emulator) == [] and xai_defer_magic.groups() == []
    with pytest.raises(InvalidArgument, match="does not read images"):
        xai_defer_magic.defer("?", images=[png()], model="grok-3-mini", display=False)
    assert chat_posts(emulator) == []


def test_a_fan_out_sharing_a_1_mib_image_stores_it_once(shell: Any, emulator: Emulator,
                                                         home: Path) -> None:
    shell.user_ns.update(photo=noisy_png(1024 * 1024), questions=[f"Q{i}" for i in range(5)])
    before = folder_size(home)
    run(shell, "%%grok_defer --over questions --image photo -o g\n{item}: what is shown?")
    group = shell.user_ns["g"]
    group.results(timeout=60)
    grown = folder_size(home) - before
    assert grown < 2 * 1024 * 1024, grown
    bodies = chat_posts(emulator)
    assert len(bodies) == 5 and all(sent_images(b) == [shell.user_ns["photo"]] for b in bodies)


def test_over_item_sends_each_items_own_image(shell: Any, emulator: Emulator,
                                              tmp_path: Path, home: Path) -> None:
    import pandas as pd

    paths = []
    for n in range(3):
        path = tmp_path / f"p{n}.png"
        path.write_bytes(png(10 + n, 10))
        paths.append(str(path))
    shell.user_ns["photos"] = paths
    run(shell, "%%grok_defer --over photos --as photo --image photo -o g\nLabel {photo}.")
    shell.user_ns["g"].results(timeout=60)
    widths = sorted(i.width for j in shell.user_ns["g"].jobs for i in j.images)
    assert widths == [10, 11, 12]
    page = summary_bundle(shell.user_ns["g"])["text/html"]  # thumbnails from the stored bytes
    assert page.count('class="xdm-row-thumb"') == 3 and all(p in page for p in paths)
    assert sorted(sent_images(b)[0] for b in chat_posts(emulator)) == sorted(
        Path(p).read_bytes() for p in paths)
    shell.user_ns["frame"] = pd.DataFrame({"name": ["a", "b"],
                                           "shot": [png(5, 5), png(6, 6, (1, 2, 3))]})
    group = xai_defer_magic.defer_many("Name {name}", shell.user_ns["frame"], images="shot",
                                       display=False)
    group.results(timeout=60)
    assert [j.images[0].width for j in group.jobs] == [5, 6]
    with sqlite3.connect(home / "jobs.sqlite3") as db:
        values = [json.loads(v) for (v,) in db.execute(
            "SELECT value FROM group_items WHERE group_id = ? ORDER BY idx", (group.id,))]
    assert values == [{"name": "a", "shot": f"<{len(png(5, 5))} bytes>"},
                      {"name": "b", "shot": f"<{len(png(6, 6, (1, 2, 3)))} bytes>"}]
    from matplotlib.figure import Figure

    plots = pd.DataFrame({"plot": [Figure(figsize=(1, 1), dpi=20 * (n + 1)) for n in range(2)]})
    drawn = xai_defer_magic.defer_many("Describe it.", plots, images=["plot"], display=False)
    drawn.results(timeout=60)
    assert [(j.images[0].media_type, j.images[0].width) for j in drawn.jobs] == [
        ("image/png", 20), ("image/png", 40)]
    with sqlite3.connect(home / "jobs.sqlite3") as db:
        kept = db.execute("SELECT value FROM group_items WHERE group_id = ? ORDER BY idx",
                          (drawn.id,)).fetchall()
    assert [json.loads(v) for (v,) in kept] == [{"plot": "<Figure>"}, {"plot": "<Figure>"}]


def test_a_one_prompt_batch_sends_its_images(shell: Any, emulator: Emulator) -> None:
    emulator.latency = 0.1
    shell.user_ns["chart"] = png(12, 12)
    run(shell, "%%grok_defer --batch --image chart -o g\nWhat is it?")
    [answer] = shell.user_ns["g"].results(timeout=30)
    assert "12×12 px" in answer
    (batch_id,) = emulator.batches.batch_ids()
    [item] = emulator.batches.items(batch_id).values()
    assert sent_images(item.request["chat_get_completion"]) == [png(12, 12)]
    assert shell.user_ns["g"].jobs[0].images[0].source == "chart"

"""Prompts from data in IPython's real shell against the emulator: templates in a cell,
--over groups, --schema, pacing under 429s, cancel/retry, defer_many, and every bad input."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd
import pytest
from pydantic import BaseModel, field_validator

import xai_defer_magic
from tests.support.shell import posts, run, sent, usage_error
from xai_defer_magic.core.group import Group
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.errors import GrokDeferError

HANG = 30.0


class Label(BaseModel):
    sentiment: str
    score: int


class Picky(BaseModel):
    sentiment: str

    @field_validator("sentiment")
    @classmethod
    def never(cls, value: str) -> str:
        raise ValueError("never good enough")


LABEL_DICT = {"type": "object", "properties": {
    "sentiment": {"type": "string", "enum": ["positive", "negative"]},
    "score": {"type": "integer", "minimum": 1, "maximum": 5}},
    "required": ["sentiment", "score"]}


pytestmark = [pytest.mark.emulator(latency=0.2),
              pytest.mark.grok_config(first_poll=0.1, model="grok-3")]


@pytest.fixture(autouse=True)
def schemas(shell: Any) -> None:
    """The schema classes the cells name, in the namespace (the shell fixture drops them)."""
    shell.user_ns.update(Label=Label, Picky=Picky, LABEL_DICT=LABEL_DICT)


def user_prompts(emulator: Emulator) -> list[str]:
    return [b["messages"][-1]["content"] for b in posts(emulator)]


def test_a_cell_template_fills_defined_names_and_keeps_other_braces(
    shell: Any, emulator: Emulator
) -> None:
    shell.user_ns["topic"] = "polling"
    run(shell, '%%grok_defer -o job\nOn {topic}: {"json": true} {{topic}} {0} {nobody}')
    job = shell.user_ns["job"]
    sent(emulator, 1)
    assert user_prompts(emulator) == ['On polling: {"json": true} {{topic}} {0} {nobody}']
    assert job.template_names == ("topic",) and job.prompt.startswith("On polling")


def test_raw_sends_the_body_untouched(shell: Any, emulator: Emulator) -> None:
    shell.user_ns["topic"] = "polling"
    run(shell, "%%grok_defer --raw\nOn {topic} $topic")
    sent(emulator, 1)
    assert user_prompts(emulator) == ["On {topic} $topic"]


def test_over_a_list_one_job_per_item_answers_in_order(shell: Any, emulator: Emulator) -> None:
    shell.user_ns["xs"] = ["alpha", "beta", "gamma", "delta"]
    run(shell, "%%grok_defer --over xs -o g\nSay {item} (#{index})")
    g = shell.user_ns["g"]
    assert isinstance(g, Group) and len(g) == 4
    answers = g.results(timeout=HANG)
    for position, (word, answer) in enumerate(zip(["alpha", "beta", "gamma", "delta"], answers,
                                                  strict=True)):
        assert f"Say {word} (#{position})" in answer  # the emulator quotes each prompt
    assert [job.prompt for job in g] == [f"Say {w} (#{i})" for i, w in
                                         enumerate(["alpha", "beta", "gamma", "delta"])]
    assert sorted(user_prompts(emulator)) == sorted(job.prompt for job in g)
    frame = g.to_pandas()
    assert list(frame.index) == [0, 1, 2, 3] and list(frame["item"]) == shell.user_ns["xs"]
    assert list(frame["status"]) == ["done"] * 4 and frame["total_tokens"].notna().all()
    assert "4 done" in repr(g) and "0 pending" in repr(g)
    assert xai_defer_magic.groups()[0] is g


def test_over_a_series_uses_its_index_labels(shell: Any, emulator: Emulator) -> None:
    shell.user_ns["s"] = pd.Series(["x", "y"], index=["first", "second"], name="letter")
    run(shell, "%%grok_defer --over s --as letter -o g\n{index}={letter}")
    g = shell.user_ns["g"]
    g.results(timeout=HANG)
    assert [job.prompt for job in g] == ["first=x", "second=y"]
    assert list(g.to_pandas().index) == ["first", "second"]


def test_over_a_dataframe_with_a_dict_schema(shell: Any, emulator: Emulator) -> None:
    shell.user_ns["df"] = pd.DataFrame({"text": ["great", "awful", "fine"], "stars": [5, 1, 3]},
                                       index=pd.Index([10, 20, 30], name="review_id"))
    run(shell, "%%grok_defer --over df --schema LABEL_DICT -o g\n{text} ({stars} stars)")
    g = shell.user_ns["g"]
    g.results(timeout=HANG)
    body = posts(emulator)[0]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["response_format"]["json_schema"]["schema"] == LABEL_DICT
    frame = g.to_pandas()
    assert frame.index.name == "review_id" and list(frame.index) == [10, 20, 30]
    assert list(frame["text"]) == ["great", "awful", "fine"]
    assert set(frame["sentiment"]) <= {"positive", "negative"}
    assert frame["score"].between(1, 5).all() and frame["parse_error"].isna().all()
    assert isinstance(g[0].parsed, dict) and g[0].parse_error is None


def test_single_job_with_a_pydantic_schema_and_an_answer_that_does_not_validate(
    shell: Any, emulator: Emulator
) -> None:
    run(shell, "%%grok_defer --schema Label -o job\nRate this.")
    job = shell.user_ns["job"]
    job.result(HANG)
    assert isinstance(job.parsed, Label) and job.parse_error is None
    run(shell, "%%grok_defer --schema Picky -o job\nRate that.")
    picky = shell.user_ns["job"]
    picky.result(HANG)
    assert picky.status == "done" and picky.parsed is None
    assert "never good enough" in (picky.parse_error or "") and picky.content.startswith("{")


def test_rate_limits_slow_submission_but_lose_and_duplicate_nothing(
    shell: Any, emulator: Emulator
) -> None:
    emulator.faults.burst_429_every = 8
    emulator.faults.burst_429_length = 6  # longer than one POST's own 4 attempts
    emulator.faults.retry_after = 0.05
    emulator.faults.faults_apply_to = "post"
    shell.user_ns["xs"] = [f"w{i}" for i in range(12)]
    run(shell, "%%grok_defer --over xs -o g\n{item}")
    g = shell.user_ns["g"]
    assert all(a is not None for a in g.results(timeout=HANG))
    accepted = Counter(r.body["messages"][-1]["content"] for r in emulator.requests()
                       if r.method == "POST" and r.status == 200)
    assert accepted == Counter(shell.user_ns["xs"]), "each item accepted exactly once"
    assert any(r.status == 429 for r in emulator.requests()), "the 429s really happened"


def test_failed_items_are_retried_on_request_and_cancel_stops_the_rest(
    shell: Any, emulator: Emulator
) -> None:
    emulator.faults.error_5xx_rate = 1.0
    emulator.faults.faults_apply_to = "post"
    g = xai_defer_magic.defer_many("{item}", ["a", "b", "c"], model="grok-3")
    assert g.wait(HANG) and g.counts()["failed"] == 3
    assert g.results() == [None, None, None]
    with pytest.raises(GrokDeferError):
        g.results(raise_errors=True)
    emulator.faults.error_5xx_rate = 0.0
    assert g.retry_failed() == 3
    assert g.results(timeout=HANG) is not None and g.counts()["done"] == 3
    emulator.latency = 30.0
    many = xai_defer_magic.defer_many(["p1", "p2", "p3", "p4"], model="grok-3")
    many.cancel()
    assert many.wait(HANG) and many.counts()["pending"] == 0
    assert {job.status for job in many} == {"cancelled"}


def test_grok_wait_on_a_group_and_grok_result_show_its_summary(
    shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.user_ns["xs"] = ["one", "two"]
    run(shell, "%%grok_defer --over xs -o g\n{item}")
    g = shell.user_ns["g"]
    capsys.readouterr()
    run(shell, "%grok_wait")
    waited = capsys.readouterr().out
    assert g.done and f"group {g.id}" in waited and "2 done" in waited
    run(shell, f"%grok_result {g.id}")
    assert "2 done" in capsys.readouterr().out
    run(shell, "%grok_jobs")
    assert f"group {g.id}" in capsys.readouterr().out


BAD = [
    ("%%grok_defer --over nothing_here\n{item}", "no variable named 'nothing_here'"),
    ("%%grok_defer --over n\n{item}", "not iterable"),
    ("%%grok_defer --over word\n{item}", "not a collection"),
    ("%%grok_defer --over empty\n{item}", "is empty"),
    ("%%grok_defer --over big\n{item}", "--batch"),
    ("%%grok_defer --over frame\n{txt}", "not a column of frame (text)"),
    ("%%grok_defer --over xs --schema nope\n{item}", "--schema: no variable named 'nope'"),
    ("%%grok_defer --over xs --schema n\n{item}", "pydantic model class or a JSON-schema dict"),
    ("%%grok_defer --schema nope\nhi", "--schema: no variable named 'nope'"),
    ("%%grok_defer --over xs --as 'not a name'\n{item}", "--as needs a Python variable name"),
    ("%%grok_defer --over xs --raw\n{item}", "--raw"),
    ("%%grok_defer --over xs -t hot\n{item}", "temperature"),
    ("%%grok_defer\n{p.missing}", "no attribute 'missing'"),
]


@pytest.mark.parametrize(("cell", "expected"), BAD, ids=[b[1][:24] for b in BAD])
def test_bad_input_is_one_line_and_sends_nothing(
    shell: Any, emulator: Emulator, cell: str, expected: str
) -> None:
    shell.user_ns.update(n=5, word="abc", empty=[], big=range(10_001), xs=["a"], p=object(),
                         frame=pd.DataFrame({"text": ["t"]}))
    before = len(xai_defer_magic.groups())
    assert expected in usage_error(shell, cell)
    assert posts(emulator) == []
    assert len(xai_defer_magic.groups()) == before, "no group journaled"
    for name in ("n", "word", "empty", "big", "xs", "p", "frame"):
        shell.user_ns.pop(name)


def test_a_group_with_a_pydantic_schema_expands_fields_into_columns(
    shell: Any, emulator: Emulator
) -> None:
    g = xai_defer_magic.defer_many("Rate {item}", pd.Series(["a", "b"], index=[5, 6]),
                                   model="grok-3", schema=Label)
    g.results(timeout=HANG)
    assert all(isinstance(job.parsed, Label) for job in g)
    frame = g.to_pandas()
    assert list(frame.index) == [5, 6] and {"sentiment", "score", "item"} <= set(frame.columns)
    assert list(frame["score"]) == [job.parsed.score for job in g]


def test_ipython_expands_nothing_in_the_magic_line(shell: Any, emulator: Emulator) -> None:
    shell.user_ns["topic"] = "polling"
    run(shell, '%%grok_defer -s "{topic} $topic"\nhi')
    assert sent(emulator, 1)[0]["messages"][0] == {"role": "system", "content": "{topic} $topic"}


def test_as_without_over_is_refused(shell: Any, emulator: Emulator) -> None:
    assert "--as" in usage_error(shell, "%%grok_defer --as x\nhi")
    assert posts(emulator) == []


def test_over_with_wait_blocks_and_leaves_the_summary(
    shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.user_ns["xs"] = ["p", "q"]
    run(shell, "%%grok_defer --over xs --wait -o g\n{item}")
    assert shell.user_ns["g"].done and "2 done" in capsys.readouterr().out

"""The thread model without I/O: names, the current line through re-runs, the history."""

from __future__ import annotations

import pytest

from xai_defer_magic.core.thread import (
    Turn,
    body_of,
    check_thread_name,
    current_line,
    history,
    replaced_position,
    said_messages,
)
from xai_defer_magic.errors import InvalidArgument


def make(turn_id: str, parent: str | None, cell: str | None, text: str) -> Turn:
    return Turn(turn_id, "t", parent, cell, 0.0, "Sys", said_messages(text), {"model": "m"})


@pytest.mark.parametrize("name", ["a", "A-b_c.1", "x" * 64])
def test_good_names_pass(name: str) -> None:
    assert check_thread_name(name) == name


@pytest.mark.parametrize("name", ["", " ", "a b", "x/y", "é", "x" * 65, "a\nb", None, 3])
def test_bad_names_are_one_line(name: object) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_thread_name(name)
    assert "\n" not in str(refused.value)


def test_a_rerun_branches_and_the_line_follows_the_head() -> None:
    one, two, three = make("1", None, "c1", "q1"), make("2", "1", "c2", "q2"), make(
        "3", "2", "c3", "q3")
    line = current_line([one, two, three], "3")
    assert line == [one, two, three]
    assert replaced_position(line, "c2") == 1 and replaced_position(line, "new") is None
    assert replaced_position(line, None) is None
    redo = make("2b", "1", "c2", "q2 again")  # c2 re-run: its parent is c2's old parent
    assert current_line([one, two, three, redo], "2b") == [one, redo]
    after = make("3b", "2b", "c3", "q3")  # c3 is not on the new line: it appends
    assert current_line([one, two, three, redo, after], "3b") == [one, redo, after]


def test_history_is_system_then_each_turn_as_sent_with_its_answer() -> None:
    one, two = make("1", None, None, "q1\n"), make("2", "1", None, "q2")
    assert history("Sys", [(one, "a1"), (two, "a2")]) == [
        {"role": "system", "content": "Sys"}, {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"}]
    assert history(None, []) == []
    assert body_of({"model": "m", "temperature": 0.5}, [{"role": "user", "content": "x"}]) == {
        "model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0.5}


def test_the_prompt_of_a_turn_with_images_is_its_text() -> None:
    """The transcript, the jobs table and the card show what was asked, not the parts list."""
    from xai_defer_magic.core.job import Job

    parts = [{"type": "text", "text": "What is in this image?"},
             {"type": "image_url", "image_url": {"url": "blob:image/png;sha256,ab"}}]
    job = Job(model="m", request={"messages": [{"role": "user", "content": parts}]},
              base_url="http://127.0.0.1:1/v1")
    assert job.prompt == "What is in this image?"

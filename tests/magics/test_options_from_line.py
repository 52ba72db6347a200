"""A ``%%grok_defer`` line becomes one ``RequestOptions`` (``magics.parse.options_from_line``),
or one ``UsageError`` line before anything is sent."""

from __future__ import annotations

import argparse

import pytest
from IPython.core.error import UsageError

from xai_defer_magic.core.options import DEFAULT_OPTIONS, RequestOptions
from xai_defer_magic.magics.grok_defer import GrokDefer
from xai_defer_magic.magics.parse import options_from_line, parse_argstring

SCHEMA = {"title": "Answer", "type": "object", "properties": {"a": {"type": "string"}}}


def line_args(line: str) -> argparse.Namespace:
    """A ``%%grok_defer`` line parsed by the magic's own parser (no shell needed)."""
    return parse_argstring(GrokDefer.grok_defer, line)  # type: ignore[no-any-return]


def test_from_a_magic_line() -> None:
    args = line_args('-m grok-3-mini -s "Be brief." -t 0.5 --max-tokens 20 '
                     "--reasoning-effort low --timeout 9 --max-cost 1 --fresh --schema S")
    options = options_from_line(args, {"S": SCHEMA})
    assert options == RequestOptions(model="grok-3-mini", system="Be brief.", temperature=0.5,
                                     max_tokens=20, reasoning_effort="low", timeout=9.0,
                                     max_cost=1.0, fresh=True, schema=SCHEMA)
    assert options_from_line(line_args(""), {}) == DEFAULT_OPTIONS


@pytest.mark.parametrize(("line", "word"), [
    ("-t 5", "--temperature"),
    ("--max-tokens lots", "--max-tokens"),
    ("--max-cost -1", "--max-cost"),
    ("--schema Missing", "--schema"),
    ("--schema NotASchema", "--schema"),
])
def test_a_bad_line_is_one_usage_error(line: str, word: str) -> None:
    with pytest.raises(UsageError) as refused:
        options_from_line(line_args(line), {"NotASchema": 3})
    assert word in str(refused.value) and "\n" not in str(refused.value)

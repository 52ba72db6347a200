"""Options are exact: a prefix such as ``--temp`` is refused, never silently widened.

argparse accepts any unique prefix of a long option by default, so ``--temp 1`` used to mean
``--temperature 1`` and ``--max 5`` meant ``--max-tokens 5``: a typo in a saved notebook would
run with a different setting than it reads. Every magic of the extension is checked, including
magics added later (the test walks the class's magic table, not a hand-kept list).
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from IPython.core.error import UsageError

from xai_defer_magic.emulator import Emulator
from xai_defer_magic.magics.extension import MAGIC_CLASSES


def magics_with_options() -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(kind, name, parser) of every magic of the extension that parses its line."""
    found = []
    for family in MAGIC_CLASSES:
        for kind in ("line", "cell"):
            for name, method_name in family.magics[kind].items():
                parser = getattr(getattr(family, method_name), "parser", None)
                if isinstance(parser, argparse.ArgumentParser):
                    found.append((kind, name, parser))
    return found


def prefixes() -> list[tuple[str, str, str, str]]:
    """(kind, magic, line, full option): the option's shortest prefix argparse would accept."""
    cases = []
    for kind, name, parser in magics_with_options():
        takes_value = {s: a.nargs != 0 for a in parser._actions for s in a.option_strings}
        longs = [s for s in takes_value if s.startswith("--")]
        for option in longs:
            for end in range(4, len(option)):
                short = option[:end]
                if [o for o in longs if o.startswith(short)] == [option]:
                    line = f"{short} 1" if takes_value[option] else short
                    cases.append((kind, name, line, option))
                    break
    return cases


def test_every_magic_is_covered() -> None:
    names = {name for _kind, name, _parser in magics_with_options()}
    assert {"grok_defer", "grok_wait", "grok_result", "grok_jobs"} <= names
    covered = {name for _kind, name, _short, _full in prefixes()}
    assert {"grok_defer", "grok_wait", "grok_jobs"} <= covered


@pytest.mark.parametrize(("kind", "magic", "line", "full"), prefixes())
def test_an_abbreviated_option_is_refused_with_a_suggestion(
    ip: Any, emulator: Emulator, kind: str, magic: str, line: str, full: str
) -> None:
    with pytest.raises(UsageError) as refused:
        if kind == "cell":
            ip.run_cell_magic(magic, line, "A valid prompt.")
        else:
            ip.run_line_magic(magic, line)
    message = str(refused.value)
    assert "\n" not in message
    assert f"did you mean {full}?" in message, message
    assert line.split()[0] in message
    assert emulator.requests() == [], "a refused line must send nothing"


def test_the_issue_example_and_other_unknown_options(ip: Any, emulator: Emulator) -> None:
    with pytest.raises(UsageError) as refused:
        ip.run_cell_magic("grok_defer", "--temp 1", "Hi")
    assert str(refused.value) == (
        "Unknown option --temp for %%grok_defer: did you mean --temperature?"
    )
    with pytest.raises(UsageError) as refused:
        ip.run_cell_magic("grok_defer", "--temprature=1", "Hi")  # a typo, not a prefix
    assert str(refused.value).endswith("did you mean --temperature?")
    with pytest.raises(UsageError) as refused:
        ip.run_cell_magic("grok_defer", "--zzz 1", "Hi")
    message = str(refused.value)
    assert message.startswith("Unknown option --zzz for %%grok_defer (options: ")
    assert "--temperature" in message and "did you mean" not in message
    with pytest.raises(UsageError) as refused:
        ip.run_line_magic("grok_jobs", "everything")
    assert str(refused.value) == "Unexpected argument 'everything' for %grok_jobs."
    assert emulator.requests() == []


def test_exact_options_still_work(ip: Any, emulator: Emulator) -> None:
    ip.run_cell_magic("grok_defer", "--temperature 0.5 --max-tokens 20 -o job", "[[latency=0]] Hi")
    job = ip.user_ns["job"]
    job.result(20)
    assert job.request["temperature"] == 0.5
    assert 20 in (job.request.get("max_completion_tokens"), job.request.get("max_tokens"))

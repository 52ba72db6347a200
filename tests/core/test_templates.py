"""Templates: {name} and {name.attr} filled from the namespace; every other brace untouched."""

from __future__ import annotations

import pandas as pd
import pytest

from xai_defer_magic.core.templates import fill, format_value
from xai_defer_magic.errors import InvalidArgument


class Point:
    x = 3


def test_defined_names_and_dotted_attributes_are_filled() -> None:
    ns = {"topic": "deferred jobs", "p": Point(), "n": 7}
    out = fill("About {topic}: x={p.x}, n={n}, again {topic}.", ns)
    assert out.text == "About deferred jobs: x=3, n=7, again deferred jobs."
    assert out.names == ("topic", "p.x", "n")


@pytest.mark.parametrize("literal", [
    '{"a": 1, "b": [1, 2]}',          # JSON
    "{'k': v for k, v in d.items()}",   # dict comprehension
    "{1, 2, 3}",                        # set literal
    "{{topic}}",                        # f-string escape
    "{0} and {1}",                      # positional format fields
    "{undefined_name}",                 # a name nobody defined
    "{topic:>10} {topic!r}",            # format specs and conversions
    "def f():\n    return {x: 1 for x in y}\n",
    "{ topic }",                        # spaces: not a placeholder
])
def test_everything_else_stays_exactly_as_written(literal: str) -> None:
    assert fill(literal, {"topic": "T", "d": {}, "v": 1}).text == literal


def test_doubled_braces_stay_and_single_ones_beside_them_fill() -> None:
    assert fill("{{topic}} vs {topic}", {"topic": "T"}).text == "{{topic}} vs T"


def test_hidden_ipython_names_count_as_undefined() -> None:
    assert fill("{_} {Out} {x}", {"_": 1, "Out": {}, "x": 2},
                hidden=frozenset({"_", "Out"})).text == "{_} {Out} 2"


def test_item_scope_shadows_the_namespace() -> None:
    assert fill("{item} {other}", {"item": "row"}, {"item": "ns", "other": "o"}).text == "row o"


def test_a_missing_attribute_of_a_defined_name_is_one_clear_error() -> None:
    with pytest.raises(InvalidArgument, match=r"\{p\.nope\}.*no attribute 'nope'"):
        fill("{p.nope}", {"p": Point()})


def test_a_dataframe_goes_in_full_not_its_truncated_repr() -> None:
    df = pd.DataFrame({"k": range(200), "v": [f"value {i}" for i in range(200)]})
    assert "..." in str(df)
    text = fill("Data:\n{df}", {"df": df}).text
    assert "value 0" in text and "value 150" in text and "value 199" in text
    assert "..." not in text
    assert text.splitlines()[1] == ",k,v"


def test_values_str_as_is_series_as_csv_others_via_str() -> None:
    assert format_value("a {b}") == "a {b}"
    assert format_value(pd.Series([1, 2], name="n")) == ",n\n0,1\n1,2"
    assert format_value([1, 2]) == "[1, 2]"

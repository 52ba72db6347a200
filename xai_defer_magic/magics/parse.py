"""Reading a magic line, apart from acting on it.

Options are exact (no argparse prefixes), anything bad is one ``UsageError`` line, and the
request options of a ``%%grok_defer`` line become one :class:`RequestOptions` here, before
anything runs.
"""

from __future__ import annotations

import argparse
import difflib
from typing import Any

from IPython.core.error import UsageError
from IPython.utils.process import arg_split

from xai_defer_magic.core.options import RequestOptions
from xai_defer_magic.core.structured import Schema, resolve_schema
from xai_defer_magic.errors import InvalidArgument
from xai_defer_magic.magics.images import line_images


def parse_argstring(magic: Any, line: str) -> Any:
    """IPython's parser made exact: no option prefixes, one clear line for anything unknown.

    argparse widens a unique prefix (``--temp`` to ``--temperature``) by default, so a typo in
    a saved notebook would silently run with another setting than it reads. shlex's ValueError
    (an unclosed quote) becomes a one-line ``UsageError`` too.
    """
    parser = magic.parser
    parser.allow_abbrev = False
    try:
        args, extra = parser.parse_known_args(arg_split(line, strict=True))
    except ValueError as exc:
        raise UsageError(f"Cannot read the magic line: {exc}.") from None
    if extra:
        raise UsageError(_unknown_argument(magic, parser, extra[0]))
    return args


def options_from_line(args: Any, namespace: dict[str, Any]) -> RequestOptions:
    """The request options of a parsed ``%%grok_defer`` line (``--schema`` names a variable
    of ``namespace``); a bad value is one ``UsageError`` line, and nothing is sent."""
    try:
        return RequestOptions(
            model=unquote(args.model), system=unquote(args.system),
            temperature=args.temperature, max_tokens=args.max_tokens,
            reasoning_effort=unquote(args.reasoning_effort), timeout=args.timeout,
            schema=schema_option(args.schema, namespace), fresh=args.fresh,
            max_cost=args.max_cost, images=line_images(args, namespace),
        )
    except InvalidArgument as exc:
        raise UsageError(str(exc)) from None


def schema_option(name: str | None, namespace: dict[str, Any]) -> Schema | None:
    if name is None:
        return None
    if name not in namespace:
        raise UsageError(f"--schema: no variable named {name!r} in the namespace.")
    try:
        return resolve_schema(namespace[name], label=name)
    except InvalidArgument as exc:
        raise UsageError(str(exc)) from None


def namespace_of(shell: Any) -> tuple[dict[str, Any], frozenset[str]]:
    """The user namespace templates and ``--over``/``--schema`` read, and IPython's own names
    in it (hidden from ``{name}`` lookups)."""
    if shell is None:
        return {}, frozenset()
    return shell.user_ns, frozenset(getattr(shell, "user_ns_hidden", {}) or ())


def cell_id(shell: Any) -> str | None:
    """The id of the running cell, when the frontend sends one (JupyterLab, Notebook 7)."""
    kernel = getattr(shell, "kernel", None)
    try:
        parent = kernel.get_parent() if kernel is not None else None
    except Exception:
        return None
    metadata = (parent or {}).get("metadata") or {}
    found = metadata.get("cellId")
    return found if isinstance(found, str) else None


def unquote(value: str | None) -> str | None:
    """IPython's argument splitting keeps the quotes of ``-s "Be brief."``: drop one pair."""
    if value and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def option_strings(magic: Any) -> list[str]:
    """Every option a magic declares (``-m``, ``--model``...), from its ``@argument``s."""
    return [name for decorator in getattr(magic, "decorators", ())
            for name in getattr(decorator, "args", ())
            if isinstance(name, str) and name.startswith("-")]


def _unknown_argument(magic: Any, parser: argparse.ArgumentParser, arg: str) -> str:
    owner = getattr(magic, "__self__", None)
    cell = getattr(owner, "magics", {}).get("cell", {})
    name = ("%%" if parser.prog in cell else "%") + parser.prog
    if not arg.startswith("-") or arg == "-":
        return f"Unexpected argument {arg!r} for {name}."
    option = arg.split("=", 1)[0]
    known = option_strings(magic)
    longs = [s for s in known if s.startswith("--")]
    starts = [s for s in longs if s.startswith(option)] if option.startswith("--") else []
    bare = {s.lstrip("-"): s for s in known}
    similar = difflib.get_close_matches(option.lstrip("-"), list(bare), 1, 0.7)
    close = starts[0] if len(starts) == 1 else (bare[similar[0]] if similar else None)
    if close:
        return f"Unknown option {option} for {name}: did you mean {close}?"
    if not longs:
        return f"Unknown option {option} for {name}: it takes no options."
    return f"Unknown option {option} for {name} (options: {', '.join(longs)})."

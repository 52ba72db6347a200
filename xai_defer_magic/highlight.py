"""Fenced code in answers, highlighted as JupyterLab highlights its own Markdown.

Pygments turns a block with a known language into ``<span class="k">``-style token spans (the
sanitizer keeps exactly these classes); the colours come from JupyterLab's own editor variables
(``--jp-mirror-editor-*-color``), so they follow the light or dark theme, with JupyterLab's light
defaults as fallbacks for nbconvert. Where no CSS applies (GitHub), the code stays plain text.
This module is imported with ``render``, on the first answer shown, not when the extension
loads. Pygments' lazy lookups are not thread-safe (two threads rendering at once saw
"cannot import name 'HtmlFormatter'"), so the formatter is imported by its module path here and
lexer lookups hold a lock.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from pygments import highlight
from pygments.formatters.html import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

_LOOKUP = threading.Lock()

# Token short names -> JupyterLab variable and its light-theme default.
_COLOURS: dict[str, tuple[str, str]] = {
    "keyword": ("--jp-mirror-editor-keyword-color", "#008000"),
    "operator": ("--jp-mirror-editor-operator-color", "#aa22ff"),
    "builtin": ("--jp-mirror-editor-builtin-color", "#008000"),
    "def": ("--jp-mirror-editor-def-color", "#0000ff"),
    "variable": ("--jp-mirror-editor-variable-2-color", "#0055aa"),
    "string": ("--jp-mirror-editor-string-color", "#ba2121"),
    "number": ("--jp-mirror-editor-number-color", "#008800"),
    "comment": ("--jp-mirror-editor-comment-color", "#408080"),
    "meta": ("--jp-mirror-editor-meta-color", "#aa22ff"),
    "tag": ("--jp-mirror-editor-tag-color", "#117700"),
    "attribute": ("--jp-mirror-editor-attribute-color", "#0000cc"),
    "punctuation": ("--jp-mirror-editor-punctuation-color", "#0055aa"),
    "error": ("--jp-mirror-editor-error-color", "#ff0000"),
    "header": ("--jp-mirror-editor-header-color", "#0000ff"),
}
_GROUPS: dict[str, tuple[str, ...]] = {
    "keyword": ("k", "kc", "kd", "kn", "kp", "kr", "kt", "ow"),
    "operator": ("o",),
    "builtin": ("nb", "bp", "ne"),
    "def": ("nf", "fm", "nc", "nn"),
    "variable": ("nv", "vc", "vg", "vi", "vm"),
    "string": ("s", "sa", "sb", "sc", "dl", "sd", "s2", "se", "sh", "si", "sx", "sr", "s1",
               "ss"),
    "number": ("m", "mb", "mf", "mh", "mi", "il", "mo"),
    "comment": ("c", "ch", "cm", "cpf", "c1", "cs"),
    "meta": ("cp", "nd"),
    "tag": ("nt",),
    "attribute": ("na",),
    "punctuation": ("p",),
    "error": ("err", "gr", "gt"),
    "header": ("gh", "gu"),
}
_ITALIC = ("c", "ch", "cm", "cpf", "c1", "cs", "sd")
_BOLD = ("k", "kc", "kd", "kn", "kr", "ow", "gh", "gu", "nc", "nn")


def _token_classes() -> frozenset[str]:
    """Every short class Pygments' HTML formatter can emit (its standard token table)."""
    return frozenset(name for name in STANDARD_TYPES.values() if name)


TOKEN_CLASSES = _token_classes()


def highlight_css(scope: str) -> str:
    """The token colours, scoped to ``scope`` (the card's class) so nothing else changes."""
    rules = []
    for group, names in _GROUPS.items():
        var, default = _COLOURS[group]
        selector = ",".join(f"{scope} .xdm-code .{n}" for n in names)
        rules.append(f"{selector}{{color:var({var},{default})}}")
    rules.append(",".join(f"{scope} .xdm-code .{n}" for n in _ITALIC) + "{font-style:italic}")
    rules.append(",".join(f"{scope} .xdm-code .{n}" for n in _BOLD) + "{font-weight:bold}")
    return "\n".join(rules)


def highlight_block(code: str, language: str, _attrs: str = "") -> str:
    """markdown-it's ``highlight`` hook: a whole ``<pre>`` for a known language, else ``""``
    (markdown-it then escapes the code as plain text)."""
    with _LOOKUP:
        lexer = _lexer(language.strip().lower()) if language else None
    if lexer is None:
        return ""
    spans = highlight(code, lexer, HtmlFormatter(nowrap=True))
    return f'<pre class="xdm-code"><code>{spans}</code></pre>'


@lru_cache(maxsize=64)
def _lexer(language: str) -> Any:
    if not language or not language.replace("-", "").replace("+", "").replace("#", "").isalnum():
        return None
    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


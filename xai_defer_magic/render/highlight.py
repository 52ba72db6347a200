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

# Token groups -> JupyterLab's variable, and a mid-tone fallback that reads on light and dark
# backgrounds alike (used where the variable is missing or an untrusted renderer drops it).
_COLOURS: dict[str, tuple[str, str]] = {
    "keyword": ("--jp-mirror-editor-keyword-color", "#2e8b2e"),
    "operator": ("--jp-mirror-editor-operator-color", "#a050e0"),
    "builtin": ("--jp-mirror-editor-builtin-color", "#2e8b2e"),
    "def": ("--jp-mirror-editor-def-color", "#4a7fe0"),
    "variable": ("--jp-mirror-editor-variable-2-color", "#4a7fe0"),
    "string": ("--jp-mirror-editor-string-color", "#c83c3c"),
    "number": ("--jp-mirror-editor-number-color", "#2e8b2e"),
    "comment": ("--jp-mirror-editor-comment-color", "#5f9090"),
    "meta": ("--jp-mirror-editor-meta-color", "#a050e0"),
    "tag": ("--jp-mirror-editor-tag-color", "#2e8b2e"),
    "attribute": ("--jp-mirror-editor-attribute-color", "#4a7fe0"),
    "punctuation": ("--jp-mirror-editor-punctuation-color", "#4a7fe0"),
    "error": ("--jp-mirror-editor-error-color", "#e03030"),
    "header": ("--jp-mirror-editor-header-color", "#4a7fe0"),
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


def inline_styles() -> dict[str, str]:
    """Token class -> a ``style`` value, for renderers that drop ``<style>`` blocks.

    JupyterLab and Notebook 7 sanitize the HTML of an untrusted notebook (one saved by another
    server, papermill's output): ``<style>`` goes, and each inline declaration must pass a
    check. So each colour is given twice: a plain one that passes, then the theme variable,
    which a trusted renderer keeps and uses (the last valid declaration wins).
    """
    styles: dict[str, str] = {}
    for group, names in _GROUPS.items():
        var, default = _COLOURS[group]
        for name in names:
            extra = (";font-style:italic" if name in _ITALIC else "") + (
                ";font-weight:bold" if name in _BOLD else "")
            styles[name] = f"color:{default};color:var({var},{default}){extra}"
    return styles


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


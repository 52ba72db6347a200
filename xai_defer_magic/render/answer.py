"""The answer's HTML: one block of model text, safe to show as trusted output, and the
card's stylesheet it is shown with.

``core.answer.Answer`` (what ``job.result()`` returns) and every view show an answer with these
same pieces, so a result looks alike as a cell's value, in a live card and in a saved notebook.
The stylesheet is scoped to the card's classes; :func:`with_inline_styles` repeats the few rules
that matter inline, for renderers that strip ``<style>`` (an untrusted notebook, GitHub).
"""

from __future__ import annotations

import re
from typing import Any

from xai_defer_magic.render.highlight import highlight_css, inline_styles
from xai_defer_magic.render.markdown import answer_html, safe_markdown


def _answer_rule(selectors: str, declarations: str) -> str:
    scopes = (".jp-RenderedHTMLCommon .xdm-answer", ".xdm-answer")
    joined = ",".join(f"{scope} {sel}" for scope in scopes for sel in selectors.split(","))
    return f"{joined}{{{declarations}}}\n"


_FRAME_RULES = (  # the card's frame and header: all a stand-in needs
    ".xdm-card{border:1px solid var(--jp-border-color1,#ccc);border-radius:6px;"
    "padding:6px 10px;margin:2px 0;max-width:960px;"
    "font-family:var(--jp-ui-font-family,sans-serif);line-height:1.4}\n"
    ".xdm-card .xdm-hidden{display:none!important}\n"
    ".xdm-card .widget-html-content{line-height:1.4}\n"
    ".xdm-head{display:flex;flex-wrap:wrap;gap:10px;align-items:center;font-size:13px}\n"
    ".xdm-pill{border-radius:9px;padding:1px 8px;font-weight:600;color:#fff;background:#888}\n"
    ".xdm-muted{color:var(--jp-ui-font-color2,#666);font-size:12px}\n"
    ".xdm-id{user-select:all;font-family:var(--jp-code-font-family,monospace)}\n"
)
FRAME_CSS = f"<style>\n{_FRAME_RULES}</style>"
CARD_CSS = (
    "<style>\n"
    + _FRAME_RULES +
    ".xdm-error{border-left:4px solid #c5221f;background:rgba(197,34,31,.08);padding:4px 10px;"
    "margin:4px 0;color:var(--jp-ui-font-color0,#000);white-space:normal;line-height:1.4}\n"
    ".xdm-usage{font-size:12px;color:var(--jp-ui-font-color1,#333)}\n"
    ".xdm-reasoning{margin:4px 0}\n"
    ".xdm-reasoning>summary{cursor:pointer;font-size:13px;color:var(--jp-ui-font-color1,#333)}\n"
    # JupyterLab styles text/html like a DataFrame (":not(.jp-RenderedMarkdown)
    # .jp-RenderedHTMLCommon td" right-aligns): these rules match at least that specificity.
    + _answer_rule("h1", "font-size:1.35em;margin:.6em 0 .3em")
    + _answer_rule("h2", "font-size:1.2em;margin:.6em 0 .3em")
    + _answer_rule("h3", "font-size:1.08em;margin:.6em 0 .3em")
    + _answer_rule("table", "margin-left:0;margin-right:auto")
    + _answer_rule("th,td,tr", "text-align:left")
    + _answer_rule("pre.xdm-code", "padding:6px 8px;"
                   "background:var(--jp-cell-editor-background,#f7f7f7)")
    + highlight_css(".xdm-answer")
    + "\n</style>"
)


def answer_section(content: str) -> str:
    return f'<div class="xdm-answer">{with_inline_styles(answer_html(content))}</div>'


_TOKEN_STYLES = inline_styles()
_TAG_STYLES = {
    "<td>": '<td style="text-align:left">',
    "<th>": '<th style="text-align:left">',
    "<h1>": '<h1 style="font-size:1.35em">',
    "<h2>": '<h2 style="font-size:1.2em">',
    "<h3>": '<h3 style="font-size:1.08em">',
    '<pre class="xdm-code">': '<pre class="xdm-code" style="padding:6px 8px;'
                              'background:var(--jp-cell-editor-background,transparent)">',
}
_STYLED_TAG = re.compile("|".join(re.escape(tag) for tag in _TAG_STYLES))
_TOKEN_SPAN = re.compile(r'<span class="([a-z0-9]+)">')


def with_inline_styles(sanitized: str) -> str:
    """The same look where ``<style>`` is stripped (an untrusted notebook): inline styles on
    the tags the renderer made. Runs after the sanitizer, on tags it let through bare (raw HTML
    from the model is text by then), and adds only these constant declarations."""
    styled = _STYLED_TAG.sub(lambda m: _TAG_STYLES[m.group(0)], sanitized)

    def token(match: re.Match[str]) -> str:
        style = _TOKEN_STYLES.get(match.group(1))
        return match.group(0) if style is None else (
            f'<span class="{match.group(1)}" style="{style}">')

    return _TOKEN_SPAN.sub(token, styled)


def answer_card_html(content: str) -> str:
    """One answer on its own (``Answer``'s HTML, a card's answer area): stylesheet and block."""
    return f"{CARD_CSS}{answer_section(content)}"


def answer_bundle(content: str) -> dict[str, Any]:
    """The three representations of one answer, every one of them inert."""
    return {
        "text/html": answer_card_html(content),
        "text/markdown": safe_markdown(content),
        "text/plain": content,
    }

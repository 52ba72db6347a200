"""``%grok_models``: the catalogue as a table, HTML in a notebook and text everywhere else.

Every string in it comes from the server, so each is escaped for HTML and stripped of control
characters for terminals. The default model (``GrokDefer.model``) is marked, also when it is an
alias; a default the catalogue does not list (a retired slug) is said so below the table.
"""

from __future__ import annotations

from xai_defer_magic.core.catalogue import Catalogue, LanguageModel, usd
from xai_defer_magic.render.plain import escape, printable
from xai_defer_magic.views.show import has_widgets

HEADERS = ("", "model", "aliases", "input", "$/1M input", "cached", "output", "long context")


def long_context(model: LanguageModel) -> str:
    if not model.long_context_threshold:
        return "–"
    price_in, cached, out = model.prices(model.long_context_threshold)
    return (f"from {model.long_context_threshold:,} tokens: {usd(price_in)} / {usd(cached)} / "
            f"{usd(out)}")


def rows(catalogue: Catalogue, default: str) -> list[tuple[str, ...]]:
    return [
        (
            "*" if default in m.names else "",
            m.id,
            ", ".join(m.aliases) or "–",
            ", ".join(m.input_modalities) or "–",
            usd(m.input_usd_per_m),
            usd(m.cached_input_usd_per_m),
            usd(m.output_usd_per_m),
            long_context(m),
        )
        for m in catalogue
    ]


def footnote(catalogue: Catalogue, default: str) -> str:
    where = catalogue.base_url or "the server"
    head = f"{len(catalogue)} model{'s' if len(catalogue) != 1 else ''} at {where}"
    if catalogue.find(default) is not None:
        return f"{head}; * = the default, GrokDefer.model = {default}"
    return (f"{head}; GrokDefer.model = {default} is not listed (a retired name is served by "
            "another model; set %config GrokDefer.model = \"...\")")


def text_table(catalogue: Catalogue, default: str) -> str:
    table = [HEADERS, *rows(catalogue, default)]
    table = [tuple(printable(cell) for cell in row) for row in table]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADERS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in table]
    if not catalogue.models:
        lines.append("(no models)")
    lines.append(printable(footnote(catalogue, default)))
    return "\n".join(lines)


def html_table(catalogue: Catalogue, default: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADERS)
    body = "".join(
        ('<tr class="xdm-models-default">' if row[0] else "<tr>")
        + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
        for row in rows(catalogue, default)
    )
    return (f'<table class="xdm-models"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            f"</table><p><small>{escape(footnote(catalogue, default))}; prices in USD per 1M "
            "tokens</small></p>")


def show_models(catalogue: Catalogue, default: str) -> None:
    """Display the table in the current cell (rich in a kernel, text in a terminal)."""
    from IPython.display import display

    text = text_table(catalogue, default)
    if not has_widgets():
        print(text)
        return
    display({"text/html": html_table(catalogue, default), "text/plain": text}, raw=True)

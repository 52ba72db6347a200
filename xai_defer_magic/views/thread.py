"""``%grok_thread``: a thread's transcript, or the list of threads, as plain rich data.

Each turn is its prompt (escaped) and its card as the saved notebook keeps it
(``static.card_html`` / ``card_markdown``: model text sanitized by ``render``); the text
fallback serves a terminal and headless runs. Nothing here changes after it is shown.
"""

from __future__ import annotations

from typing import Any

from IPython.display import display

from xai_defer_magic.core.thread import Thread
from xai_defer_magic.render.answer import CARD_CSS
from xai_defer_magic.render.markdown import escape, escape_markdown, is_inert
from xai_defer_magic.render.plain import usd
from xai_defer_magic.views import static, text


def transcript_bundle(thread: Thread) -> dict[str, Any]:
    """Every turn of the current line: prompt, then the answer as on the card."""
    title = (f"thread {thread.name} · {len(thread.turns)} turns"
             + (f" · {thread.branches} earlier-branch turns kept" if thread.branches else ""))
    html = [f'{CARD_CSS}<div class="xdm-thread-transcript"><b>{escape(title)}</b>']
    markdown = [f"**{escape_markdown(title)}**"]
    plain = [title]
    for number, job in enumerate(thread.turns, 1):
        prompt = job.prompt
        html.append(f'<div class="xdm-turn"><div class="xdm-muted">turn {number}</div>'
                    f'<pre class="xdm-prompt">{escape(prompt)}</pre>{static.card_html(job)}'
                    "</div>")
        markdown.append(f"#### turn {number}\n\n> {escape_markdown(prompt)}\n\n"
                        + static.card_markdown(job))
        plain += [f"--- turn {number} ---", f">>> {prompt}", text.result_text(job)]
    html.append("</div>")
    bundle = {"text/html": "".join(html), "text/plain": "\n".join(plain)}
    joined = "\n\n".join(markdown)
    if is_inert(joined):  # inert halves can still combine (an unclosed span across turns)
        bundle["text/markdown"] = joined
    return bundle


def summary(thread: Thread) -> tuple[str, int, int, float | None]:
    """Name, turns, tokens and cost of a thread (cost None when no turn's is known)."""
    tokens = 0
    costs = [j.cost_usd for j in thread.turns if j.cost_usd is not None]
    for job in thread.turns:
        usage = job.usage or {}
        total = usage.get("total_tokens")
        tokens += total if isinstance(total, int) else 0
    return thread.name, len(thread.turns), tokens, (sum(costs) if costs else None)


def list_bundle(threads: list[Thread]) -> dict[str, Any]:
    """One row per thread, newest first: turns, tokens, cost."""
    if not threads:
        line = "No threads yet: %%grok_defer --thread NAME starts one."
        return {"text/plain": line, "text/html": f"<p>{escape(line)}</p>"}
    rows = [summary(t) for t in threads]
    plain = ["thread  turns  tokens  cost"] + [
        f"{name}  {turns}  {tokens:,}  {usd(cost) if cost is not None else '–'}"
        for name, turns, tokens, cost in rows]
    cells = "".join(
        f"<tr><td>{escape(name)}</td><td>{turns}</td><td>{tokens:,}</td>"
        f"<td>{escape(usd(cost)) if cost is not None else '–'}</td></tr>"
        for name, turns, tokens, cost in rows)
    html = ('<table class="xdm-threads"><tr><th>thread</th><th>turns</th><th>tokens</th>'
            f"<th>cost</th></tr>{cells}</table>")
    return {"text/plain": "\n".join(plain), "text/html": html}


def show_transcript(thread: Thread) -> None:
    display(transcript_bundle(thread), raw=True)


def show_threads(threads: list[Thread]) -> None:
    display(list_bundle(threads), raw=True)

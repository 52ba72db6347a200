"""The text ``job.result()`` returns: a ``str`` that shows itself rendered.

As a cell's last line a plain ``str`` shows as one long escaped repr; ``Answer`` is still that
text (equal to it, usable anywhere a ``str`` is) but gives IPython inert HTML and Markdown
(model output is untrusted: the renderers in ``render`` neutralize it) and, in a terminal, the
text as written.
"""

from __future__ import annotations

from typing import Any


class Answer(str):
    """A model's answer: ``str`` with rich reprs for notebooks."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        from xai_defer_magic.render.answer import answer_card_html  # markdown-it, nh3: when shown

        return answer_card_html(str(self))

    def _repr_markdown_(self) -> str:
        from xai_defer_magic.render.markdown import safe_markdown

        return safe_markdown(str(self))

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

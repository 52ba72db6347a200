"""``%grok_models``: the models this key can use, with their prices; the default marked."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from xai_defer_magic.errors import GrokDeferError
from xai_defer_magic.magics.grok_defer import GrokDefer
from xai_defer_magic.magics.parse import parse_argstring


@magics_class
class ModelsMagics(Magics):
    """The model catalogue of the server this kernel talks to."""

    def __init__(self, shell: Any, grok_defer: GrokDefer) -> None:
        super().__init__(shell=shell)
        self.grok_defer = grok_defer

    @magic_arguments()
    @argument("--refresh", action="store_true", help="Ask the server again (default: cached).")
    @line_magic
    def grok_models(self, line: str) -> None:
        """The models this key can use, with their prices per 1M tokens; the default marked."""
        from xai_defer_magic.views.models import show_models  # the views: first use

        args = parse_argstring(self.grok_models, line)
        try:
            catalogue = self.grok_defer.runtime().models(refresh=args.refresh)
        except GrokDeferError as exc:
            raise UsageError(str(exc)) from None
        show_models(catalogue, default=self.grok_defer.model)


__all__ = ["ModelsMagics"]

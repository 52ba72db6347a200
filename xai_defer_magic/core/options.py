"""What one request asks for, said once: :class:`RequestOptions`.

Built once, from a magic line (``magics.parse.options_from_line``) or from the keywords of
``defer()`` / ``defer_many()``, validated as it is built (one ``InvalidArgument`` line, nothing
sent) and passed whole to the runtime and to :func:`~xai_defer_magic.core.request.build_request`.
A new option is one field here (with its check in ``__post_init__``), one flag in the magic's
parser and one keyword of ``defer()``; nothing in between spells the options out again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

from xai_defer_magic.core.images import PromptImage, check_images
from xai_defer_magic.core.request import (
    check_limit,
    check_max_tokens,
    check_model,
    check_reasoning_effort,
    check_system,
    check_temperature,
    check_timeout,
)
from xai_defer_magic.core.structured import Schema, resolve_schema


class Defaults(Protocol):
    """Where unset options come from: ``%config GrokDefer.*`` (the runtime's ``Settings``)."""

    @property
    def model(self) -> str: ...

    @property
    def timeout(self) -> float | None: ...

    @property
    def max_cost_usd(self) -> float | None: ...

    @property
    def reuse(self) -> bool: ...


@dataclass(frozen=True)
class RequestOptions:
    """The options of one request (or of every item of a group); ``None`` means "the default".

    Values are checked and normalised on construction (``"0.5"`` becomes ``0.5``; a pydantic
    class or JSON-schema dict becomes a :class:`Schema`), so an instance is always valid.
    """

    model: str | None = None
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    reasoning_effort: str | None = None
    timeout: float | None = None  # seconds of polling before the job times out (resumable)
    schema: Schema | None = None  # a structured answer (sent as response_format)
    fresh: bool = False  # send even if an identical request was answered or is pending
    max_cost: float | None = None  # USD: refuse if the estimate passes it
    images: tuple[PromptImage, ...] | None = None  # sent after the prompt's text (core.images)

    def __post_init__(self) -> None:
        def normalise(name: str, check: Any) -> None:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, check(value))

        normalise("model", check_model)
        normalise("system", check_system)
        normalise("temperature", check_temperature)
        normalise("max_tokens", check_max_tokens)
        normalise("reasoning_effort", check_reasoning_effort)
        normalise("timeout", check_timeout)
        normalise("schema", _schema)
        normalise("max_cost", lambda value: check_limit(value, "--max-cost"))
        object.__setattr__(self, "fresh", bool(self.fresh))
        normalise("images", check_images)

    def resolved(self, defaults: Defaults) -> RequestOptions:
        """These options with every unset one taken from ``defaults``: the one place
        ``%config GrokDefer.*`` fills a request in. ``GrokDefer.reuse = False`` makes every
        request fresh."""
        return replace(
            self,
            model=defaults.model if self.model is None else self.model,
            timeout=defaults.timeout if self.timeout is None else self.timeout,
            max_cost=defaults.max_cost_usd if self.max_cost is None else self.max_cost,
            fresh=self.fresh or not defaults.reuse,
        )


def _schema(value: Any) -> Schema:
    return value if isinstance(value, Schema) else resolve_schema(value, label="schema")


DEFAULT_OPTIONS = RequestOptions()  # every option unset: the %config defaults apply


__all__ = ["DEFAULT_OPTIONS", "Defaults", "RequestOptions"]

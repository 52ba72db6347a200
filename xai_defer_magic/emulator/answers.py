"""Deterministic emulated answers and their usage for the offline emulator.

Everything here is a pure function of the request (hash-seeded), so the same prompt always gets
the same answer and the same token counts: tests and benchmarks can compare runs. Answers are
plainly marked as emulated, and contain real Markdown (heading, list, code, table) so renderers
get exercised; the ``[[xss]]`` marker adds hostile HTML so browser tests can prove it is inert.
Models, efforts and prices come from :mod:`.catalogue`.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass
from typing import Any

from . import catalogue, images
from .catalogue import EmulatedModel, Resolution
from .followups import history_note
from .math_answer import MATH_REASONING, asks_for_math, math_section

EMULATED_LINE = "*Emulated answer (xai_defer_magic offline emulator, not a real model).*"
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_LINK = "[click me](javascript:window.__xss=1)"
XSS_BOLD = "<b>bold html</b>"
EFFORT_FACTOR = {"none": 0.0, "low": 1.0, "medium": 2.0, "high": 3.0, "xhigh": 4.0}


# --- text helpers ---------------------------------------------------------------------------

_DIRECTIVE = re.compile(r"\[\[\s*([a-z_]+)\s*(?:=\s*([^\]]*?)\s*)?\]\]", re.IGNORECASE)


@dataclass(frozen=True)
class Directives:
    """In-prompt controls: ``[[latency=S]]``, ``[[fail=CODE]]``, ``[[xss]]`` and ``[[math]]``."""

    latency: float | None = None
    fail: int | None = None
    xss: bool = False
    math: bool = False


def parse_directives(text: str) -> Directives:
    """Read the directives in ``text``; malformed values are ignored rather than rejected."""
    latency: float | None = None
    fail: int | None = None
    xss = False
    wants_math = False
    for match in _DIRECTIVE.finditer(text):
        name, value = match.group(1).lower(), (match.group(2) or "").strip()
        if name == "xss":
            xss = True
        elif name == "latency":
            latency = _float_or_none(value)
        elif name == "fail" and value.isdigit():
            fail = int(value)
        elif name == "math":
            wants_math = True
    return Directives(latency=latency if latency is None or latency >= 0 else None, fail=fail,
                      xss=xss, math=wants_math)


def _float_or_none(value: str) -> float | None:
    try:
        result = float(value)
    except ValueError:
        return None
    return result if math.isfinite(result) else None


def message_text(message: dict[str, Any]) -> str:
    """The text of one chat message, whether ``content`` is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def user_text(messages: list[dict[str, Any]]) -> str:
    """All user-message text, where directives are looked for."""
    return "\n".join(message_text(m) for m in messages if m.get("role") == "user")


def count_tokens(text: str) -> int:
    """A tokenizer stand-in: about 1.3 tokens per whitespace-separated word."""
    words = len(text.split())
    return math.ceil(words * 1.3) if words else 0


def truncate_to_tokens(text: str, limit: int) -> str:
    """Cut ``text`` after the last word that still fits ``limit`` tokens, keeping formatting."""
    keep = max(0, math.floor(limit / 1.3))
    while keep > 0 and math.ceil(keep * 1.3) > limit:
        keep -= 1
    if keep == 0:
        return ""
    ends = [m.end() for m in re.finditer(r"\S+", text)]
    return text[: ends[keep - 1]] if keep <= len(ends) else text


# --- the answer -----------------------------------------------------------------------------

_POINTS = (
    "A deferred request returns a `request_id` at once; the answer is fetched later.",
    "Each result can be retrieved exactly once, within 24 hours of the request.",
    "Polling with a gentle back-off keeps well inside the rate limit.",
    "The same prompt always gets the same emulated answer, which makes tests repeatable.",
    "Nothing in this answer came from a real model; it is generated from a hash of the prompt.",
    "Token counts are estimated at about 1.3 tokens per word.",
    "Costs are computed from a price table, in USD ticks (1 USD = 10^10 ticks).",
    "Pending jobs answer `202 Accepted` with an empty body until they are ready.",
)

_CODE = (
    "def summarize(text: str, limit: int = 3) -> list[str]:\n"
    '    """Return the first `limit` sentences (emulated example)."""\n'
    '    sentences = [s.strip() for s in text.split(".") if s.strip()]\n'
    "    return sentences[:limit]\n\n"
    "print(summarize({prompt}))",
    "from collections import Counter\n\n"
    "def top_words(text: str, n: int = 3) -> list[tuple[str, int]]:\n"
    '    """Count the most common words (emulated example)."""\n'
    "    return Counter(text.lower().split()).most_common(n)\n\n"
    "print(top_words({prompt}))",
    "import hashlib\n\n"
    "def fingerprint(text: str) -> str:\n"
    '    """A short stable digest of the prompt (emulated example)."""\n'
    "    return hashlib.sha256(text.encode()).hexdigest()[:8]\n\n"
    "print(fingerprint({prompt}))  # {digest}",
)

_REASONING_STEPS = (
    "Read the prompt and pick out its subject.",
    "Recall what a deferred completion is and how it is polled.",
    "Decide on a structure: heading, bullets, a code sample and a table.",
    "Check that the answer says clearly that it is emulated.",
    "Estimate the token budget and keep the answer short.",
    "Choose a code example that fits the prompt.",
    "Double-check the Markdown renders: list, fence and table syntax.",
    "Summarise the key points once more before answering.",
)


def _digest(model: str, messages: list[dict[str, Any]]) -> bytes:
    hasher = hashlib.sha256(model.encode())
    for message in messages:
        hasher.update(b"\x00" + str(message.get("role")).encode() + b"\x01")
        hasher.update(message_text(message).encode())
    return hasher.digest()


def _prompt_slice(text: str, limit: int = 48) -> str:
    flat = " ".join(_DIRECTIVE.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _xss_block() -> str:
    return (
        "Hostile HTML test payloads (a safe client shows them as inert text):\n\n"
        f"{XSS_SCRIPT}\n\n{XSS_IMG}\n\n"
        f"Link: {XSS_LINK} and some {XSS_BOLD} inline."
    )


def build_content(
    model: str, prompt: str, digest: bytes, xss: bool, with_math: bool = False
) -> str:
    """The emulated Markdown answer: marker line, heading, bullets, code and a table (and
    formulas with ``[[math]]`` or a request for LaTeX)."""
    quoted = _prompt_slice(prompt) or "an empty prompt"
    points = random.Random(digest).sample(_POINTS, 3)
    code = _CODE[digest[3] % len(_CODE)].format(prompt=repr(quoted), digest=digest.hex()[:8])
    sections = [EMULATED_LINE]
    if xss:
        sections.append(_xss_block())
    sections += [
        f"## Re: “{quoted}”",
        "\n".join(f"- {p}" for p in points),
        f"```python\n{code}\n```",
        "| item | value |\n|---|---|\n"
        f"| model | `{model}` |\n| prompt words | {len(prompt.split())} |\n"
        f"| fingerprint | `{digest.hex()[:8]}` |",
    ]
    if with_math:
        sections.append(math_section(hostile=xss))
    return "\n\n".join(sections) + "\n"


def build_reasoning(
    prompt: str, digest: bytes, effort: str | None, xss: bool, with_math: bool = False
) -> str:
    """A multi-line emulated reasoning trace; longer for higher ``reasoning_effort``."""
    steps = {"low": 3, "high": 8}.get(effort or "", 5)
    lines = [f"Emulated reasoning: about “{_prompt_slice(prompt, 32) or 'an empty prompt'}”."]
    start = digest[4] % len(_REASONING_STEPS)
    for i in range(steps):
        lines.append(f"{i + 1}. {_REASONING_STEPS[(start + i) % len(_REASONING_STEPS)]}")
    if xss:
        lines.append(f"Payloads: {XSS_SCRIPT} {XSS_IMG} {XSS_LINK} {XSS_BOLD}")
    if with_math:
        lines.append(MATH_REASONING)
    return "\n".join(lines)


def build_completion(
    request_id: str,
    resolution: Resolution,
    messages: list[dict[str, Any]],
    *,
    created: int,
    max_tokens: int | None = None,
    reasoning_effort: str | None = None,
) -> dict[str, Any]:
    """The full ``chat.completion`` body, shaped like the real xAI captures in fixtures/."""
    model = resolution.model
    effort = reasoning_effort or resolution.default_effort
    prompt = user_text(messages)
    digest = _digest(model.id, messages)
    directives = parse_directives(prompt)
    xss = directives.xss
    with_math = asks_for_math(prompt, directives.math)
    content = (build_content(model.id, prompt, digest, xss, with_math) + history_note(messages)
               + images.answer_lines(messages))
    finish = "stop"
    if max_tokens is not None and count_tokens(content) > max_tokens:
        content, finish = truncate_to_tokens(content, max_tokens), "length"
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    reasoning_tokens = 0
    if model.returns_reasoning_content:
        trace = build_reasoning(prompt, digest, effort, xss, with_math)
        message["reasoning_content"] = trace
        reasoning_tokens = count_tokens(trace)
    elif model.reasoning:
        hidden = 64 + int.from_bytes(digest[5:7], "big") % 400
        reasoning_tokens = round(hidden * EFFORT_FACTOR.get(effort or "", 1.0))
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": created,
        "model": model.id,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _usage(model, messages, count_tokens(content), reasoning_tokens),
        "system_fingerprint": "fp_emulated",
    }


def _usage(
    model: EmulatedModel, messages: list[dict[str, Any]], completion: int, reasoning: int
) -> dict[str, Any]:
    """Prompt tokens as ``/v1/tokenize-text`` counts them; a system prompt counts as cached."""
    count = catalogue.count_prompt_tokens
    image_tokens = images.image_tokens(messages)
    prompt = max(1, sum(count(message_text(m)) for m in messages) + image_tokens)
    system = sum(count(message_text(m)) for m in messages if m.get("role") == "system")
    cached = min(system, prompt)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion + reasoning,
        "prompt_tokens_details": {
            "text_tokens": prompt - image_tokens,
            "audio_tokens": 0,
            "image_tokens": image_tokens,
            "cached_tokens": cached,
        },
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
        "num_sources_used": 0,
        "cost_in_usd_ticks": catalogue.cost_ticks(model, prompt, cached, completion + reasoning),
    }

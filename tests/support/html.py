"""How a browser would read an HTML fragment: what in it runs, fetches or navigates, and what a
person reads. Model text is untrusted, so tests judge generated HTML with these."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from markdown_it import MarkdownIt

# A renderer that trusts everything: raw HTML on, and every link target accepted (markdown-it
# would otherwise drop javascript: itself, which other renderers do not).
TRUSTING = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
TRUSTING.validateLink = lambda url: True  # type: ignore[method-assign]

LIVE_TAGS = {"script", "iframe", "object", "embed", "svg", "math", "style", "form", "base",
             "meta", "link", "frame", "frameset", "applet", "input", "button", "textarea"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "srcset", "poster",
                  "background", "data"}
SAFE_SCHEMES = {"http", "https", "mailto"}
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.IGNORECASE)


def browser_scheme(url: str) -> str | None:
    """The scheme a browser would use for an attribute value (already entity-decoded)."""
    cleaned = re.sub(r"[\t\n\r]", "", url).strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b"
                                                  "\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16"
                                                  "\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
    match = _SCHEME.match(cleaned)
    return match.group(1).lower() if match else None


class LiveFinder(HTMLParser):
    """Collects everything in an HTML fragment that a browser would execute or navigate to."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in LIVE_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{tag} {name}=")
            if name == "style":
                self.problems.append(f"{tag} style=")
            if name in URL_ATTRIBUTES and value is not None:
                if name == "href":
                    self.hrefs.append(value)
                scheme = browser_scheme(value)
                if scheme is not None and scheme not in SAFE_SCHEMES:
                    self.problems.append(f"{tag} {name}={value!r}")

    handle_startendtag = handle_starttag


def live_parts(fragment: str) -> list[str]:
    finder = LiveFinder()
    finder.feed(fragment)
    finder.close()
    problems = list(finder.problems)
    if re.search(r"<\s*script", fragment, re.IGNORECASE):
        problems.append("literal <script")
    if re.search(r"<[^>]*\son\w+\s*=", fragment, re.IGNORECASE):
        problems.append("a tag with an on*= handler")
    if re.search(r"""<[^>]*href\s*=\s*["']?\s*javascript:""", fragment, re.IGNORECASE):
        problems.append("javascript: href")
    return problems


def hrefs(fragment: str) -> list[str]:
    finder = LiveFinder()
    finder.feed(fragment)
    return finder.hrefs


def visible_text(fragment: str) -> str:
    """Roughly what a person reads: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def image_sources(fragment: str) -> list[str]:
    """Every URL a browser would fetch on its own from this HTML: img/src-like attributes."""
    found = re.findall(r"<\s*(?:img|image|source|video|audio|input)\b[^>]*>", fragment, re.I)
    found += re.findall(r"<[^>]*\b(?:src|srcset|poster|background)\s*=[^>]*>", fragment, re.I)
    return found

"""Inline Markdown: emphasis, links, images, code and line breaks of one block.

An inline run is a list of tokens: ("t", raw text) or ("m", finished markup).
Raw text is escaped only when the run is rendered, after adjacent text tokens
are merged, so "-" + "-" from two text nodes is still seen as "--".
Emphasis delimiters are ("open"/"close", "<marker> <id>"); the id pairs them.
"""

from __future__ import annotations

import itertools
import re

from lxml import etree

from crawler.transform.html.whitespace import ASCII_WS_RUN_RE
from crawler.transform.markdown.escape import escape_md, escape_raw, escape_url

__all__ = ["BLOCK_TAGS", "BR", "HEADINGS", "SKIP", "Inline", "Token", "render"]

_BLOCK_CONTAINERS = frozenset(
    {"p", "div", "center", "section", "article", "main", "header", "footer", "figure"}
    | {"figcaption", "address", "dl", "dt", "dd", "details", "summary", "body", "html"}
    | {"tbody", "thead", "tfoot", "tr", "td", "th", "caption", "form", "fieldset"}
)
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
BLOCK_TAGS = (
    _BLOCK_CONTAINERS | set(HEADINGS) | {"ul", "ol", "li", "blockquote", "table", "pre", "hr"}
)
SKIP = frozenset({"script", "style", "noscript", "template", "head", "title", "iframe"})
BR = "<br />"
_LEAD_BR_RE = re.compile(r"^(?:\s*<br />)+\s*")
_TRAIL_BR_RE = re.compile(r"\s*(?:<br />\s*)+$")

Token = tuple[str, str]
_EMPHASIS_IDS = itertools.count(1)  # only has to be unique; never reaches the output


def render(tokens: list[Token], in_table: bool = False) -> str:
    """Turn tokens into one Markdown line (no line-start escaping yet).

    Leading/trailing whitespace (Unicode too, as the cleaner strips it) and
    ``<br />`` are trimmed. In table cells a backtick becomes ``&#96;``: kramdown
    splits a row into cells looking only for code spans and does not honour a
    backslash before a backtick there, so two escaped backticks in one row
    would swallow the ``|`` between them.
    """
    # (kind, text, emphasis id): kind "x" = final text, "open"/"close" = a delimiter.
    pieces: list[tuple[str, str, int]] = []
    text: list[str] = []

    def flush_text() -> None:
        escaped = escape_md("".join(text))
        pieces.append(("x", escaped.replace("\\`", "&#96;") if in_table else escaped, 0))
        text.clear()

    for kind, value in _merge_emphasis(tokens):
        if kind == "t":
            text.append(value)
            continue
        if text:
            flush_text()
        if kind in ("open", "close"):
            marker, ident = value.split(" ")
            pieces.append((kind, marker, int(ident)))
        elif value:
            pieces.append(("x", value, 0))
    if text:
        flush_text()

    # kramdown's emphasis parsing is only predictable when a delimiter does not
    # touch another "*" (or a backslash): "*a***b**" or "**x\\***" are
    # ambiguous. Such emphasis is written as <strong>/<em> instead, whose
    # content kramdown still parses as Markdown.
    as_html: set[int] = set()
    for i, (kind, _, ident) in enumerate(pieces):
        if kind == "x":
            continue
        before = pieces[i - 1][1][-1:] if i > 0 else ""
        after = pieces[i + 1][1][:1] if i + 1 < len(pieces) else ""
        if before in ("*", "\\") or after in ("*", "\\"):
            as_html.add(ident)
    out: list[str] = []
    for kind, value, ident in pieces:
        if kind == "x" or ident not in as_html:
            out.append(value)
        else:
            tag = "strong" if value == "**" else "em"
            out.append(f"<{tag}>" if kind == "open" else f"</{tag}>")

    line = ASCII_WS_RUN_RE.sub(" ", "".join(out))
    if "<br />" not in line:  # what the loop below would come to, without its scans
        return line.strip()
    previous = None
    while previous != line:
        previous = line
        line = _TRAIL_BR_RE.sub("", _LEAD_BR_RE.sub("", line)).strip()
    return line


def _merge_emphasis(tokens: list[Token]) -> list[Token]:
    """Join ``**a**`` ``**b**`` into ``**ab**``: ``**a****b**`` would not parse.

    The second pair's closing delimiter takes the first pair's id.
    """
    out: list[Token] = []
    alias: dict[str, str] = {}
    for kind, value in tokens:
        if kind == "close":
            marker, ident = value.split(" ")
            value = f"{marker} {alias.get(ident, ident)}"
        if kind == "open" and out and out[-1][0] == "close":
            marker, ident = value.split(" ")
            last_marker, last_ident = out[-1][1].split(" ")
            if marker == last_marker:
                out.pop()
                alias[ident] = last_ident
                continue
        out.append((kind, value))
    return out


def _split_edges(inner: list[Token]) -> tuple[list[Token], list[Token], list[Token]]:
    """Move whitespace and ``<br />`` at the edges of ``inner`` outside it.

    kramdown does not open emphasis before whitespace nor close it after
    whitespace, so ``** a**`` would stay literal.
    """
    inner = list(inner)
    before: list[Token] = []
    after: list[Token] = []
    while inner:
        kind, value = inner[0]
        if kind == "t":
            stripped = value.lstrip(" \t\r\n\f")
            if len(stripped) != len(value):
                before.append(("t", " "))
            if stripped:
                inner[0] = ("t", stripped)
                break
            inner.pop(0)
        elif kind == "m" and value == BR:
            before.append(inner.pop(0))
        else:
            break
    while inner:
        kind, value = inner[-1]
        if kind == "t":
            stripped = value.rstrip(" \t\r\n\f")
            if len(stripped) != len(value):
                after.insert(0, ("t", " "))
            if stripped:
                inner[-1] = ("t", stripped)
                break
            inner.pop()
        elif kind == "m" and value == BR:
            after.insert(0, inner.pop())
        else:
            break
    return before, inner, after


class Inline:
    """Inline conversion state: which emphasis/link we are inside of."""

    def __init__(self, in_strong: bool = False, in_em: bool = False, in_link: bool = False):
        self.in_strong = in_strong
        self.in_em = in_em
        self.in_link = in_link

    def children(self, el: etree._Element) -> list[Token]:
        tokens: list[Token] = []
        if el.text:
            tokens.append(("t", el.text))
        for child in el:
            tokens.extend(self.element(child))
            if child.tail:
                tokens.append(("t", child.tail))
        return tokens

    def element(self, el: etree._Element) -> list[Token]:
        tag = el.tag if isinstance(el.tag, str) else ""
        if not tag or tag in SKIP:
            return []
        if tag == "br":
            return [("m", BR)]
        if tag == "img":
            return self.image(el)
        if tag in BLOCK_TAGS:
            # A block where only inline content can go (heading, table cell):
            # keep its text, on its own line.
            inner = self.children(el)
            return [("m", BR), *inner, ("m", BR)] if inner else []
        if tag in ("strong", "b"):
            return self.emphasis(el, "**", strong=True)
        if tag in ("em", "i"):
            return self.emphasis(el, "*", strong=False)
        if tag == "a":
            return self.link(el)
        if tag in ("sub", "sup"):
            inner = self.children(el)
            return [("m", f"<{tag}>"), *inner, ("m", f"</{tag}>")] if inner else []
        if tag in ("code", "u"):
            # kramdown treats <code>/<u> content as raw, so it is HTML-escaped.
            # Only plain text can go there; anything richer keeps its markup
            # and loses the <code>/<u>.
            if len(el) == 0:
                text = ASCII_WS_RUN_RE.sub(" ", el.text or "")
                if not text.strip():
                    return [("t", text)] if text else []
                return [("m", f"<{tag}>{escape_raw(text)}</{tag}>")]
            return self.children(el)
        return self.children(el)

    def emphasis(self, el: etree._Element, marker: str, strong: bool) -> list[Token]:
        if (strong and self.in_strong) or (not strong and self.in_em):
            return self.children(el)  # kramdown does not nest the same emphasis
        sub = Inline(self.in_strong or strong, self.in_em or not strong, self.in_link)
        before, inner, after = _split_edges(sub.children(el))
        if not inner:
            return before + after
        ident = f"{marker} {next(_EMPHASIS_IDS)}"
        return [*before, ("open", ident), *inner, ("close", ident), *after]

    def link(self, el: etree._Element) -> list[Token]:
        href = (el.get("href") or "").strip()
        if self.in_link or not href:
            return self.children(el)
        sub = Inline(self.in_strong, self.in_em, True)
        before, inner, after = _split_edges(sub.children(el))
        if not inner:
            return before + after
        if inner[0][0] == "t" and inner[0][1].startswith("^"):
            # "[^" opens a footnote reference; "\\^" is not an escape in kramdown.
            inner = [("m", "&#94;"), ("t", inner[0][1][1:]), *inner[1:]]
        return [*before, ("m", "["), *inner, ("m", f"]({escape_url(href)})"), *after]

    def image(self, el: etree._Element) -> list[Token]:
        src = (el.get("src") or "").strip()
        if not src:
            return []
        alt = escape_md(ASCII_WS_RUN_RE.sub(" ", el.get("alt") or "").strip())
        if alt.startswith("^"):
            alt = "&#94;" + alt[1:]
        return [("m", f"![{alt}]({escape_url(src)})")]

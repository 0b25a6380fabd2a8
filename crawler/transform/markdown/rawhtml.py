"""Raw HTML blocks for what Markdown cannot express (merged cells, lists in cells)."""

from __future__ import annotations

from lxml import etree

from crawler.transform.html.whitespace import ASCII_WS_RUN_RE
from crawler.transform.markdown.escape import escape_raw
from crawler.transform.markdown.inline import SKIP

__all__ = ["raw_html"]

_RAW_KEEP = frozenset(
    {"table", "thead", "tbody", "tr", "th", "td", "p", "div", "br", "a", "img", "strong"}
    | {"b", "em", "i", "u", "sub", "sup", "code", "ul", "ol", "li", "hr", "blockquote"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "pre"}
)
_RAW_VOID = frozenset({"br", "img", "hr"})
_RAW_NEWLINE_AFTER = frozenset({"table", "thead", "tbody", "tr", "th", "td", "p", "div"})


def raw_html(el: etree._Element) -> str:
    """Serialize an element as raw HTML for kramdown to pass through.

    Only the allowlisted tags/attributes; text HTML-escaped with braces and
    pipes as entities; ASCII whitespace collapsed; one line per row/cell so the
    block never holds a blank line.
    """
    parts: list[str] = []
    _raw_into(el, parts)
    text = "".join(parts)
    lines = (line.strip(" \t") for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _raw_into(el: etree._Element, parts: list[str]) -> None:
    tag = el.tag if isinstance(el.tag, str) else ""
    keep = tag in _RAW_KEEP
    if tag and tag in SKIP:
        return
    if keep:
        attrs = ""
        if tag == "a" and el.get("href"):
            attrs = f' href="{escape_raw(el.get("href", "").strip())}"'
        elif tag == "img":
            if not el.get("src"):
                return
            attrs = f' src="{escape_raw(el.get("src", "").strip())}"'
            if el.get("alt"):
                attrs += f' alt="{escape_raw(el.get("alt", ""))}"'
        elif tag in ("td", "th"):
            for name in ("colspan", "rowspan"):
                value = (el.get(name) or "").strip()
                if value.isdigit() and int(value) > 1:
                    attrs += f' {name}="{int(value)}"'
        parts.append(f"<{tag}{attrs}>" if tag not in _RAW_VOID else f"<{tag}{attrs} />")
        if tag in ("table", "thead", "tbody", "tr"):
            parts.append("\n")
    if tag and tag not in _RAW_VOID:
        if el.text:
            parts.append(escape_raw(ASCII_WS_RUN_RE.sub(" ", el.text)))
        for child in el:
            _raw_into(child, parts)
            if child.tail:
                parts.append(escape_raw(ASCII_WS_RUN_RE.sub(" ", child.tail)))
        if keep:
            parts.append(f"</{tag}>")
    if keep and tag in _RAW_NEWLINE_AFTER:
        parts.append("\n")

"""The visible text of cleaned article HTML (``body_text``: search and the database)."""

from __future__ import annotations

from lxml import etree

from crawler.transform.html.fragment import parse_fragment
from crawler.transform.html.vocabulary import BLOCK_TAGS, DROP_WITH_CONTENT
from crawler.transform.html.whitespace import ASCII_WS_RUN_RE, collapse_ascii_ws

__all__ = ["body_text"]

_TEXT_BLOCKS = BLOCK_TAGS - {"tr", "td", "th"}


def body_text(clean_html: str) -> str:
    """Visible text of cleaned article HTML, one line per block.

    Paragraphs, headings, list items and ``<br>``-separated lines each give one
    line; a table row gives one line with its cells joined by one space (as the
    replica's ``expected_text`` does; an empty cell leaves two spaces). ASCII
    whitespace runs collapse to one space, lines are stripped (U+3000 too),
    blank lines are dropped. Image alt text is not visible and is left out.
    """
    if not isinstance(clean_html, str) or not clean_html.strip():
        return ""
    try:
        root = parse_fragment(clean_html)
    except Exception:  # never fail on garbage
        return ""
    lines: list[str] = []
    buf: list[str] = []
    _text_lines(root, lines, buf)
    _flush_line(lines, buf)
    return "\n".join(lines)


def _flush_line(lines: list[str], buf: list[str]) -> None:
    line = collapse_ascii_ws("".join(buf)).strip()
    buf.clear()
    if line:
        lines.append(line)


def _cell_text(cell: etree._Element) -> str:
    """A table cell's text on one line (breaks and inner blocks become spaces)."""
    parts: list[str] = [cell.text or ""]

    def walk(node: etree._Element) -> None:
        for child in node:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag == "br" or tag in _TEXT_BLOCKS:
                parts.append(" ")
            if tag and tag not in DROP_WITH_CONTENT:
                parts.append(child.text or "")
                walk(child)
            if tag in _TEXT_BLOCKS:
                parts.append(" ")
            parts.append(child.tail or "")

    walk(cell)
    return ASCII_WS_RUN_RE.sub(" ", "".join(parts)).strip()


def _text_lines(el: etree._Element, lines: list[str], buf: list[str]) -> None:
    if el.text:
        buf.append(el.text)
    for child in el:
        tag = child.tag if isinstance(child.tag, str) else ""
        if not tag or tag in DROP_WITH_CONTENT:
            pass
        elif tag == "br":
            _flush_line(lines, buf)
        elif tag == "tr":
            _flush_line(lines, buf)
            cells = [_cell_text(c) for c in child if c.tag in ("td", "th")]
            buf.append(" ".join(cells))
            line = "".join(buf).strip()
            buf.clear()
            if line:
                lines.append(line)
        elif tag == "pre":
            _flush_line(lines, buf)
            for line in "".join(child.itertext()).split("\n"):
                buf.append(line)
                _flush_line(lines, buf)
        elif tag in _TEXT_BLOCKS:
            _flush_line(lines, buf)
            _text_lines(child, lines, buf)
            _flush_line(lines, buf)
        else:
            _text_lines(child, lines, buf)
        if child.tail:
            buf.append(child.tail)

"""Tables: Markdown tables where Markdown can hold them, raw HTML otherwise."""

from __future__ import annotations

import re

from lxml import etree

from crawler.transform.markdown.inline import HEADINGS, Inline, render
from crawler.transform.markdown.rawhtml import raw_html

__all__ = ["table_blocks"]

# kramdown's TABLE_SEP_LINE / TABLE_FSEP_LINE, as whole lines.
_TABLE_SEP_RE = re.compile(r"[+|: \t-]*-[+|: \t-]*")
_TABLE_FSEP_RE = re.compile(r"[+|: \t=]*=[+|: \t=]*")
_CELL_BLOCKERS = frozenset({"table", "ul", "ol", "blockquote", "pre", "hr", *HEADINGS})


def _rows(table: etree._Element) -> list[etree._Element]:
    rows: list[etree._Element] = []
    for child in table:
        if child.tag == "tr":
            rows.append(child)
        elif child.tag in ("thead", "tbody", "tfoot"):
            rows.extend(r for r in child if r.tag == "tr")
    return rows


def _cells(row: etree._Element) -> list[etree._Element]:
    return [c for c in row if c.tag in ("td", "th")]


def _is_simple_table(rows: list[etree._Element]) -> bool:
    """Markdown can hold it: no merged cells, only inline content (and paragraphs)."""
    if not rows:
        return False
    for row in rows:
        for cell in _cells(row):
            for attr in ("colspan", "rowspan"):
                value = (cell.get(attr) or "1").strip()
                if value not in ("", "1", "0"):
                    return False
            if any(
                isinstance(d.tag, str) and d.tag in _CELL_BLOCKERS for d in cell.iterdescendants()
            ):
                return False
    return True


def table_blocks(table: etree._Element) -> list[str]:
    rows = _rows(table)
    if not _is_simple_table(rows):
        html = raw_html(table).strip()
        return [html] if html else []
    grid = [[render(Inline().children(c), in_table=True) for c in _cells(r)] for r in rows]
    width = max((len(r) for r in grid), default=0)
    if width == 0 or not any(any(r) for r in grid):
        return []
    first = rows[0]
    header = first.getparent() is not None and first.getparent().tag == "thead"
    header = header or all(c.tag == "th" for c in _cells(first))
    header = header and len(grid) > 1  # kramdown drops a table that is only a header
    lines: list[str] = []
    for i, cells in enumerate(grid):
        cells = cells + [""] * (width - len(cells))
        line = "| " + " | ".join(cells) + " |"
        # A row of only "-" (or "=") cells, e.g. "-" for n/a, would be read as a
        # header (footer) separator line. Such a line holds no backslash yet.
        if _TABLE_SEP_RE.fullmatch(line):
            line = line.replace("-", "\\-")
        elif _TABLE_FSEP_RE.fullmatch(line):
            line = line.replace("=", "\\=")
        lines.append(line)
        if i == 0 and header:
            lines.append("|" + "|".join([" --- "] * width) + "|")
    return ["\n".join(lines)]

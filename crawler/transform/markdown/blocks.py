"""Markdown blocks: paragraphs, headings, lists, blockquotes, ``<pre>``, rules."""

from __future__ import annotations

import re

from lxml import etree

from crawler.transform.markdown.escape import escape_line_start, escape_raw
from crawler.transform.markdown.inline import BLOCK_TAGS, HEADINGS, SKIP, Inline, Token, render
from crawler.transform.markdown.tables import table_blocks

__all__ = ["blocks_of"]

_LIST_START_RE = re.compile(r"(?:-|\d+\.) ")


def _paragraph(tokens: list[Token]) -> str:
    return escape_line_start(render(tokens))


def blocks_of(container: etree._Element) -> list[str]:
    """Markdown blocks for the children of a block container."""
    out: list[str] = []
    run: list[Token] = []
    inline = Inline()

    def flush() -> None:
        if run:
            line = _paragraph(run)
            run.clear()
            if line:
                out.append(line)

    if container.text:
        run.append(("t", container.text))
    for child in container:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag in BLOCK_TAGS:
            flush()
            out.extend(_block(child))
        elif tag:
            run.extend(inline.element(child))
        if child.tail:
            run.append(("t", child.tail))
    flush()
    return out


def _block(el: etree._Element) -> list[str]:
    tag = el.tag
    if tag in HEADINGS:
        line = render(Inline().children(el))
        return [f"{'#' * HEADINGS[tag]} {line}"] if line else []
    if tag in ("ul", "ol"):
        return _list(el)
    if tag == "li":
        return _list_item(el, "-")
    if tag == "blockquote":
        inner = "\n\n".join(blocks_of(el))
        if not inner:
            return []
        return ["\n".join(("> " + ln) if ln else ">" for ln in inner.split("\n"))]
    if tag == "table":
        return table_blocks(el)
    if tag == "pre":
        text = "".join(el.itertext())
        lines = [ln.rstrip() for ln in text.split("\n")]
        text = "\n".join(lines).strip("\n")
        return [f"<pre>{escape_raw(text)}</pre>"] if text.strip() else []
    if tag == "hr":
        return ["* * *"]
    return blocks_of(el)


def _list(el: etree._Element) -> list[str]:
    items: list[str] = []
    n = 0
    for child in el:
        if not isinstance(child.tag, str) or child.tag in SKIP:
            continue
        n += 1
        marker = f"{n}." if el.tag == "ol" else "-"
        items.extend(_list_item(child, marker))
    if not items:
        return []
    # Tight unless an item holds several paragraphs (kramdown needs the blank line).
    sep = "\n" if all("\n\n" not in item for item in items) else "\n\n"
    return [sep.join(items)]


def _list_item(el: etree._Element, marker: str) -> list[str]:
    blocks = blocks_of(el)
    if not blocks:
        return []
    indent = " " * (len(marker) + 1)
    # A nested list follows its paragraph directly (a tight list); paragraph
    # blocks never start with "- " or "1. " because line starts are escaped.
    text = blocks[0]
    for block in blocks[1:]:
        text += ("\n" if _LIST_START_RE.match(block) else "\n\n") + block
    lines = text.split("\n")
    first, rest = lines[0], lines[1:]
    return ["\n".join([f"{marker} {first}", *((indent + ln) if ln else "" for ln in rest)])]

"""Whitespace, empty elements and block layout of the cleaned tree.

Only ASCII whitespace collapses inside text (what a browser collapses too:
U+3000 inside a paragraph is deliberate layout); at block edges and around
``<br>`` every Unicode space goes, the zero-width ones too.
"""

from __future__ import annotations

import re

from lxml import etree

from crawler.transform.html.fragment import elements
from crawler.transform.html.vocabulary import (
    BLOCK_TAGS,
    DROP_WHEN_EMPTY,
    INLINE_TAGS,
    STRUCTURE_TAGS,
)

# Whitespace stripped at paragraph edges: \s covers U+3000 (　), U+00A0 (&nbsp;),
# the en/em spaces; the zero-width ones are added by hand.
EDGE_WS = r"\s\u200b\u200c\u200d\u2060\ufeff"
# The characters of the class above, spelled out for str.strip (a regex
# substitution per text node was 10 % of the cleaning): what \s matches in a
# str pattern (str.isspace) and the zero-width ones. tests/test_clean.py
# checks it against the class, character by character.
EDGE_CHARS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003"
    "\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b\u200c\u200d\u2028\u2029"
    "\u202f\u205f\u2060\u3000\ufeff"
)
#: A character that is not edge whitespace: the text shows something.
CONTENT_RE = re.compile(f"[^{EDGE_WS}]")
ASCII_WS_RUN_RE = re.compile(r"[ \t\r\n\f]+")


def collapse_ascii_ws(text: str) -> str:
    """``ASCII_WS_RUN_RE.sub(" ", text)``: a text without a tab, CR, LF, FF or
    two spaces in a row (most text nodes) is already collapsed, and the
    substring tests are much cheaper than the regex call on every node."""
    if "  " in text or "\n" in text or "\t" in text or "\r" in text or "\f" in text:
        return ASCII_WS_RUN_RE.sub(" ", text)
    return text


def inside_pre(root: etree._Element) -> set[etree._Element]:
    """Every node below a ``<pre>`` (whose whitespace is content)."""
    return {d for pre in root.iter("pre") for d in pre.iterdescendants()}


def collapse_whitespace(root: etree._Element) -> None:
    """Collapse ASCII whitespace runs to one space outside ``<pre>``."""
    in_pre = inside_pre(root)
    for el in [root, *elements(root)]:
        if el in in_pre or el.tag == "pre":
            if el.tag == "pre" and el.tail:
                el.tail = ASCII_WS_RUN_RE.sub(" ", el.tail)
            continue
        if el.text:
            el.text = collapse_ascii_ws(el.text)
        if el.tail:
            el.tail = collapse_ascii_ws(el.tail)


def has_content(el: etree._Element) -> bool:
    """True when ``el`` shows something: non-blank text or an image."""
    if el.tag == "img":
        return True
    if any(CONTENT_RE.search(t) for t in el.itertext()):
        return True
    return el.find(".//img") is not None


def strip_edges(block: etree._Element) -> None:
    """Strip whitespace (U+3000 too) and ``<br>`` at the start and end of a block."""
    node = block
    while True:  # start
        if node.text:
            node.text = node.text.lstrip(EDGE_CHARS) or None
            if node.text:
                break
        child = next(node.iterchildren(etree.Element), None)
        if child is None:
            break
        if child.tag == "br" or (child.tag in INLINE_TAGS and not has_content(child)):
            child.drop_tree()  # its tail becomes node.text and is looked at next
            continue
        if child.tag in INLINE_TAGS:
            node = child
            continue
        break  # an image or a block: nothing more to strip here
    node = block
    while True:  # end
        last = next(node.iterchildren(etree.Element, reversed=True), None)
        if last is None:
            if node.text:
                node.text = node.text.rstrip(EDGE_CHARS) or None
            break
        if last.tail:
            last.tail = last.tail.rstrip(EDGE_CHARS) or None
            if last.tail:
                break
        if last.tag == "br" or (last.tag in INLINE_TAGS and not has_content(last)):
            last.drop_tree()
            continue
        if last.tag in INLINE_TAGS:
            node = last
            continue
        break


def tidy(root: etree._Element) -> None:
    """Drop empty elements, then strip whitespace at block edges and around ``<br>``."""
    drop_empty(root)
    for el in elements(root):
        if el.tag in BLOCK_TAGS and el.tag not in STRUCTURE_TAGS and el.tag not in ("pre", "hr"):
            strip_edges(el)
    _strip_around_breaks(root)


def _strip_around_breaks(root: etree._Element) -> None:
    """Strip whitespace around ``<br>``: old bodies indent each line with ``　　``."""
    for br in root.iter("br"):
        if br.tail:
            br.tail = br.tail.lstrip(EDGE_CHARS) or None
        prev = br.getprevious()
        if prev is None:
            parent = br.getparent()
            if parent is not None and parent.text:
                parent.text = parent.text.rstrip(EDGE_CHARS) or None
        elif prev.tail:
            prev.tail = prev.tail.rstrip(EDGE_CHARS) or None


def drop_empty(root: etree._Element) -> None:
    """Remove blocks and inline wrappers left without text or image.

    Bottom-up in one pass (children before parents), so the cost stays linear
    however deep the tree: an element has content when its own text, an image,
    a child with content or a child's tail (text that follows the child) does.
    """
    has: dict[etree._Element, bool] = {}
    for el in reversed(list(elements(root))):
        found = el.tag == "img" or bool(el.text and CONTENT_RE.search(el.text))
        if not found:
            for child in el:
                if has.get(child) or (child.tail and CONTENT_RE.search(child.tail)):
                    found = True
                    break
        if not found and el.tag in DROP_WHEN_EMPTY:
            el.drop_tree()  # its tail moves to the previous node, checked by the parent
        else:
            has[el] = found


def layout(root: etree._Element) -> None:
    """Put each block on its own line: whitespace-only text next to blocks becomes ``\\n``."""
    in_pre = inside_pre(root)
    for el in [root, *elements(root)]:
        if el in in_pre:
            continue
        first = next(iter(el), None)
        if (
            (el is root or el.tag in BLOCK_TAGS)
            and el.tag != "pre"
            and first is not None
            and first.tag in BLOCK_TAGS
            and not (el.text or "").strip(" ")
        ):
            el.text = "\n"
        if el is not root and el.tag in BLOCK_TAGS and not (el.tail or "").strip(" "):
            el.tail = "\n"
    if not (root.text or "").strip():
        root.text = None

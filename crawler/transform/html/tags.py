"""Tag repair: map the input's vocabulary onto the allowlist, fix the nesting an
HTML5 parser would rebuild, and flatten the article into a list of blocks."""

from __future__ import annotations

import lxml.html
from lxml import etree

from crawler.transform.html.fragment import detach, elements
from crawler.transform.html.vocabulary import (
    ALLOWED_TAGS,
    BLOCK_TAGS,
    INLINE_TAGS,
    KEPT_ATTRS,
    RENAME_TO_DIV,
)
from crawler.transform.html.whitespace import CONTENT_RE, has_content, strip_edges

__all__ = ["flatten_divs", "normalize_tags"]


def _holding_blocks(root: etree._Element) -> set[etree._Element]:
    """The elements under ``root`` (and ``root``) that have a block descendant.

    One walk instead of a search below every element (``iterdescendants`` with
    the block tags built a tag matcher per call: 12 % of the cleaning). Valid
    for a document-order walk that changes only the element it is at and
    elements before it: no element's subtree changes before it is reached.
    """
    holding: set[etree._Element] = set()
    for block in root.iter(*BLOCK_TAGS):
        for ancestor in block.iterancestors():
            if ancestor in holding:
                break  # and so are its ancestors
            holding.add(ancestor)
    return holding


def normalize_tags(root: etree._Element) -> None:
    """Map the input vocabulary onto the allowlist; drop every attribute not needed."""
    for el in elements(root):
        tag = el.tag.lower() if isinstance(el.tag, str) else el.tag
        if tag in RENAME_TO_DIV:
            el.tag = "div"
        elif tag == "tfoot":
            el.tag = "tbody"
        elif tag == "caption":
            # A table caption becomes a paragraph just before its table.
            table = next((a for a in el.iterancestors() if a.tag == "table"), None)
            el.tag = "p"
            if table is not None:
                detach(el)
                table.addprevious(el)
        elif tag != el.tag and (tag in ALLOWED_TAGS or tag == "center"):
            el.tag = tag  # only known names: odd ones ("aà<") are unwrapped below
    _fix_nesting(root)
    holding = _holding_blocks(root)
    for el in elements(root):
        if el.tag == "center" or (el.tag == "div" and el not in holding):
            # <center> holds an image or a caption: a paragraph, unless it wraps blocks.
            el.tag = "div" if el in holding else "p"
    for el in elements(root):
        if el.tag not in ALLOWED_TAGS or el.tag == "span":
            el.drop_tag()
            continue
        keep = {k: v for k, v in el.attrib.items() if k in KEPT_ATTRS.get(el.tag, ())}
        if el.tag == "img" and "src" not in keep:
            for lazy in ("data-src", "data-original", "original"):
                if el.get(lazy):
                    keep["src"] = el.get(lazy, "")
                    break
        if el.tag in ("td", "th"):
            keep = {k: v for k, v in keep.items() if v.strip().isdigit() and int(v) > 1}
        if el.tag == "img" and not (keep.get("alt") or "").strip():
            keep.pop("alt", None)  # an empty alt says nothing
        el.attrib.clear()
        for k, v in keep.items():
            el.set(k, v.strip() if k != "alt" else v)


def _fix_nesting(root: etree._Element) -> None:
    """Repair the nesting libxml2 accepts but an HTML5 parser would rebuild.

    nh3 re-parses our output with html5ever; where the two parsers disagree
    (a block inside ``<strong>``, text or a paragraph loose in a ``<table>``)
    html5ever moves things around and leaves empty elements behind. Fixing the
    tree first keeps the output tidy and cleaning idempotent.
    """
    holding = _holding_blocks(root)
    for el in list(elements(root)):
        parent = el.getparent()
        if parent is None:
            continue
        if el.tag == "a" and next(el.iterancestors("a"), None) is not None:
            el.drop_tag()  # a link inside a link: the outer one wins
            continue
        if (
            (el.tag in ("td", "th") and parent.tag != "tr")
            or (el.tag == "tr" and parent.tag not in ("table", "thead", "tbody", "tfoot"))
            or (el.tag in ("thead", "tbody", "tfoot") and parent.tag != "table")
        ):
            el.drop_tag()  # table parts outside a table mean nothing
            continue
        if el not in holding:
            continue
        if el.tag in INLINE_TAGS:
            el.drop_tag()  # formatting around whole blocks is lost, the text is not
        elif el.tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "pre"):
            el.tag = "div"
    for table in list(root.iter("table")):
        # Loose text in a table is junk; loose elements go before the table
        # (where an HTML5 parser would "foster-parent" them).
        for part in [table, *(c for c in table if c.tag in ("thead", "tbody", "tfoot"))]:
            rows_ok = ("thead", "tbody", "tfoot", "tr") if part is table else ("tr",)
            part.text = None
            for child in list(part):
                child.tail = None
                if child.tag not in rows_ok:
                    detach(child)
                    table.addprevious(child)
        for row in table.iter("tr"):
            row.text = None
            for child in list(row):
                child.tail = None
                if child.tag not in ("td", "th"):
                    detach(child)
                    table.addprevious(child)
        # html5ever puts bare rows into a <tbody>.
        rows = [c for c in table if c.tag == "tr"]
        if rows:
            tbody = lxml.html.Element("tbody")
            rows[0].addprevious(tbody)
            tbody.extend(rows)


def _li_in_li(li: etree._Element) -> bool:
    """True when an ``<li>`` sits in another one with no list/table/quote between
    (HTML5's "list item scope": only p, div, address and non-block elements are
    crossed)."""
    for anc in li.iterancestors():
        if anc.tag == "li":
            return True
        if anc.tag in BLOCK_TAGS and anc.tag not in ("p", "div", "address"):
            return False
    return False


def flatten_divs(root: etree._Element) -> None:
    """Unwrap divs that wrap blocks (they carry no attributes any more) and wrap
    the inline runs this leaves at the top level or in a blockquote into ``<p>``,
    so the article is a flat list of blocks."""
    for el in list(elements(root)):
        if el.tag == "div" and el.getparent() is not None:
            el.drop_tag()
    for li in list(root.iter("li")):
        if _li_in_li(li):
            li.drop_tag()  # HTML5 would close the outer item here
    for parent in [root, *(e for e in elements(root) if e.tag == "blockquote")]:
        _wrap_inline_runs(parent)


def _wrap_inline_runs(parent: etree._Element) -> None:
    """Wrap each maximal run of text/inline children of ``parent`` into a ``<p>``."""
    children = list(parent)
    pending_text = parent.text  # text just before the current run
    parent.text = None
    for child in children:
        parent.remove(child)  # an element's tail leaves with it
    out: list[etree._Element] = []
    run: list[etree._Element] = []

    def close_run() -> None:
        nonlocal pending_text
        if run or (pending_text and CONTENT_RE.search(pending_text)):
            p = lxml.html.Element("p")
            p.text = pending_text
            p.extend(run)
            strip_edges(p)
            if has_content(p):
                out.append(p)
        run.clear()
        pending_text = None

    for child in children:
        if isinstance(child.tag, str) and child.tag in BLOCK_TAGS:
            tail, child.tail = child.tail, None
            close_run()
            out.append(child)
            pending_text = tail
        else:
            run.append(child)
    close_run()
    parent.extend(out)

"""Turn an Eastmoney article body into safe, normalized article HTML.

Input is the body HTML as Eastmoney serves it: the inside of ``div#ContentBody``
of an article page (current or pre-2022 template) or the ``text`` field of the
Choice ``GetNewsText.do`` answer. Both carry the same article markup plus junk
(a hidden first paragraph, K-line chart blocks, the editor line, ad divs with
scripts, app promotion lines): what marks it is :mod:`crawler.eastmoney.markup`.
See /work/shared/upstream.md, "Body HTML".

The work is done in two stages, on purpose:

1. lxml does the structural work (cut the junk, collect stock ids, absolutize
   URLs, normalize whitespace, drop empty blocks). libxml2 caps the tree depth
   (about 255), so hostile nesting is flattened here and every later stage sees
   a bounded tree.
2. nh3 (ammonia) sanitizes the result against a tag/attribute/URL-scheme
   allowlist and serializes it. Safety therefore never depends on the lxml
   stage being right: whatever it lets through, nh3 has the last word.

Everything is a pure function of its arguments; the same input gives the same
bytes out.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import lxml.html
import nh3
from lxml import etree

from crawler.eastmoney import markup
from crawler.transform.html.fragment import detach, elements, parse_fragment
from crawler.transform.html.links import fix_urls
from crawler.transform.html.tags import flatten_divs, normalize_tags
from crawler.transform.html.vocabulary import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    BLOCK_TAGS,
    DROP_WITH_CONTENT,
    LINK_SCHEMES,
    NH3_CLEAN_CONTENT,
    VOID_JUNK,
)
from crawler.transform.html.whitespace import collapse_whitespace, has_content, layout, tidy
from crawler.transform.text import body_text

__all__ = ["CleanResult", "clean_article", "clean_body"]

_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none", re.IGNORECASE)


@dataclass(frozen=True)
class CleanResult:
    """What :func:`clean_body` returns.

    ``html``: the sanitized article HTML (blocks separated by ``\\n``, no
    trailing newline); ``""`` when nothing of the article survives.
    ``stocks``: stock ids ``<market>.<code>`` (``"1.600519"``, ``"116.00992"``)
    mentioned by the article's stock links, stock spans and chart blocks, unique,
    in order of first appearance.
    """

    html: str
    stocks: list[str] = field(default_factory=list)


def clean_article(body_html: str, source_url: str) -> tuple[str, list[str], str, str]:
    """The clean stage's work: (clean_html, stocks, body_text, content_sha256);
    body_text is blank when nothing is left. Pure: it may run in a worker."""
    result = clean_body(body_html, source_url)
    text = body_text(result.html)
    digest = hashlib.sha256(result.html.encode("utf-8")).hexdigest()
    return result.html, list(result.stocks), text, digest


def clean_body(html: str, base_url: str) -> CleanResult:
    """Clean one article body; see the module docstring and the rules below.

    ``html``: the body HTML (``div#ContentBody`` content or Choice ``text``).
    ``base_url``: the article URL, used to absolutize relative links/images.
    Never raises: garbage in gives an empty or partial result.
    """
    if isinstance(html, bytes | bytearray):
        html = bytes(html).decode("utf-8", "replace")
    if not isinstance(html, str) or not html.strip():
        return CleanResult("", [])
    if not isinstance(base_url, str):
        base_url = ""
    try:
        return _clean(html, base_url)
    except Exception:  # last resort: one bad body must not stop a crawl
        return CleanResult("", [])


def _clean(html: str, base_url: str) -> CleanResult:
    root = parse_fragment(html)

    # The source line must survive the cut below and end the article.
    media = next((el for el in elements(root) if markup.is_media_line(el)), None)
    if media is not None:
        detach(media)
    _truncate_at_editor(root)
    if media is not None:
        root.append(media)

    stocks: list[str] = []
    _remove_junk_and_collect_stocks(root, stocks)
    normalize_tags(root)
    fix_urls(root, base_url)
    collapse_whitespace(root)
    flatten_divs(root)
    tidy(root)
    if _drop_promos(root):
        tidy(root)  # a list or quote may have held only promo lines
    layout(root)

    inner = lxml.html.tostring(root, encoding="unicode")
    inner = inner.removeprefix("<body>").removesuffix("</body>")
    safe = nh3.clean(
        inner,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=NH3_CLEAN_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(LINK_SCHEMES),
        link_rel=None,
        strip_comments=True,
        url_relative="deny",  # everything was absolutized; a relative URL here is junk
    )
    return CleanResult(safe.strip(), stocks)


def _truncate_at_editor(root: etree._Element) -> None:
    """Cut the editor line and everything after it (ads, promos, old-template junk).

    The marker is ``p.res-edit`` (current template), a ``（责任编辑：…）`` paragraph
    without the class, or the ``<!--责任编辑-->`` comment (old template).
    """
    # A paragraph's text is part of the whole text: without "责任编辑" there,
    # no paragraph needs its text looked at (most bodies have the class).
    named = markup.EDITOR_MARK in root.text_content()
    for node in root.iter():
        if isinstance(node.tag, str):
            is_marker = markup.is_editor_line(node) or (named and markup.is_editor_paragraph(node))
        else:
            is_marker = markup.is_editor_comment(node)
        if is_marker:
            _truncate_from(root, node)
            return


def _truncate_from(root: etree._Element, node: etree._Element) -> None:
    """Remove ``node`` and everything after it in document order."""
    cur = node
    while cur is not root:
        parent = cur.getparent()
        if parent is None:  # pragma: no cover - node is always under root
            return
        for sib in list(cur.itersiblings()):
            parent.remove(sib)
        if cur is not node:
            cur.tail = None
        cur = parent
    node_parent = node.getparent()
    if node_parent is not None:
        node_parent.remove(node)  # its tail goes with it: it is after the cut


def _remove_junk_and_collect_stocks(root: etree._Element, stocks: list[str]) -> None:
    """One document-order walk: collect stock ids, mark junk, then drop it.

    Charts are dropped but their ids collected; hidden/ad/script-like subtrees
    are dropped without looking inside (their links are not article mentions).
    """
    chart_members = markup.chart_range_members(root)
    to_drop: list[etree._Element] = []
    to_unwrap: list[etree._Element] = []
    stack: list[etree._Element] = list(reversed(root))
    while stack:
        node = stack.pop()
        if not isinstance(node.tag, str):
            to_drop.append(node)  # comments, processing instructions
            continue
        tag = node.tag.lower()
        if node in chart_members or markup.is_chart(node):
            for sub in node.iter():
                if isinstance(sub.tag, str):
                    _add_stock(stocks, markup.stock_id_of(sub))
            to_drop.append(node)
            continue
        if (
            tag in DROP_WITH_CONTENT
            or _HIDDEN_STYLE_RE.search(node.get("style") or "")
            or node.get("hidden") is not None
            or markup.is_ad(node)
        ):
            to_drop.append(node)
            continue
        if tag in VOID_JUNK:
            to_unwrap.append(node)
        elif markup.is_stock_mention(node):
            _add_stock(stocks, markup.stock_id_of(node))
        stack.extend(reversed(node))
    for node in to_drop:
        if node.getparent() is not None:
            node.drop_tree()
    for node in to_unwrap:
        if node.getparent() is not None:
            node.drop_tag()


def _add_stock(stocks: list[str], stock: str | None) -> None:
    if stock and stock not in stocks:
        stocks.append(stock)


_PROMO_BLOCKS = ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote")


def _drop_promos(root: etree._Element) -> bool:
    """Drop short leaf blocks that match :data:`~crawler.eastmoney.markup.PROMO_PATTERNS`;
    True if any was."""
    dropped = False
    # The patterns have no anchors: what matches in a block's text matches in
    # the whole text, so a body without any match (most) is done at once.
    if markup.PROMO_RE.search(root.text_content()) is None:
        return False
    for el in reversed(list(elements(root))):  # innermost first: parents may become leaves
        if el.tag not in _PROMO_BLOCKS:
            continue
        text = el.text_content().strip()
        if len(text) > markup.PROMO_MAX_CHARS or markup.PROMO_RE.search(text) is None:
            continue
        # Only leaf blocks: a wrapper holding other (non-empty) blocks is not a promo line.
        if not any(
            d.tag in BLOCK_TAGS and has_content(d) for d in el.iterdescendants() if d.tag != "br"
        ):
            el.drop_tree()
            dropped = True
    return dropped

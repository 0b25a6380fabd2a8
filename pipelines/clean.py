"""Turn an Eastmoney article body into safe, normalized article HTML.

Input is the body HTML as Eastmoney serves it: the inside of ``div#ContentBody``
of an article page (current or pre-2022 template) or the ``text`` field of the
Choice ``GetNewsText.do`` answer. Both carry the same article markup plus junk
(a hidden first paragraph, K-line chart blocks, the editor line, ad divs with
scripts, app promotion lines). See /work/shared/upstream.md, "Body HTML".

The work is done in two stages, on purpose:

1. lxml does the structural work (cut the junk, collect stock ids, absolutize
   URLs, normalize whitespace, drop empty blocks). libxml2 caps the tree depth
   (about 255), so hostile nesting is flattened here and every later stage sees
   a bounded tree.
2. nh3 (ammonia) sanitizes the result against a tag/attribute/URL-scheme
   allowlist and serializes it. Safety therefore never depends on the lxml
   stage being right: whatever it lets through, nh3 has the last word.

Everything is a pure function of its arguments; the same input gives the same
bytes out. :class:`CleanPipeline` is the thin Scrapy stage over them: it sets
``clean_html``, ``stocks``, ``body_text`` and ``content_sha256`` (the digest of
the clean HTML: a changed digest on a refresh is a new version).

Stats: ``finews/clean/articles``, ``finews/clean/empty`` (nothing survived
cleaning: the article becomes a recorded failure).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import lxml.html
import nh3
from itemadapter import ItemAdapter
from lxml import etree

from crawler.items import Article, Failure
from crawler.workers import Workers

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

__all__ = [
    "PROMO_PATTERNS",
    "CleanPipeline",
    "CleanResult",
    "body_text",
    "clean_body",
    "parse_fragment",
]


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


# --------------------------------------------------------------------------- rules

#: Paragraphs that advertise Eastmoney's apps or ask to scan/follow something.
#: A leaf block is dropped when its text matches one of these and is at most
#: PROMO_MAX_CHARS long (promo lines are short; a long paragraph that happens to
#: mention the app is article text, e.g. news about 东方财富 itself). The
#: patterns need a call to action ("下载…APP", "扫码关注", "关注…公众号") so
#: plain mentions such as "扫码支付" or "据东方财富Choice数据" are kept.
PROMO_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"(?:下载|打开|登录|登陆|安装|使用|戳)[^，。；！!]{0,12}"
        r"(?:东方财富|东财|天天基金|Choice)[^，。；！!]{0,8}(?:APP|客户端|终端)",
        r"(?:东方财富|东财|天天基金)[^，。；！!]{0,6}(?:APP|客户端)[^，。；！!]{0,6}"
        r"(?:下载|查看|获取|了解|体验|搜索)",
        r"扫码(?:下载|关注|阅读|查看|加入|领取|观看|了解|添加|进群|体验|订阅)",
        r"(?:扫描|扫一扫|长按|识别)[^，。；！!]{0,12}二维码",
        r"关注[^，。；！!]{0,20}(?:公众号|官方微信|官方微博|微信号|视频号|抖音号|服务号|订阅号)",
    )
)
PROMO_MAX_CHARS = 200


def _any_of(patterns: tuple[re.Pattern[str], ...]) -> re.Pattern[str]:
    """One regex matching where any of ``patterns`` does (one search, not one each).

    Each pattern starts with a literal or a ``(?:a|b|…)`` group of literals:
    a lookahead for their first characters (implied by every branch, so no
    match changes) lets the engine skip other characters fast, 2-3x quicker
    over an article's text. A pattern of another shape goes without it.
    """
    starts: set[str] = set()
    for pattern in patterns:
        text = pattern.pattern
        heads = text[3 : text.find(")")].split("|") if text.startswith("(?:") else [text]
        if not all(h and h[0] not in "\\[](){}.*+?^$|" and not h[0].isascii() for h in heads):
            starts = set()
            break
        starts.update(h[0] for h in heads)
    either = "|".join(f"(?:{p.pattern})" for p in patterns)
    if starts:
        either = f"(?=[{''.join(sorted(starts))}])(?:{either})"
    return re.compile(either, re.IGNORECASE)


_PROMO_RE = _any_of(PROMO_PATTERNS)

#: Tags kept in the output (nh3 allowlist). ``center`` is rewritten to p/div
#: before nh3 runs; ``span`` is allowed but every span is unwrapped anyway
#: (without attributes it carries nothing).
ALLOWED_TAGS = frozenset(
    {"p", "br", "a", "img", "strong", "b", "em", "i", "u", "sub", "sup"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote"}
    | {"table", "thead", "tbody", "tr", "th", "td", "pre", "code", "span", "div", "hr"}
)
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": set(),  # also switches off ammonia's default generic lang/title
    "a": {"href"},
    "img": {"src", "alt"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
_URL_SCHEMES = {"http", "https", "mailto"}
# Removed together with their content, in lxml and again in nh3.
_DROP_WITH_CONTENT = frozenset(
    {"script", "style", "noscript", "iframe", "frameset", "object", "applet", "form"}
    | {"button", "select", "option", "optgroup", "textarea", "template", "svg", "math"}
    | {"canvas", "video", "audio", "map", "title", "head", "xmp", "noembed", "noframes"}
    | {"plaintext", "colgroup", "nav", "aside", "dialog"}
)
# Void elements. libxml2 does not know the HTML5 ones and nests whatever
# follows inside them (``<embed>text<p>…`` puts the rest of the article under
# the embed), so they are unwrapped, never dropped with their "content".
_VOID_JUNK = frozenset(
    {"embed", "source", "track", "wbr", "keygen", "param", "area", "base", "link"}
    | {"meta", "input", "col", "frame", "basefont", "bgsound", "isindex", "image"}
)
_NH3_CLEAN_CONTENT = {
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "object",
    "textarea",
    "title",
    "xmp",
    "noembed",
    "noframes",
    "svg",
    "math",
    "select",
}
# Block-level container tags of other vocabularies, kept as <div>.
_RENAME_TO_DIV = frozenset(
    {"section", "article", "main", "header", "footer", "figure", "figcaption", "address"}
    | {"dl", "dt", "dd", "details", "summary", "fieldset", "legend", "body", "html"}
)
_BLOCK_TAGS = frozenset(
    {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote"}
    | {"table", "thead", "tbody", "tfoot", "tr", "th", "td", "pre", "hr", "center"}
    | _RENAME_TO_DIV
)
_INLINE_TAGS = frozenset({"a", "strong", "b", "em", "i", "u", "sub", "sup", "code", "span"})
# Blocks whose own text is not part of the article (only their cells/items are).
_STRUCTURE_TAGS = frozenset({"ul", "ol", "table", "thead", "tbody", "tr"})
# Removed when, after cleaning, they hold neither text nor an image.
_DROP_WHEN_EMPTY = frozenset(
    {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote"}
    | {"pre", "table"}
    | _INLINE_TAGS
)
# Class/id words that mark advertising containers ("zwinfos_ad", "adZW", "gg-box").
_AD_WORDS = frozenset(
    {"ad", "ads", "adv", "advert", "adverts", "advertise", "advertisement", "gg"}
    | {"guanggao", "sponsor", "sponsored", "banner"}
)
_AD_WORD_SPLIT_RE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_EDITOR_TEXT_RE = re.compile(r"^[（(]\s*责任编辑\s*[:：]")

# Stock ids. Markets are Eastmoney's numeric market ids (0, 1, 105, 116, ...).
_QUOTE_URL_RE = re.compile(
    r"quote\.eastmoney\.com/(?:unify/)?r/(\d{1,3})\.([0-9A-Za-z_]+)", re.IGNORECASE
)
_NID_RE = re.compile(r"[?&]nid=(\d{1,3})\.([0-9A-Za-z_]+)", re.IGNORECASE)
_MARKET_RE = re.compile(r"\d{1,3}")
_CODE_RE = re.compile(r"[0-9A-Za-z_]+")
_KLINE_HOST_RE = re.compile(r"webquoteklinepic\.eastmoney\.com|/GetPic\.aspx", re.IGNORECASE)

# Characters libxml2 refuses (or turns into U+FFFD) and C1 controls: garbage.
_BAD_CHARS_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# Whitespace stripped at paragraph edges: \s covers U+3000 (　), U+00A0 (&nbsp;),
# the en/em spaces; the zero-width ones are added by hand.
_EDGE_WS = r"\s\u200b\u200c\u200d\u2060\ufeff"
# The characters of the class above, spelled out for str.strip (a regex
# substitution per text node was 10 % of the cleaning): what \s matches in a
# str pattern (str.isspace) and the zero-width ones. tests/test_clean.py
# checks it against the class, character by character.
_EDGE_CHARS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003"
    "\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b\u200c\u200d\u2028\u2029"
    "\u202f\u205f\u2060\u3000\ufeff"
)
_CONTENT_RE = re.compile(f"[^{_EDGE_WS}]")
# Only ASCII whitespace collapses: that is what a browser collapses too, and
# U+3000 inside a paragraph is deliberate layout.
_ASCII_WS_RUN_RE = re.compile(r"[ \t\r\n\f]+")


def _collapse_ascii_ws(text: str) -> str:
    """``_ASCII_WS_RUN_RE.sub(" ", text)``: a text without a tab, CR, LF, FF or
    two spaces in a row (most text nodes) is already collapsed, and the
    substring tests are much cheaper than the regex call on every node."""
    if "  " in text or "\n" in text or "\t" in text or "\r" in text or "\f" in text:
        return _ASCII_WS_RUN_RE.sub(" ", text)
    return text


_URL_STRIP_RE = re.compile(r"[\t\r\n]")
_URL_QUOTE_RE = re.compile(r"[\s\"<>\\^`{|}]")


# --------------------------------------------------------------------------- public API


_PARSERS = threading.local()


def _html_parser() -> lxml.html.HTMLParser:
    """lxml.html's parser with every element an ``HtmlElement`` chosen in C.

    lxml.html picks each element's class in a Python callback (``<form>`` gets
    a FormElement, ...) every time a node is touched from Python: ~220 calls
    per article, 13 % of the cleaning time. Nothing here uses the form
    classes. One parser per thread: lxml parsers are not thread-safe.
    """
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = lxml.html.HTMLParser()
        parser.set_element_class_lookup(
            etree.ElementDefaultClassLookup(
                element=lxml.html.HtmlElement,
                comment=lxml.html.HtmlComment,
                pi=lxml.html.HtmlProcessingInstruction,
                entity=lxml.html.HtmlEntity,
            )
        )
        _PARSERS.parser = parser
    return parser


def parse_fragment(html: str) -> lxml.html.HtmlElement:
    """Parse an HTML fragment leniently; return the ``<body>`` holding it.

    Never raises for ``str`` input: characters libxml2 rejects are removed
    first, and the fixed ``<html><body>`` prefix means the document is never
    empty. libxml2 flattens nesting deeper than about 255 levels.
    """
    text = _BAD_CHARS_RE.sub("", html)
    doc = lxml.html.document_fromstring("<html><body>" + text, parser=_html_parser())
    body = doc.find("body")
    if body is None:  # pragma: no cover - libxml2 always creates it
        body = etree.SubElement(doc, "body")
    return body


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


# --------------------------------------------------------------------------- cleaning


def _clean(html: str, base_url: str) -> CleanResult:
    root = parse_fragment(html)

    # The source line must survive the cut below and end the article.
    media = _find_media_line(root)
    if media is not None:
        _detach(media)
    _truncate_at_editor(root)
    if media is not None:
        root.append(media)

    stocks: list[str] = []
    _remove_junk_and_collect_stocks(root, stocks)
    _normalize_tags(root)
    _fix_urls(root, base_url)
    _collapse_whitespace(root)
    _flatten_divs(root)
    _tidy(root)
    if _drop_promos(root):
        _tidy(root)  # a list or quote may have held only promo lines
    _layout(root)

    inner = lxml.html.tostring(root, encoding="unicode")
    inner = inner.removeprefix("<body>").removesuffix("</body>")
    safe = nh3.clean(
        inner,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=_NH3_CLEAN_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel=None,
        strip_comments=True,
        url_relative="deny",  # everything was absolutized; a relative URL here is junk
    )
    return CleanResult(safe.strip(), stocks)


def _elements(root: etree._Element) -> Iterator[lxml.html.HtmlElement]:
    """Elements under ``root`` in document order (no comments/PIs), as a snapshot."""
    # lxml filters to elements in C (``iter(etree.Element)``: no comments,
    # processing instructions or entities); the root comes first.
    elements = list(root.iter(etree.Element))
    return iter(elements[1:] if elements and elements[0] is root else elements)


def _classes(el: etree._Element) -> list[str]:
    return (el.get("class") or "").split()


def _find_media_line(root: etree._Element) -> etree._Element | None:
    for el in _elements(root):
        if "em_media" in _classes(el):
            return el
    return None


def _detach(el: etree._Element) -> None:
    """Remove ``el`` from its tree, leaving its tail text in place."""
    el.drop_tree()
    el.tail = None


def _truncate_at_editor(root: etree._Element) -> None:
    """Cut the editor line and everything after it (ads, promos, old-template junk).

    The marker is ``p.res-edit`` (current template), a ``（责任编辑：…）`` paragraph
    without the class, or the ``<!--责任编辑-->`` comment (old template).
    """
    # A paragraph's text is part of the whole text: without "责任编辑" there,
    # no paragraph needs its text looked at (most bodies have the class).
    named = "责任编辑" in root.text_content()
    for node in root.iter():
        if isinstance(node.tag, str):
            is_marker = "res-edit" in _classes(node) or (
                named
                and node.tag == "p"
                and _EDITOR_TEXT_RE.match(node.text_content().strip()) is not None
            )
        else:
            is_marker = node.tag is etree.Comment and "责任编辑" in (node.text or "")
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


def _chart_range_members(root: etree._Element) -> set[etree._Element]:
    """Nodes between paired ``<!-- EM_StockImg_Start -->``/``_End -->`` comments.

    Only siblings are paired; an unpaired marker removes nothing by itself (the
    chart link/image is still recognized by :func:`_is_chart`).
    """
    members: set[etree._Element] = set()
    for comment in list(root.iter(etree.Comment)):
        if (comment.text or "").strip().lower() != "em_stockimg_start":
            continue
        between: list[etree._Element] = []
        for sib in comment.itersiblings():
            if sib.tag is etree.Comment and (sib.text or "").strip().lower() == "em_stockimg_end":
                members.update(between)
                break
            between.append(sib)
    return members


def _is_chart(el: etree._Element) -> bool:
    """A K-line chart link or image (outside or inside the marker comments)."""
    if el.tag == "a":
        return "EmImageRemark" in _classes(el) or "/unify/r/" in (el.get("href") or "")
    if el.tag == "img":
        return bool(_KLINE_HOST_RE.search(el.get("src") or ""))
    return False


def _is_stock_mention(el: etree._Element) -> bool:
    if el.tag == "a":
        return "em_stock_key_common" in _classes(el) or bool(
            _QUOTE_URL_RE.search(el.get("href") or "")
        )
    if el.tag == "span":
        return (el.get("id") or "").startswith("Info.") or (
            "keytip" in _classes(el) and el.get("data-code") is not None
        )
    return False


def _is_ad(el: etree._Element) -> bool:
    names = " ".join(filter(None, (el.get("class"), el.get("id"))))
    if not names:
        return False
    return any(w.lower() in _AD_WORDS for w in _AD_WORD_SPLIT_RE.findall(names))


def _remove_junk_and_collect_stocks(root: etree._Element, stocks: list[str]) -> None:
    """One document-order walk: collect stock ids, mark junk, then drop it.

    Charts are dropped but their ids collected; hidden/ad/script-like subtrees
    are dropped without looking inside (their links are not article mentions).
    """
    chart_members = _chart_range_members(root)
    to_drop: list[etree._Element] = []
    to_unwrap: list[etree._Element] = []
    stack: list[etree._Element] = list(reversed(root))
    while stack:
        node = stack.pop()
        if not isinstance(node.tag, str):
            to_drop.append(node)  # comments, processing instructions
            continue
        tag = node.tag.lower()
        if node in chart_members or _is_chart(node):
            for sub in node.iter():
                if isinstance(sub.tag, str):
                    _add_stock(stocks, _stock_id_of(sub))
            to_drop.append(node)
            continue
        if (
            tag in _DROP_WITH_CONTENT
            or _HIDDEN_STYLE_RE.search(node.get("style") or "")
            or node.get("hidden") is not None
            or _is_ad(node)
        ):
            to_drop.append(node)
            continue
        if tag in _VOID_JUNK:
            to_unwrap.append(node)
        elif _is_stock_mention(node):
            _add_stock(stocks, _stock_id_of(node))
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


def _stock_id_of(el: etree._Element) -> str | None:
    """``<market>.<code>`` from a quote link, a K-line image, ``data-code`` or ``id``.

    Known shapes: href ``…/r/1.600519`` or ``…/unify/r/116.00992``; img
    ``GetPic.aspx?nid=116.00992``; ``data-code="1,600519"`` (market,code);
    ``data-code="00992|116|5"`` (code|market|kind); ``id="Info.1.600519"``.
    """
    for attr, regex in (("href", _QUOTE_URL_RE), ("src", _NID_RE)):
        m = regex.search(el.get(attr) or "")
        if m:
            return f"{int(m.group(1))}.{m.group(2)}"
    code = el.get("data-code")
    if code:
        found = _parse_data_code(code)
        if found:
            return found
    ident = el.get("id") or ""
    if ident.startswith("Info."):
        return _parse_data_code(ident[len("Info.") :])
    return None


def _parse_data_code(value: str) -> str | None:
    parts = [p for p in re.split(r"[|,.\s]+", value.strip()) if p]
    if len(parts) == 1:
        # A bare A-share code: the market follows from its first digit. Other
        # shapes are too ambiguous to guess (inferred, upstream.md shows none).
        code = parts[0]
        if re.fullmatch(r"\d{6}", code) and code[0] in "603":
            return ("1." if code[0] == "6" else "0.") + code
        return None
    if len(parts) < 2:
        return None
    first, second = parts[0], parts[1]
    market, code = (second, first) if "|" in value else (first, second)
    if not _MARKET_RE.fullmatch(market) and _MARKET_RE.fullmatch(code):
        market, code = code, market
    if _MARKET_RE.fullmatch(market) and _CODE_RE.fullmatch(code):
        return f"{int(market)}.{code}"
    return None


def _holding_blocks(root: etree._Element) -> set[etree._Element]:
    """The elements under ``root`` (and ``root``) that have a block descendant.

    One walk instead of a search below every element (``iterdescendants`` with
    the block tags built a tag matcher per call: 12 % of the cleaning). Valid
    for a document-order walk that changes only the element it is at and
    elements before it: no element's subtree changes before it is reached.
    """
    holding: set[etree._Element] = set()
    for block in root.iter(*_BLOCK_TAGS):
        for ancestor in block.iterancestors():
            if ancestor in holding:
                break  # and so are its ancestors
            holding.add(ancestor)
    return holding


def _normalize_tags(root: etree._Element) -> None:
    """Map the input vocabulary onto the allowlist; drop every attribute not needed."""
    for el in _elements(root):
        tag = el.tag.lower() if isinstance(el.tag, str) else el.tag
        if tag in _RENAME_TO_DIV:
            el.tag = "div"
        elif tag == "tfoot":
            el.tag = "tbody"
        elif tag == "caption":
            # A table caption becomes a paragraph just before its table.
            table = next((a for a in el.iterancestors() if a.tag == "table"), None)
            el.tag = "p"
            if table is not None:
                _detach(el)
                table.addprevious(el)
        elif tag != el.tag and (tag in ALLOWED_TAGS or tag == "center"):
            el.tag = tag  # only known names: odd ones ("aà<") are unwrapped below
    _fix_nesting(root)
    holding = _holding_blocks(root)
    for el in _elements(root):
        if el.tag == "center" or (el.tag == "div" and el not in holding):
            # <center> holds an image or a caption: a paragraph, unless it wraps blocks.
            el.tag = "div" if el in holding else "p"
    for el in _elements(root):
        if el.tag not in ALLOWED_TAGS or el.tag == "span":
            el.drop_tag()
            continue
        keep = {k: v for k, v in el.attrib.items() if k in _KEPT_ATTRS.get(el.tag, ())}
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
    for el in list(_elements(root)):
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
        if el.tag in _INLINE_TAGS:
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
                    _detach(child)
                    table.addprevious(child)
        for row in table.iter("tr"):
            row.text = None
            for child in list(row):
                child.tail = None
                if child.tag not in ("td", "th"):
                    _detach(child)
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
        if anc.tag in _BLOCK_TAGS and anc.tag not in ("p", "div", "address"):
            return False
    return False


_KEPT_ATTRS: dict[str, tuple[str, ...]] = {
    "a": ("href",),
    "img": ("src", "alt"),
    "td": ("colspan", "rowspan"),
    "th": ("colspan", "rowspan"),
}


def _absolute_url(url: str, base_url: str, schemes: frozenset[str]) -> str | None:
    """Resolve ``url`` against ``base_url``; ``None`` unless the result is a usable
    absolute URL with one of ``schemes``.

    Tabs/newlines are removed first (browsers ignore them, so ``java\\tscript:``
    is ``javascript:``); ``//host/x`` becomes ``https://host/x``.
    """
    url = _URL_STRIP_RE.sub("", url).strip()
    if not url or url.startswith("#"):
        return None
    try:
        if url.startswith("//"):
            url = "https:" + url
        elif base_url:
            url = urljoin(base_url.strip(), url)
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        return None
    if scheme in ("http", "https") and not parts.netloc:
        return None
    return _URL_QUOTE_RE.sub(lambda m: f"%{ord(m.group()):02X}", url)


_LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_IMG_SCHEMES = frozenset({"http", "https"})


def _fix_urls(root: etree._Element, base_url: str) -> None:
    """Absolutize ``a[href]`` and ``img[src]``; unwrap/drop what has no usable URL."""
    for el in _elements(root):
        if el.tag == "a":
            href = _absolute_url(el.get("href") or "", base_url, _LINK_SCHEMES)
            if href is None:
                el.drop_tag()
            else:
                el.set("href", href)
        elif el.tag == "img":
            src = _absolute_url(el.get("src") or "", base_url, _IMG_SCHEMES)
            if src is None:
                el.drop_tree()
            else:
                el.set("src", src)


def _inside_pre(root: etree._Element) -> set[etree._Element]:
    """Every node below a ``<pre>`` (whose whitespace is content)."""
    return {d for pre in root.iter("pre") for d in pre.iterdescendants()}


def _collapse_whitespace(root: etree._Element) -> None:
    """Collapse ASCII whitespace runs to one space outside ``<pre>``."""
    inside_pre = _inside_pre(root)
    for el in [root, *_elements(root)]:
        if el in inside_pre or el.tag == "pre":
            if el.tag == "pre" and el.tail:
                el.tail = _ASCII_WS_RUN_RE.sub(" ", el.tail)
            continue
        if el.text:
            el.text = _collapse_ascii_ws(el.text)
        if el.tail:
            el.tail = _collapse_ascii_ws(el.tail)


def _drop_promos(root: etree._Element) -> bool:
    """Drop short leaf blocks that match :data:`PROMO_PATTERNS`; True if any was."""
    dropped = False
    # The patterns have no anchors: what matches in a block's text matches in
    # the whole text, so a body without any match (most) is done at once.
    if _PROMO_RE.search(root.text_content()) is None:
        return False
    for el in reversed(list(_elements(root))):  # innermost first: parents may become leaves
        if el.tag not in ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"):
            continue
        text = el.text_content().strip()
        if len(text) > PROMO_MAX_CHARS or _PROMO_RE.search(text) is None:
            continue
        # Only leaf blocks: a wrapper holding other (non-empty) blocks is not a promo line.
        if not any(
            d.tag in _BLOCK_TAGS and _has_content(d) for d in el.iterdescendants() if d.tag != "br"
        ):
            el.drop_tree()
            dropped = True
    return dropped


def _has_content(el: etree._Element) -> bool:
    """True when ``el`` shows something: non-blank text or an image."""
    if el.tag == "img":
        return True
    if any(_CONTENT_RE.search(t) for t in el.itertext()):
        return True
    return el.find(".//img") is not None


def _strip_edges(block: etree._Element) -> None:
    """Strip whitespace (U+3000 too) and ``<br>`` at the start and end of a block."""
    node = block
    while True:  # start
        if node.text:
            node.text = node.text.lstrip(_EDGE_CHARS) or None
            if node.text:
                break
        child = next(node.iterchildren(etree.Element), None)
        if child is None:
            break
        if child.tag == "br" or (child.tag in _INLINE_TAGS and not _has_content(child)):
            child.drop_tree()  # its tail becomes node.text and is looked at next
            continue
        if child.tag in _INLINE_TAGS:
            node = child
            continue
        break  # an image or a block: nothing more to strip here
    node = block
    while True:  # end
        last = next(node.iterchildren(etree.Element, reversed=True), None)
        if last is None:
            if node.text:
                node.text = node.text.rstrip(_EDGE_CHARS) or None
            break
        if last.tail:
            last.tail = last.tail.rstrip(_EDGE_CHARS) or None
            if last.tail:
                break
        if last.tag == "br" or (last.tag in _INLINE_TAGS and not _has_content(last)):
            last.drop_tree()
            continue
        if last.tag in _INLINE_TAGS:
            node = last
            continue
        break


def _tidy(root: etree._Element) -> None:
    """Drop empty elements, then strip whitespace at block edges and around ``<br>``."""
    _drop_empty(root)
    for el in _elements(root):
        if el.tag in _BLOCK_TAGS and el.tag not in _STRUCTURE_TAGS and el.tag not in ("pre", "hr"):
            _strip_edges(el)
    _strip_around_breaks(root)


def _strip_around_breaks(root: etree._Element) -> None:
    """Strip whitespace around ``<br>``: old bodies indent each line with ``　　``."""
    for br in root.iter("br"):
        if br.tail:
            br.tail = br.tail.lstrip(_EDGE_CHARS) or None
        prev = br.getprevious()
        if prev is None:
            parent = br.getparent()
            if parent is not None and parent.text:
                parent.text = parent.text.rstrip(_EDGE_CHARS) or None
        elif prev.tail:
            prev.tail = prev.tail.rstrip(_EDGE_CHARS) or None


def _flatten_divs(root: etree._Element) -> None:
    """Unwrap divs that wrap blocks (they carry no attributes any more) and wrap
    the inline runs this leaves at the top level or in a blockquote into ``<p>``,
    so the article is a flat list of blocks."""
    for el in list(_elements(root)):
        if el.tag == "div" and el.getparent() is not None:
            el.drop_tag()
    for li in list(root.iter("li")):
        if _li_in_li(li):
            li.drop_tag()  # HTML5 would close the outer item here
    for parent in [root, *(e for e in _elements(root) if e.tag == "blockquote")]:
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
        if run or (pending_text and _CONTENT_RE.search(pending_text)):
            p = lxml.html.Element("p")
            p.text = pending_text
            p.extend(run)
            _strip_edges(p)
            if _has_content(p):
                out.append(p)
        run.clear()
        pending_text = None

    for child in children:
        if isinstance(child.tag, str) and child.tag in _BLOCK_TAGS:
            tail, child.tail = child.tail, None
            close_run()
            out.append(child)
            pending_text = tail
        else:
            run.append(child)
    close_run()
    parent.extend(out)


def _drop_empty(root: etree._Element) -> None:
    """Remove blocks and inline wrappers left without text or image.

    Bottom-up in one pass (children before parents), so the cost stays linear
    however deep the tree: an element has content when its own text, an image,
    a child with content or a child's tail (text that follows the child) does.
    """
    has: dict[etree._Element, bool] = {}
    for el in reversed(list(_elements(root))):
        found = el.tag == "img" or bool(el.text and _CONTENT_RE.search(el.text))
        if not found:
            for child in el:
                if has.get(child) or (child.tail and _CONTENT_RE.search(child.tail)):
                    found = True
                    break
        if not found and el.tag in _DROP_WHEN_EMPTY:
            el.drop_tree()  # its tail moves to the previous node, checked by the parent
        else:
            has[el] = found


def _layout(root: etree._Element) -> None:
    """Put each block on its own line: whitespace-only text next to blocks becomes ``\\n``."""
    inside_pre = _inside_pre(root)
    for el in [root, *_elements(root)]:
        if el in inside_pre:
            continue
        first = next(iter(el), None)
        if (
            (el is root or el.tag in _BLOCK_TAGS)
            and el.tag != "pre"
            and first is not None
            and first.tag in _BLOCK_TAGS
            and not (el.text or "").strip(" ")
        ):
            el.text = "\n"
        if el is not root and el.tag in _BLOCK_TAGS and not (el.tail or "").strip(" "):
            el.tail = "\n"
    if not (root.text or "").strip():
        root.text = None


# --------------------------------------------------------------------------- text

_TEXT_BLOCKS = _BLOCK_TAGS - {"tr", "td", "th"}


def _flush_line(lines: list[str], buf: list[str]) -> None:
    line = _collapse_ascii_ws("".join(buf)).strip()
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
            if tag and tag not in _DROP_WITH_CONTENT:
                parts.append(child.text or "")
                walk(child)
            if tag in _TEXT_BLOCKS:
                parts.append(" ")
            parts.append(child.tail or "")

    walk(cell)
    return _ASCII_WS_RUN_RE.sub(" ", "".join(parts)).strip()


def _text_lines(el: etree._Element, lines: list[str], buf: list[str]) -> None:
    if el.text:
        buf.append(el.text)
    for child in el:
        tag = child.tag if isinstance(child.tag, str) else ""
        if not tag or tag in _DROP_WITH_CONTENT:
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


def clean_article(body_html: str, source_url: str) -> tuple[str, list[str], str, str]:
    """The clean stage's work: (clean_html, stocks, body_text, content_sha256);
    body_text is blank when nothing is left. Pure: it may run in a worker."""
    result = clean_body(body_html, source_url)
    text = body_text(result.html)
    digest = hashlib.sha256(result.html.encode("utf-8")).hexdigest()
    return result.html, list(result.stocks), text, digest


class CleanPipeline:
    """The clean stage: Article.body_html -> clean_html, stocks, body_text, content_sha256.

    :func:`clean_article` runs in a worker (crawler.workers). Settings:
    FINEWS_WORKERS. Stats: ``finews/clean/articles``, ``finews/clean/empty``.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats
        self.workers = Workers.for_crawler(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CleanPipeline:
        return cls(crawler)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Article):
            return item
        adapter = ItemAdapter(item)
        html, stocks, text, digest = await self.workers.run(
            clean_article, adapter["body_html"], adapter["source_url"]
        )
        if not text.strip():
            self.stats.inc_value("finews/clean/empty")
            return Failure(
                stage="clean",
                reason="nothing left after cleaning",
                url=adapter["source_url"],
                info_code=adapter["info_code"],
                responses=adapter["list_responses"] + adapter["body_responses"],
            )
        adapter.update(clean_html=html, stocks=stocks, body_text=text, content_sha256=digest)
        self.stats.inc_value("finews/clean/articles")
        return item

"""What Eastmoney's article body markup means: the junk to cut and the stock ids.

Body HTML (``div#ContentBody`` of the article pages, the Choice ``text``
field) carries the article plus Eastmoney's own furniture. Everything the
cleaner (:mod:`crawler.transform.html.clean`) needs to know about that
furniture is here, so a change of template is an edit of this file:

* the source line ``p.em_media`` (kept, moved to the end of the article);
* the editor line ``p.res-edit``, a ``（责任编辑：…）`` paragraph or the
  ``<!--责任编辑-->`` comment: the article ends there;
* K-line chart blocks: ``<!-- EM_StockImg_Start -->`` … ``_End -->`` comment
  pairs, ``a.EmImageRemark`` / ``…/unify/r/…`` links and
  ``webquoteklinepic.eastmoney.com`` / ``GetPic.aspx`` images;
* stock mentions: ``a.em_stock_key_common``, quote links, ``span#Info.…`` and
  ``span.keytip[data-code]``, and the ids they carry;
* ad containers (class/id words such as ``zwinfos_ad``, ``adZW``, ``gg-box``)
  and the app-promotion lines (:data:`PROMO_PATTERNS`).

See /work/shared/upstream.md, "Body HTML". Pure functions over lxml elements.
"""

from __future__ import annotations

import re

from lxml import etree

__all__ = [
    "EDITOR_MARK",
    "PROMO_MAX_CHARS",
    "PROMO_PATTERNS",
    "PROMO_RE",
    "chart_range_members",
    "classes",
    "is_ad",
    "is_chart",
    "is_editor_comment",
    "is_editor_line",
    "is_editor_paragraph",
    "is_media_line",
    "is_stock_mention",
    "parse_data_code",
    "stock_id_of",
]

# --------------------------------------------------------------------------- promotion lines

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
#: One regex that matches where any of :data:`PROMO_PATTERNS` does: one search
#: per text instead of one per pattern.
PROMO_RE = re.compile("|".join(f"(?:{p.pattern})" for p in PROMO_PATTERNS), re.IGNORECASE)

# --------------------------------------------------------------------------- ads

# Class/id words that mark advertising containers ("zwinfos_ad", "adZW", "gg-box").
_AD_WORDS = frozenset(
    {"ad", "ads", "adv", "advert", "adverts", "advertise", "advertisement", "gg"}
    | {"guanggao", "sponsor", "sponsored", "banner"}
)
_AD_WORD_SPLIT_RE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def classes(el: etree._Element) -> list[str]:
    """The words of ``el``'s ``class`` attribute."""
    return (el.get("class") or "").split()


def is_ad(el: etree._Element) -> bool:
    """An advertising container: a word of its class or id is an ad word."""
    names = " ".join(filter(None, (el.get("class"), el.get("id"))))
    if not names:
        return False
    return any(w.lower() in _AD_WORDS for w in _AD_WORD_SPLIT_RE.findall(names))


# --------------------------------------------------------------------------- source and editor lines

#: The word of the editor line; a body without it has no editor paragraph.
EDITOR_MARK = "责任编辑"
_EDITOR_TEXT_RE = re.compile(r"^[（(]\s*责任编辑\s*[:：]")


def is_media_line(el: etree._Element) -> bool:
    """The source line (``p.em_media``: "文章来源：…"), which ends the article."""
    return "em_media" in classes(el)


def is_editor_line(el: etree._Element) -> bool:
    """The editor line of the current template: ``p.res-edit``."""
    return "res-edit" in classes(el)


def is_editor_paragraph(el: etree._Element) -> bool:
    """A ``（责任编辑：…）`` paragraph without the class."""
    return el.tag == "p" and _EDITOR_TEXT_RE.match(el.text_content().strip()) is not None


def is_editor_comment(node: etree._Element) -> bool:
    """The old template's ``<!--责任编辑-->`` comment."""
    return node.tag is etree.Comment and EDITOR_MARK in (node.text or "")


# --------------------------------------------------------------------------- charts and stocks

# Markets are Eastmoney's numeric market ids (0, 1, 105, 116, ...).
_QUOTE_URL_RE = re.compile(
    r"quote\.eastmoney\.com/(?:unify/)?r/(\d{1,3})\.([0-9A-Za-z_]+)", re.IGNORECASE
)
_NID_RE = re.compile(r"[?&]nid=(\d{1,3})\.([0-9A-Za-z_]+)", re.IGNORECASE)
_MARKET_RE = re.compile(r"\d{1,3}")
_CODE_RE = re.compile(r"[0-9A-Za-z_]+")
_KLINE_HOST_RE = re.compile(r"webquoteklinepic\.eastmoney\.com|/GetPic\.aspx", re.IGNORECASE)


def chart_range_members(root: etree._Element) -> set[etree._Element]:
    """Nodes between paired ``<!-- EM_StockImg_Start -->``/``_End -->`` comments.

    Only siblings are paired; an unpaired marker removes nothing by itself (the
    chart link/image is still recognized by :func:`is_chart`).
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


def is_chart(el: etree._Element) -> bool:
    """A K-line chart link or image (outside or inside the marker comments)."""
    if el.tag == "a":
        return "EmImageRemark" in classes(el) or "/unify/r/" in (el.get("href") or "")
    if el.tag == "img":
        return bool(_KLINE_HOST_RE.search(el.get("src") or ""))
    return False


def is_stock_mention(el: etree._Element) -> bool:
    """A stock link or stock span in the article text."""
    if el.tag == "a":
        return "em_stock_key_common" in classes(el) or bool(
            _QUOTE_URL_RE.search(el.get("href") or "")
        )
    if el.tag == "span":
        return (el.get("id") or "").startswith("Info.") or (
            "keytip" in classes(el) and el.get("data-code") is not None
        )
    return False


def stock_id_of(el: etree._Element) -> str | None:
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
        found = parse_data_code(code)
        if found:
            return found
    ident = el.get("id") or ""
    if ident.startswith("Info."):
        return parse_data_code(ident[len("Info.") :])
    return None


def parse_data_code(value: str) -> str | None:
    """``<market>.<code>`` from a ``data-code``/``Info.`` value, or ``None``."""
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

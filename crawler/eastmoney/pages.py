"""The article page (``https://finance.eastmoney.com/a/<code>.html``) -> its body and fields.

A pure function: it takes the page's HTML and never raises on bad input but
returns the reason it found nothing, so a spider can fall back to another body
source. The body is returned raw (editor line, ads and all); cleaning is a
pipeline's job. The page shows its time to the minute only.

The two templates (see /work/shared/upstream.md), e.g. the current one of
https://finance.eastmoney.com/a/202206142411662087.html::

    div.contentwrap
      div.title                                title
      div.tipbox div.infos div.item            "2022年06月14日 10:45", "来源：中国经济网"
      div.contentbox div.mainleft div.zwinfos
        div.abstract div.txt                   summary
        div.txtinfos#ContentBody               the body
      div.mainright                            recommendations (not the article)

and the older one (before 2022)::

    div.newsContent
      h1                                       title
      div.Info div.time, div.Info div.source   "2019年03月01日 09:30", "来源：新华社"
      div.b-review                             summary
      div#ContentBody.Body                     the body
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree
from parsel import Selector
from parsel.csstranslator import css2xpath

from crawler.eastmoney.ids import valid_show_time

# "2022年06月14日 10:45" on the article page (minutes only).
PAGE_TIME_RE = re.compile(
    r"(\d{4})年(\d{1,2})月(\d{1,2})日\s*(\d{1,2}):(\d{2})(?::(\d{2}))?", re.ASCII
)


@dataclass
class PageArticle:
    """What the article page gives. ``published`` is "YYYY-MM-DD HH:MM:SS"."""

    title: str = ""
    published: str = ""
    media: str = ""
    summary: str = ""
    body_html: str = ""
    template: str = ""  # "current" | "old"


def _css(query: str) -> etree.XPath:
    """A CSS query compiled once, as parsel would run it (``Selector.css``):
    lxml compiles an XPath string on every ``.xpath()`` call, ~10 µs each."""
    return etree.XPath(css2xpath(query), smart_strings=False)


def _texts(query: str) -> etree.XPath:
    """The text nodes under what ``query`` matches (parsel's ``query ::text``),
    each once, in document order."""
    return _css(query + " ::text")


# Both templates: the body box.
_CONTENT_BODY = _css("#ContentBody")
_ALL_TEXT = _texts("")

# The current template (e.g. https://finance.eastmoney.com/a/202206142411662087.html).
# Its div.title sits inside div.contentwrap; a page without that box (tolerated,
# not seen) gives the text of any div.title.
_TITLE = _texts("div.contentwrap div.title")
_ANY_TITLE = _texts("div.title")
# The time and the source are sibling div.item boxes, in no fixed order, with
# an optional "作者：…" item; the source may be a bare name ("界面新闻",
# tests/fixtures/pages/bare_media_item.html), so each item's text is kept apart.
_INFO_ITEMS = _css("div.tipbox div.infos div.item")
_SUMMARY = _texts("div.abstract div.txt")

# The older template (before 2022, e.g. a legacy
# http://finance.eastmoney.com/news/1350,<code>.html; tests/fixtures/pages/old_template.html):
# any div.newsContent on the page marks it.
_OLD_TEMPLATE = _css("div.newsContent")
_OLD_TITLE = _texts("div.newsContent > h1")
_OLD_TIME = _texts("div.Info div.time")
# "来源：" and the media, which may be a link (<a href="…">新华社</a>): every text node counts.
_OLD_SOURCE = _texts("div.Info div.source")
_OLD_SUMMARY = _texts("div.b-review")


def _joined(texts: list[str]) -> str:
    return " ".join(t.strip() for t in texts if t.strip())


def page_time(text: str) -> str:
    """The first ``YYYY年MM月DD日 HH:MM`` in ``text`` as ``YYYY-MM-DD HH:MM:SS``
    ("" when there is none, or it names no real moment)."""
    m = PAGE_TIME_RE.search(text)
    if not m:
        return ""
    y, mo, d, h, mi, s = m.groups()
    value = f"{y}-{int(mo):02d}-{int(d):02d} {int(h):02d}:{mi}:{s or '00'}"
    # A page may show an impossible time ("2026年31月23日"): no date rather than a wrong one.
    return value if valid_show_time(value) else ""


def _media(text: str) -> str:
    # "来源：中国经济网" (full-width colon, sometimes a half-width one)
    m = re.search(r"来源\s*[：:]\s*(.+)", text)
    return m.group(1).strip() if m else ""


def _media_from_items(items: list[str]) -> str:
    """The source among the ``div.infos div.item`` texts.

    Usually "来源：中国经济网"; some pages show the bare name
    (``<div class="item">界面新闻</div>``) or an extra "作者：…" item.
    """
    for text in items:
        if _media(text):
            return _media(text)
    for text in items:
        if text and not page_time(text) and not re.match(r"^(作者|编辑|责任编辑)\s*[：:]", text):
            return text.strip()
    return ""


def _inner_html(element: Any) -> str:
    """The element's content as HTML: what ``xpath("node()").getall()`` joins
    (text as it is, each child serialized without its tail, then the tail as
    text), without a Selector per node (~36 per article page)."""
    parts = [element.text] if element.text else []
    for child in element:
        parts.append(etree.tostring(child, method="html", encoding="unicode", with_tail=False))
        if child.tail:
            parts.append(child.tail)
    return "".join(parts)


def parse_article_page(html: str, url: str = "") -> tuple[PageArticle | None, str]:
    """Article page -> (fields, "") or (None, reason): no ``#ContentBody``, no article."""
    try:
        sel = Selector(text=html)
    except Exception as exc:  # lxml refuses some garbage
        return None, f"unparseable HTML: {exc}"
    root = sel.root
    body = _CONTENT_BODY(root)
    if not body:
        return None, "no #ContentBody"
    body_html = _inner_html(body[0])
    if _OLD_TEMPLATE(root):
        return PageArticle(
            title=_joined(_OLD_TITLE(root)),
            published=page_time(_joined(_OLD_TIME(root))),
            media=_media(_joined(_OLD_SOURCE(root))),
            summary=_joined(_OLD_SUMMARY(root)),
            body_html=body_html,
            template="old",
        ), ""
    items = [_joined(_ALL_TEXT(item)) for item in _INFO_ITEMS(root)]
    return PageArticle(
        title=_joined(_TITLE(root)) or _joined(_ANY_TITLE(root)),
        published=next((page_time(t) for t in items if page_time(t)), ""),
        media=_media_from_items(items),
        summary=_joined(_SUMMARY(root)),
        body_html=body_html,
        template="current",
    ), ""

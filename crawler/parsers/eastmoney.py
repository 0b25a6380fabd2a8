"""Every Eastmoney URL, selector and JSON field name finews depends on.

Pure functions: they take a response body (text) and its URL and return plain
data; they never raise on bad input but return a result that says what is
wrong, so a spider can record a failure. When the upstream changes, this is
the one file to edit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from parsel import Selector
from parsel.csstranslator import css2xpath

from crawler.eastmoney.urls import (  # noqa: F401  (re-exported)
    ARTICLE_URL,
    CHOICE_TEXT_API,
    COLUMNS,
    LIST_API,
    LIST_FIELDS,
    article_url,
    choice_text_url,
    column_name,
    list_url,
)
from crawler.items import ListEntry

# re.ASCII: \d must not match other scripts' digits ("٢٠٢٦…" is not a code), and
# "$" must not accept a trailing newline (\Z). Ids and dates become file paths.
CODE_RE = re.compile(r"^\d{17,18}\Z", re.ASCII)
INFO_CODE_RE = re.compile(r"^NW\d{17,18}\Z", re.ASCII)
SHOW_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\Z", re.ASCII)
# "2022年06月14日 10:45" on the article page (minutes only).
PAGE_TIME_RE = re.compile(
    r"(\d{4})年(\d{1,2})月(\d{1,2})日\s*(\d{1,2}):(\d{2})(?::(\d{2}))?", re.ASCII
)
# A list entry dated further ahead than this (Beijing time) is not news but garbage.
FUTURE_TOLERANCE = timedelta(days=1)
BEIJING_OFFSET = timedelta(hours=8)


def valid_show_time(value: str) -> bool:
    """``YYYY-MM-DD HH:MM:SS`` that names a real moment (no 2026-02-30, no 25:00)."""
    if not SHOW_TIME_RE.match(value):
        return False
    try:
        # The fields' positions are fixed by the pattern; datetime() checks the
        # ranges (strptime does the same, ~10x slower: twice per article page).
        datetime(
            int(value[0:4]),
            int(value[5:7]),
            int(value[8:10]),
            int(value[11:13]),
            int(value[14:16]),
            int(value[17:19]),
        )
    except ValueError:
        return False
    return True


# JSONP: "cb({...});" -> {...}
JSONP_RE = re.compile(r"^\s*[\w$.]+\s*\((.*)\)\s*;?\s*$", re.S)


def code_from_id(value: str) -> str | None:
    """Article code from an infoCode, a bare code or any article URL form.

    >>> code_from_id("NW202206142411662087")
    '202206142411662087'
    >>> code_from_id("http://finance.eastmoney.com/news/1350,202206142411662087.html")
    '202206142411662087'
    """
    value = value.strip()
    if INFO_CODE_RE.match(value):
        return value[2:]
    if CODE_RE.match(value):
        return value
    if value.startswith(("http://", "https://", "//")):
        path = urlsplit(value if not value.startswith("//") else "https:" + value).path
        # /a/<code>.html, /news/1<column>,<code>.html, caifuhao /news/<code>
        m = re.search(r"(?:/a/|,|/news/)(\d{17,18})(?:\.html)?\Z", path, re.ASCII)
        if m:
            return m.group(1)
    return None


_LEGACY_HEAD_RE = re.compile(r"/news/1\d+$")


def split_ids(text: str) -> list[str]:
    """Split a comma list of ids and URLs, keeping legacy URLs whole.

    Legacy article URLs hold a comma themselves
    (``http://finance.eastmoney.com/news/1350,202206142411662087.html``).
    """
    parts: list[str] = []
    for piece in text.split(","):
        piece = piece.strip()
        if parts and _LEGACY_HEAD_RE.search(parts[-1]):
            parts[-1] += "," + piece
        elif piece:
            parts.append(piece)
    return parts


# --- list API ------------------------------------------------------------


@dataclass
class ListPage:
    """A parsed list answer. ``ok`` is False when the answer is unusable."""

    ok: bool
    error: str = ""
    total: int | None = None
    entries: list[ListEntry] = field(default_factory=list)
    # Entries that could not be read: (raw item as JSON text, reason).
    rejected: list[tuple[str, str]] = field(default_factory=list)


def _loads_json_or_jsonp(text: str) -> Any:
    text = text.strip().lstrip("\ufeff")
    try:
        return json.loads(text)
    except ValueError:
        m = JSONP_RE.match(text)
        if not m:
            raise
        return json.loads(m.group(1))


# JSON may carry lone surrogates ("\\ud800"), which no file or database can store.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return _SURROGATE_RE.sub("\ufffd", str(value).strip())
    return ""


def parse_list_entry(raw: Any, now: datetime | None = None) -> tuple[ListEntry | None, str]:
    """One ``data.list[]`` item -> (entry, "") or (None, reason).

    ``now`` (UTC, default: the clock) bounds ``showTime``: an entry dated more than
    :data:`FUTURE_TOLERANCE` ahead of Beijing time is rejected.
    """
    if not isinstance(raw, dict):
        return None, "not an object"
    code = _str(raw.get("code"))
    if not CODE_RE.match(code):
        return None, f"bad code {code[:40]!r}"
    show_time = _str(raw.get("showTime"))
    if not valid_show_time(show_time):
        return None, f"bad showTime {show_time[:40]!r}"
    beijing_now = (now or datetime.now(UTC)).replace(tzinfo=None) + BEIJING_OFFSET
    if datetime.strptime(show_time, "%Y-%m-%d %H:%M:%S") > beijing_now + FUTURE_TOLERANCE:
        return None, f"showTime in the future {show_time!r}"
    title = _str(raw.get("title"))
    if not title:
        return None, "missing title"
    entry = ListEntry(
        code=code,
        title=title,
        show_time=show_time,
        media=_str(raw.get("mediaName")),
        summary=_str(raw.get("summary")),
        image=_str(raw.get("image")),
        url=_str(raw.get("url")),
        unique_url=_str(raw.get("uniqueUrl")),
        # The API is asked for "Np_dst" and answers "np_dst".
        np_dst=_str(raw.get("np_dst", raw.get("Np_dst"))),
    )
    return entry, ""


def parse_list(text: str, url: str = "") -> ListPage:
    """Parse a getNewsByColumns answer (JSON or JSONP).

    ``code`` arrives as ``1`` or ``"1"``; anything else is an error answer such
    as ``{"code":0,"message":"Required String parameter 'req_trace' is not present"}``.
    """
    try:
        doc = _loads_json_or_jsonp(text)
    except ValueError as exc:
        return ListPage(ok=False, error=f"not JSON: {exc}")
    if not isinstance(doc, dict):
        return ListPage(ok=False, error="answer is not an object")
    if _str(doc.get("code")) != "1":
        return ListPage(ok=False, error=f"code {doc.get('code')!r}: {_str(doc.get('message'))}")
    data = doc.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("list"), list):
        return ListPage(ok=False, error="no data.list in answer")
    total_raw = _str(data.get("totle_hits", data.get("total_hits")))
    # isascii: "²".isdigit() is True but int("²") raises.
    total = int(total_raw) if total_raw.isascii() and total_raw.isdigit() else None
    page = ListPage(ok=True, total=total)
    for raw in data["list"]:
        entry, reason = parse_list_entry(raw)
        if entry is None:
            raw_text = _SURROGATE_RE.sub("\ufffd", json.dumps(raw, ensure_ascii=False))
            page.rejected.append((raw_text[:2000], reason))
        else:
            page.entries.append(entry)
    return page


# --- article page --------------------------------------------------------


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
    """The text nodes under what ``query`` matches (parsel's ``query ::text``)."""
    return _css(query + " ::text")


_CONTENT_BODY = _css("#ContentBody")
_OLD_TITLE = _texts("div.newsContent > h1")
_OLD_TIME = _texts("div.Info div.time")
_OLD_SOURCE = _texts("div.Info div.source")
_OLD_SUMMARY = _texts("div.b-review")
_ALL_TEXT = _texts("")


def _text(root: Any, texts: etree.XPath) -> str:
    return _joined(texts(root))


def _joined(texts: list[str]) -> str:
    return " ".join(t.strip() for t in texts if t.strip())


# How XPath's normalize-space splits @class (what a CSS class selector tests).
_CLASS_SPACE = re.compile(r"[ \t\r\n]+")


class _Divs:
    """The page's ``div`` elements by class, from one walk: the current
    template's queries answered without an XPath over the whole page each
    (~20 µs apiece). Same elements, in document order, as the CSS queries
    they replace (``div.a div.b``: a ``div.b`` inside a ``div.a``)."""

    def __init__(self, root: Any) -> None:
        self.by_class: dict[str, list[Any]] = {}
        for div in root.iter("div"):
            value = div.get("class")
            if value:
                for token in dict.fromkeys(_CLASS_SPACE.split(value)):
                    if token:
                        self.by_class.setdefault(token, []).append(div)

    def of(self, token: str) -> list[Any]:
        return self.by_class.get(token, [])

    def within(self, token: str, *outer: str) -> list[Any]:
        """``div.<outer[0]> … div.<outer[-1]> div.<token>``."""
        chain = [set(self.of(name)) for name in outer]
        found = []
        for div in self.of(token):
            need = len(chain) - 1  # match the chain innermost first, up the ancestors
            for ancestor in div.iterancestors("div"):
                if need < 0:
                    break
                if ancestor in chain[need]:
                    need -= 1
            if need < 0:
                found.append(div)
        return found


def _texts_in(elements: list[Any]) -> list[str]:
    """The text nodes under ``elements`` (document order, each once), as
    ``<their query> ::text`` gives them."""
    chosen: set[Any] = set()
    texts: list[str] = []
    for element in elements:
        if any(ancestor in chosen for ancestor in element.iterancestors()):
            continue  # its text is in an earlier element's
        chosen.add(element)
        texts.extend(_ALL_TEXT(element))
    return texts


def _page_time(text: str) -> str:
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
        if text and not _page_time(text) and not re.match(r"^(作者|编辑|责任编辑)\s*[：:]", text):
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
    """Article page -> (fields, "") or (None, reason).

    Current template (2022-): ``div.title``, ``div.tipbox div.infos div.item``
    (time, source), ``div.abstract div.txt``, ``div.txtinfos#ContentBody``.
    Older template: ``div.newsContent > h1``, ``div.Info div.time``,
    ``div.source``, ``div.b-review``, ``div#ContentBody.Body``.
    The body is returned raw (editor line, ads and all); cleaning is a
    pipeline's job.
    """
    try:
        sel = Selector(text=html)
    except Exception as exc:  # lxml refuses some garbage
        return None, f"unparseable HTML: {exc}"
    root = sel.root
    body = _CONTENT_BODY(root)
    if not body:
        return None, "no #ContentBody"
    body_html = _inner_html(body[0])
    divs = _Divs(root)
    if divs.of("newsContent"):
        page = PageArticle(
            title=_text(root, _OLD_TITLE),
            published=_page_time(_text(root, _OLD_TIME)),
            media=_media(_text(root, _OLD_SOURCE)),
            summary=_text(root, _OLD_SUMMARY),
            body_html=body_html,
            template="old",
        )
    else:
        items = [_text(el, _ALL_TEXT) for el in divs.within("item", "tipbox", "infos")]
        page = PageArticle(
            title=_joined(_texts_in(divs.within("title", "contentwrap")))
            or _joined(_texts_in(divs.of("title"))),
            published=next((_page_time(t) for t in items if _page_time(t)), ""),
            media=_media_from_items(items),
            summary=_joined(_texts_in(divs.within("txt", "abstract"))),
            body_html=body_html,
            template="current",
        )
    return page, ""


# --- Choice text API -----------------------------------------------------


@dataclass
class ChoiceText:
    text: str = ""  # body HTML
    content: str = ""  # plain text, paragraphs start with "　　"
    title: str = ""
    published: str = ""
    media: str = ""


def parse_choice_text(text: str, url: str = "") -> tuple[ChoiceText | None, str]:
    """GetNewsText.do answer -> (fields, "") or (None, reason); empty ``text`` is a reason."""
    try:
        doc = _loads_json_or_jsonp(text)
    except ValueError as exc:
        return None, f"not JSON: {exc}"
    if not isinstance(doc, dict):
        return None, "answer is not an object"
    # Some answers wrap the fields in "data" (inferred); accept both.
    if isinstance(doc.get("data"), dict) and "text" not in doc:
        doc = doc["data"]
    if "text" not in doc and "code" in doc:
        # {"code":0,"message":"非法请求"}: refused, not empty (the browser may get it).
        return None, f"Choice text refused: code {doc.get('code')!r} {_str(doc.get('message'))}"
    show_time = _str(doc.get("showTime"))
    result = ChoiceText(
        text=_str(doc.get("text")),
        content=_str(doc.get("content")),
        title=_str(doc.get("title")),
        published=show_time if valid_show_time(show_time) else "",
        media=_str(doc.get("mediaName")),
    )
    if not result.text.strip():
        return None, "empty Choice text"
    return result, ""

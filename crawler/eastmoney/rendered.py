"""Parse pages rendered by the browser route (see ``crawler/browser/``).

Pure functions, like the rest of ``crawler.eastmoney``: they take the rendered DOM
(``page.content()``), its canonical URL and the responses the page loaded
(``captured``: :class:`~crawler.items.Fetched` with canonical URLs, as
``crawler.browser.snapshots.render_snapshots`` returns them) and never raise.

The captured API answers are the primary source; the DOM is the fallback:

- Column page: the list API JSON gives what the fast route gets (``showTime``
  to the second, ``mediaName``, ``code``, ``np_dst``); it is parsed by
  ``crawler.eastmoney.lists.parse_list`` itself. The DOM (``li[id^="newsTr"]``) only shows
  ``MM月DD日 HH:mm`` (the older server-rendered form ``YYYY年MM月DD日 HH:mm``):
  no seconds and no media, so DOM entries have ``show_time == ""`` and
  ``media == ""`` and the body source (Choice JSON) has to fill them in.
- Share page: the Choice JSON ``text`` is byte for byte the body the fast
  route archives. ``#newsContent``'s innerHTML is the same markup after a
  browser parse and two serializations (Chromium's, then lxml's): ``<br />``
  becomes ``<br>``, attributes are re-quoted, entities decoded, unclosed tags
  closed, and page scripts (including an article's own ``onerror``
  handlers) may have changed it. After ``crawler.transform.html.clean.clean_body`` and
  ``html_to_markdown`` the replica's fixtures give the same post either way
  (``tests/test_parsers_rendered.py``), but only the JSON path is exact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qs, urljoin, urlsplit

from parsel import Selector

from crawler.eastmoney.choice import ChoiceText, choice_document, parse_choice_text
from crawler.eastmoney.ids import code_from_id, valid_show_time
from crawler.eastmoney.lists import ListPage, parse_list
from crawler.eastmoney.urls import CHOICE_API_PATH, LIST_API_PATH
from crawler.items import Fetched, ListEntry

SHOW_TIME_IN_TEXT = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})")


@dataclass
class DomListItem:
    """One ``li[id^="newsTr"]`` of a rendered column page."""

    code: str  # from the link; "" when the link carries no article code
    title: str
    href: str  # absolute
    summary: str
    time_text: str  # as shown, e.g. "11月23日 10:45" (no seconds, maybe no year)


@dataclass
class RenderedList(ListPage):
    """A column page read from a render. ``source``: ``"json"`` or ``"dom"``."""

    source: str = ""
    dom_items: list[DomListItem] = field(default_factory=list)


@dataclass
class RenderedShare(ChoiceText):
    """A share page read from a render. ``source``: ``"json"`` or ``"dom"``."""

    source: str = ""


def _text(sel: Selector) -> str:
    return " ".join(t.strip() for t in sel.xpath(".//text()").getall() if t.strip())


def _decode(fetched: Fetched) -> str:
    charset = "utf-8"
    for name, value in fetched.headers:
        if name.lower() == "content-type":
            m = re.search(r"charset=([\w.-]+)", value, re.I)
            if m:
                charset = m.group(1)
    try:
        return fetched.body.decode(charset, "replace")
    except LookupError:
        return fetched.body.decode("utf-8", "replace")


def _captured(captured: Iterable[Fetched], path: str) -> list[Fetched]:
    return [c for c in captured if urlsplit(c.url).path == path and c.status == 200 and c.body]


def _query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


# --------------------------------------------------------------------------- column page


def parse_rendered_list_items(html: str, url: str) -> list[DomListItem]:
    """The ``li[id^="newsTr"]`` items of a rendered column page, in page order."""
    try:
        sel = Selector(text=html or "<html></html>")
    except Exception:  # noqa: BLE001 - lxml refuses some garbage
        return []
    items = []
    for li in sel.css('li[id^="newsTr"]'):
        link = li.css("p.title a")
        href = (link.attrib.get("href") or "").strip() if link else ""
        href = urljoin(url, href) if href else ""
        items.append(
            DomListItem(
                code=(code_from_id(href) or "") if href else "",
                title=_text(link[0]) if link else "",
                href=href,
                summary=_text(li.css("p.info")[0]) if li.css("p.info") else "",
                time_text=_text(li.css("p.time")[0]) if li.css("p.time") else "",
            )
        )
    return items


def _entry_from_dom(item: DomListItem) -> tuple[ListEntry | None, str]:
    if not item.code:
        return None, f"no article code in link {item.href[:200]!r}"
    if not item.title:
        return None, "missing title"
    parts = urlsplit(item.href)
    return (
        ListEntry(
            code=item.code,
            title=item.title,
            show_time="",  # the DOM has no seconds (and no media): see the module docstring
            media="",
            summary=item.summary,
            url=item.href,
            unique_url=item.href if parts.path.startswith("/a/") else "",
            np_dst="CFH" if (parts.hostname or "").startswith("caifuhao.") else "",
        ),
        "",
    )


def parse_rendered_list(
    html: str, url: str, captured: Iterable[Fetched] = (), column: int | None = None
) -> RenderedList:
    """A rendered column page -> its list, from the captured list API JSON if
    any (``column`` picks the answer for that column when the page made
    several calls), else from the DOM items.

    ``ok`` is False when neither gives a list: no usable JSON and no items.
    """
    captured = list(captured)
    dom_items = parse_rendered_list_items(html, url)
    answers = _captured(captured, LIST_API_PATH)
    if column is not None:
        answers.sort(key=lambda c: str(column) not in _query(c.url).get("column", "").split(","))
    json_error = ""
    for answer in answers:
        page = parse_list(_decode(answer), answer.url)
        if page.ok:
            return RenderedList(
                ok=True,
                total=page.total,
                entries=page.entries,
                rejected=page.rejected,
                source="json",
                dom_items=dom_items,
            )
        json_error = json_error or f"list API answer: {page.error}"
    if not dom_items:
        reason = json_error or "no list API answer captured"
        return RenderedList(
            ok=False, error=f"{reason}; no li[id^=newsTr] in the page", dom_items=dom_items
        )
    result = RenderedList(ok=True, source="dom", dom_items=dom_items)
    for item in dom_items:
        entry, reason = _entry_from_dom(item)
        if entry is None:
            result.rejected.append((json.dumps(asdict(item), ensure_ascii=False), reason))
        else:
            result.entries.append(entry)
    return result


# --------------------------------------------------------------------------- share page


def _is_choice_answer(text: str) -> bool:
    """True for a real GetNewsText.do answer (it has ``text``), not a refusal."""
    try:
        doc = json.loads(text.strip().lstrip("\ufeff"))
    except ValueError:
        return False
    doc = choice_document(doc)
    return isinstance(doc, dict) and "text" in doc


def parse_rendered_share_dom(html: str, url: str) -> tuple[RenderedShare | None, str]:
    """``#newsTitle``, ``#newsInfo`` (``showTime mediaName``) and the innerHTML
    of ``#newsContent`` of a rendered share page."""
    try:
        sel = Selector(text=html or "<html></html>")
    except Exception as exc:  # noqa: BLE001
        return None, f"unparseable HTML: {exc}"
    box = sel.css("#newsContent")
    if not box:
        return None, "no #newsContent in the page"
    body = "".join(box[0].xpath("node()").getall())
    if not body.strip():
        return None, "empty #newsContent"
    title = _text(sel.css("#newsTitle")[0]) if sel.css("#newsTitle") else ""
    info = _text(sel.css("#newsInfo")[0]) if sel.css("#newsInfo") else ""
    m = SHOW_TIME_IN_TEXT.search(info)
    published = m.group(1) if m and valid_show_time(m.group(1)) else ""
    media = (info[: m.start()] + info[m.end() :]).strip() if m else info.strip()
    return (
        RenderedShare(text=body, title=title, published=published, media=media, source="dom"),
        "",
    )


def parse_rendered_share(
    html: str, url: str, captured: Iterable[Fetched] = ()
) -> tuple[RenderedShare | None, str]:
    """A rendered share page -> (body and fields, "") or (None, reason).

    The captured Choice JSON wins (an answer with an empty ``text`` is final:
    ``(None, "empty Choice text")``); the DOM is read only when no real answer
    was captured (none, or a refusal such as ``{"code":0,"message":"非法请求"}``).
    """
    info_code = _query(url).get("infoCode", "")
    answers = _captured(captured, CHOICE_API_PATH)
    answers.sort(key=lambda c: _query(c.url).get("id", "") != info_code)
    json_reason = ""
    for answer in answers:
        text = _decode(answer)
        if not _is_choice_answer(text):
            json_reason = json_reason or f"Choice answer without text: {text[:100]!r}"
            continue
        choice, reason = parse_choice_text(text, answer.url)
        if choice is None:
            return None, reason
        return RenderedShare(**asdict(choice), source="json"), ""
    share, reason = parse_rendered_share_dom(html, url)
    if share is None and json_reason:
        reason = f"{json_reason}; {reason}"
    elif share is None and not answers:
        reason = f"no Choice answer captured; {reason}"
    return share, reason

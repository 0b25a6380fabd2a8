"""The 7×24 feed's answer (``getFastNewsList``, JSON or JSONP) -> flash entries.

Pure functions that never raise on bad input: :func:`parse_fast_list` returns
a :class:`FastPage` saying what is wrong, and keeps every item it cannot use
with its reason (no code, a code that is not 18 ASCII digits, an impossible
or future date, no title), so the spider can record a failure.

Answer (see /work/shared/upstream.md, "7×24 快讯")::

    {"code": "1", "message": "success",
     "data": {"sortEnd": "1781590197015624",
              "fastNewsList": [{"code", "title", "summary", "showTime", "realSort",
                                "titleColor", "stockList", "image", ...}]}}

Success is ``code`` ``"1"`` (``1`` accepted). The cursor of the next page is
``data.sortEnd``, or the last item's ``realSort`` when that is missing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crawler.eastmoney.answers import SURROGATE_RE, field_text, loads_answer
from crawler.eastmoney.lists import code_and_time
from crawler.items import FlashEntry

# A 7×24 code is an article code of today's form: exactly 18 ASCII digits.
FLASH_CODE_RE = re.compile(r"^\d{18}\Z", re.ASCII)
# A quote id of stockList: "<market>.<code>" ("1.601068", "90.BK0477", "105.AAPL").
STOCK_ID_RE = re.compile(r"^\d{1,3}\.[0-9A-Za-z_]{1,12}\Z", re.ASCII)
# The summary's head "【<title>】" (the feed repeats the title there).
LEAD_RE = re.compile(r"^\s*【([^】]*)】\s*")


@dataclass
class FastPage:
    """A parsed feed answer. ``ok`` is False when the answer is unusable."""

    ok: bool
    error: str = ""
    cursor: str = ""  # what to send as sortEnd for the next (older) page
    entries: list[FlashEntry] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (raw JSON, reason)
    items: int = 0  # items in the answer, readable or not


def digest_of(title: str, summary: str) -> str:
    """The post's digest: the summary without a leading ``【…】`` head (the feed
    puts the title there), or the title when nothing else is left."""
    text = LEAD_RE.sub("", summary, count=1).strip()
    return text or title


def _text_list(value: Any, pattern: re.Pattern[str] | None = None) -> list[str]:
    """A list field as unique strings (anything else as []), in order."""
    if not isinstance(value, list):
        return []
    out: list[str] = []
    for item in value:
        text = field_text(item) if not isinstance(item, dict) else field_text(item.get("url"))
        if text and text not in out and (pattern is None or pattern.match(text)):
            out.append(text)
    return out


def _color(value: Any) -> int:
    text = field_text(value)
    return int(text) if text.isascii() and text.isdigit() and len(text) < 6 else 0


def parse_flash(raw: Any, now: datetime | None = None) -> tuple[FlashEntry | None, str]:
    """One ``data.fastNewsList[]`` item -> (entry, "") or (None, reason).

    ``now`` (UTC, default: the clock) bounds ``showTime``: an item dated more than
    a day ahead of Beijing time is rejected.
    """
    if not isinstance(raw, dict):
        return None, "not an object"
    code, show_time, reason = code_and_time(raw, FLASH_CODE_RE, now)
    if reason:
        return None, reason
    # One line: the title names nothing but goes into YAML and Markdown.
    title = " ".join(field_text(raw.get("title")).split())
    summary = field_text(raw.get("summary"))
    if not title:
        return None, "missing title"
    return FlashEntry(
        code=code,
        title=title,
        show_time=show_time,
        summary=summary,
        digest=digest_of(title, summary),
        real_sort=field_text(raw.get("realSort")),
        title_color=_color(raw.get("titleColor")),
        stocks=_text_list(raw.get("stockList"), STOCK_ID_RE),
        images=_text_list(raw.get("image")),
    ), ""


def parse_fast_list(text: str, now: datetime | None = None) -> FastPage:
    """Parse a getFastNewsList answer (JSON or JSONP)."""
    try:
        doc = loads_answer(text)
    except ValueError as exc:
        return FastPage(ok=False, error=f"not JSON: {exc}")
    if not isinstance(doc, dict):
        return FastPage(ok=False, error="answer is not an object")
    if field_text(doc.get("code")) != "1":
        message = field_text(doc.get("message"))
        return FastPage(ok=False, error=f"code {doc.get('code')!r}: {message}"[:500])
    data = doc.get("data")
    items = data.get("fastNewsList") if isinstance(data, dict) else None
    if data is None or (isinstance(data, dict) and items is None):
        items = []  # past the end some callers see "data": null or no list
    if not isinstance(items, list):
        return FastPage(ok=False, error="no data.fastNewsList in answer")
    page = FastPage(ok=True, items=len(items))
    for raw in items:
        entry, reason = parse_flash(raw, now)
        if entry is None:
            raw_text = SURROGATE_RE.sub("\ufffd", json.dumps(raw, ensure_ascii=False))
            page.rejected.append((raw_text[:2000], reason))
        else:
            page.entries.append(entry)
    cursor = field_text(data.get("sortEnd")) if isinstance(data, dict) else ""
    if not cursor and items and isinstance(items[-1], dict):
        cursor = field_text(items[-1].get("realSort"))
    page.cursor = cursor
    return page

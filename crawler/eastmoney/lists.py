"""The list API's answer (``getNewsByColumns``, JSON or JSONP) -> list entries.

Pure functions: they take the answer's text and never raise on bad input but
return a :class:`ListPage` that says what is wrong, so a spider can record a
failure. Each item the page cannot use is kept with its reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crawler.eastmoney.answers import SURROGATE_RE, field_text, loads_answer
from crawler.eastmoney.ids import CODE_RE, valid_show_time
from crawler.items import ListEntry

# A list entry dated further ahead than this (Beijing time) is not news but garbage.
FUTURE_TOLERANCE = timedelta(days=1)
BEIJING_OFFSET = timedelta(hours=8)


@dataclass
class ListPage:
    """A parsed list answer. ``ok`` is False when the answer is unusable."""

    ok: bool
    error: str = ""
    total: int | None = None
    entries: list[ListEntry] = field(default_factory=list)
    # Entries that could not be read: (raw item as JSON text, reason).
    rejected: list[tuple[str, str]] = field(default_factory=list)


def code_and_time(
    raw: dict[str, Any], code_re: re.Pattern[str], now: datetime | None
) -> tuple[str, str, str]:
    """(code, showTime, "") of a list or feed item, or ("", "", reason): a code
    ``code_re`` accepts, a well-formed showTime at most :data:`FUTURE_TOLERANCE`
    ahead of Beijing time (``now``: UTC, default the clock)."""
    code = field_text(raw.get("code"))
    if not code:
        return "", "", "no code"
    if not code_re.match(code):
        return "", "", f"bad code {code[:40]!r}"
    show_time = field_text(raw.get("showTime"))
    if not valid_show_time(show_time):
        return "", "", f"bad showTime {show_time[:40]!r}"
    beijing_now = (now or datetime.now(UTC)).replace(tzinfo=None) + BEIJING_OFFSET
    if datetime.strptime(show_time, "%Y-%m-%d %H:%M:%S") > beijing_now + FUTURE_TOLERANCE:
        return "", "", f"showTime in the future {show_time!r}"
    return code, show_time, ""


def parse_list_entry(raw: Any, now: datetime | None = None) -> tuple[ListEntry | None, str]:
    """One ``data.list[]`` item -> (entry, "") or (None, reason).

    ``now`` (UTC, default: the clock) bounds ``showTime``: an entry dated more than
    :data:`FUTURE_TOLERANCE` ahead of Beijing time is rejected.
    """
    if not isinstance(raw, dict):
        return None, "not an object"
    code, show_time, reason = code_and_time(raw, CODE_RE, now)
    if reason:
        return None, reason
    title = field_text(raw.get("title"))
    if not title:
        return None, "missing title"
    entry = ListEntry(
        code=code,
        title=title,
        show_time=show_time,
        media=field_text(raw.get("mediaName")),
        summary=field_text(raw.get("summary")),
        image=field_text(raw.get("image")),
        url=field_text(raw.get("url")),
        unique_url=field_text(raw.get("uniqueUrl")),
        # The API is asked for "Np_dst" and answers "np_dst".
        np_dst=field_text(raw.get("np_dst", raw.get("Np_dst"))),
    )
    return entry, ""


def parse_list(text: str, url: str = "") -> ListPage:
    """Parse a getNewsByColumns answer (JSON or JSONP).

    ``code`` arrives as ``1`` or ``"1"``; anything else is an error answer such
    as ``{"code":0,"message":"Required String parameter 'req_trace' is not present"}``.
    """
    try:
        doc = loads_answer(text)
    except ValueError as exc:
        return ListPage(ok=False, error=f"not JSON: {exc}")
    if not isinstance(doc, dict):
        return ListPage(ok=False, error="answer is not an object")
    if field_text(doc.get("code")) != "1":
        message = field_text(doc.get("message"))
        return ListPage(ok=False, error=f"code {doc.get('code')!r}: {message}")
    data = doc.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("list"), list):
        return ListPage(ok=False, error="no data.list in answer")
    total_raw = field_text(data.get("totle_hits", data.get("total_hits")))
    # isascii: "²".isdigit() is True but int("²") raises.
    total = int(total_raw) if total_raw.isascii() and total_raw.isdigit() else None
    page = ListPage(ok=True, total=total)
    for raw in data["list"]:
        entry, reason = parse_list_entry(raw)
        if entry is None:
            raw_text = SURROGATE_RE.sub("\ufffd", json.dumps(raw, ensure_ascii=False))
            page.rejected.append((raw_text[:2000], reason))
        else:
            page.entries.append(entry)
    return page

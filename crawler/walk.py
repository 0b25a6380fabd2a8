"""How far the columns spider walks each column's list: pure policy, no Scrapy.

A walk reads a column's list page by page, newest first, and stops

- when the list is empty (past the last page), at the page cap
  (FINEWS_MAX_PAGES or ``-a pages``), or when ``totle_hits`` is reached;
- on a backfill (``-a since=… -a until=…``: a :class:`Window`), once the
  page's entries are older than ``since``, and never earlier;
- on an incremental run (FINEWS_INCREMENTAL), at the first page whose articles
  are all known (archived, or failed too recently to try again), unless

  - the previous walk of that column did not finish (a killed run,
    ``column_state`` in the database): then not before the page reaches the
    point that walk had reached, so nothing it left behind is skipped;
  - a failed article due for another try (FINEWS_FAILURE_RETRY_HOURS,
    FINEWS_FAILURE_MAX_TRIES) may be further down: then not before the page is
    older than the oldest such article's day (its code starts with it).

Times: list times are Beijing ``YYYY-MM-DD HH:MM:SS`` (they compare as
strings); database times are ISO UTC ``YYYY-MM-DDTHH:MM:SSZ``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

# Items on a column shell page (finance.eastmoney.com/a/cgnjj.html, _2.html, …).
SHELL_PAGE_SIZE = 20

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Why a walk stops after a page (Walk.stop); "" means go on.
END = "end"  # past the last page: no entries, none rejected either
MAX_PAGES = "max pages"
TOTAL = "total reached"
WINDOW = "window passed"
KNOWN = "known"


def list_priority(page: int) -> int:
    """First pages before articles, later pages after them.

    Every column's first page is read before any article (the newest articles
    are the ones most often listed in two columns, so both are seen before the
    body is fetched); deeper pages wait until the articles already listed are
    fetched (articles have priority -1), so a long backfill keeps one page of
    requests in memory, not the whole history.
    """
    return 10 if page == 1 else -2


def shell_page_for(page: int, page_size: int) -> int:
    """The column shell page that shows the first entry of list API page
    ``page`` (of ``page_size`` entries): where a rendered walk takes over."""
    return (page - 1) * page_size // SHELL_PAGE_SIZE + 1


def iso_utc(moment: datetime) -> str:
    """``2026-11-24T02:16:58Z``: how the database stores a time."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def retry_since(now: datetime, retry_hours: float) -> str:
    """Failures recorded after this (ISO UTC) are too recent to try again
    (FINEWS_FAILURE_RETRY_HOURS before ``now``)."""
    return iso_utc(now - timedelta(hours=retry_hours))


def refresh_window(now: datetime, refresh_hours: float, refresh_every: float) -> tuple[str, str]:
    """(seen after, fetched before), ISO UTC: an incremental run fetches again
    the articles first seen in the last FINEWS_REFRESH_HOURS and not fetched
    in the last FINEWS_REFRESH_EVERY hours."""
    return (
        iso_utc(now - timedelta(hours=refresh_hours)),
        iso_utc(now - timedelta(hours=refresh_every)),
    )


def retry_due_from(day: str) -> str:
    """``YYYYMMDD`` (the oldest failed article's day, from its code) as the
    list time the walk must reach: ``YYYY-MM-DD 00:00:00``; "" for anything
    that is not eight ASCII digits."""
    if not (len(day) == 8 and day.isascii() and day.isdigit()):
        return ""
    return f"{day[:4]}-{day[4:6]}-{day[6:]} 00:00:00"


@dataclass(frozen=True)
class Window:
    """A backfill's Beijing-time bounds, "" when open; both open: no backfill."""

    since: str = ""
    until: str = ""

    @classmethod
    def from_dates(cls, since: str | None, until: str | None) -> Window:
        """From ``-a since=YYYY-MM-DD -a until=YYYY-MM-DD`` (both days included);
        ValueError for another form."""
        return cls(_bound(since, end=False), _bound(until, end=True))

    @property
    def backfill(self) -> bool:
        return bool(self.since or self.until)

    def contains(self, show_time: str) -> bool:
        return (not self.since or show_time >= self.since) and (
            not self.until or show_time <= self.until
        )

    def passed(self, oldest: str) -> bool:
        """The page's oldest entry is before the window: nothing further down is in it."""
        return bool(self.since and oldest and oldest < self.since)


def _bound(value: str | None, end: bool) -> str:
    if not value:
        return ""
    if not DATE_RE.match(value):
        raise ValueError(f"dates are YYYY-MM-DD, got {value!r}")
    return value + (" 23:59:59" if end else " 00:00:00")


@dataclass(frozen=True)
class ColumnState:
    """The previous walk of a column: did it reach a normal stop, and the oldest
    list time it reached. A column never walked counts as clean."""

    clean: bool = True
    reached: str = ""


@dataclass(frozen=True)
class ListedPage:
    """What the walk needs to know of one list page."""

    number: int  # from 1
    size: int  # entries per page as asked (the list API's) or shown (a shell page's)
    total: int | None  # ``totle_hits``, when the answer gives it
    entries: int  # readable entries
    rejected: int  # entries that could not be read
    oldest: str  # oldest list time on the page, "" when none has one
    all_known: bool  # every article routed is archived or failed too recently


def oldest_time(show_times: Iterable[str]) -> str:
    """The oldest of the list times given, "" when none is set (entries read
    from a rendered page's DOM have no time)."""
    return min((t for t in show_times if t), default="")


def all_known(codes: list[str], archived: Mapping[str, object], failed: set[str]) -> bool:
    """True when there are codes and each is archived or failed too recently."""
    return bool(codes) and all(c in archived or c in failed for c in codes)


@dataclass(frozen=True)
class Walk:
    """The stop rule of this run (see the module docstring)."""

    max_pages: int = 0  # 0: no cap
    incremental: bool = True
    window: Window = Window()
    # The list time a walk must reach for the failures due for a retry ("" if none).
    retry_due_from: str = ""

    def stop(self, page: ListedPage, state: ColumnState) -> str:
        """Why the walk stops after ``page`` (one of the reasons above), "" to go on."""
        if not page.entries and not page.rejected:
            return END
        if self.max_pages and page.number >= self.max_pages:
            return MAX_PAGES
        if page.total is not None and page.number * page.size >= page.total:
            return TOTAL
        if self.window.backfill:
            return WINDOW if self.window.passed(page.oldest) else ""
        if self.incremental and page.all_known:
            if self.retry_due_from and page.oldest and page.oldest >= self.retry_due_from:
                return ""  # a failed article due for a retry may be on a later page
            if state.clean or not state.reached or (page.oldest and page.oldest <= state.reached):
                return KNOWN
        return ""

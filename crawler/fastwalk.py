"""How far the fastnews spider walks a 7×24 feed column: pure policy, no Scrapy.

The feed is paged by cursor (``sortEnd``), newest first. A walk stops after a page

- when the feed ends: an empty list, an empty cursor, or the cursor it was
  asked with (a repeat would loop);
- at the page cap (FINEWS_MAX_PAGES or ``-a pages``);
- on a backfill (``-a since=… -a until=…``, a :class:`crawler.walk.Window`)
  once the page's items are older than ``since``, never earlier;
- on an incremental run (FINEWS_INCREMENTAL) at the first page whose items are
  all archived already: a run with nothing new reads one page per column;
  unless the previous walk of that column did not finish (a killed run, a page
  neither host answered: ``column_state``, under the feed column's negative
  id): then not before the page reaches the point that walk had reached, so
  nothing it left behind is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from crawler.walk import ColumnState, Window

END = "feed ended"
REPEATED = "cursor repeated"
MAX_PAGES = "max pages"
WINDOW = "window passed"
KNOWN = "known"
FRESH = ColumnState()  # a column never walked


@dataclass(frozen=True)
class FeedPageSeen:
    """What the walk needs to know of one feed page."""

    number: int  # from 1
    items: int  # items in the answer, readable or not
    sent_cursor: str  # the sortEnd it was asked with ("" for the first page)
    cursor: str  # the next page's sortEnd ("" when the answer gave none)
    oldest: str  # oldest showTime among its readable items ("" if none)
    all_known: bool  # readable items, each archived already


@dataclass(frozen=True)
class FeedWalk:
    """This run's stop rule for the feed (see the module docstring)."""

    max_pages: int = 0  # 0: no cap
    incremental: bool = True
    window: Window = Window()

    def stop(self, page: FeedPageSeen, state: ColumnState = FRESH) -> str:
        """Why the walk stops after ``page``, "" to go on."""
        if not page.items or not page.cursor:
            return END
        if page.cursor == page.sent_cursor:
            return REPEATED
        if self.max_pages and page.number >= self.max_pages:
            return MAX_PAGES
        if self.window.backfill:
            return WINDOW if self.window.passed(page.oldest) else ""
        finished = state.clean or not state.reached
        if self.incremental and page.all_known and (finished or page.oldest <= state.reached):
            return KNOWN
        return ""

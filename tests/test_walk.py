"""``crawler.walk``: the columns spider's paging, stop, backfill-window and retry-due policy, without Scrapy."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from crawler import walk
from crawler.walk import ColumnState, ListedPage, Walk, Window

NOW = datetime(2026, 11, 24, 2, 16, 58, tzinfo=UTC)


def page(**fields: object) -> ListedPage:
    """A full page of 20 known-nothing entries, page 1 of many, unless told."""
    values: dict[str, object] = {
        "number": 1,
        "size": 20,
        "total": 2440,
        "entries": 20,
        "rejected": 0,
        "oldest": "2026-11-24 08:00:00",
        "all_known": False,
    }
    values.update(fields)
    return ListedPage(**values)  # type: ignore[arg-type]


def test_walk_imports_no_scrapy() -> None:
    code = (
        "import sys, crawler.walk; "
        "print(sorted(m for m in sys.modules if m.startswith(('scrapy', 'twisted'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_first_pages_before_articles_later_pages_after() -> None:
    article_priority = -1  # what ArchiveSpider.body_request gives
    assert walk.list_priority(1) > article_priority > walk.list_priority(2)
    assert walk.list_priority(2) == walk.list_priority(50) == -2


def test_shell_page_shows_the_first_entry_of_an_api_page() -> None:
    assert walk.SHELL_PAGE_SIZE == 20
    assert walk.shell_page_for(1, 50) == 1  # entries 1-50: shell page 1 (1-20)
    assert walk.shell_page_for(2, 50) == 3  # entry 51: shell page 3 (41-60)
    assert walk.shell_page_for(3, 20) == 3
    assert walk.shell_page_for(2, 200) == 11  # entry 201


def test_database_times_before_now() -> None:
    assert walk.iso_utc(NOW) == "2026-11-24T02:16:58Z"
    assert walk.retry_since(NOW, 6) == "2026-11-23T20:16:58Z"
    assert walk.retry_since(NOW, 0) == "2026-11-24T02:16:58Z"
    assert walk.retry_since(NOW, 0.5) == "2026-11-24T01:46:58Z"
    assert walk.refresh_window(NOW, 48, 6) == ("2026-11-22T02:16:58Z", "2026-11-23T20:16:58Z")


def test_retry_due_from_a_code_day() -> None:
    assert walk.retry_due_from("20261123") == "2026-11-23 00:00:00"
    for day in ("", "2026112", "202611231", "2026-11-", "２０２６１１２３", "٢٠٢٦١١٢٣"):
        assert walk.retry_due_from(day) == "", day


def test_window_from_dates() -> None:
    window = Window.from_dates("2026-01-01", "2026-03-31")
    assert window == Window("2026-01-01 00:00:00", "2026-03-31 23:59:59") and window.backfill
    assert Window.from_dates(None, "2026-03-31") == Window("", "2026-03-31 23:59:59")
    assert not Window.from_dates(None, None).backfill and not Window.from_dates("", "").backfill
    for bad in ("2026-1-1", "20260101", "2026-01-01 00:00:00", "yesterday"):
        with pytest.raises(ValueError, match="YYYY-MM-DD"):
            Window.from_dates(bad, None)


def test_window_contains_both_ends_and_passes_below_since() -> None:
    window = Window.from_dates("2026-01-01", "2026-03-31")
    assert window.contains("2026-01-01 00:00:00") and window.contains("2026-03-31 23:59:59")
    assert not window.contains("2025-12-31 23:59:59") and not window.contains("2026-04-01 00:00:00")
    assert Window.from_dates("2026-01-01", None).contains("2099-01-01 00:00:00")
    assert Window().contains("")
    assert window.passed("2025-12-31 23:59:59") and not window.passed("2026-01-01 00:00:00")
    assert not window.passed("")  # a page without dates says nothing
    assert not Window.from_dates(None, "2026-03-31").passed("1999-01-01 00:00:00")


def test_oldest_time_and_all_known() -> None:
    assert walk.oldest_time(["2026-11-24 08:00:00", "", "2026-11-23 09:00:00"]) == (
        "2026-11-23 09:00:00"
    )
    assert walk.oldest_time(["", ""]) == "" and walk.oldest_time([]) == ""
    archived = {"NW1": [350]}
    assert walk.all_known(["NW1", "NW2"], archived, {"NW2"})
    assert not walk.all_known(["NW1", "NW3"], archived, {"NW2"})
    assert not walk.all_known([], archived, set())  # a page of CFH posts only


def test_walk_stops_at_the_end_the_cap_and_the_total() -> None:
    rule = Walk(max_pages=0, incremental=False)
    fresh = ColumnState()
    assert rule.stop(page(), fresh) == ""
    assert rule.stop(page(entries=0), fresh) == walk.END
    assert rule.stop(page(entries=0, rejected=3), fresh) == ""  # unreadable, not the end
    assert Walk(max_pages=3).stop(page(number=2), fresh) == ""
    assert Walk(max_pages=3).stop(page(number=3), fresh) == walk.MAX_PAGES
    assert rule.stop(page(number=121, total=2440), fresh) == ""
    assert rule.stop(page(number=122, total=2440), fresh) == walk.TOTAL
    assert rule.stop(page(number=122, total=None), fresh) == ""
    # The size of the page as asked: a shell page holds 20, an API page 50.
    assert rule.stop(page(number=49, size=50, total=2440), fresh) == walk.TOTAL
    assert rule.stop(page(number=0, entries=0, total=0), fresh) == walk.END


def test_incremental_walk_stops_at_a_known_page_of_a_clean_column() -> None:
    rule = Walk(incremental=True)
    assert rule.stop(page(all_known=True), ColumnState()) == walk.KNOWN
    assert rule.stop(page(all_known=True), ColumnState(True, "2026-11-01 00:00:00")) == walk.KNOWN
    assert rule.stop(page(all_known=False), ColumnState()) == ""
    assert Walk(incremental=False).stop(page(all_known=True), ColumnState()) == ""


def test_walk_after_a_killed_run_goes_down_to_where_it_stopped() -> None:
    rule = Walk(incremental=True)
    killed = ColumnState(clean=False, reached="2026-11-20 12:00:00")
    assert rule.stop(page(all_known=True, oldest="2026-11-21 00:00:00"), killed) == ""
    assert rule.stop(page(all_known=True, oldest="2026-11-20 12:00:00"), killed) == walk.KNOWN
    assert rule.stop(page(all_known=True, oldest="2026-11-19 00:00:00"), killed) == walk.KNOWN
    # A page without dates (read from a DOM) cannot show it got there: go on.
    assert rule.stop(page(all_known=True, oldest=""), killed) == ""
    # Killed before any page was recorded: nothing to wait for.
    assert rule.stop(page(all_known=True), ColumnState(False, "")) == walk.KNOWN


def test_walk_goes_down_to_the_oldest_failure_due_for_a_retry() -> None:
    rule = Walk(incremental=True, retry_due_from="2026-11-20 00:00:00")
    assert rule.stop(page(all_known=True, oldest="2026-11-20 00:00:00"), ColumnState()) == ""
    assert rule.stop(page(all_known=True, oldest="2026-11-22 00:00:00"), ColumnState()) == ""
    assert rule.stop(page(all_known=True, oldest="2026-11-19 23:59:59"), ColumnState()) == (
        walk.KNOWN
    )
    assert rule.stop(page(all_known=True, oldest=""), ColumnState()) == walk.KNOWN
    # The cap and the total still stop it.
    capped = Walk(max_pages=1, retry_due_from="2026-11-20 00:00:00")
    assert capped.stop(page(all_known=True), ColumnState()) == walk.MAX_PAGES


def test_backfill_never_stops_at_known_pages_only_below_since() -> None:
    rule = Walk(incremental=True, window=Window.from_dates("2026-01-01", "2026-03-31"))
    assert rule.stop(page(all_known=True, oldest="2026-04-15 00:00:00"), ColumnState()) == ""
    assert rule.stop(page(all_known=True, oldest="2026-01-01 00:00:00"), ColumnState()) == ""
    assert rule.stop(page(oldest="2025-12-31 23:00:00"), ColumnState()) == walk.WINDOW
    assert rule.stop(page(oldest=""), ColumnState()) == ""
    until_only = Walk(window=Window.from_dates(None, "2026-03-31"))
    assert until_only.stop(page(all_known=True, oldest="1999-01-01 00:00:00"), ColumnState()) == ""
    assert until_only.stop(page(entries=0), ColumnState()) == walk.END

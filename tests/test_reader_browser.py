"""Screenshots as tests: the archive read in a real browser (headless Chromium)
from a real ``datasette serve`` of the test archive (``tests/searchdata.py``).

Four pages in a 1280×1000 window: the articles table (20 headlines fit in the
window), a search for 央行, an article's row page (the body rendered, not its
Markdown), the crawl-health dashboard (Vega charts drawn, nothing fetched from
anywhere but the local server). Each must show its expected text and nothing
may be wider than the window. The PNGs go to ``build/screenshots/`` (CI keeps
them; two of them are in the README, copied to ``docs/``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.searchdata import BY_KEY, ROOT, codes
from tests.test_search_browser import CHROMIUM_ARGS, chromium, server  # noqa: F401 (fixture)

SCREENSHOTS = ROOT / "build" / "screenshots"
WIDTH, HEIGHT = 1280, 1000
CENTRAL_BANK = codes("A01", "A06", "A08", "A10", "A17")


@pytest.fixture
def page(server: str) -> Iterator[tuple[Page, list[str]]]:  # noqa: F811
    """A page of a fresh browser, with the URLs it asked for outside the server."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    local = urlsplit(server).netloc
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT}, locale="zh-CN")

            def route(r: object) -> None:
                url = r.request.url  # type: ignore[attr-defined]
                if urlsplit(url).netloc != local and not url.startswith(("data:", "blob:")):
                    outside.append(url)
                    r.abort()  # type: ignore[attr-defined]
                else:
                    r.continue_()  # type: ignore[attr-defined]

            page.route("**/*", route)
            yield page, outside
        finally:
            browser.close()


def fits(page: Page) -> None:
    """Nothing is wider than the window (no horizontal scrolling)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"{page.url}: {width} px wide"


def shoot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_articles_table_reads_like_a_list(server: str, page: tuple[Page, list[str]]) -> None:  # noqa: F811
    tab, outside = page
    tab.goto(server + "/finews/articles", wait_until="load")
    shoot(tab, "articles")
    rows = tab.locator("table.finews-list tbody tr")
    assert rows.count() == 20
    # Every headline is shown and linked to its article's page.
    titles = tab.locator("table.finews-list td.finews-title a")
    hrefs = [titles.nth(i).get_attribute("href") or "" for i in range(20)]
    assert {h.rsplit("/", 1)[-1] for h in hrefs} == {doc.info_code for doc in BY_KEY.values()}
    # Beijing time, minutes: "2022-06-14 10:45" (no T, no offset).
    first_time = tab.locator("table.finews-list td.finews-time").first.inner_text()
    assert len(first_time) == 16 and "T" not in first_time, first_time
    # The long fields are not on the list.
    assert tab.locator("td.col-body_markdown, td.col-body_text").count() == 0
    # All 20 rows in the window, each one line.
    last = rows.nth(19).bounding_box()
    assert last and last["y"] + last["height"] <= HEIGHT, last
    first = rows.nth(0).bounding_box()
    assert first and first["height"] < 40, first
    fits(tab)
    assert outside == []


def test_search_for_central_bank(server: str, page: tuple[Page, list[str]]) -> None:  # noqa: F811
    tab, outside = page
    tab.goto(server + "/finews/articles", wait_until="load")
    tab.fill("input#_search", "央行")
    with tab.expect_navigation(wait_until="load"):
        tab.press("input#_search", "Enter")
    links = tab.locator("table.finews-list td.finews-title a")
    found = sorted(
        (links.nth(i).get_attribute("href") or "").rsplit("/", 1)[-1] for i in range(links.count())
    )
    assert found == sorted(CENTRAL_BANK)
    assert tab.get_by_text("5 rows", exact=False).first.is_visible()
    fits(tab)
    shoot(tab, "search")
    # The ranked search takes several words, as the table search does.
    tab.goto(server + "/finews/search?q=" + "央行 降息", wait_until="load")
    ranked = tab.locator("table.rows-and-columns tbody td.col-info_code a").all_inner_texts()
    assert ranked and all(code in CENTRAL_BANK for code in ranked)
    assert tab.locator("textarea, pre.wrapped-sql").count() == 0  # hide_sql
    fits(tab)
    assert outside == []


def test_row_page_renders_the_article(server: str, page: tuple[Page, list[str]]) -> None:  # noqa: F811
    tab, outside = page
    doc = BY_KEY["A01"]
    tab.goto(server + f"/finews/articles/{doc.info_code}", wait_until="load")
    assert tab.locator("article.finews-article h1").inner_text().strip() == doc.title
    body = tab.locator("article.finews-article .finews-body")
    assert body.is_visible()
    text = body.inner_text()
    # Rendered, not Markdown source: no backslash escapes, no markup left.
    assert text.strip() and "\\" not in text and "](" not in text
    assert "北京时间" in tab.locator(".finews-meta").inner_text()
    assert tab.locator("dl.finews-raw dt", has_text="content_sha256").count() == 1
    fits(tab)
    shoot(tab, "article")
    assert outside == []


def test_crawl_health_dashboard_offline(server: str, page: tuple[Page, list[str]]) -> None:  # noqa: F811
    tab, outside = page
    tab.goto(server + "/-/dashboards/crawl-health", wait_until="networkidle")
    for chart in ("strip", "runs", "failures", "requests"):
        drawn = tab.locator(f"#chart-{chart} canvas, #chart-{chart} svg")
        drawn.first.wait_for(state="visible", timeout=20000)
    assert tab.locator("#chart-last-status").inner_text().strip() == "ok"
    assert "partial" in tab.locator("#chart-recent").inner_text()
    fits(tab)
    shoot(tab, "crawl-health")
    tab.goto(server + "/-/dashboards/archive", wait_until="networkidle")
    tab.locator("#chart-per-day-column canvas, #chart-per-day-column svg").first.wait_for(
        state="visible", timeout=20000
    )
    assert tab.locator("#chart-total").inner_text().strip() == "20"
    fits(tab)
    shoot(tab, "dashboard")
    # Vega, the data and the styles all came from the local server.
    assert outside == []


def test_screenshots_written() -> None:
    """Run last (file order): the PNGs the docs point at exist and are images."""
    for name in ("articles", "search", "article", "crawl-health", "dashboard"):
        path: Path = SCREENSHOTS / f"{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path

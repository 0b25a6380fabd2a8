"""The static site in a real headless Chromium: built by real Jekyll from a
real crawl of the replica, read as a person reads it.

Home, a category page and every post are opened; each post's visible text is
the article text (hostile fixtures included: Liquid braces, Markdown
specials, HTML written as text all shown literally) and no script runs.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from crawler.browser.chromium import find_chromium, launch_args
from tests.crawlrun import run_crawl
from tests.replica.server import Replica
from tests.sitebuild import build_site

ARTIFACTS = Path(__file__).resolve().parent.parent / "build" / "artifacts"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[dict]]]:
    root = tmp_path_factory.mktemp("site")
    with Replica() as replica:
        run_crawl(root / "archive", replica.url, settings={"FINEWS_PAGE_SIZE": "20"}, expect_exit=5)
        articles = [
            a
            for a in replica.articles
            if a["np_dst"] != "CFH" and (a["page"] != "404" or a["choice"] == "ok")
        ]
    build_site(root / "archive", root / "_site")
    handler = functools.partial(QuietHandler, directory=str(root / "_site"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", articles
    finally:
        server.shutdown()


def test_site_reads_as_the_articles_in_chromium(site: tuple[str, list[dict]]) -> None:
    base, articles = site
    executable = find_chromium()
    assert executable, "no Chromium: `make sysdeps` installs chromium-headless-shell"
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=launch_args(), headless=True)
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(base + "/")
        home = page.inner_text("body")
        assert "新华社新闻" in home and "中国经济网新闻" in home
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "site-home.png"), full_page=True)
        page.click("text=新华社新闻")
        category_titles = page.locator("a").all_inner_texts()
        xinhua = [a["title"] for a in articles if a["mediaName"] == "新华社"]
        assert all(t in category_titles for t in xinhua)
        for a in articles:
            page.goto(base + "/")
            links = page.locator("a", has_text=a["title"])
            if links.count():
                links.first.click()
            else:  # not among the newest five of its category: go by its URL
                page.goto(base + page_path(base, a))
            body = page.inner_text("div.post-body").strip().split("\n")
            # innerText separates table cells with tabs; expected_text with spaces.
            lines = [line.replace("\t", " ").strip() for line in body if line.strip()]
            assert "\n".join(lines[:-2]) == a["expected_text"], a["name"]
            assert page.inner_text("h1.post-title") == a["title"], a["name"]
            assert "(GMT+8, Asia/Shanghai, CST) " + a["showTime"] in page.inner_text(".post-date")
            if a["name"].startswith("hostile"):
                page.screenshot(path=str(ARTIFACTS / f"site-{a['name']}.png"), full_page=True)
        browser.close()
    assert dialogs == []  # no script from an article ran


def page_path(base: str, article: dict) -> str:
    from crawler.transform.posts import category_slug

    day = article["showTime"][:10].replace("-", "/")
    return f"/{category_slug(article['mediaName'])}/{day}/NW{article['code']}.html"


SCREENSHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"


@pytest.mark.parametrize("width", [1280, 390])
def test_screenshots_of_home_and_a_post_offline(site: tuple[str, list[dict]], width: int) -> None:
    """Home and the post with a picture, in a desktop and a phone window: the
    expected text visible, nothing wider than the window, the picture shown
    from the archive with every request outside the site refused."""
    base, articles = site
    executable = find_chromium()
    assert executable, "no Chromium: `make sysdeps` installs chromium-headless-shell"
    newest = max(articles, key=lambda a: (a["showTime"], a["code"]))
    pictured = next(a for a in articles if a["name"] == "image_and_placeholder")
    outside: list[str] = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=launch_args(), headless=True)
        page = browser.new_page(viewport={"width": width, "height": 1000})

        def offline(route: object) -> None:
            url = route.request.url  # type: ignore[attr-defined]
            if url.startswith(base):
                route.continue_()  # type: ignore[attr-defined]
            else:
                outside.append(url)
                route.abort()  # type: ignore[attr-defined]

        page.route("**/*", offline)
        page.goto(base + "/")
        assert page.locator("h1.home-title").inner_text() == "最新文章"
        assert page.locator("ul.post-list a", has_text=newest["title"]).first.is_visible()
        assert page.locator("nav.media-nav").is_visible()
        assert page.evaluate(OVERFLOW) <= 0, "the home page is wider than the window"
        page.screenshot(path=str(SCREENSHOTS / f"site-home-{width}.png"), full_page=True)

        page.goto(base + page_path(base, pictured))
        assert page.locator("h1.post-title").inner_text() == pictured["title"]
        assert page.get_by_text(pictured["expected_text"].split("\n")[0]).is_visible()
        img = page.locator("div.post-body img").first
        assert (img.get_attribute("src") or "").startswith("/assets/img/")
        img.scroll_into_view_if_needed()
        assert img.evaluate("el => el.complete && el.naturalWidth > 0"), "the picture did not load"
        assert page.locator("nav.post-nav a.day-link").is_visible()
        assert page.evaluate(OVERFLOW) <= 0, "the post is wider than the window"
        page.screenshot(path=str(SCREENSHOTS / f"site-post-{width}.png"), full_page=True)

        page.click("nav.post-nav a.day-link")
        assert page.locator("h1.day-title").inner_text() == f"{pictured['showTime'][:10]} 的新闻"
        assert page.evaluate(OVERFLOW) <= 0, "the day page is wider than the window"
        browser.close()
    assert outside == [], "the site asked for something outside itself"

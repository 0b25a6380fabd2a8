"""The browser route end to end: real Chromium (scrapy-playwright), real replica.

With the replica's JSON routes refused (only the pages' own scripts get data),
FINEWS_RENDER=auto archives every article through Chromium with posts
byte-identical to the fast route; FINEWS_RENDER=never archives nothing and
records why.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.browser.chromium import find_chromium
from tests.crawlrun import ROOT, run_crawl
from tests.replica.server import Replica

SMALL = {"FINEWS_PAGE_SIZE": "20"}


def posts(archive: Path) -> dict[Path, bytes]:
    return {p.relative_to(archive): p.read_bytes() for p in (archive / "_posts").rglob("*.md")}


@pytest.fixture(scope="module")
def fast_posts(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, bytes]:
    assert find_chromium(), "no Chromium: `make sysdeps` installs chromium-headless-shell"
    archive = tmp_path_factory.mktemp("fast") / "archive"
    with Replica() as replica:
        run_crawl(archive, replica.url, settings=SMALL, expect_exit=5)
    return posts(archive)


def test_refused_json_routes_archive_everything_through_chromium(
    fast_posts: dict[Path, bytes], tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    with Replica(refuse_json=True) as replica:
        result = run_crawl(
            archive, replica.url, settings={**SMALL, "FINEWS_RENDER": "auto"}, expect_exit=5
        )
        requests = replica.requests()
    assert posts(archive) == fast_posts
    assert "rendering the column page instead" in result.stderr
    db = sqlite3.connect(archive / "finews.db")
    sources = dict(db.execute("SELECT body_source, count(*) FROM articles GROUP BY 1"))
    # Article pages are server-rendered (never refused); the one whose page is
    # a 404 needs the share page, and its Choice text only reaches the browser.
    assert sources == {"page": len(fast_posts) - 1, "browser": 1}
    # The column pages' scripts called the list API as a browser does.
    xhr = [
        r
        for r in requests
        if r["path"] == "/comm/web/getNewsByColumns"
        and r["headers"].get("X-Requested-With", r["headers"].get("x-requested-with"))
    ]
    assert xhr
    (snapshot,) = db.execute(
        "SELECT snapshot FROM articles WHERE body_source = 'browser'"
    ).fetchone()
    from crawler.transform.warc import read_warc

    records = list(read_warc(archive / snapshot))
    urls = [r.url for r in records]
    assert any("NewsShare.html" in u for u in urls)  # the rendered DOM
    assert any(
        "GetNewsText.do" in u and r.status == 200 for u, r in zip(urls, records, strict=True)
    )
    # The rendered snapshots are enough to rebuild the same posts offline.
    before = posts(archive)
    for post in (archive / "_posts").rglob("*.md"):
        post.unlink()
    rebuilt = subprocess.run(
        [
            str(Path(sys.executable).parent / "scrapy"),
            "rebuild",
            "-s",
            f"FINEWS_ARCHIVE_DIR={archive}",
            "-s",
            "FINEWS_RENDER=never",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert posts(archive) == before


def test_render_never_with_refused_json_archives_nothing_and_says_why(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Replica(refuse_json=True) as replica:
        run_crawl(archive, replica.url, settings=SMALL, expect_exit=4)
    db = sqlite3.connect(archive / "finews.db")
    assert db.execute("SELECT count(*) FROM articles").fetchone() == (0,)
    reasons = [r[0] for r in db.execute("SELECT reason FROM failures WHERE stage = 'list'")]
    assert len(reasons) == 5 and all("非法请求" in r for r in reasons)
    (status,) = db.execute("SELECT status FROM crawl_runs").fetchone()
    assert status == "blocked"


def test_render_always_gives_the_same_posts(fast_posts: dict[Path, bytes], tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Replica() as replica:
        run_crawl(
            archive, replica.url, settings={**SMALL, "FINEWS_RENDER": "always"}, expect_exit=5
        )
        paths = {r["path"] for r in replica.requests()}
    assert posts(archive) == fast_posts
    assert "/a/cgnjj.html" in paths and "/html_News/NewsShare.html" in paths
    db = sqlite3.connect(archive / "finews.db")
    # Every body from a share page, but the one whose Choice text is empty:
    # the article page is the fallback there.
    assert dict(db.execute("SELECT body_source, count(*) FROM articles GROUP BY 1")) == {
        "browser": len(fast_posts) - 1,
        "page": 1,
    }


def test_playwright_starts_only_for_a_page_to_render(tmp_path: Path) -> None:
    """The browser route is on in both runs; Playwright (a Node driver) starts
    in the first, which renders a share page (for the article that has a body
    nowhere), and not in the second, which has nothing to fetch a body for."""
    archive = tmp_path / "archive"
    settings = {**SMALL, "FINEWS_RENDER": "auto"}
    with Replica() as replica:
        first = run_crawl(archive, replica.url, settings=settings, expect_exit=5)
        second = run_crawl(archive, replica.url, settings=settings, expect_exit=None)
    assert "browser route on" in first.stderr and "browser route on" in second.stderr
    db = sqlite3.connect(archive / "finews.db")
    stats = [json.loads(s) for (s,) in db.execute("SELECT stats FROM crawl_runs ORDER BY id")]
    assert stats[0].get("playwright/page_count", 0) >= 1
    assert first.stderr.count("Starting download handler") == 1
    assert "playwright/page_count" not in stats[1]
    assert "Starting download handler" not in second.stderr

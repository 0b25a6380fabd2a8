"""The 7×24 feed end to end: real crawls of the replica (``scrapy crawl columns
fastnews``, what ``make crawl`` runs), the archive they leave (posts, WARCs,
database, Datasette), a second run, a backfill, the host fallback, ``scrapy
rebuild``, and the Jekyll site built from hostile items."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from datasette.app import Datasette
from parsel import Selector

from crawler.eastmoney.fastnews import digest_of
from crawler.transform.emnews import emnews_post_relpath
from crawler.transform.warc import read_warc
from tests.crawlrun import FAST, ROOT, run_crawl
from tests.replica import fastnews as feed
from tests.replica.faults import Faults
from tests.replica.server import Replica
from tests.searchdata import SERVE_SETTINGS
from tests.sitebuild import build_site, copy_skeleton, jekyll_available

SETTINGS = {"FINEWS_PAGE_SIZE": "10", "FINEWS_REFRESH_HOURS": "0"}
# Quick backoff against a faulty replica (as tests/test_faults.py does).
BACKOFF = {"FINEWS_BACKOFF_BASE": "0.05", "FINEWS_BACKOFF_MAX": "2", "FINEWS_BACKOFF_RECOVER": "3"}
ITEMS = {i["code"]: i for i in feed.FLASHES + feed.filler_flashes() if 102 in i["columns"]}
COLUMN_ARTICLE = "202611223591699102"  # two_columns: also a column article
FLASH_PAGE = "202611233799000001"  # flash-only, article page
FLASH_CHOICE = "202611223799000002"  # flash-only, Choice text only
NO_BODY = "202611233799000004"  # nowhere a body


def crawl_both(archive: Path, upstream: str) -> subprocess.CompletedProcess:
    """``scrapy crawl columns fastnews`` (make crawl) in one process, one lock."""
    cmd = [str(Path(sys.executable).parent / "scrapy"), "crawl", "columns", "fastnews"]
    merged = {**FAST, **SETTINGS, "FINEWS_ARCHIVE_DIR": str(archive), "FINEWS_UPSTREAM": upstream}
    for key, value in merged.items():
        cmd += ["-s", f"{key}={value}"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr[-4000:]
    return result


def post_of(archive: Path, code: str) -> str:
    item = ITEMS.get(code) or next(i for i in feed.FLASHES if i["code"] == code)
    return (archive / emnews_post_relpath(code, item["showTime"])).read_text("utf-8")


def front(text: str) -> dict[str, Any]:
    return yaml.safe_load(text.split("\n---\n", 1)[0][4:])


def body(text: str) -> str:
    return text.split("\n---\n", 1)[1]


def posts(archive: Path) -> dict[str, str]:
    return {
        p.relative_to(archive).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((archive / "_posts").rglob("*.md"))
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    archive = copy_skeleton(tmp_path_factory.mktemp("fast") / "archive")
    with Replica(faults=Faults(bad_items=True)) as replica:
        first = crawl_both(archive, replica.url)
        replica.reset_log()
        second = run_crawl(archive, replica.url, "fastnews", settings=SETTINGS)
        again = [r for r in replica.requests() if r["path"] != "/robots.txt"]
    return {"archive": archive, "first": first, "second": second, "again": again}


def test_every_item_is_an_emnews_post_of_the_archive_form(run: dict[str, Any]) -> None:
    archive = run["archive"]
    for code, item in ITEMS.items():
        text = post_of(archive, code)
        lines = text.split("\n")
        assert lines[:2] == ["---", "layout: post"]
        assert lines[2].startswith('title: "') and lines[2].endswith('"')  # double-quoted
        assert front(text)["title"] == " ".join(item["title"].split())
        assert lines[3:6] == [
            f"date: {item['showTime']} +0800",
            "categories: emnews",
            "tags: 东财滚动新闻",
        ]
        meta = front(text)
        assert meta["info_code"] == "NW" + code and meta["render_with_liquid"] is False
        assert meta["summary"] == (item["summary"] or "").strip()
        assert meta.get("important", False) is (int(item["titleColor"]) > 0)
        assert meta["stocks"] == item["stockList"]
        assert text.endswith(
            f"\n\n<https://finance.eastmoney.com/a/{code}.html>\n\n"
            "[返回东财滚动新闻](/category/emnews.html)｜[返回首页](/)\n"
        )
    assert (archive / "category" / "emnews.html").read_text("utf-8") == (
        "---\nlayout: category\ntitle: 东财滚动新闻\ncategory: emnews\n---\n"
    )


def test_digests(run: dict[str, Any]) -> None:
    archive = run["archive"]
    assert body(post_of(archive, "202611233799000005")).startswith(
        "摘要没有标题前缀。\n\n<https://"
    )
    assert body(post_of(archive, "202611233799000003")).startswith("短讯：摘要为空值\n\n<https://")
    assert body(post_of(archive, NO_BODY)).startswith("短讯：摘要为空串\n\n<https://")
    assert body(post_of(archive, "202611233799000006")).startswith("方括号里不是标题。\n")
    item = ITEMS["202611233799000007"]
    assert digest_of(item["title"], item["summary"]) == ": - ? &"


def test_article_text_fetched_once_and_both_posts_linked(run: dict[str, Any]) -> None:
    archive = run["archive"]
    text = post_of(archive, COLUMN_ARTICLE)
    nw_path = front(text)["article_post"]
    assert nw_path == f"_posts/2026/11/2026-11-22-NW{COLUMN_ARTICLE}.md"
    assert body(text).startswith("> 同一篇文章在两个快讯栏目。\n\n新华社北京11月21日电")
    nw = (archive / nw_path).read_text("utf-8")
    assert front(nw)["emnews_post"] == f"_posts/2026/11/2026-11-22-{COLUMN_ARTICLE}.md"
    # the article page was fetched by the columns spider only
    assert "fast/from_article': 3" in run["first"].stderr.replace('"', "'")
    assert body(post_of(archive, FLASH_PAGE)).startswith(
        "> 正文页有全文。\n\n快讯有正文页的全文第一段。"
    )
    assert "快讯只有Choice全文的全文第一段" in post_of(archive, FLASH_CHOICE)
    db = sqlite3.connect(archive / "finews.db")
    row = db.execute(
        "SELECT article_info_code, body_source FROM flashes WHERE code = ?", [COLUMN_ARTICLE]
    ).fetchone()
    assert row == ("NW" + COLUMN_ARTICLE, "article")
    assert (
        db.execute("SELECT count(*) FROM articles WHERE code = ?", [COLUMN_ARTICLE]).fetchone()[0]
        == 1
    )


def test_no_body_is_a_complete_post_not_a_failure(run: dict[str, Any]) -> None:
    db = sqlite3.connect(run["archive"] / "finews.db")
    assert (
        db.execute(
            "SELECT count(*) FROM failures WHERE info_code = ?", ["NW" + NO_BODY]
        ).fetchone()[0]
        == 0
    )
    assert "finews run 2: ok" in run["first"].stderr


def test_bad_items_are_failures_with_reasons(run: dict[str, Any]) -> None:
    db = sqlite3.connect(run["archive"] / "finews.db")
    reasons = [
        r for (r,) in db.execute("SELECT reason FROM failures WHERE stage = 'fast' AND run_id = 2")
    ]
    for _, reason in feed.BAD_FLASHES:
        assert any(reason in r for r in reasons), reason
    assert len(reasons) == len(feed.BAD_FLASHES)
    assert not list((run["archive"] / "_posts").rglob("*passwd*"))


def test_database_search_facets_and_canned_query(run: dict[str, Any]) -> None:
    archive = run["archive"]
    db = sqlite3.connect(archive / "finews.db")
    assert db.execute("SELECT count(*) FROM flashes").fetchone()[0] == len(ITEMS)

    async def get(path: str) -> Any:
        ds = Datasette(config_dir=archive, settings=SERVE_SETTINGS)
        response = await ds.client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        return response.json()

    found = asyncio.run(get(f"/finews/flashes.json?_search={quote('全文')}&_shape=array"))
    assert {r["code"] for r in found} == {FLASH_PAGE, FLASH_CHOICE}
    found = asyncio.run(get(f"/finews/flashes.json?_search={quote('涨')}&_shape=array"))
    assert "202611233799000007" in {r["code"] for r in found}  # 1 character: 涨停 in the title
    facets = asyncio.run(get("/finews/flashes.json?_size=0"))["facet_results"]
    important = {v["value"]: v["count"] for v in facets["important"]["results"]}
    assert {v["value"] for v in facets["fast_columns"]["results"]} == {"7×24 全球直播"}
    assert important[1] == sum(1 for i in ITEMS.values() if int(i["titleColor"]) > 0)
    latest = asyncio.run(get("/finews/fast_latest.json?_shape=array"))
    assert latest[0]["code"] == FLASH_PAGE  # the newest item
    linked = next(r for r in latest if r["code"] == "202611233592418806")
    assert linked["article_info_code"] == "NW202611233592418806"


def test_every_feed_answer_and_body_response_is_snapshotted(run: dict[str, Any]) -> None:
    archive = run["archive"]
    urls = [rec.url for p in (archive / "raw" / "lists").rglob("*.warc.gz") for rec in read_warc(p)]
    feed_urls = [u for u in urls if "getFastNewsList" in u]
    assert feed_urls and all(u.startswith("https://np-weblist.eastmoney.com/") for u in feed_urls)
    assert len(feed_urls) >= -(-len(ITEMS) // 10) + 1  # two runs: every page, then one
    records = list(read_warc(archive / f"raw/flash/2026/11/{NO_BODY}.warc.gz"))
    assert [r.type for r in records] == [
        "metadata",
        "response",
        "response",
    ]  # page 404, empty Choice


def test_second_run_makes_one_request_per_column(run: dict[str, Any]) -> None:
    assert [(r["path"], r["query"]["sortEnd"]) for r in run["again"]] == [
        ("/comm/web/getFastNewsList", "")
    ]
    assert "'finews/fast/stopped_known': 1" in run["second"].stderr


def test_another_feed_column(run: dict[str, Any]) -> None:
    """``-a columns=101,102``: an archived item seen in 101 gains it (row, post,
    snapshot, nothing fetched again); an item only in 101 is new."""
    archive = run["archive"]
    with Replica() as replica:
        result = run_crawl(archive, replica.url, "fastnews", {"columns": "101,102"}, SETTINGS)
        paths = {r["path"] for r in replica.requests()} - {"/robots.txt"}
    assert "'finews/fast/new_column': 1" in result.stderr
    assert front(post_of(archive, COLUMN_ARTICLE))["fast_columns"] == ["要闻", "7×24 全球直播"]
    only = next(i for i in feed.FLASHES if i["columns"] == [101])
    text = post_of(archive, only["code"])
    assert front(text)["fast_columns"] == ["要闻"] and "\u2028" not in text
    assert front(text)["summary"] == only["summary"]  # LS and NEL read back (double-quoted)
    assert paths == {
        "/comm/web/getFastNewsList",
        f"/a/{only['code']}.html",
        "/NewsData/GetNewsText.do",
    }


def test_rebuild_reproduces_the_posts(run: dict[str, Any]) -> None:
    archive = run["archive"]
    before = posts(archive)
    cmd = [str(Path(sys.executable).parent / "scrapy"), "rebuild"]
    cmd += ["-s", f"FINEWS_ARCHIVE_DIR={archive}", "-s", "FINEWS_RENDER=never"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert posts(archive) == before
    db = sqlite3.connect(archive / "finews.db")
    assert db.execute("SELECT count(*) FROM flashes").fetchone()[0] == len(ITEMS) + 1
    assert db.execute(
        "SELECT fast_column_ids FROM flashes WHERE code = ?", [COLUMN_ARTICLE]
    ).fetchone() == ("[101, 102]",)


def test_site_builds_with_hostile_items(run: dict[str, Any], tmp_path: Path) -> None:
    if not jekyll_available():
        pytest.fail("jekyll is not installed (Debian: apt-get install jekyll ruby-jekyll-feed)")
    out = tmp_path / "site"
    result = build_site(run["archive"], out)
    assert result.stderr.strip() == ""
    for code in (
        "202611233799000007",
        "202611233799000008",
        "202611233799000009",
        "202611233799000010",
    ):
        item = ITEMS[code]
        path = out / "emnews" / "2026" / "11" / item["showTime"][8:10] / f"{code}.html"
        html = path.read_text("utf-8")
        doc = Selector(text=html)
        assert doc.css("h1.post-title::text").get() == item["title"]
        assert not doc.xpath("//script[contains(., 'alert')]") and not doc.xpath("//img[@onerror]")
        assert not doc.xpath("//iframe") and not doc.css(
            ".post-body h1, .post-body ul, .post-body ol"
        )
        assert not doc.xpath("//a[starts-with(@href, 'javascript:')]")
    liquid = (out / "emnews/2026/11/23/202611233799000008.html").read_text("utf-8")
    assert "{{ site.title }}" in liquid and "{%- include x -%}" in liquid
    # The category page and its later pages (crawler/sitepages.py, 50 a page) list every item.
    pages = [
        out / "category" / "emnews.html",
        *sorted((out / "category" / "emnews").glob("*.html")),
    ]
    listed = {
        href
        for page in pages
        for href in Selector(text=page.read_text("utf-8")).css("a::attr(href)").getall()
        if href.startswith("/emnews/")
    }
    assert len(listed) >= len(ITEMS)


def test_backfill_reaches_a_date_by_cursor(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Replica() as replica:
        result = run_crawl(archive, replica.url, "fastnews", {"since": "2026-11-22"}, SETTINGS)
        cursors = [r["query"]["sortEnd"] for r in replica.requests() if "FastNews" in r["path"]]
    assert "7×24 column 102: reached back to 2026-11-21" in result.stderr
    assert "(window passed)" in result.stderr
    dates = {p.name[:10] for p in (archive / "_posts").rglob("*.md")}
    assert min(dates) == "2026-11-22" and len(cursors) < -(-len(ITEMS) // 10) + 1
    assert cursors[0] == "" and len(set(cursors)) == len(cursors)


def test_np_listapi_answers_when_np_weblist_does_not(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Replica() as replica:
        replica.fast.refuse_first = True  # every page's first request gets code "0"
        result = run_crawl(archive, replica.url, "fastnews", settings=SETTINGS)
    assert "'finews/fast/fallback': " in result.stderr
    assert len(list((archive / "_posts").rglob("*.md"))) == len(ITEMS)
    urls = [rec.url for p in (archive / "raw" / "lists").rglob("*.warc.gz") for rec in read_warc(p)]
    assert any(u.startswith("https://np-listapi.eastmoney.com/") for u in urls)


def test_fault_modes_apply_to_the_feed(tmp_path: Path) -> None:
    """5xx, truncated JSON and resets on the feed too: retries, the other host,
    and in the end every item archived."""
    archive = tmp_path / "archive"
    faults = Faults(
        seed=5, warmup=("503", "truncate", "reset"), error_share=0.1, truncate_share=0.1
    )
    with Replica(faults=faults) as replica:
        result = run_crawl(
            archive, replica.url, "fastnews", settings={**SETTINGS, **BACKOFF}, expect_exit=None
        )
        feed_faults = [e for e in replica.injector.fault_events() if e[1] == feed.FAST_PATH]
    assert {kind for _, _, kind in feed_faults} >= {"503", "truncate"}
    assert len(list((archive / "_posts").rglob("*.md"))) == len(ITEMS), result.stderr[-3000:]


def test_an_unfinished_walk_is_taken_up_again(tmp_path: Path) -> None:
    """A walk that did not reach a normal stop (a killed run) leaves its mark in
    column_state; the next run pages past the known items down to where it got."""
    archive = tmp_path / "archive"
    with Replica() as replica:
        run_crawl(archive, replica.url, "fastnews", {"pages": "2"}, SETTINGS)
        db = sqlite3.connect(archive / "finews.db")
        (clean, reached) = db.execute(
            "SELECT clean, reached FROM column_state WHERE column_id = -102"
        ).fetchone()
        assert clean == 1 and reached.startswith("2026-11-2")
        first = len(list((archive / "_posts").rglob("*.md")))
        # As a killed run leaves it: not clean, reached further down than page 2.
        with db:
            db.execute(
                "UPDATE column_state SET clean = 0, reached = '2026-11-21 12:00:00' "
                "WHERE column_id = -102"
            )
        db.close()
        replica.reset_log()
        run_crawl(archive, replica.url, "fastnews", settings=SETTINGS)
        pages = [r for r in replica.requests() if r["path"] == feed.FAST_PATH]
    dates = sorted(p.name[:19] for p in (archive / "_posts").rglob("*.md"))
    assert first == 20 and dates[0] <= "2026-11-21-"
    # Past the two known pages (an incremental run would stop at the first), on to the end:
    assert len(dates) == len(ITEMS) and len(pages) == -(-len(ITEMS) // 10) + 1

"""Datasette as a news reader (archive/plugins/finews_reader.py, archive/templates/):
the rendered article, Beijing time, the canned queries, the dashboards' SQL.

Real Datasette over the test archive (``tests/searchdata.py``) through its own
client, served with the settings of ``make serve``; the browser's view of the
same pages is ``tests/test_reader_browser.py``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml
from datasette.app import Datasette

from crawler.store.schema import connect
from crawler.store.writes import upsert_articles
from crawler.transform.html import vocabulary
from tests.searchdata import (
    ARCHIVE,
    BY_KEY,
    SERVE_SETTINGS,
    archive_dir,
    expected,
    load_plugin,
    row_of,
)


def _load(name: str = "finews_reader") -> Any:
    spec = importlib.util.spec_from_file_location(
        f"{name}_under_test", ARCHIVE / "plugins" / f"{name}.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


READER = _load()
PLANS = _load("finews_table_search")
SEARCH = load_plugin("finews_search_for_reader")
METADATA = yaml.safe_load((ARCHIVE / "metadata.yml").read_text("utf-8"))


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return archive_dir(tmp_path_factory.mktemp("archive"))


def get(directory: Path, *paths: str) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        ds = Datasette(config_dir=directory, settings=SERVE_SETTINGS)
        return [await ds.client.get(path) for path in paths]

    return asyncio.run(run())


def test_the_allowlist_is_the_cleaners() -> None:
    assert READER.ALLOWED_TAGS == vocabulary.ALLOWED_TAGS
    assert READER.ALLOWED_ATTRIBUTES == vocabulary.ALLOWED_ATTRIBUTES
    assert READER.LINK_SCHEMES == vocabulary.LINK_SCHEMES


@pytest.mark.parametrize(
    ("markdown", "shown", "absent"),
    [
        (r"\*数据孤岛\*", "<p>*数据孤岛*</p>", "<em>"),
        (r"\[链接\](http://x)", "[链接](http://x)", "<a "),
        ("&lt;b&gt;粗&lt;/b&gt;", "&lt;b&gt;粗&lt;/b&gt;", "<b>"),
        ("**要点**", "<strong>要点</strong>", "**"),
        ("<script>alert(1)</script>正文", "正文", "script"),
        ('<p onclick="x()">段</p>', "<p>段</p>", "onclick"),
        ("[点](javascript:alert(1))", "点", "javascript"),
        ('<div style="color:red">块</div>', "<div>块</div>", "style"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "<td>1</td>", "|"),
        ('<table><tr><td colspan="2">格</td></tr></table>', 'colspan="2"', "<tr>\n<td"),
    ],
)
def test_article_html_renders_safely(markdown: str, shown: str, absent: str) -> None:
    html = str(READER.article_html(markdown))
    assert shown in html, html
    assert absent not in html, html


def test_article_html_keeps_only_allowed_tags() -> None:
    hostile = (
        "<iframe src=x></iframe><img src=x onerror=alert(1)><form><input></form>"
        "<svg><script>1</script></svg><a href='data:text/html,x'>d</a>![图](https://np-newspic.dfcfw.com/x.jpg)"
    )
    html = str(READER.article_html(hostile))
    tags = set(re.findall(r"<([a-z0-9]+)", html))
    assert tags <= vocabulary.ALLOWED_TAGS, tags
    assert "onerror" not in html and "data:" not in html
    assert '<img alt="图" src="https://np-newspic.dfcfw.com/x.jpg">' in html


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2026-11-24T02:16:58Z", "2026-11-24 10:16:58"),
        ("2026-11-23T17:00:00Z", "2026-11-24 01:00:00"),
        ("2022-06-14T10:45:40+08:00", "2022-06-14 10:45:40"),
        ("2022-06-14", "2022-06-14"),
        ("not a time", "not a time"),
    ],
)
def test_beijing(value: str, shown: str) -> None:
    assert READER.beijing(value) == shown


def test_row_page_is_the_article(archive: Path) -> None:
    doc = BY_KEY["A17"]
    (page,) = get(archive, f"/finews/articles/{doc.info_code}")
    assert page.status_code == 200
    html = page.text
    article = html[html.index('<article class="finews-article">') : html.index("</article>")]
    assert doc.title in article
    body = article[article.index('class="finews-body"') :]
    assert "<p>" in body
    # The raw fields follow, the body's text once more only there.
    assert html.index("</article>") < html.index('class="finews-raw"')
    assert "content_sha256" in html[html.index('class="finews-raw"') :]


def test_table_lists_headlines_linked_to_their_pages(archive: Path) -> None:
    (page,) = get(archive, "/finews/articles")
    links = re.findall(
        r'<td class="finews-title[^"]*"[^>]*><a href="/finews/articles/(NW\d+)">', page.text
    )
    assert len(links) == 20
    assert set(links) == {doc.info_code for doc in BY_KEY.values()}
    # Datasette's own table, one click away.
    (href,) = re.findall(r'class="finews-all-columns" href="([^"]+)"', page.text)
    href = href.replace("&amp;", "&")
    assert "_col=" not in href and "_finews_list" not in href, href
    (raw,) = get(archive, href)
    assert 'class="col-summary' in raw.text and '<table class="finews-list' not in raw.text


def test_times_in_beijing_time_everywhere(archive: Path) -> None:
    runs, failures, health = get(
        archive, "/finews/crawl_runs", "/finews/failures", "/finews/crawl_health"
    )
    for page in (runs, failures, health):
        times = re.findall(r'<time datetime="([^"]+)" title="[^"]+">([^<]+)</time>', page.text)
        assert times, page.url
        for utc, shown in times:
            assert shown == READER.beijing(utc) and "T" not in shown


def test_status_badges(archive: Path) -> None:
    (page,) = get(archive, "/finews/crawl_health")
    for status in ("ok", "partial"):
        assert f'class="finews-status finews-status-{status}"' in page.text
    ok = READER.status_badge("ok")
    assert READER.status_badge("partial") != ok.replace("ok", "partial")
    assert READER.status_badge("blocked") != READER.status_badge("partial")


def test_canned_queries_hide_their_sql(archive: Path) -> None:
    queries = METADATA["databases"]["finews"]["queries"]
    assert all(query.get("hide_sql") for query in queries.values())
    (page,) = get(archive, "/finews/latest")
    body = page.text[page.text.index("<body") :]  # (Datasette puts the SQL in <title>)
    assert "order by published_at desc" not in body
    assert re.search(r'<a href="/finews/articles/NW\d+">', page.text)


@pytest.mark.parametrize("query", ["央行 降息", "央行", "title:央行", '"降息预期"', "涨 央行"])
def test_ranked_search_finds_what_the_table_search_finds(archive: Path, query: str) -> None:
    ranked, table = get(
        archive,
        f"/finews/search.json?_shape=array&q={quote(query)}",
        f"/finews/articles.json?_shape=array&_col=title&_size=max&_search={quote(query)}",
    )
    found = {row["info_code"] for row in ranked.json()}
    assert found == {row["info_code"] for row in table.json()}
    if ":" not in query:
        assert found == expected(query.replace('"', ""))
    first = READER_FIRST_WORD[query]
    for row in ranked.json():
        assert f"<mark>{first}</mark>" in row["snippet"]


READER_FIRST_WORD = {
    "央行 降息": "央行",
    "央行": "央行",
    "title:央行": "央行",
    '"降息预期"': "降息预期",
}
READER_FIRST_WORD["涨 央行"] = "涨"


def test_dashboards_run_only_their_own_sql(archive: Path) -> None:
    charts = [
        chart
        for board in METADATA["plugins"]["datasette-dashboards"].values()
        for chart in board["charts"].values()
    ]
    paths = [f"/finews.json?_shape=objects&sql={quote(chart['query'])}" for chart in charts]
    other = "/finews.json?sql=" + quote("select * from articles")
    changed = f"/finews.json?sql={quote(charts[0]['query'] + ' ')}"
    pages = get(
        archive, "/-/dashboards/archive", "/-/dashboards/crawl-health", other, changed, *paths
    )
    assert [p.status_code for p in pages[:2]] == [200, 200]
    assert [p.status_code for p in pages[2:4]] == [403, 403]
    for chart, page in zip(charts, pages[4:], strict=True):
        assert page.status_code == 200, (chart["title"], page.text[:300])
        assert "rows" in page.json()
    # The pages load Vega from the plugin's static files, nothing from elsewhere.
    html = pages[1].text
    scripts = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert scripts and all(s.startswith("/") for s in scripts), scripts


@pytest.mark.parametrize(
    "query", ["央行", "涨", "央", "降息预期", "央行 降息", "title:央行", "GDP", "旧版"]
)
@pytest.mark.parametrize(
    "clause", ["BY_KEY", "ALL_HITS", "PROBE", "FLOOR:min", "FLOOR:middle", "FLOOR:above"]
)
def test_every_search_plan_finds_exactly_the_articles(
    archive: Path, clause: str, query: str
) -> None:
    """Whatever plan the hit count picks, the same articles; FLOOR for any floor
    (the smallest hit's key, one in the middle, one above every hit)."""
    conn = sqlite3.connect(archive / "finews.db")
    conn.create_function("escape_fts", 1, SEARCH.fts_query)
    name, _, where = clause.partition(":")
    params: dict[str, Any] = {"search": query}
    hits = "select rowid from articles_search where articles_search match escape_fts(:search)"
    keys = sorted(k for (k,) in conn.execute(hits, params)) or [0]
    if where:
        params["floor"] = {"min": keys[0], "middle": keys[len(keys) // 2], "above": keys[-1] + 1}[
            where
        ]
    found = {
        code
        for (code,) in conn.execute(
            f"select info_code from articles where {getattr(PLANS, name)}", params
        )
    }
    conn.close()
    if ":" in query:
        assert found == {d.info_code for d in BY_KEY.values() if "央行" in d.title}
    else:
        assert found == expected(query)


@pytest.mark.parametrize("clause", ["BY_KEY", "ALL_HITS", "PROBE", "FLOOR"])
def test_search_plans_tell_an_article_from_its_emnews_twin(
    archive: Path, tmp_path: Path, clause: str
) -> None:
    """An imported emnews flash EM<code> shares the digits of the NW article of its
    code; each is found only for its own text."""
    path = tmp_path / "finews.db"
    shutil.copy(archive / "finews.db", path)
    db = connect(path)
    doc = next(d for d in BY_KEY.values() if "人民币" in d.body and "降准" not in d.body)
    twin = dict(row_of(doc), info_code="EM" + doc.info_code[2:], title="快讯", summary="")
    twin.update(body_markdown="央行宣布降准。", body_text="央行宣布降准。")
    upsert_articles(db, [twin])
    db.close()
    conn = sqlite3.connect(path)
    conn.create_function("escape_fts", 1, SEARCH.fts_query)

    def found(query: str) -> set[str]:
        params = {"search": query, "floor": 1}
        sql = f"select info_code from articles where {getattr(PLANS, clause)}"
        return {code for (code,) in conn.execute(sql, params)}

    assert doc.info_code in found("人民币") and twin["info_code"] not in found("人民币")
    assert twin["info_code"] in found("宣布降准") and doc.info_code not in found("宣布降准")
    conn.close()


def test_the_plan_follows_the_hit_count() -> None:
    assert PLANS.plan(0, True) == PLANS.plan(PLANS.RARE, True) == PLANS.BY_KEY
    assert PLANS.plan(PLANS.RARE + 1, True) == PLANS.plan(PLANS.COMMON, True) == PLANS.ALL_HITS
    assert PLANS.plan(PLANS.COMMON + 1, True) == PLANS.PROBE
    assert PLANS.plan(PLANS.COMMON + 1, False) == PLANS.ALL_HITS
    # A phrase (3+ characters) is counted to PHRASE_CAP and never probed.
    assert PLANS.is_phrase('"人民 民币"') and PLANS.is_phrase('title : "人民 民币"')
    assert not PLANS.is_phrase('"央行" "降息"') and not PLANS.is_phrase('"涨"*')
    assert PLANS.cap_for('"人民 民币"') == PLANS.PHRASE_CAP < PLANS.cap_for('"央行"')
    assert PLANS.plan(PLANS.PHRASE_CAP, True, phrase=True) == PLANS.ALL_HITS
    assert PLANS.plan(PLANS.PHRASE_CAP + 1, True, phrase=True) == PLANS.FLOOR
    assert PLANS.plan(PLANS.PHRASE_CAP + 1, False, phrase=True) == PLANS.ALL_HITS
    assert PLANS.plan(PLANS.RARE, True, phrase=True) == PLANS.BY_KEY
    assert PLANS.newest_first({}) and PLANS.newest_first({"_sort_desc": "published_at"})
    assert not PLANS.newest_first({"_sort": "title"})


def test_blocks_chart_counts_block_pages_by_kind(archive: Path, tmp_path: Path) -> None:
    copy = tmp_path / "finews.db"
    copy.write_bytes((archive / "finews.db").read_bytes())
    conn = sqlite3.connect(copy)
    stats = {"finews/blocked": 3, "finews/blocked/captcha": 2, "finews/blocked/http_403": 1}
    conn.execute(
        "insert into crawl_runs (id, spider, started_at, status, stats) values (?, ?, ?, ?, ?)",
        [99, "columns", "2099-01-01T17:00:00Z", "blocked", json.dumps(stats)],
    )
    board = METADATA["plugins"]["datasette-dashboards"]["crawl-health"]["charts"]
    rows = conn.execute(board["blocks"]["query"]).fetchall()
    # Beijing day of 17:00 UTC is the next day.
    assert rows == [("2099-01-02", "captcha", 2), ("2099-01-02", "http_403", 1)]
    assert conn.execute(board["last-status"]["query"]).fetchone() == ("blocked",)
    conn.close()


def test_an_empty_search_is_the_table_with_its_count(archive: Path) -> None:
    (page,) = get(archive, "/finews/articles?_search=")
    assert "20 rows" in page.text and "finews-list" in page.text

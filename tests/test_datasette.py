"""The archive served by Datasette: search for 1-, 2- and 3+-character Chinese
words, canned queries, facets, read-only.

A small archive (``tests/searchdata.py``: twenty hand-written articles written
with the crawler's own ``connect`` and ``upsert_articles``) is served from a
temporary config directory holding the repository's ``archive/metadata.yml``
and ``archive/plugins/``, through Datasette's own test client (real Datasette,
real SQLite, no mocks) and once through ``datasette DIR --get``. The index
maintenance (triggers, rebuild) is checked on the database directly.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlite_utils
import yaml
from datasette.app import Datasette
from hypothesis import given, settings
from hypothesis import strategies as st

import crawler.search as search_module
from crawler.database import connect
from crawler.search import (
    SEARCH_TABLE,
    _bigrams_plain,
    _bigrams_utf32,
    bigram_sql,
    bigram_text,
    check_search,
    ensure_search,
    rebuild_search,
    search_paused,
)
from pipelines.index import upsert_articles
from tests.searchdata import (
    ARCHIVE,
    BY_KEY,
    DOCS,
    SERVE_SETTINGS,
    archive_dir,
    build,
    codes,
    expected,
    load_plugin,
    row_of,
    serve_args,
)

DATASETTE = Path(sys.executable).with_name("datasette")


PLUGIN = load_plugin()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return archive_dir(tmp_path_factory.mktemp("archive"))


def fetch(directory: Path, *paths: str, method: str = "GET") -> list[httpx.Response]:
    """Requests through Datasette's test client, served like `make serve` does."""

    async def run() -> list[httpx.Response]:
        ds = Datasette(config_dir=directory, settings=SERVE_SETTINGS)
        if method == "GET":
            return [await ds.client.get(path) for path in paths]
        return [await ds.client.request(method, path) for path in paths]

    return asyncio.run(run())


def get_json(directory: Path, path: str) -> Any:
    (response,) = fetch(directory, path)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    return response.json()


def table_search(directory: Path, query: str, param: str = "_search") -> list[str]:
    """info_codes the articles table page lists for ?_search=query (all pages)."""
    rows = get_json(
        directory, f"/finews/articles.json?{param}={quote(query)}&_shape=array&_col=title&_size=max"
    )
    return [row["info_code"] for row in rows]


def canned(directory: Path, name: str, **params: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={quote(v)}" for k, v in params.items())
    return get_json(directory, f"/finews/{name}.json?_shape=array&{query}")


# --- the data's ground truth is what we think it is -------------------------

HAND_CHECKED = {
    "央行": codes("A01", "A06", "A08", "A10", "A17"),
    "降息": codes("A02", "A05", "A17"),
    "涨": codes("A03", "A11", "A12", "A14", "A15"),
    "人民币": codes("A06", "A17"),
    "降息预期": codes("A02", "A05"),
    "中国人民银行": codes("A02", "A17"),
    "央行 降息": codes("A17"),
    "旧版": set(),
}


def test_ground_truth_is_hand_checked() -> None:
    for query, want in HAND_CHECKED.items():
        assert expected(query) == want, query


# --- the index --------------------------------------------------------------

ALPHABET = "央行降息涨中国人民银币预期aB1，。 \n\"'😀é\0"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(alphabet=ALPHABET, max_size=300)))
def test_bigram_sql_is_the_python_twin(text: str | None) -> None:
    """The triggers' SQL and rebuild_search's Python give the same indexed text."""
    conn = sqlite3.connect(":memory:")
    assert conn.execute(f"SELECT {bigram_sql('?1')}", [text]).fetchone()[0] == bigram_text(text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=ALPHABET + "\ud800\udfff𝄞", min_size=2, max_size=300))
def test_bigram_text_fast_path_is_the_plain_one(text: str) -> None:
    """The code-point copy gives the stream pair by pair (lone surrogates, which
    UTF-32 cannot carry, go the plain way)."""
    text = text.split("\0", 1)[0]
    if len(text) >= 2:
        assert bigram_text(text) == _bigrams_plain(text)
        if not any("\ud800" <= c <= "\udfff" for c in text):
            assert _bigrams_utf32(text) == _bigrams_plain(text)


def test_bigram_sql_long_text() -> None:
    conn = sqlite3.connect(":memory:")
    text = "".join(DOC.body for DOC in DOCS) * 20  # ~16,000 characters, many chunks
    assert conn.execute(f"SELECT {bigram_sql('?1')}", [text]).fetchone()[0] == bigram_text(text)


CJK = "央行降息涨中"


@settings(max_examples=400, deadline=None)
@given(
    doc=st.text(alphabet=CJK + "，。 a", max_size=40),
    query=st.text(alphabet=CJK, min_size=1, max_size=5),
)
def test_index_matches_exactly_the_substrings(doc: str, query: str) -> None:
    """For a Chinese query: the bigram index matches a text iff the query is a
    substring of it (separators in the text included)."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE t USING fts5(x, content='', tokenize='unicode61', prefix='1')"
    )
    conn.execute("INSERT INTO t (rowid, x) VALUES (1, ?)", [bigram_text(doc)])
    found = conn.execute(
        "SELECT rowid FROM t WHERE t MATCH ?", [PLUGIN.fts_query(query)]
    ).fetchall()
    assert bool(found) == (query in doc), (doc, query, PLUGIN.fts_query(query))


def test_fts_query_rewrites_each_phrase() -> None:
    q = PLUGIN.fts_query
    assert q("涨") == '"涨"*'
    assert q("央行") == '"央行"'
    assert q("降息预期") == '"降息 息预 预期"'
    assert q("央行  降息") == '"央行" "降息"'
    assert q('"央行 降息"') == '"央行 行   降 降息"'  # bigrams 央行, "行 ", " 降", 降息
    assert q('a"b') == '"a"* "b"*'  # odd quote closed, as Datasette does: a "b"
    assert q("   ") == '""'
    assert q("title:央行 涨") == 'title : "央行" "涨"*'
    assert q("url:央行") == '"ur rl l: :央 央行"'  # not a column: just text


def search_sql(db: Any, query: str) -> set[str]:
    """What the table page's search finds, straight from SQL (fts_pk: code)."""
    db.conn.create_function("fts_query", 1, PLUGIN.fts_query)
    rows = db.execute(
        f"SELECT info_code FROM articles WHERE code IN (SELECT rowid FROM {SEARCH_TABLE} "
        f"WHERE {SEARCH_TABLE} MATCH fts_query(?))",
        [query],
    ).fetchall()
    return {code for (code,) in rows}


CANNED_SEARCH = yaml.safe_load((ARCHIVE / "metadata.yml").read_text("utf-8"))["databases"][
    "finews"
]["queries"]["search"]["sql"]


def search_canned_sql(db: Any, query: str) -> set[str]:
    """What the search canned query finds, straight from SQL (with the plugin's
    escape_fts, as Datasette has it)."""
    PLUGIN.prepare_connection(getattr(db, "conn", db), "finews")
    return {row[0] for row in db.execute(CANNED_SEARCH, {"q": query}).fetchall()}


def stocks_of(db: Any, code: str) -> set[str]:
    rows = db.execute("SELECT info_code FROM article_stocks WHERE code = ?", [code]).fetchall()
    return {c for (c,) in rows}


def test_triggers_follow_every_writer(tmp_path: Path) -> None:
    db = connect(build(tmp_path))
    assert check_search(db) == []
    assert search_sql(db, "央行") == HAND_CHECKED["央行"]
    assert search_sql(db, "旧版") == set()  # A02's first body, replaced by upsert

    # The crawler's upsert with a new body: A10 no longer ends with 央行.
    a10 = dict(row_of(BY_KEY["A10"]), body_text="多家银行下调存款利率。", content_sha256="x")
    upsert_articles(db, [a10])
    assert search_sql(db, "央行") == HAND_CHECKED["央行"] - codes("A10")
    # A refresh that does not touch the text leaves the index alone.
    upsert_articles(db, [dict(a10, columns='["国内经济", "观点"]')])

    # Plain sqlite3, no sqlite-utils, no Python function: delete and insert.
    raw = sqlite3.connect(tmp_path / "finews.db", isolation_level=None)
    raw.execute("DELETE FROM articles WHERE info_code = ?", [BY_KEY["A14"].info_code])
    raw.execute(
        """INSERT INTO articles (info_code, code, title, published_at, summary, body_text, stocks)
           VALUES ('NW1', '1', '新闻', '2022-06-21T08:00:00+08:00', '', '据报道，央行', '["1.600519"]')"""
    )
    raw.close()
    assert search_sql(db, "央行") == HAND_CHECKED["央行"] - codes("A10") | {"NW1"}
    assert search_sql(db, "涨") == HAND_CHECKED["涨"] - codes("A14")
    assert stocks_of(db, "600519") == codes("A15") | {"NW1"}
    assert check_search(db) == []

    # ensure_search is idempotent, and repairs a changed trigger (rebuilding).
    assert not search_module._missing(search_module._schema(db.conn))  # nothing to do
    schema = db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    ensure_search(db)
    assert db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall() == schema
    db.execute(f"DROP TRIGGER {SEARCH_TABLE}_ai")
    db.execute(f"CREATE TRIGGER {SEARCH_TABLE}_ai AFTER INSERT ON articles BEGIN SELECT 1; END")
    db.execute(
        "INSERT INTO articles (info_code, code, title, published_at) VALUES ('NW2', '2', '央行', 'x')"
    )
    assert "NW2" not in search_sql(db, "央行")
    ensure_search(db)
    assert db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall() == schema
    assert "NW2" in search_sql(db, "央行")

    # A code that is not the crawler's (no info_code = 'NW' || code): keyed by
    # -rowid; the canned query finds it, the table page (code in …) cannot.
    db.execute(
        "INSERT INTO articles (info_code, code, title, published_at) VALUES ('X3', '0x3', '央行', 'x')"
    )
    assert check_search(db) == []
    assert "X3" in search_canned_sql(db, "央行")
    assert "X3" not in search_sql(db, "央行")

    rebuild_search(db)
    assert check_search(db) == []
    want = HAND_CHECKED["央行"] - codes("A10") | {"NW1", "NW2"}
    assert search_sql(db, "央行") == want
    assert search_canned_sql(db, "央行") == want | {"X3"}
    db.execute("DELETE FROM articles WHERE info_code = 'X3'")
    assert check_search(db) == []
    db.close()


def index_instances(conn: Any) -> list[tuple[Any, ...]]:
    """Every (term, key, column, offset) of the bigram index: two indexes with
    equal lists answer every query alike."""
    conn.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab "
        f"USING fts5vocab(main, {SEARCH_TABLE}, 'instance')"
    )
    return conn.execute(
        "SELECT term, doc, col, offset FROM temp.vocab ORDER BY 1, 2, 3, 4"
    ).fetchall()


def test_crawler_writer_indexes_like_the_triggers(tmp_path: Path) -> None:
    """upsert_articles keeps the bigram index itself (triggers aside, Python
    bigrams): the same entries as the SQL triggers make for the same writes,
    the aside-row never outlives the write, and a failed batch changes nothing."""
    db = connect(build(tmp_path / "python"))  # written by upsert_articles
    a10 = dict(row_of(BY_KEY["A10"]), body_text="多家银行下调存款利率。", content_sha256="x")
    upsert_articles(db, [a10, dict(a10, columns='["观点"]')])  # changed text, then same text

    upsert_articles(db, [dict(a10, title="央行新闻")])  # indexed text changed again

    # The same rows, through the triggers only: plain sqlite3, no Python function,
    # into a fresh database; a10 inserted with its former title, then updated.
    connect(tmp_path / "sql" / "finews.db").close()
    raw = sqlite3.connect(tmp_path / "sql" / "finews.db", isolation_level=None)
    cursor = db.execute("SELECT rowid, * FROM articles ORDER BY rowid")
    names = [d[0] for d in cursor.description]
    for row in cursor.fetchall():
        values = dict(zip(names, row, strict=True))
        if values["info_code"] == a10["info_code"]:
            values["title"] = a10["title"]
        raw.execute(
            f"INSERT INTO articles ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
            list(values.values()),
        )
    raw.execute("UPDATE articles SET title = '央行新闻' WHERE info_code = ?", [a10["info_code"]])

    python_index = index_instances(db.conn)
    assert len(python_index) > 1000
    assert python_index == index_instances(raw)
    assert check_search(db) == [] and check_search(raw) == []
    assert db.execute("SELECT count(*) FROM search_writer").fetchone()[0] == 0
    assert a10["info_code"] in search_sql(db, "央行新闻")

    # A batch that fails half-way (NOT NULL title) rolls back: no row, no index
    # entry, no aside-row left to blind the triggers of the next writer.
    before = index_instances(db.conn)
    bad = [dict(row_of(BY_KEY["A11"]), info_code="NW9", code="9"), dict(a10, title=None)]
    with pytest.raises(sqlite3.IntegrityError):
        upsert_articles(db, bad)
    assert index_instances(db.conn) == before
    assert db.execute("SELECT count(*) FROM search_writer").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM articles WHERE info_code = 'NW9'").fetchone()[0] == 0
    raw.close()
    other = sqlite3.connect(tmp_path / "python" / "finews.db", isolation_level=None)
    other.execute(
        "INSERT INTO articles (info_code, code, title, published_at) VALUES ('NW8', '8', '央行', 'x')"
    )
    other.close()
    assert "NW8" in search_sql(db, "央行")
    db.close()


def test_older_archives_lose_the_trigram_index(tmp_path: Path) -> None:
    """Archives written before the bigram index answered every query length had
    an FTS5 trigram index (articles_fts, sqlite-utils' triggers) and two
    single-column indexes: opening one with the crawler drops them, and search
    answers as before."""
    path = build(tmp_path)
    old = sqlite_utils.Database(path)
    old["articles"].enable_fts(
        ["title", "summary", "body_text"],
        fts_version="FTS5",
        tokenize="trigram",
        create_triggers=True,
    )
    old.execute("CREATE INDEX articles_published_at ON articles(published_at)")
    old.execute("CREATE INDEX articles_category ON articles(category)")
    old.close()
    db = connect(path)
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master").fetchall()}
    assert not {n for n in names if n.startswith("articles_fts")}
    assert not names & {"articles_ai", "articles_ad", "articles_au"}
    assert not names & {"articles_published_at", "articles_category"}
    upsert_articles(db, [dict(row_of(BY_KEY["A10"]), content_sha256="y")])  # no trigger left behind
    assert search_canned_sql(db, "央行") == HAND_CHECKED["央行"]
    assert check_search(db) == []
    db.close()


def test_search_paused_for_bulk_loads(tmp_path: Path) -> None:
    db = connect(build(tmp_path))
    a10 = dict(row_of(BY_KEY["A10"]), body_text="多家银行下调存款利率。", content_sha256="x")
    with search_paused(db):
        upsert_articles(db, [a10])
        db.execute("DELETE FROM articles WHERE info_code = ?", [BY_KEY["A17"].info_code])
        triggers = db.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?",
            [f"{SEARCH_TABLE}_%"],
        ).fetchone()[0]
        assert triggers == 0
    assert check_search(db) == []
    assert search_sql(db, "央行") == HAND_CHECKED["央行"] - codes("A10", "A17")
    upsert_articles(db, [row_of(BY_KEY["A17"])])  # triggers are back
    assert search_sql(db, "央行") == HAND_CHECKED["央行"] - codes("A10")
    db.close()


def test_command_line_check(tmp_path: Path) -> None:
    path = build(tmp_path)
    for command in ("check", "rebuild", "ensure"):
        done = subprocess.run(
            [sys.executable, "-m", "crawler.search", command, str(path)],
            capture_output=True,
            text=True,
            cwd=ARCHIVE.parent,
        )
        assert done.returncode == 0, done.stderr


# --- table search through Datasette ------------------------------------------

QUERIES = [
    "央行",
    "降息",
    "涨",
    "央",
    "行",
    "人民币",
    "降息预期",
    "中国人民银行",
    "GDP",
    "gdp",
    "LPR",
    "1000亿元",
    "央行 降息",
    "涨  人民币",
    "旧版",
]


@pytest.mark.parametrize("query", QUERIES)
def test_table_search_finds_exactly_the_articles_containing_it(archive: Path, query: str) -> None:
    found = table_search(archive, query)
    assert len(found) == len(set(found))
    assert set(found) == expected(query)
    if query in HAND_CHECKED:
        assert set(found) == HAND_CHECKED[query]


def test_table_search_lists_newest_first_and_counts(archive: Path) -> None:
    data = get_json(archive, f"/finews/articles.json?_search={quote('央行')}")
    assert data["filtered_table_rows_count"] == 5
    published = [row[3] for row in data["rows"]]  # columns: info_code, code, title, published_at
    assert data["columns"][3] == "published_at"
    assert published == sorted(published, reverse=True)


def test_column_search(archive: Path) -> None:
    title = codes("A01", "A08", "A17")
    assert set(table_search(archive, "央行", "_search_title")) == title
    assert set(table_search(archive, "title:央行")) == title
    assert set(table_search(archive, "summary:央行")) == codes("A08")
    assert set(table_search(archive, "body_text:央行")) == codes("A06", "A10")
    assert set(table_search(archive, "央行 降息", "_search_body_text")) == set()
    assert set(table_search(archive, "降息 body_text:央行")) == set()
    assert set(table_search(archive, "降息 title:央行")) == codes("A17")
    (page,) = fetch(archive, f"/finews/articles?_search_title={quote('央行')}")
    assert 'value="title:央行"' in page.text


def test_search_box_html(archive: Path) -> None:
    (page,) = fetch(archive, f"/finews/articles?_search={quote('降息')}")
    assert page.status_code == 200
    assert 'name="_search"' in page.text
    for doc in DOCS:
        assert (f">{doc.info_code}<" in page.text) == (doc.info_code in HAND_CHECKED["降息"])


# --- canned queries ---------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["涨", "央", "央行", "降息", "人民币", "降息预期", "中国人民银行", "GDP"]
)
def test_search_query_ranked_with_snippet(archive: Path, query: str) -> None:
    rows = canned(archive, "search", q=query)
    assert {row["info_code"] for row in rows} == expected(query)
    scores = [row["score"] for row in rows]
    assert scores == sorted(scores)  # bm25: lower is better
    for row in rows:
        snippet = row["snippet"]
        start = snippet.index("<mark>") + len("<mark>")
        assert snippet[start : start + len(query)].lower() == query.lower(), snippet
        assert snippet[start + len(query) :].startswith("</mark>"), snippet


def test_search_query_ranks_title_matches_first(archive: Path) -> None:
    rows = canned(archive, "search", q="央行")
    assert {row["info_code"] for row in rows[:3]} == codes("A01", "A08", "A17")


def test_search_query_empty_and_odd_input(archive: Path) -> None:
    assert canned(archive, "search", q="") == []
    assert canned(archive, "search", q="  ") == []
    assert canned(archive, "search", q='"') == []
    assert canned(archive, "search", q="，") == []
    assert {r["info_code"] for r in canned(archive, "search", q=" 央行 ")} == HAND_CHECKED["央行"]


def test_search_query_html_marks_only(archive: Path) -> None:
    (page,) = fetch(archive, f"/finews/search?q={quote('降息预期')}")
    assert page.status_code == 200
    table = page.text[page.text.index('<table class="rows-and-columns">') :]
    assert "<mark>降息预期</mark>" in table
    assert "&lt;mark&gt;" not in table


def test_latest(archive: Path) -> None:
    rows = canned(archive, "latest")
    by_date = sorted(DOCS, key=lambda d: d.published, reverse=True)
    assert [row["info_code"] for row in rows] == [doc.info_code for doc in by_date]


def test_article_versions(archive: Path) -> None:
    rows = canned(archive, "article_versions", info_code=BY_KEY["A02"].info_code)
    assert [(r["version"], r["is_current"]) for r in rows] == [(2, 1), (1, 0)]
    assert rows[0]["body_markdown"] == BY_KEY["A02"].body
    assert rows[1]["body_markdown"].startswith("旧版正文")
    assert canned(archive, "article_versions", info_code="NW0") == []


@pytest.mark.parametrize(
    "code, keys",
    [
        ("000001", ("A16", "A03")),  # 0.000001 (平安银行) and 1.000001 (上证指数)
        ("600519", ("A15", "A14")),
        (" 002594 ", ("A13",)),
        ("00700", ("A15",)),
        ("999999", ()),
        ("", ()),
    ],
)
def test_stock(archive: Path, code: str, keys: tuple[str, ...]) -> None:
    rows = canned(archive, "stock", code=code)
    # newest first
    assert [row["info_code"] for row in rows] == [BY_KEY[k].info_code for k in keys]


def test_crawl_health(archive: Path) -> None:
    assert [r["id"] for r in canned(archive, "crawl_health", days="")] == [3, 2]
    assert [r["id"] for r in canned(archive, "crawl_health", days="30")] == [3, 2, 1]
    (run,) = canned(archive, "crawl_health", days="2")
    assert run["status"] == "ok" and run["seconds"] == 300


def test_crawl_failures(archive: Path) -> None:
    rows = canned(archive, "crawl_failures", days="7")
    assert [
        (r["stage"], r["reason"], r["failures"], r["unresolved"], r["articles"]) for r in rows
    ] == [
        ("article", "no body on the page nor in Choice", 2, 1, 2),
        ("list", "list answer is not JSON", 1, 1, 0),
    ]
    rows = canned(archive, "crawl_failures", days="30")
    assert [(r["stage"], r["failures"]) for r in rows] == [("article", 2), ("list", 2)]


# --- facets, metadata -------------------------------------------------------


def facet_counts(data: dict[str, Any], name: str) -> dict[str, int]:
    return {v["value"]: v["count"] for v in data["facet_results"][name]["results"]}


def test_facets(archive: Path) -> None:
    data = get_json(archive, "/finews/articles.json")
    assert facet_counts(data, "media") == Counter(doc.media for doc in DOCS)
    assert facet_counts(data, "columns") == Counter(c for doc in DOCS for c in doc.columns)
    assert data["facet_results"]["columns"]["type"] == "array"
    assert sum(facet_counts(data, "category").values()) == len(DOCS)
    # Beijing days: A01 (07:30 +08:00) is on the 14th, not the UTC 13th.
    days = facet_counts(data, "published_at")
    assert days == Counter(doc.published[:10] for doc in DOCS)
    assert data["facet_results"]["published_at"]["type"] == "day"
    # Facets of a search, and selecting a day.
    data = get_json(archive, f"/finews/articles.json?_search={quote('央行')}")
    assert facet_counts(data, "media") == Counter(
        BY_KEY[k].media for k in ("A01", "A06", "A08", "A10", "A17")
    )
    selected = get_json(
        archive, "/finews/articles.json?published_at__startswith=2022-06-14&_shape=array"
    )
    assert {r["info_code"] for r in selected} == {
        d.info_code for d in DOCS if d.published.startswith("2022-06-14")
    }


def test_array_facet_counts_a_row_once(tmp_path: Path) -> None:
    """The plugin's fast array facet keeps the stock one's semantics."""
    directory = archive_dir(tmp_path)
    conn = sqlite3.connect(directory / "finews.db")
    with conn:
        conn.execute(
            """INSERT INTO articles (info_code, code, title, published_at, columns)
               VALUES ('NW9', '9', 't', '2022-06-21T08:00:00+08:00', '["公司", "公司", "观点"]'),
                      ('NW8', '8', 't', '2022-06-21T09:00:00+08:00', 'not json')"""
        )
    conn.close()
    data = get_json(directory, "/finews/articles.json?_facet_array=column_ids")
    counts = facet_counts(data, "columns")
    want = Counter(c for doc in DOCS for c in doc.columns) + Counter({"公司": 1, "观点": 1})
    assert counts == want
    # the same counts as Datasette's own query, which reads whole rows
    assert facet_counts(data, "column_ids") == Counter(
        str(i) for doc in DOCS for i in {350 + len(c) for c in doc.columns}
    )
    # (Datasette's own arraycontains filter fails on invalid JSON: drop that row.)
    conn = sqlite3.connect(directory / "finews.db")
    with conn:
        conn.execute("DELETE FROM articles WHERE info_code = 'NW8'")
    conn.close()
    selected = get_json(
        directory, f"/finews/articles.json?columns__arraycontains={quote('公司')}&_shape=array"
    )
    assert {r["info_code"] for r in selected} == codes("A14", "A16") | {"NW9"}


def test_every_column_is_described(archive: Path) -> None:
    meta = yaml.safe_load((ARCHIVE / "metadata.yml").read_text("utf-8"))
    tables = meta["databases"]["finews"]["tables"]
    conn = sqlite3.connect(archive / "finews.db")
    for table in ("articles", "article_stocks", "article_versions", "crawl_runs", "failures"):
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        assert set(tables[table]["columns"]) == set(columns), table
    conn.close()


def test_hidden_tables(archive: Path) -> None:
    data = get_json(archive, "/finews.json")
    hidden = {t["name"] for t in data["tables"] if t["hidden"]}
    visible = {t["name"] for t in data["tables"] if not t["hidden"]}
    assert {"articles_search", "articles_search_data", "search_writer"} <= hidden
    assert "articles_fts" not in hidden | visible  # the former trigram index is gone
    assert {"articles", "article_stocks", "article_versions", "crawl_runs", "failures"} <= visible


# --- read-only --------------------------------------------------------------


def test_read_only(archive: Path) -> None:
    before = (archive / "finews.db").read_bytes()
    meta = yaml.safe_load((ARCHIVE / "metadata.yml").read_text("utf-8"))
    assert not any(q.get("write") for q in meta["databases"]["finews"]["queries"].values())
    for method, path in [
        ("POST", f"/finews/search?q={quote('央行')}"),
        ("POST", "/finews/articles"),
        ("POST", "/finews/-/insert"),
        ("PUT", "/finews/articles"),
        ("DELETE", "/finews/articles/NW202206142411662101"),
    ]:
        (response,) = fetch(archive, path, method=method)
        assert response.status_code == 405, (method, path)
    paths = [
        "/finews?sql=select+1",  # no arbitrary SQL
        "/finews/articles?_where=1%3D1",  # nor SQL fragments
        "/finews.db",  # no download
        "/finews/articles.csv?_stream=on",  # no unbounded CSV
    ]
    statuses = {
        path: response.status_code
        for path, response in zip(paths, fetch(archive, *paths), strict=True)
    }
    assert statuses == {
        "/finews?sql=select+1": 403,
        "/finews/articles?_where=1%3D1": 403,
        "/finews.db": 403,
        "/finews/articles.csv?_stream=on": 400,
    }
    assert (archive / "finews.db").read_bytes() == before
    # No plugin that writes (datasette-write, -insert, -upload-csvs, …): add
    # a plugin here only after checking it cannot.
    plugins = get_json(archive, "/-/plugins.json")
    assert {p["name"] for p in plugins} <= {"finews_search.py"}
    settings_ = get_json(archive, "/-/settings.json")
    assert {k: settings_[k] for k in SERVE_SETTINGS} == SERVE_SETTINGS


def test_datasette_cli_get(archive: Path) -> None:
    """`datasette DIR --get` (config-directory mode, as `make serve` runs it)."""
    done = subprocess.run(
        [
            str(DATASETTE),
            str(archive),
            *serve_args(),
            "--get",
            f"/finews/articles.json?_search={quote('降息')}&_shape=array&_col=title",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert {row["info_code"] for row in json.loads(done.stdout)} == HAND_CHECKED["降息"]

"""The archive served by Datasette: search for 1-, 2- and 3+-character Chinese
words, canned queries, facets, read-only.

A small archive (``tests/searchdata.py``: twenty hand-written articles written
with the crawler's own ``connect`` and ``upsert_articles``) is served from a
temporary config directory holding the repository's ``archive/metadata.yml``
and ``archive/plugins/``, through Datasette's own test client (real Datasette,
real SQLite, no mocks) and once through ``datasette DIR --get``. The index
maintenance (the writer, a rebuild, older archives' migrations) is checked on
the database directly.
"""

from __future__ import annotations

import asyncio
import json
import operator
import sqlite3
import subprocess
import sys
import threading
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

from crawler.store.schema import connect
from crawler.store.search import (
    SEARCH_TABLE,
    bigram_text,
    check_search,
    ensure_search,
    rebuild_search,
    search_key,
)
from crawler.store.writes import upsert_articles
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


def each_with_the_next(text: str) -> str:
    """The bigram stream by its definition: each character with the next, then
    the last one alone."""
    return " ".join(map(operator.add, text, text[1:])) + " " + text[-1]


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.none(), st.text(alphabet=ALPHABET + "\ud800\udfff𝄞", max_size=300)))
def test_bigram_text_is_each_character_with_the_next(text: str | None) -> None:
    """The code-point copy gives the stream pair by pair (lone surrogates
    included); the text ends at a NUL; None and short texts stay as they are."""
    if text is None:
        assert bigram_text(text) is None
        return
    text = text.split("\0", 1)[0]
    assert bigram_text(text) == (text if len(text) < 2 else each_with_the_next(text))


def test_bigram_text_of_a_long_text() -> None:
    assert bigram_text("央行降息，预期") == "央行 行降 降息 息， ，预 预期 期"
    text = "".join(DOC.body for DOC in DOCS) * 20  # ~16,000 characters
    assert bigram_text(text) == each_with_the_next(text)
    assert bigram_text(12) == "12 2"  # not text: its str(), as SQLite would give


def test_search_key_is_the_code_when_canonical() -> None:
    assert search_key("NW202206142411662199", "202206142411662199", 7) == 202206142411662199
    for info_code, code in [
        ("X3", "0x3"),
        ("NW012", "012"),
        ("NW1", "2"),
        ("NW" + "9" * 19, "9" * 19),
    ]:
        assert search_key(info_code, code, 7) == -7, code
    assert search_key("NW１２", "１２", 7) == -7  # digits, but not ASCII


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


def schema_of(db: Any) -> list[tuple[str, str]]:
    return db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()


def test_writer_keeps_the_index_and_a_rebuild_follows_hand_edits(tmp_path: Path) -> None:
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
    assert check_search(db) == []

    # A hand edit (plain sqlite3): no trigger follows it, the check says so,
    # and a rebuild (make reindex) brings both indexes in step.
    raw = sqlite3.connect(tmp_path / "finews.db", isolation_level=None)
    raw.execute("DELETE FROM articles WHERE info_code = ?", [BY_KEY["A14"].info_code])
    raw.execute(
        """INSERT INTO articles (info_code, code, title, published_at, summary, body_text, stocks)
           VALUES ('NW1', '1', '新闻', '2022-06-21T08:00:00+08:00', '', '据报道，央行', '["1.600519"]')"""
    )
    raw.close()
    assert db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall() == []
    problems = check_search(db)
    assert f"1 articles not in {SEARCH_TABLE}" in problems
    assert f"1 rows of {SEARCH_TABLE} without an article" in problems
    assert "1 rows of article_stocks missing" in problems
    assert "NW1" not in search_sql(db, "央行") and "NW1" not in stocks_of(db, "600519")
    rebuild_search(db)
    assert check_search(db) == []
    assert search_sql(db, "央行") == HAND_CHECKED["央行"] - codes("A10") | {"NW1"}
    assert search_sql(db, "涨") == HAND_CHECKED["涨"] - codes("A14")
    assert stocks_of(db, "600519") == codes("A15") | {"NW1"}

    # ensure_search is idempotent, and replaces (and refills) a search table
    # of another definition.
    schema = schema_of(db)
    ensure_search(db)
    assert schema_of(db) == schema
    db.execute(f"DROP TABLE {SEARCH_TABLE}")
    db.execute(f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5(title, summary, body_text)")
    ensure_search(db)
    assert schema_of(db) == schema
    assert check_search(db) == []
    assert search_sql(db, "央行") == HAND_CHECKED["央行"] - codes("A10") | {"NW1"}

    # A code that is not the crawler's (no info_code = 'NW' || code): keyed by
    # -rowid; the canned query finds it, the table page (code in …) cannot.
    odd = dict(row_of(BY_KEY["A01"]), info_code="X3", code="0x3", title="央行")
    upsert_articles(db, [odd])
    assert check_search(db) == []
    assert "X3" in search_canned_sql(db, "央行")
    assert "X3" not in search_sql(db, "央行")
    upsert_articles(db, [dict(odd, title="新闻", summary="", body_text="")])
    assert "X3" not in search_canned_sql(db, "央行")
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


def derived_rows(db: Any) -> dict[str, list[tuple[Any, ...]]]:
    """What the writer derives from the articles: index entries, stock rows, versions."""
    return {
        "index": index_instances(db.conn),
        "docsize": db.execute(f"SELECT * FROM {SEARCH_TABLE}_docsize ORDER BY 1").fetchall(),
        "stocks": db.execute("SELECT * FROM article_stocks ORDER BY 1, 2, 3").fetchall(),
        "versions": db.execute("SELECT * FROM article_versions ORDER BY 1, 2").fetchall(),
        "articles": db.execute("SELECT rowid, * FROM articles ORDER BY rowid").fetchall(),
        "failures": db.execute("SELECT * FROM failures ORDER BY id").fetchall(),
    }


def test_writer_index_equals_a_rebuild(tmp_path: Path) -> None:
    """upsert_articles keeps the bigram and stock indexes itself: after new
    rows, changed text, unchanged text, a changed code and changed stocks,
    the entries are those a full rebuild makes; a failed batch changes nothing."""
    db = connect(build(tmp_path))  # written by upsert_articles (A02 twice)
    a10 = dict(row_of(BY_KEY["A10"]), body_text="多家银行下调存款利率。", content_sha256="x")
    upsert_articles(db, [a10, dict(a10, columns='["观点"]')])  # changed text, then same text
    upsert_articles(db, [dict(a10, title="央行新闻")])  # indexed text changed again
    a15 = row_of(BY_KEY["A15"])
    a11 = row_of(BY_KEY["A11"])
    upsert_articles(
        db,
        [
            dict(a15, stocks='["0.000001", "1.600519"]', content_sha256="s"),
            dict(a11, code="0" + a11["code"]),  # no longer canonical: keyed by -rowid
            dict(a15, stocks="not JSON"),
        ],
    )
    written = derived_rows(db)
    assert len(written["index"]) > 1000
    assert written["stocks"] and not stocks_of(db, "600519") & codes("A15")
    rebuild_search(db)
    assert derived_rows(db) == written
    assert check_search(db) == []
    assert a10["info_code"] in search_sql(db, "央行新闻")
    assert a11["info_code"] in search_canned_sql(db, "涨")

    # A batch that fails half-way (NOT NULL title) rolls back: no row, no
    # version, no index entry, no stock row, no failure resolved.
    bad = [
        dict(row_of(BY_KEY["A11"]), info_code="NW9", code="9", stocks='["1.600000"]'),
        dict(a10, title=None, body_text="央行"),
    ]
    db["failures"].insert({"info_code": "NW9", "reason": "earlier", "resolved_at": None})
    before = derived_rows(db)
    with pytest.raises(sqlite3.IntegrityError):
        upsert_articles(db, bad)
    assert derived_rows(db) == before
    assert db.execute("SELECT count(*) FROM articles WHERE info_code = 'NW9'").fetchone()[0] == 0
    assert check_search(db) == []
    db.close()


def test_a_rebuild_and_the_writer_wait_for_each_other(tmp_path: Path) -> None:
    """make reindex while a crawl writes, or a crawl's write during a rebuild:
    each waits for the other's transaction instead of failing with "database
    is locked", and the index ends right."""
    path = build(tmp_path)
    a10 = dict(row_of(BY_KEY["A10"]), body_text="多家银行下调存款利率。", content_sha256="x")
    errors: list[BaseException] = []

    def in_thread(write: Any) -> threading.Thread:
        def run() -> None:
            db = connect(path)  # a connection of its own, as another process has
            try:
                write(db)
            except BaseException as e:
                errors.append(e)
            finally:
                db.close()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    for holder, waiter in [
        (lambda db: upsert_articles(db, [a10]), rebuild_search),
        (rebuild_search, lambda db: upsert_articles(db, [dict(a10, title="央行新闻")])),
    ]:
        db = connect(path)
        with db.atomic():
            holder(db)
            thread = in_thread(waiter)
            thread.join(0.5)
            assert thread.is_alive()  # waiting for the lock
        thread.join(30)
        assert not errors, errors
        assert check_search(db) == []
        db.close()
    db = connect(path)
    assert search_sql(db, "央行新闻") == codes("A10")
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


SEARCH_TRIGGERS_V2 = Path(__file__).parent / "fixtures" / "search_triggers_v2.sql"


def test_older_archives_lose_the_search_triggers(tmp_path: Path) -> None:
    """Archives written before the index stage was the database's one writer
    kept the search and stock indexes by triggers, standing aside while a row
    of search_writer existed: opening one drops them all (left, each write
    would be indexed twice), and the index answers as before. An index of
    format 1 (keyed by rowid) is rebuilt."""
    path = build(tmp_path)
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(SEARCH_TRIGGERS_V2.read_text("utf-8"))
    old.close()
    db = connect(path)
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master").fetchall()}
    assert "search_writer" not in names
    assert db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall() == []
    a10 = dict(row_of(BY_KEY["A10"]), body_text="多家银行下调存款利率。", content_sha256="x")
    upsert_articles(db, [a10, dict(row_of(BY_KEY["A15"]), stocks='["1.600000"]')])
    assert check_search(db) == []
    assert search_canned_sql(db, "央行") == HAND_CHECKED["央行"] - codes("A10")
    assert stocks_of(db, "600000") == codes("A15")
    db.close()

    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(SEARCH_TRIGGERS_V2.read_text("utf-8").replace("format 2", "format 1"))
    old.execute(f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('delete-all')")
    old.close()
    db = connect(path)
    assert check_search(db) == []
    assert search_sql(db, "央行") == HAND_CHECKED["央行"] - codes("A10")
    db.close()


def test_command_line(tmp_path: Path) -> None:
    """python -m crawler.store.search: check, rebuild, ensure (make reindex and
    make serve run it); a hand edit fails the check until a rebuild."""

    def run(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "crawler.store.search", command, str(path)],
            capture_output=True,
            text=True,
            cwd=ARCHIVE.parent,
        )

    path = build(tmp_path)
    for command in ("check", "rebuild", "ensure"):
        done = run(command)
        assert done.returncode == 0, done.stderr
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("DELETE FROM articles WHERE info_code = ?", [BY_KEY["A14"].info_code])
    raw.close()
    done = run("check")
    assert done.returncode == 1 and f"1 rows of {SEARCH_TABLE} without an article" in done.stderr
    assert run("rebuild").returncode == 0
    assert run("check").returncode == 0
    path = tmp_path / "none.db"
    assert run("check").returncode == 2 and not path.exists()
    assert run("ensure").returncode == 0 and path.is_file()


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
    # A search is counted by finews_table_search.py (shown on the HTML page),
    # not by Datasette's count(*), unless asked for with an empty _nocount.
    assert data["filtered_table_rows_count"] is None
    counted = get_json(archive, f"/finews/articles.json?_search={quote('央行')}&_nocount=")
    assert counted["filtered_table_rows_count"] == 5
    (page,) = fetch(archive, f"/finews/articles?_search={quote('央行')}")
    assert "5 篇 · 5 rows" in page.text
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
        # The list links each headline to its article's page (archive/templates/).
        link = f'href="/finews/articles/{doc.info_code}"'
        assert (link in page.text) == (doc.info_code in HAND_CHECKED["降息"])


# --- canned queries ---------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["涨", "央", "央行", "降息", "人民币", "降息预期", "中国人民银行", "GDP"]
)
def test_search_query_ranked_with_snippet(archive: Path, query: str) -> None:
    rows = canned(archive, "search", q=query)
    assert {row["info_code"] for row in rows} == expected(query)
    scores = [row["score"] for row in rows]
    assert scores == sorted(scores, reverse=True)  # higher is better
    for row in rows:
        snippet = row["snippet"]
        start = snippet.index("<mark>") + len("<mark>")
        assert snippet[start : start + len(query)].lower() == query.lower(), snippet
        assert snippet[start + len(query) :].startswith("</mark>"), snippet


@pytest.mark.parametrize("query", ["央行", "涨", "降息", "人民币", "降息预期", "中国人民银行"])
def test_search_query_ranks_one_word_as_fts5s_bm25(archive: Path, query: str) -> None:
    """For one word the IDF is a constant factor: finews_rank orders as FTS5's
    bm25() with the same weights (the lengths here are near the average)."""
    ranked = [row["info_code"] for row in canned(archive, "search", q=query)]
    conn = sqlite3.connect(archive / "finews.db")
    conn.create_function("escape_fts", 1, PLUGIN.fts_query)
    by_bm25 = [
        "NW" + str(key)
        for (key,) in conn.execute(
            "select rowid from articles_search where articles_search match escape_fts(?)"
            " order by bm25(articles_search, 10.0, 3.0, 1.0), rowid desc",
            [query],
        )
    ]
    conn.close()
    assert len(ranked) >= 2 and ranked == by_bm25


def test_rank_score_by_hand() -> None:
    # 央行 once in a title of 2 characters, the average: tf 10, norm 1.2,
    # 10 × 2.2 / 11.2.
    assert PLUGIN.rank_score("央行", "央行", "", "", 2) == pytest.approx(22 / 11.2)
    # Twice as long as the average: norm 1.2 × (0.25 + 1.5) = 2.1.
    assert PLUGIN.rank_score("央行", "央行", "", "xx", 2) == pytest.approx(22 / 12.1)
    # Two words add; a column word counts in its column only; case is ignored.
    two = PLUGIN.rank_score("央行 gdp", "央行", "GDP", "", 5)
    assert two == pytest.approx(22 / 11.2 + 6.6 / 4.2)
    assert PLUGIN.rank_score("title:央行", "", "央行", "央行", 4) == 0.0
    assert PLUGIN.rank_score("", "央行", None, None, None) == 0.0
    assert PLUGIN.occurrences("的的的", "的的") == 2 and PLUGIN.occurrences("", "的") == 0


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
    assert {"articles_search", "articles_search_data"} <= hidden
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
    # The dashboards run only their own queries (finews_reader.py); Leaflet is
    # their dependency (static files); render-markdown only renders cells.
    assert {p["name"] for p in plugins} <= {
        "finews_search.py",
        "finews_facets.py",
        "finews_errors.py",
        "finews_reader.py",
        "finews_table_search.py",
        "datasette-dashboards",
        "datasette-leaflet",
        "datasette-render-markdown",
    }
    settings_ = get_json(archive, "/-/settings.json")
    assert {k: settings_[k] for k in SERVE_SETTINGS} == SERVE_SETTINGS


def test_unknown_sort_column_is_the_askers_error(archive: Path) -> None:
    """``?_sort=nosuch`` names no column: 400 with Datasette's message, not 500."""
    html, as_json, fine = fetch(
        archive,
        "/finews/articles?_sort=nosuch",
        "/finews/articles.json?_sort_desc=nosuch",
        "/finews/articles.json?_sort=title&_shape=array",
    )
    assert html.status_code == 400 and "Cannot sort table by nosuch" in html.text
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "Cannot sort table by nosuch"
    assert fine.status_code == 200 and fine.json()


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

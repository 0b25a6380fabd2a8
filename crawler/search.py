"""Chinese full-text search for the archive database: words of any length.

Why bigrams: FTS5's ``trigram`` tokenizer only matches queries of 3+
characters, and most Chinese words have two (央行, 基金, 降息); its
``unicode61`` tokenizer alone is no help either: a run of CJK characters is
one token. (Archives made before this index answered every length also had a
trigram index, ``articles_fts``; ``crawler.database`` drops it.)

``articles_search`` is a *contentless* FTS5 table (``unicode61``, prefix index
on 1 character) over ``title``, ``summary`` and ``body_text``, whose indexed
text is each column's **bigram stream**: for every character position ``i`` the
two characters ``text[i:i+2]`` (the last position gives one character),
separated by spaces::

    "央行降息，预期" -> "央行 行降 降息 息， ，预 预期 期"

``unicode61`` then makes one token per position (separators such as ``，`` and
spaces are dropped: ``"息，"`` -> ``息``). A query ``q`` of ``n`` characters
becomes (see ``archive/plugins/finews_search.py``, which rewrites Datasette's
table search, and the ``search`` canned query in ``archive/metadata.yml``)::

    n == 1   "q"*              prefix query: the bigram of every occurrence starts with q
    n == 2   "q"               one token: exactly the bigram q
    n >= 3   "q1q2 q2q3 …"     phrase of the n-1 bigrams at consecutive positions

which is exact substring matching per column (case-insensitive for Latin
letters; punctuation and whitespace are not indexed, so a query containing them
matches regardless of which separator stands there). A phrase never spans two
columns, so the end of a title and the start of a summary do not make a match.

Maintenance is by SQL triggers on ``articles`` that need no custom function
(``json_each`` to count positions, ``substr``, ``group_concat``): every writer
(the crawler, sqlite-utils, the ``sqlite3`` shell) keeps the index right. The
contentless table stores no text; deleting a row's entries needs the indexed
values again, and the triggers recompute them from ``OLD``.

The crawler's own writer (``pipelines.index.upsert_articles``) does the same
work with the Python twin :func:`bigram_text`, ~4x cheaper than the SQL (the
triggers cost ~1.9 ms of CPU per article, the biggest per-article cost of a
crawl): inside its transaction it puts a row in ``search_writer``, which the
insert/update triggers' ``WHEN`` reads to stand aside, and calls
:func:`unindex_articles` / :func:`index_articles`. The row exists only inside
that transaction: no other connection ever sees it (a crashed writer's
transaction rolls back with it), so every other writer still gets the
triggers.

Keys: a row of ``articles_search`` is keyed by the article's numeric code
(``CAST(code AS INTEGER)``; ``-rowid`` for a row whose code is not the
crawler's canonical digits with ``info_code = 'NW' || code``), not by
``articles.rowid``, and ``metadata.yml`` sets ``fts_pk: code``. Why: Datasette's
table search runs ``<fts_pk> in (select rowid from articles_search where …)
order by published_at desc limit 101``. With ``rowid`` SQLite looks every hit
up and sorts them, carrying each whole row (bodies included) through the
sorter: 1.4 s for 央行 in 100,000 articles, ~10x that at 1 million. ``code``
has no index of its own, so SQLite walks ``articles_search_order``
(published_at, code) newest first, tests each code against the hits and stops
at 101 rows: 8 ms. (So: never index ``articles.code`` alone, or the slow plan
comes back.) The key also survives ``VACUUM``, which may renumber rowids.
Likewise the facets of a search read ``(media, code)``, ``(category, code)``,
``(columns, code)`` indexes instead of the rows.

Also here: ``article_stocks`` (one row per stock id of an article, indexed by
the bare code, kept by triggers; the stock canned query would otherwise parse
the JSON of every row). ``article_versions`` is part of ``crawler.database``'s
schema, which calls :func:`ensure_search` last.

Writers must upsert (``INSERT … ON CONFLICT DO UPDATE``, as sqlite-utils does),
not ``INSERT OR REPLACE`` (whose implicit delete fires no trigger). ``python -m crawler.search check <db>`` verifies the
index, ``rebuild`` refills it.
"""

from __future__ import annotations

import argparse
import operator
import sqlite3
import sys
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SEARCH_TABLE = "articles_search"
# While it holds a row, the search triggers stand aside (see the docstring).
WRITER_TABLE = "search_writer"
SEARCH_COLUMNS = ("title", "summary", "body_text")
STOCKS_TABLE = "article_stocks"

# Bump when the indexed text changes: the triggers' SQL embeds it, so a changed
# trigger makes ensure_search rebuild the index.
INDEX_FORMAT = 2

# Positions are enumerated in chunks: ``substr`` on a long TEXT is O(offset)
# (UTF-8 has to be walked), so taking every bigram straight from a 20,000
# character body would be quadratic. Chunks of 64 (+1 overlap) keep it linear;
# the chunk size does not change the output.
_CHUNK = 64


def bigram_text(text: Any) -> str | None:
    """The indexed text of one column value (Python twin of ``bigram_sql``).

    ``None`` stays ``None``; SQLite's ``length()`` stops at the first NUL, so
    does this.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        text = str(text)
    text = text.split("\0", 1)[0]
    if len(text) < 2:
        return text
    try:
        return _bigrams_utf32(text)
    except UnicodeEncodeError:  # a lone surrogate (hostile JSON): the plain way
        return _bigrams_plain(text)


def _bigrams_plain(text: str) -> str:
    # Each character with the next, then the last one alone (as the SQL twin).
    return " ".join(map(operator.add, text, text[1:])) + " " + text[-1]


# One code point per array item: the stream is laid out with slice copies in C
# instead of a 2-character string per position (8 vs 114 µs for 1,800 CJK
# characters; the index worker did this for every article's text).
_UTF32 = "utf-32-le" if sys.byteorder == "little" else "utf-32-be"
_CODE_POINTS = next(code for code in "IL" if array(code).itemsize == 4)
_SPACE = array(_CODE_POINTS, [ord(" ")])


def _bigrams_utf32(text: str) -> str:
    """:func:`_bigrams_plain` by copying code points: position ``i`` is
    ``text[i] text[i+1] " "`` at ``3i``, the last character alone at the end."""
    chars = array(_CODE_POINTS, text.encode(_UTF32))
    n = len(chars)
    out = _SPACE * (3 * n - 2)
    out[0 : 3 * n - 3 : 3] = chars[: n - 1]
    out[1 : 3 * n - 3 : 3] = chars[1:]
    out[-1] = chars[-1]
    return out.tobytes().decode(_UTF32)


def _positions_sql(count: str) -> str:
    """A table-valued ``json_each`` yielding keys 0..count-1 (at least key 0).

    ``hex(zeroblob(n))`` is ``n`` times ``00``; turned into ``[0,0,…,0]`` it
    enumerates positions without a recursive CTE or ``generate_series`` (not
    compiled into Python's SQLite), using only core functions.
    """
    return f"json_each('[' || replace(hex(zeroblob({count})), '00', '0,') || '0]')"


def bigram_sql(expr: str) -> str:
    """SQL expression computing ``bigram_text(expr)`` with core SQLite functions.

    The outer ``json_each`` walks chunks of the text, the inner one the
    positions inside a chunk; ``group_concat`` follows the nested-loop order,
    which the inner loop's dependency on the chunk fixes (checked against
    ``bigram_text`` by the tests).
    """
    chunks = _positions_sql(f"(length({expr}) - 1) / {_CHUNK}")
    inner = _positions_sql(f"min({_CHUNK}, length(c.part)) - 1")
    return (
        "(SELECT group_concat(substr(c.part, j.key + 1, 2), ' ') FROM "
        f"(SELECT substr({expr}, i.key * {_CHUNK} + 1, {_CHUNK + 1}) AS part FROM {chunks} AS i) AS c, "
        f"{inner} AS j)"
    )


def key_sql(row: str) -> str:
    """SQL for the ``articles_search`` key of ``row`` (``NEW``, ``OLD``, a table).

    Unique by construction: the canonical code (digits, no leading zero, at
    most 18: fits in 64 bits) with ``info_code = 'NW' || code`` is unique since
    ``info_code`` is; anything else gets ``-rowid``. (FTS5 accepts a duplicate
    rowid in a contentless table silently, and the index would be wrong.)
    """
    return (
        f"CASE WHEN {row}.info_code = 'NW' || {row}.code AND {row}.code GLOB '[1-9]*' "
        f"AND {row}.code NOT GLOB '*[^0-9]*' AND length({row}.code) <= 18 "
        f"THEN CAST({row}.code AS INTEGER) ELSE -{row}.rowid END"
    )


def _search_values(prefix: str) -> str:
    return ", ".join(bigram_sql(f"{prefix}.{column}") for column in SEARCH_COLUMNS)


_COLS = ", ".join(SEARCH_COLUMNS)

# prefix='1': a prefix index on the first character, for 1-character queries
# ("涨"*). It adds ~55% to this index (1.05 GB instead of 0.68 GB at 100,000
# articles); without it a common character's query merges the doclists of
# every bigram starting with it (up to 3x slower, 700 ms at 100,000).
SEARCH_TABLE_SQL = (
    f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5("
    f"{_COLS}, content='', tokenize='unicode61', prefix='1')"
)

WRITER_TABLE_SQL = f"CREATE TABLE IF NOT EXISTS {WRITER_TABLE} (writer INTEGER)"
_TRIGGERS_ON = f"NOT EXISTS (SELECT 1 FROM {WRITER_TABLE})"

STOCKS_TABLE_SQL = f"""CREATE TABLE IF NOT EXISTS {STOCKS_TABLE} (
    code TEXT NOT NULL,
    stock TEXT NOT NULL,
    info_code TEXT NOT NULL,
    PRIMARY KEY (code, info_code, stock)
) WITHOUT ROWID"""

# name -> CREATE INDEX. The ones on articles all end in ``code``: Datasette's
# table search filters ``code IN (<hits>)``, and an index holding ``code`` and
# the column a query needs answers it without reading the (large) rows.
INDEXES: dict[str, str] = {
    f"{STOCKS_TABLE}_info_code": f"{STOCKS_TABLE}(info_code)",
    # The table page's search, newest first (see the module docstring).
    f"{SEARCH_TABLE}_order": "articles(published_at, code)",
    # Its facets (media, category, columns; the day facet uses the one above):
    # 20-40 ms instead of a scan of the table (1.7 s at 100,000 articles).
    "articles_facet_media": "articles(media, code)",
    "articles_facet_category": "articles(category, code)",
    "articles_facet_columns": "articles(columns, code)",
}

# Stock ids are "<market>.<code>" ("1.600519", "116.00992"); code is the part
# after the dot. Anything that is not valid JSON counts as no stocks rather
# than failing the writer's INSERT.
_STOCKS_INSERT = f"""INSERT OR IGNORE INTO {STOCKS_TABLE} (code, stock, info_code)
    SELECT substr(value, instr(value, '.') + 1), value, NEW.info_code
    FROM json_each(CASE WHEN json_valid(NEW.stocks) THEN NEW.stocks ELSE '[]' END)
    WHERE type = 'text';"""
_STOCKS_DELETE = f"DELETE FROM {STOCKS_TABLE} WHERE info_code = OLD.info_code;"

_SEARCH_INSERT = (
    f"INSERT INTO {SEARCH_TABLE} (rowid, {_COLS}) "
    f"VALUES ({key_sql('NEW')}, {_search_values('NEW')});"
)
# A contentless table forgets the text: 'delete' must be given the values that
# were indexed, recomputed here from OLD (deterministic, so they are identical).
_SEARCH_DELETE = (
    f"INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}, rowid, {_COLS}) "
    f"VALUES ('delete', {key_sql('OLD')}, {_search_values('OLD')});"
)
_TEXT_CHANGED = " OR ".join(
    f"OLD.{c} IS NOT NEW.{c}" for c in ("rowid", "info_code", "code", *SEARCH_COLUMNS)
)

# name -> (kind, full CREATE TRIGGER statement). The format number is in a
# comment so that a format change alters the stored SQL.
TRIGGERS: dict[str, tuple[str, str]] = {
    f"{SEARCH_TABLE}_ai": (
        "search",
        f"CREATE TRIGGER {SEARCH_TABLE}_ai AFTER INSERT ON articles WHEN {_TRIGGERS_ON} "
        f"BEGIN /* finews search format {INDEX_FORMAT} */ {_SEARCH_INSERT} END",
    ),
    f"{SEARCH_TABLE}_ad": (
        "search",
        f"CREATE TRIGGER {SEARCH_TABLE}_ad AFTER DELETE ON articles BEGIN {_SEARCH_DELETE} END",
    ),
    # Re-indexing only when the text changed: a refresh that only adds a
    # column (the common update) costs nothing here.
    f"{SEARCH_TABLE}_au": (
        "search",
        f"CREATE TRIGGER {SEARCH_TABLE}_au AFTER UPDATE ON articles "
        f"WHEN {_TRIGGERS_ON} AND ({_TEXT_CHANGED}) BEGIN {_SEARCH_DELETE} {_SEARCH_INSERT} END",
    ),
    f"{STOCKS_TABLE}_ai": (
        "stocks",
        f"CREATE TRIGGER {STOCKS_TABLE}_ai AFTER INSERT ON articles BEGIN {_STOCKS_INSERT} END",
    ),
    f"{STOCKS_TABLE}_ad": (
        "stocks",
        f"CREATE TRIGGER {STOCKS_TABLE}_ad AFTER DELETE ON articles BEGIN {_STOCKS_DELETE} END",
    ),
    f"{STOCKS_TABLE}_au": (
        "stocks",
        f"CREATE TRIGGER {STOCKS_TABLE}_au AFTER UPDATE ON articles "
        "WHEN OLD.info_code IS NOT NEW.info_code OR OLD.stocks IS NOT NEW.stocks "
        f"BEGIN {_STOCKS_DELETE} {_STOCKS_INSERT} END",
    ),
}


def _conn(db: Any) -> sqlite3.Connection:
    """The sqlite3 connection of a sqlite-utils Database (or the connection itself)."""
    return getattr(db, "conn", db)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, or a savepoint inside the caller's transaction.

    IMMEDIATE because ensure_search checks the schema and then changes it: no
    other writer may slip an article in between (it would miss the index).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.savepoint = conn.in_transaction

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("SAVEPOINT finews_search" if self.savepoint else "BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.savepoint:
            if exc_type is not None:
                self.conn.execute("ROLLBACK TO finews_search")
            self.conn.execute("RELEASE finews_search")
        elif exc_type is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


def _schema(conn: sqlite3.Connection) -> dict[str, str]:
    return {
        name: sql or ""
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'trigger', 'index')"
        )
    }


def _missing(schema: dict[str, str]) -> set[str]:
    """What ensure_search has to do: the kinds of objects missing or out of date."""
    todo: set[str] = set()
    if schema.get(SEARCH_TABLE) != SEARCH_TABLE_SQL:
        todo.add("search")
    if WRITER_TABLE not in schema:
        todo.add("search")
    if STOCKS_TABLE not in schema:
        todo.add("stocks")
    if not schema.keys() >= INDEXES.keys():
        todo.add("indexes")
    for name, (kind, sql) in TRIGGERS.items():
        if schema.get(name) != sql:
            todo.add(kind)
    return todo


def ensure_search(db: Any) -> None:
    """Create the search index, the stock index and their triggers if missing
    or out of date, and fill the indexes from ``articles`` when they are
    (re)created. Idempotent; the usual call costs one
    read of ``sqlite_master``. Needs the ``articles`` table (call it at the end
    of ``crawler.database.ensure_schema``).
    """
    conn = _conn(db)
    if not _missing(_schema(conn)):
        return
    with _Transaction(conn):
        todo = _missing(_schema(conn))  # again, now that we hold the write lock
        schema = _schema(conn)
        if schema.get(SEARCH_TABLE) != SEARCH_TABLE_SQL:
            if SEARCH_TABLE in schema:  # another definition: start afresh
                conn.execute(f"DROP TABLE {SEARCH_TABLE}")
            conn.execute(SEARCH_TABLE_SQL)
        conn.execute(WRITER_TABLE_SQL)
        conn.execute(f"DELETE FROM {WRITER_TABLE}")  # a row may only live in a transaction
        conn.execute(STOCKS_TABLE_SQL)
        for name, target in INDEXES.items():
            conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")
        for name, (kind, sql) in TRIGGERS.items():
            if kind in todo:
                conn.execute(f"DROP TRIGGER IF EXISTS {name}")
                conn.execute(sql)
        if "search" in todo:
            _rebuild_search_index(conn)
        if "stocks" in todo:
            _rebuild_stocks(conn)


def _python_bigrams(conn: sqlite3.Connection) -> str:
    """Register the Python twin as ``finews_bigrams`` on this connection (only:
    nothing in the schema refers to it, so other writers never need it); returns
    the select list of the indexed columns."""
    conn.create_function("finews_bigrams", 1, bigram_text, deterministic=True)
    return ", ".join(f"finews_bigrams({column})" for column in SEARCH_COLUMNS)


def _rebuild_search_index(conn: sqlite3.Connection) -> None:
    # The Python twin computes the same text as the triggers, ~15x faster.
    values = _python_bigrams(conn)
    conn.execute(f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('delete-all')")
    conn.execute(
        f"INSERT INTO {SEARCH_TABLE} (rowid, {_COLS}) "
        f"SELECT {key_sql('articles')}, {values} FROM articles"
    )
    # One b-tree segment instead of hundreds: faster queries after a bulk load.
    conn.execute(f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('optimize')")


@contextmanager
def triggers_aside(db: Any) -> Iterator[None]:
    """Inside the caller's transaction: the search triggers skip inserts and
    updates of ``articles`` until the block ends; the caller keeps the index
    with :func:`unindex_articles` (before changing indexed text) and
    :func:`index_articles` (after). An exception leaves the row for the
    caller's rollback to remove."""
    conn = _conn(db)
    if not conn.in_transaction:
        raise RuntimeError("triggers_aside needs a transaction (the row must not outlive it)")
    conn.execute(f"INSERT INTO {WRITER_TABLE} (writer) VALUES (1)")
    yield
    conn.execute(f"DELETE FROM {WRITER_TABLE}")


def _by_info_code(conn: sqlite3.Connection, info_codes: list[str], insert: str) -> None:
    # The bigram text is computed here, in one stretch, and bound as parameters:
    # the ``finews_bigrams`` SQL function would be called back per column and
    # row, and on a crawl's writer thread each callback has to win the GIL
    # back from the reactor (thousands of thread switches per crawl).
    for start in range(0, len(info_codes), 500):
        chunk = info_codes[start : start + 500]
        marks = ",".join("?" * len(chunk))
        stored = conn.execute(
            f"SELECT {key_sql('articles')}, {_COLS} FROM articles WHERE info_code IN ({marks})",
            chunk,
        ).fetchall()
        conn.executemany(
            insert, [(key, *(bigram_text(value) for value in values)) for key, *values in stored]
        )


_VALUE_MARKS = ", ".join("?" * len(SEARCH_COLUMNS))


def index_articles(db: Any, info_codes: list[str]) -> None:
    """Add the index entries of these (stored) articles (what the insert trigger does)."""
    _by_info_code(
        _conn(db),
        info_codes,
        f"INSERT INTO {SEARCH_TABLE} (rowid, {_COLS}) VALUES (?, {_VALUE_MARKS})",
    )


def unindex_articles(db: Any, info_codes: list[str]) -> None:
    """Remove the index entries of these (stored) articles, recomputed from their
    current text (what the delete trigger does)."""
    _by_info_code(
        _conn(db),
        info_codes,
        f"INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}, rowid, {_COLS}) "
        f"VALUES ('delete', ?, {_VALUE_MARKS})",
    )


def _rebuild_stocks(conn: sqlite3.Connection) -> None:
    conn.execute(f"DELETE FROM {STOCKS_TABLE}")
    conn.execute(
        f"""INSERT OR IGNORE INTO {STOCKS_TABLE} (code, stock, info_code)
            SELECT substr(j.value, instr(j.value, '.') + 1), j.value, a.info_code
            FROM articles AS a,
                 json_each(CASE WHEN json_valid(a.stocks) THEN a.stocks ELSE '[]' END) AS j
            WHERE j.type = 'text'"""
    )


def rebuild_search(db: Any) -> None:
    """Refill ``articles_search`` and ``article_stocks`` from ``articles`` (after
    a VACUUM, a bulk load with triggers dropped, or to repair). One transaction."""
    conn = _conn(db)
    ensure_search(conn)
    with _Transaction(conn):
        _rebuild_search_index(conn)
        _rebuild_stocks(conn)


@contextmanager
def search_paused(db: Any) -> Iterator[None]:
    """For bulk loads by writers other than ``upsert_articles`` (which keeps
    the index itself and needs none of this): drop the search triggers, the
    costly part of such a write (~2 ms per article in SQL), and refill the
    index once at the end in Python. Safe with concurrent writers: whoever
    calls ``ensure_search`` meanwhile puts the triggers back and rebuilds, and
    the exit rebuilds again."""
    conn = _conn(db)
    ensure_search(conn)
    with _Transaction(conn):
        for name, (kind, _sql) in TRIGGERS.items():
            if kind == "search":
                conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    try:
        yield
    finally:
        ensure_search(conn)  # triggers missing: recreates them and rebuilds


def check_search(db: Any) -> list[str]:
    """Problems found (empty if none): every article indexed exactly once,
    nothing else indexed, FTS5's own integrity check passes."""
    conn = _conn(db)
    problems: list[str] = []
    key = key_sql("articles")
    missing = conn.execute(
        f"SELECT count(*) FROM articles WHERE {key} NOT IN (SELECT id FROM {SEARCH_TABLE}_docsize)"
    ).fetchone()[0]
    stale = conn.execute(
        f"SELECT count(*) FROM {SEARCH_TABLE}_docsize WHERE id NOT IN (SELECT {key} FROM articles)"
    ).fetchone()[0]
    if missing:
        problems.append(f"{missing} articles not in {SEARCH_TABLE}")
    if stale:
        problems.append(f"{stale} rows of {SEARCH_TABLE} without an article")
    try:
        conn.execute(f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('integrity-check')")
    except sqlite3.DatabaseError as e:
        problems.append(f"{SEARCH_TABLE} integrity-check: {e}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m crawler.search {ensure,rebuild,check} DB``; exit 1 on problems.

    ``ensure`` opens the database as the crawler does (the whole schema,
    this module's part included once ``crawler.database.ensure_schema`` calls
    ``ensure_search``); ``rebuild`` refills the indexes; ``check`` only reads
    (besides FTS5's integrity-check).
    """
    parser = argparse.ArgumentParser(prog="python -m crawler.search", description=__doc__)
    parser.add_argument("command", choices=["ensure", "rebuild", "check"])
    parser.add_argument("db", help="path of finews.db")
    args = parser.parse_args(argv)
    if args.command == "check":
        if not Path(args.db).is_file():
            print(f"{args.db}: no such database", file=sys.stderr)
            return 2
        conn = sqlite3.connect(f"file:{args.db}?mode=rw", uri=True, isolation_level=None)
    else:
        # Imported here: crawler.database imports this module.
        from crawler.database import connect

        conn = connect(args.db).conn
        ensure_search(conn)
    try:
        if args.command == "rebuild":
            rebuild_search(conn)
        problems = check_search(conn)
    finally:
        conn.close()
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

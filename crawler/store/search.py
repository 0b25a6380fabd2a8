"""Chinese full-text search for the archive database: words of any length.

Why bigrams: FTS5's ``trigram`` tokenizer only matches queries of 3+
characters, and most Chinese words have two (央行, 基金, 降息); its
``unicode61`` tokenizer alone is no help either: a run of CJK characters is
one token.

``articles_search`` is a *contentless* FTS5 table (``unicode61``, prefix index
on 1 character) over ``title``, ``summary`` and ``body_text``, whose indexed
text is each column's **bigram stream** (:func:`bigram_text`): for every
character position ``i`` the two characters ``text[i:i+2]`` (the last position
gives one character), separated by spaces::

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

Keys (:func:`search_key`): a row of ``articles_search`` is keyed by the
article's numeric code (``-rowid`` for a row whose code is not the crawler's
canonical digits with ``info_code = 'NW' || code``), not by ``articles.rowid``,
and ``metadata.yml`` sets ``fts_pk: code``. Why: Datasette's table search runs
``<fts_pk> in (select rowid from articles_search where …) order by
published_at desc limit 101``. With ``rowid`` SQLite looks every hit up and
sorts them, carrying each whole row (bodies included) through the sorter: 1.4 s
for 央行 in 100,000 articles, ~10x that at 1 million. ``code`` has no index of
its own, so SQLite walks ``articles_search_order`` (published_at, code) newest
first, tests each code against the hits and stops at 101 rows: 8 ms. (So:
never index ``articles.code`` alone, or the slow plan comes back.) The key
also survives ``VACUUM``, which may renumber rowids. Likewise the facets of a
search read ``(media, code)``, ``(category, code)``, ``(columns, code)``
indexes instead of the rows.

Also here: ``article_stocks``, one row per stock id of an article, indexed by
the bare code (the stock canned query would otherwise parse the JSON of every
row).

Maintenance: the database is derived (every row can be rebuilt from the WARC
snapshots) and has one writer, the index stage
(``crawler.store.writes.upsert_articles``). It keeps both indexes inside the
transaction that writes the rows: :func:`unindex_articles` before indexed text
changes (a contentless table forgets the text, so deleting an entry needs the
indexed values again, recomputed from the stored row), :func:`index_articles`
after, :func:`index_stocks` for new or changed stock lists. There are no
triggers. After a hand edit of ``articles`` (the ``sqlite3`` shell,
sqlite-utils), or a ``VACUUM`` (``-rowid`` keys may move), rebuild both: ``make reindex``
(``python -m crawler.store.search rebuild <db>``); ``check`` says whether they
match the articles.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from array import array
from collections.abc import Iterable
from typing import Any

import sqlite_utils

SEARCH_TABLE = "articles_search"
SEARCH_COLUMNS = ("title", "summary", "body_text")
STOCKS_TABLE = "article_stocks"

_COLS = ", ".join(SEARCH_COLUMNS)

# prefix='1': a prefix index on the first character, for 1-character queries
# ("涨"*). It adds ~55% to this index (1.05 GB instead of 0.68 GB at 100,000
# articles); without it a common character's query merges the doclists of
# every bigram starting with it (up to 3x slower, 700 ms at 100,000).
# A change to what is indexed must change this text too: ensure_search then
# recreates and refills the index of every archive opened.
SEARCH_TABLE_SQL = (
    f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5("
    f"{_COLS}, content='', tokenize='unicode61', prefix='1')"
)

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
# than failing the write.
_STOCKS_OF = """SELECT substr(j.value, instr(j.value, '.') + 1), j.value, a.info_code
    FROM articles AS a,
         json_each(CASE WHEN json_valid(a.stocks) THEN a.stocks ELSE '[]' END) AS j
    WHERE j.type = 'text'"""
_STOCKS_INSERT = f"INSERT OR IGNORE INTO {STOCKS_TABLE} (code, stock, info_code) {_STOCKS_OF}"

# What an index entry is computed from, in search_key's order, then the text.
_ROWS = f"SELECT info_code, code, rowid, {_COLS} FROM articles"
_MARKS = ", ".join("?" * len(SEARCH_COLUMNS))
_INSERT = f"INSERT INTO {SEARCH_TABLE} (rowid, {_COLS}) VALUES (?, {_MARKS})"
_DELETE = (
    f"INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}, rowid, {_COLS}) VALUES ('delete', ?, {_MARKS})"
)

# One code point per array item: the stream is laid out with slice copies in C
# instead of a 2-character string per position (8 vs 114 µs for 1,800 CJK
# characters; the index stage does this for every article's text).
# ``surrogatepass``: a lone surrogate (hostile JSON) is one code point too.
_UTF32 = "utf-32-le" if sys.byteorder == "little" else "utf-32-be"
_CODE_POINTS = next(code for code in "IL" if array(code).itemsize == 4)
_SPACE = array(_CODE_POINTS, [ord(" ")])


def bigram_text(text: Any) -> str | None:
    """The indexed text of one column value: ``text[i] text[i+1] " "`` for each
    position ``i`` (at ``3i`` in the stream), the last character alone at the end.

    ``None`` stays ``None``. The text ends at its first NUL, as it always has
    in this index (it was first computed in SQL, where ``length()`` stops
    there): archives indexed then need no rebuild.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        text = str(text)
    text = text.split("\0", 1)[0]
    if len(text) < 2:
        return text
    chars = array(_CODE_POINTS, text.encode(_UTF32, "surrogatepass"))
    n = len(chars)
    out = _SPACE * (3 * n - 2)
    out[0 : 3 * n - 3 : 3] = chars[: n - 1]
    out[1 : 3 * n - 3 : 3] = chars[1:]
    out[-1] = chars[-1]
    return out.tobytes().decode(_UTF32, "surrogatepass")


_CANONICAL = re.compile(r"[1-9][0-9]{0,17}")


def search_key(info_code: Any, code: Any, rowid: int) -> int:
    """The ``articles_search`` rowid of an article.

    Unique by construction: the canonical code (ASCII digits, no leading zero,
    at most 18: fits in 64 bits) with ``info_code == "NW" + code`` is unique
    since ``info_code`` is; anything else gets ``-rowid``. (FTS5 accepts a
    duplicate rowid in a contentless table silently, and the index would be
    wrong.)
    """
    if isinstance(code, str) and _CANONICAL.fullmatch(code) and info_code == "NW" + code:
        return int(code)
    return -rowid


def _entries(rows: Iterable[tuple[Any, ...]]) -> Iterable[tuple[Any, ...]]:
    """(key, bigram streams) of each ``_ROWS`` row."""
    for info_code, code, rowid, *texts in rows:
        yield (search_key(info_code, code, rowid), *map(bigram_text, texts))


def _chunks(info_codes: list[str]) -> Iterable[tuple[list[str], str]]:
    """The codes 500 at a time, with as many ``?``."""
    for start in range(0, len(info_codes), 500):
        chunk = info_codes[start : start + 500]
        yield chunk, ",".join("?" * len(chunk))


def _by_info_code(db: sqlite_utils.Database, info_codes: list[str], statement: str) -> None:
    # The bigram text is computed here, in one stretch, and bound as
    # parameters (an SQL function would be called back per column and row).
    for chunk, marks in _chunks(info_codes):
        stored = db.execute(f"{_ROWS} WHERE info_code IN ({marks})", chunk).fetchall()
        db.conn.executemany(statement, list(_entries(stored)))


def index_articles(db: sqlite_utils.Database, info_codes: list[str]) -> None:
    """Add the index entries of these (stored) articles."""
    _by_info_code(db, info_codes, _INSERT)


def unindex_articles(db: sqlite_utils.Database, info_codes: list[str]) -> None:
    """Remove the index entries of these (stored) articles, recomputed from
    their current text: call it before that text changes."""
    _by_info_code(db, info_codes, _DELETE)


def index_stocks(db: sqlite_utils.Database, info_codes: list[str]) -> None:
    """Make the ``article_stocks`` rows of these (stored) articles those of
    their current ``stocks``."""
    for chunk, marks in _chunks(info_codes):
        db.execute(f"DELETE FROM {STOCKS_TABLE} WHERE info_code IN ({marks})", chunk)
        db.execute(f"{_STOCKS_INSERT} AND a.info_code IN ({marks})", chunk)


def _refill(db: sqlite_utils.Database) -> None:
    with db.atomic():
        # A plain write first: it takes the write lock (waiting for a running
        # write) before anything is read. An FTS5 write reads first, and a
        # transaction that has read cannot wait for the lock: it fails.
        db.execute(f"DELETE FROM {STOCKS_TABLE}")
        db.execute(_STOCKS_INSERT)
        db.execute(f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('delete-all')")
        db.conn.executemany(_INSERT, _entries(db.execute(_ROWS)))
        # One b-tree segment instead of hundreds: faster queries after a bulk load.
        db.execute(f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('optimize')")


def ensure_search(db: sqlite_utils.Database) -> None:
    """Create the search index, the stock index and the browse indexes if
    missing (or, for the search index, of another definition), filling them
    from ``articles`` when one is created. Idempotent; the usual call costs one
    read of ``sqlite_master``. Needs the ``articles`` table
    (``crawler.store.schema.ensure_schema`` calls it last). Processes opening
    a new archive at once may each fill it: the same index.
    """
    schema = dict(db.execute("SELECT name, sql FROM sqlite_master"))
    new_search = schema.get(SEARCH_TABLE) != SEARCH_TABLE_SQL
    new_stocks = STOCKS_TABLE not in schema
    if new_search:
        db.execute(f"DROP TABLE IF EXISTS {SEARCH_TABLE}")  # of another definition
        db.execute(SEARCH_TABLE_SQL.replace("TABLE", "TABLE IF NOT EXISTS", 1))
    if new_stocks:
        db.execute(STOCKS_TABLE_SQL)
    for name, target in INDEXES.items():
        if name not in schema:
            db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")
    if new_search or new_stocks:
        _refill(db)


def rebuild_search(db: sqlite_utils.Database) -> None:
    """Refill ``articles_search`` and ``article_stocks`` from ``articles``
    (after a hand edit or a VACUUM, or to repair). One transaction, which
    waits for a running write (a crawl's) to end."""
    ensure_search(db)
    _refill(db)


def check_search(db: Any) -> list[str]:
    """Problems found (empty if none): every article indexed exactly once,
    nothing else indexed, FTS5's own integrity check passes, ``article_stocks``
    is what the articles' stocks say. Takes a sqlite-utils Database or a
    sqlite3 connection."""
    conn = getattr(db, "conn", db)
    problems: list[str] = []
    keys = {search_key(*row) for row in conn.execute("SELECT info_code, code, rowid FROM articles")}
    indexed = {key for (key,) in conn.execute(f"SELECT id FROM {SEARCH_TABLE}_docsize")}
    if missing := len(keys - indexed):
        problems.append(f"{missing} articles not in {SEARCH_TABLE}")
    if stale := len(indexed - keys):
        problems.append(f"{stale} rows of {SEARCH_TABLE} without an article")
    try:
        conn.execute(f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('integrity-check')")
    except sqlite3.DatabaseError as e:
        problems.append(f"{SEARCH_TABLE} integrity-check: {e}")
    stocks = f"SELECT code, stock, info_code FROM {STOCKS_TABLE}"
    for what, query in (
        ("missing", f"{_STOCKS_OF} EXCEPT {stocks}"),
        ("stale", f"{stocks} EXCEPT {_STOCKS_OF}"),
    ):
        if count := conn.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]:
            problems.append(f"{count} rows of {STOCKS_TABLE} {what}")
    return problems


if __name__ == "__main__":
    # The command line (python -m crawler.store.search ensure|rebuild|check DB)
    # lives beside: it opens the archive through crawler.store.schema, which
    # imports this module.
    from crawler.store.reindex import main

    sys.exit(main())

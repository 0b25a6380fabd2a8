"""Datasette plugin for the finews archive (``datasette archive/`` loads it).

1. Table search on ``articles`` (``?_search=央行``) for words of any length.
   ``metadata.yml`` points ``fts_table`` at ``articles_search``, the bigram
   index built by ``crawler/store/search.py``. Datasette runs
   ``rowid in (select rowid from articles_search where articles_search match
   escape_fts(:search))``, and its ``escape_fts`` turns ``央行 降息预期`` into
   ``"央行" "降息预期"``: fine for a one-token-per-word index, wrong for bigrams.
   This plugin replaces the ``escape_fts`` SQL function, on connections to the
   archive database only, with ``fts_query``: the same splitting and quoting
   (whitespace-separated words, ``"double-quoted phrases"``, all ANDed), each
   phrase rewritten for the bigram index (1 character: prefix query; 2: the
   bigram; 3+: phrase of consecutive bigrams). ``hookimpl(trylast=True)``
   because Datasette registers its own ``escape_fts`` in the same hook and the
   last ``create_function`` wins. A word written ``title:央行`` (or
   ``summary:``, ``body_text:``) is looked for in that column only.

   Datasette's per-column search (``?_search_title=央行``) hard-codes
   ``rowid in (select rowid …)``, but the index is keyed by the article code
   (``fts_pk: code``, see ``crawler/store/search.py`` for why), so the ASGI wrapper
   below turns it into ``?_search=title:央行`` before Datasette sees it.

2. ``<mark>`` highlights in the ``snippet`` column of canned queries render as
   HTML (the rest of the cell stays escaped).

3. Read-only at the HTTP level (the same ASGI wrapper): any method but
   GET/HEAD answers 405. The archive has no logins and nothing to write;
   Datasette 0.65 would otherwise run a POST to a (read-only) canned query and
   fail with a 500.

4. A ``day`` facet (``_facet_day=published_at``): the calendar day as written
   in the value, i.e. Beijing time for ``2022-06-14T07:30:00+08:00``.
   Datasette's ``_facet_date`` applies SQLite's ``date()``, which converts
   values with an offset to UTC and files that article under 2022-06-13.

5. Datasette's array facet (``_facet_array=columns``) made fast: the stock
   one deduplicates with ``select distinct j.value, inner.*``, dragging every
   column of every row (bodies included) through a temp b-tree: 1.4 s for a
   search and 4.3 s for the whole table at 100,000 articles, so it always
   times out at scale. The replacement counts each value once per row by
   comparing ``json_each`` keys, reads only the array column (served by the
   ``articles_facet_columns`` index): 35-50 ms. Same results, same URLs.

Self-contained (stdlib + Datasette): ``datasette`` runs from ``.venv/bin`` and
cannot import the repository's ``crawler`` package. ``crawler/store/search.py``
documents the index format this must match.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.facets import ArrayFacet, Facet
from datasette.utils import escape_sqlite, path_with_added_args, path_with_removed_args
from markupsafe import Markup, escape

# Databases (file stems) holding the finews schema. Other databases served by
# the same Datasette keep the stock escape_fts.
DATABASES = frozenset({"finews"})

# Datasette's own splitting (datasette.utils.escape_fts): runs of whitespace
# separate words, "…" keeps a phrase together.
_SPLIT = re.compile(r'\s+|(".*?")')

# Columns of articles_search, for "title:央行".
SEARCH_COLUMNS = ("title", "summary", "body_text")
_COLUMN_WORD = re.compile(rf"^({'|'.join(SEARCH_COLUMNS)}):(.+)$")
# The articles table page (HTML, JSON, CSV) of a finews database.
_TABLE_PATH = re.compile(rf"^/({'|'.join(DATABASES)})/articles(\.json|\.csv)?$")


def _quote(text: str) -> str:
    """An FTS5 string literal."""
    return '"' + text.replace('"', '""') + '"'


def phrase_query(text: str) -> str:
    """One phrase of the user's query as an FTS5 expression for the bigram index.

    The index holds, at every character position, the bigram starting there;
    a text of n characters occurs at position p exactly when the n-1 bigrams
    starting at p, p+1, … are there in a row (n >= 2), or, for n == 1, when the
    bigram at p starts with that character (a prefix query).
    """
    if len(text) == 1:
        return _quote(text) + "*"
    return _quote(" ".join(text[i : i + 2] for i in range(len(text) - 1)))


def fts_query(query: str) -> str:
    """Drop-in for Datasette's ``escape_fts`` against ``articles_search``."""
    if query.count('"') % 2:
        query += '"'
    bits = [bit for bit in _SPLIT.split(query) if bit and bit != '""']
    phrases = []
    for bit in bits:
        column = _COLUMN_WORD.match(bit)
        if column:
            bit = column.group(2)
        text = bit[1:-1] if len(bit) >= 2 and bit[0] == bit[-1] == '"' else bit
        if text:
            phrase = phrase_query(text)
            phrases.append(f"{column.group(1)} : {phrase}" if column else phrase)
    # An empty phrase matches nothing (Datasette's would be a syntax error).
    return " ".join(phrases) or '""'


@hookimpl(trylast=True)
def prepare_connection(conn: Any, database: str) -> None:
    if database in DATABASES:
        conn.create_function("escape_fts", 1, fts_query, deterministic=True)


_SAFE_METHODS = frozenset({"GET", "HEAD"})


def column_search_to_search(query_string: str) -> str | None:
    """``_search_title=央行 降息`` -> ``_search=title:央行 title:降息`` (None: unchanged)."""
    pairs = parse_qsl(query_string, keep_blank_values=True)

    def column(key: str) -> str | None:
        name = key[len("_search_") :] if key.startswith("_search_") else None
        return name if name in SEARCH_COLUMNS else None

    if not any(column(key) for key, _ in pairs):
        return None
    words: list[str] = []
    kept: list[tuple[str, str]] = []
    for key, value in pairs:
        name = column(key)
        if name:
            words += [f"{name}:{word}" for word in value.split()]
        elif key == "_search":
            words.insert(0, value)
        else:
            kept.append((key, value))
    return urlencode([*kept, ("_search", " ".join(words))])


async def _refuse(send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 405,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"allow", b"GET, HEAD"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"405: the archive is read-only\n"})


@hookimpl
def asgi_wrapper() -> Any:
    def wrap(app: Any) -> Any:
        async def finews(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                if scope.get("method", "GET") not in _SAFE_METHODS:
                    await _refuse(send)
                    return
                if _TABLE_PATH.match(scope.get("path", "")) and b"_search_" in scope.get(
                    "query_string", b""
                ):
                    rewritten = column_search_to_search(scope["query_string"].decode("latin-1"))
                    if rewritten is not None:
                        scope = dict(scope, query_string=rewritten.encode("latin-1"))
            await app(scope, receive, send)

        return finews

    return wrap


_MARK = {"&lt;mark&gt;": "<mark>", "&lt;/mark&gt;": "</mark>"}
_MARK_RE = re.compile("|".join(map(re.escape, _MARK)))


@hookimpl
def render_cell(value: Any, column: str, table: str | None, database: str) -> Markup | None:
    if database not in DATABASES or table is not None or column != "snippet":
        return None
    if not isinstance(value, str):
        return None
    # Escape everything, then turn only the escaped highlight marks back into tags.
    return Markup(_MARK_RE.sub(lambda m: _MARK[m.group(0)], str(escape(value))))


def facet_columns(facet: Facet) -> Iterator[tuple[str, str]]:
    """``(column, source)`` of each column faceted this way: ``source`` is
    ``"metadata"`` for a facet the metadata configures (not hideable)."""
    for source_and_config in facet.get_configs():
        config = source_and_config["config"]
        yield config.get("column") or config["simple"], source_and_config["source"]


async def facet_rows(facet: Facet, sql: str) -> Any | None:
    """The rows of a facet's ``sql`` over its table's query, or ``None`` when it
    ran past Datasette's ``facet_time_limit_ms`` (the facet is then reported as
    timed out, as Datasette's own facets are)."""
    try:
        return await facet.ds.execute(
            facet.database,
            sql,
            facet.params,
            truncate=False,
            custom_time_limit=facet.ds.setting("facet_time_limit_ms"),
        )
    except QueryInterrupted:
        return None


def facet_value(facet: Facet, key: str, value: str, count: int, selected: bool) -> dict[str, Any]:
    """One listed value of a facet filtering with ``?<key>=<value>``: its count
    and the URL that toggles the filter (removes it when ``selected``)."""
    if selected:
        toggle = path_with_removed_args(facet.request, {key: value})
    else:
        toggle = path_with_added_args(facet.request, {key: value})
    return {
        "value": value,
        "label": value,
        "count": count,
        "toggle_url": facet.ds.absolute_url(facet.request, toggle),
        "selected": selected,
    }


class DayFacet(Facet):
    """Facet by the leading ``YYYY-MM-DD`` of an ISO 8601 text column.

    Selecting a day filters with ``<column>__startswith=YYYY-MM-DD``; days are
    listed newest first.
    """

    type = "day"

    async def suggest(self) -> list[dict[str, Any]]:
        return []

    async def facet_results(self) -> tuple[list[dict[str, Any]], list[str]]:
        facet_results: list[dict[str, Any]] = []
        timed_out: list[str] = []
        args = dict(self.get_querystring_pairs())
        facet_size = self.get_facet_size()
        for column, source in facet_columns(self):
            col = escape_sqlite(column)
            facet_sql = f"""
                select substr({col}, 1, 10) as value, count(*) as count from (
                    {self.sql}
                )
                where {col} glob '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'
                group by value order by value desc limit {facet_size + 1}
            """
            rows = await facet_rows(self, facet_sql)
            if rows is None:
                timed_out.append(column)
                continue
            key = f"{column}__startswith"
            values = []
            for row in rows.rows[:facet_size]:
                selected = args.get(key) == row["value"]
                values.append(facet_value(self, key, row["value"], row["count"], selected))
            facet_results.append(
                {
                    "name": column,
                    "type": self.type,
                    "results": values,
                    "hideable": source != "metadata",
                    "toggle_url": path_with_removed_args(self.request, {"_facet_day": column}),
                    "truncated": len(rows.rows) > facet_size,
                }
            )
        return facet_results, timed_out


@hookimpl
def register_facet_classes() -> list[type[Facet]]:
    return [DayFacet]


class FastArrayFacet(ArrayFacet):
    """``ArrayFacet`` (type ``array``) with a query that reads only the column."""

    async def facet_results(self) -> tuple[list[dict[str, Any]], list[str]]:
        facet_results: list[dict[str, Any]] = []
        timed_out: list[str] = []
        facet_size = self.get_facet_size()
        for column, source in facet_columns(self):
            col = escape_sqlite(column)
            array = f"case when json_valid(t.{col}) then t.{col} else '[]' end"
            # A value is counted for the first element of each row's array
            # holding it: a row counts once per value, as with the stock facet.
            facet_sql = f"""
                select j.value as value, count(*) as count
                from ({self.sql}) as t, json_each({array}) as j
                where j.key = (select min(k.key) from json_each({array}) as k where k.value = j.value)
                group by j.value
                order by count desc, value limit {facet_size + 1}
            """
            rows = await facet_rows(self, facet_sql)
            if rows is None:
                timed_out.append(column)
                continue
            key = f"{column}__arraycontains"
            pairs = self.get_querystring_pairs()
            values = []
            for row in rows.rows[:facet_size]:
                value = str(row["value"])
                values.append(facet_value(self, key, value, row["count"], (key, value) in pairs))
            facet_results.append(
                {
                    "name": column,
                    "type": self.type,
                    "results": values,
                    "hideable": source != "metadata",
                    "toggle_url": self.ds.urls.path(
                        path_with_removed_args(self.request, {"_facet_array": column})
                    ),
                    "truncated": len(rows.rows) > facet_size,
                }
            )
        return facet_results, timed_out


@hookimpl(specname="register_facet_classes", hookwrapper=True)
def use_fast_array_facet() -> Any:
    """Swap Datasette's ArrayFacet for FastArrayFacet in the registered classes."""
    outcome = yield
    outcome.force_result(
        [
            [FastArrayFacet if cls is ArrayFacet else cls for cls in classes]
            for classes in outcome.get_result()
        ]
    )

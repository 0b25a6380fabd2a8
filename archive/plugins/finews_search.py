"""Datasette plugin for the finews archive (``datasette archive/`` loads it).

1. Table search on ``articles`` (``?_search=央行``) for words of any length,
   in ``articles_search``, the bigram index built by
   ``crawler/store/search.py``. The searches (``finews_table_search.py``'s
   plans, the canned queries) match ``escape_fts(:search)``; Datasette's own
   ``escape_fts`` turns ``央行 降息预期`` into ``"央行" "降息预期"``: fine for a
   one-token-per-word index, wrong for bigrams.
   This plugin replaces the ``escape_fts`` SQL function, on connections to the
   archive database only, with ``fts_query``: the same splitting and quoting
   (whitespace-separated words, ``"double-quoted phrases"``, all ANDed), each
   phrase rewritten for the bigram index (1 character: prefix query; 2: the
   bigram; 3+: phrase of consecutive bigrams). ``hookimpl(trylast=True)``
   because Datasette registers its own ``escape_fts`` in the same hook and the
   last ``create_function`` wins. A word written ``title:央行`` (or
   ``summary:``, ``body_text:``) is looked for in that column only. The
   ``search`` canned query matches with the same function (so ``央行 降息``
   finds there what the table search finds), ranks with ``finews_rank``
   (:func:`rank_score`) and highlights ``search_word``, the query's first word.

   The table search itself (the where clause, the count) is
   ``finews_table_search.py``'s; Datasette's per-column search
   (``?_search_title=央行``) is turned into ``?_search=title:央行`` by the ASGI
   wrapper below before Datasette sees it, and ``_nocount=1`` is added to a
   search (finews_table_search.py counts it).

2. ``<mark>`` highlights in the ``snippet`` column of canned queries render as
   HTML (the rest of the cell stays escaped).

3. Read-only at the HTTP level (the same ASGI wrapper): any method but
   GET/HEAD answers 405. The archive has no logins and nothing to write;
   Datasette 0.65 would otherwise run a POST to a (read-only) canned query and
   fail with a 500.

The facets (a Beijing-time ``day`` facet, a fast array facet) are in
``finews_facets.py``.

Self-contained (stdlib + Datasette): ``datasette`` runs from ``.venv/bin`` and
cannot import the repository's ``crawler`` package. ``crawler/store/search.py``
documents the index format this must match.
"""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
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
# Its HTML page, shown as a list of headlines (archive/templates/_table-finews-articles.html)
# unless columns are asked for.
_LIST_PATH = "/finews/articles"
_COLUMNS_ASKED = re.compile(rb"(^|&)_(no)?col=")
# A search with words (an empty search box is no search).
_SEARCHED = re.compile(rb"(^|&)_search(_[a-z_]+)?=[^&]")
_LIST_COLUMNS = b"&" + b"&".join(
    b"_col=" + c for c in (b"title", b"published_at", b"media", b"columns", b"summary")
)
_LIST_COLUMNS += b"&_finews_list=1"


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


def query_words(query: str) -> list[tuple[str | None, str]]:
    """``(column or None, text)`` of each word or ``"phrase"`` of a query, as
    Datasette's ``escape_fts`` splits it."""
    if query.count('"') % 2:
        query += '"'
    bits = [bit for bit in _SPLIT.split(query) if bit and bit != '""']
    words = []
    for bit in bits:
        column = _COLUMN_WORD.match(bit)
        if column:
            bit = column.group(2)
        text = bit[1:-1] if len(bit) >= 2 and bit[0] == bit[-1] == '"' else bit
        if text:
            words.append((column.group(1) if column else None, text))
    return words


def fts_query(query: str) -> str:
    """Drop-in for Datasette's ``escape_fts`` against ``articles_search``."""
    phrases = []
    for column, text in query_words(query):
        phrase = phrase_query(text)
        phrases.append(f"{column} : {phrase}" if column else phrase)
    # An empty phrase matches nothing (Datasette's would be a syntax error).
    return " ".join(phrases) or '""'


def search_word(query: Any) -> str:
    """The first word of a query (what the ranked search highlights)."""
    words = query_words(query) if isinstance(query, str) else []
    return words[0][1] if words else ""


# FTS5's bm25() constants, and the column weights the ranked search gives it.
_K1, _B = 1.2, 0.75
_WEIGHTS = (("title", 10.0), ("summary", 3.0), ("body_text", 1.0))


@functools.lru_cache(maxsize=64)
def _rank_words(query: str) -> tuple[tuple[str | None, str], ...]:
    return tuple((column, text.lower()) for column, text in query_words(query))


def occurrences(text: str, word: str) -> int:
    """How often ``word`` occurs in ``text``, overlaps included (as the index
    counts a phrase: 的的 twice in 的的的)."""
    count, at = 0, text.find(word)
    while at >= 0:
        count, at = count + 1, text.find(word, at + 1)
    return count


def rank_score(query: Any, title: Any, summary: Any, body_text: Any, average_length: Any) -> float:
    """The ranked search's score (higher is better): FTS5's BM25 over the
    article's texts (k1 1.2, b 0.75; a word's frequency is title × 10 +
    summary × 3 + body; the length is the three texts' characters against
    ``average_length``, the window's), without the IDF factor.

    Why not FTS5's own bm25(): before the first score it counts every article
    matching each word, which for a phrase of two common bigrams costs ~80 ms at
    a million articles, whatever the window. Every article ranked contains every
    word, and for one word the IDF is a constant factor: the order is bm25()'s.
    """
    words = _rank_words(query) if isinstance(query, str) else ()
    texts = [str(t).lower() if t is not None else "" for t in (title, summary, body_text)]
    length = sum(len(t) for t in texts)
    norm = _K1 * (1 - _B + _B * length / (float(average_length or 0) or 1.0))
    score = 0.0
    for column, word in words:
        tf = sum(
            weight * occurrences(text, word)
            for (name, weight), text in zip(_WEIGHTS, texts, strict=True)
            if column in (None, name)
        )
        score += tf * (_K1 + 1) / (tf + norm)
    return score


@hookimpl(trylast=True)
def prepare_connection(conn: Any, database: str) -> None:
    if database in DATABASES:
        conn.create_function("escape_fts", 1, fts_query, deterministic=True)
        conn.create_function("search_word", 1, search_word, deterministic=True)
        conn.create_function("finews_rank", 5, rank_score, deterministic=True)


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
                query = scope.get("query_string", b"")
                if _TABLE_PATH.match(scope.get("path", "")) and _SEARCHED.search(query):
                    rewritten = column_search_to_search(query.decode("latin-1"))
                    if rewritten is not None:
                        query = rewritten.encode("latin-1")
                    # The count of a search is finews_table_search.py's.
                    if b"_nocount=" not in query:
                        query += b"&_nocount=1"
                    scope = dict(scope, query_string=query)
                if scope.get("path") == _LIST_PATH and not _COLUMNS_ASKED.search(query):
                    # The headline list reads these columns only (Datasette
                    # renders every cell it selects, bodies included).
                    scope = dict(scope, query_string=(query + _LIST_COLUMNS).lstrip(b"&"))
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

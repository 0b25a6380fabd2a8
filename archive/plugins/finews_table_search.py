"""Datasette plugin: the articles table's search, planned per query so that it
stays fast at a million articles (``datasette archive/`` loads it).

Datasette's own table search (``fts_table`` in the metadata) always runs
``code in (select rowid from articles_search where … match …)`` and then a
``count(*)`` of the same. SQLite builds the whole list of hits first and walks
the (published_at, code) index newest first until a page is full; the count
probes every row of the table. At 1,000,000 articles that costs hundreds of
milliseconds for a common character (hundreds of thousands of hits) and for a
rare phrase (the walk finds fewer hits than a page and reaches the oldest
article). So ``metadata.yml`` names no ``fts_table`` for ``articles`` and this
``filters_from_request`` hook handles ``?_search=`` itself (the column
searches ``?_search_title=…`` arrive as ``title:…`` words, rewritten by
``finews_search.py``, whose ``escape_fts`` turns the words into the bigram
query). One capped count of the hits (:data:`NEWEST`: at most :data:`COMMON`
+ 1 read from the index, newest key first, with the smallest key read) picks
the plan; each gives exactly the articles containing the words, newest first:

- at most :data:`RARE` hits: look each hit up by its key (``info_code`` is
  ``'NW' || key``, or ``rowid = -key``) and sort them;
- more than :data:`COMMON` hits and the default order: walk the articles newest
  first and ask the index about each one (``rowid =`` the article's key, a seek
  in each term's list): a page is full after ~20 × (articles / hits) probes;
- otherwise Datasette's plan (all hits, then the walk).

A phrase (a word of 3+ characters: a phrase of bigrams) is counted only to
:data:`PHRASE_CAP` + 1 and never probed: each of its hits costs a check of
both bigrams' positions, so a capped count of 50,000 or a probe per article
costs more than taking all its hits. Beyond the cap its count is shown as
"more than", and in the default order it takes :data:`FLOOR`: the hits whose
key is at least the smallest key the count read (the newest PHRASE_CAP + 1
hits by key; keys start with the day, so they are about the newest articles
too), each article below that floor asked on its own. A page of the newest
articles then costs the count's reading and not all the hits (measured at a
million articles for a common-character phrase such as 和的的, 36,000 hits:
all hits ~85 ms, the floor ~5 ms); only pages past the floor probe.

The count shown is the index's (one entry per article: ``check_search``), from
the capped count, or counted within :data:`COUNT_MS` ms, or "more than
:data:`COMMON`"; Datasette's own count is switched off for searches
(``_nocount``, added by ``finews_search.py``'s ASGI wrapper). Facets over a
search of the walking plan probe every row: with facets on, such a search can
run into ``facet_time_limit_ms`` (the facets are then listed as timed out).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.filters import FilterArguments

DATABASES = frozenset({"finews"})
TABLE = "articles"
RARE = 500
COMMON = 50000
COUNT_MS = 40
PHRASE_CAP = 2000
#: A quoted group in escape_fts's output (FTS5 doubles a quote inside one).
_QUOTED = re.compile(r'"((?:[^"]|"")*)"')

_MATCH = "articles_search match escape_fts(:search)"
#: The hits counted up to :cap, newest key first, and the smallest key among them.
NEWEST = (
    "select count(*), min(rowid) from"
    f" (select rowid from articles_search where {_MATCH} order by rowid desc limit :cap)"
)
COUNT = f"select count(*) from articles_search where {_MATCH}"
# crawler/store/search.py's search_key in SQL: the code when canonical, else -rowid.
KEY = (
    "iif(articles.info_code = 'NW' || articles.code and articles.code glob '[1-9]*'"
    " and not articles.code glob '*[^0-9]*' and length(articles.code) <= 18,"
    " cast(articles.code as integer), -articles.rowid)"
)
BY_KEY = (
    f"(info_code in (select 'NW' || rowid from articles_search where {_MATCH} and rowid > 0)"
    f" or rowid in (select -rowid from articles_search where {_MATCH} and rowid < 0))"
)
# code = key is not enough on its own: an emnews row EM<code> has the digits of
# the NW article of the same code (and its own key, -rowid).
ALL_HITS = (
    f"((code in (select rowid from articles_search where {_MATCH} and rowid > 0)"
    " and info_code = 'NW' || code)"
    f" or rowid in (select -rowid from articles_search where {_MATCH} and rowid < 0))"
)
PROBE = f"exists (select 1 from articles_search where {_MATCH} and rowid = {KEY})"
# Exact for any :floor: at or above it a hit is in the index's hits from the floor
# up (read once), below it the article is probed.
FLOOR = (
    f"(case when {KEY} >= :floor"
    f" then {KEY} in (select rowid from articles_search where {_MATCH} and rowid >= :floor)"
    f" else {PROBE} end)"
)


def is_phrase(fts: str) -> bool:
    """Whether the bigram query (escape_fts's output) holds a phrase."""
    return any(len(group.split()) > 1 for group in _QUOTED.findall(fts))


def cap_for(fts: str) -> int:
    """How far the hits of this bigram query are counted."""
    return PHRASE_CAP if is_phrase(fts) else COMMON


def plan(hits_capped: int, newest_first: bool, phrase: bool = False) -> str:
    """The where clause for a search with this many hits (capped at
    cap_for + 1); FLOOR takes ``:floor``, NEWEST's smallest key."""
    if hits_capped <= RARE:
        return BY_KEY
    if newest_first and phrase and hits_capped > PHRASE_CAP:
        return FLOOR
    if newest_first and not phrase and hits_capped > COMMON:
        return PROBE
    return ALL_HITS


def newest_first(args: Any) -> bool:
    """The articles table's default order (metadata: sort_desc published_at)."""
    return "_sort" not in args and args.get("_sort_desc", "published_at") == "published_at"


@hookimpl(trylast=True)
def filters_from_request(request: Any, database: str, table: str, datasette: Any) -> Any:
    if database not in DATABASES or table != TABLE:
        return None

    async def inner() -> FilterArguments:
        search = request.args.get("_search", "")
        # trylast: this context is applied after Datasette's (which finds no
        # fts_table and says no search).
        context: dict[str, Any] = {"supports_search": True, "search": search}
        if not search.strip():
            return FilterArguments([], extra_context=context)
        db = datasette.get_database(database)
        params: dict[str, Any] = {"search": search}
        fts = (await db.execute("select escape_fts(:search)", params)).first()[0]
        phrase, cap = is_phrase(fts), cap_for(fts)
        capped, floor = (await db.execute(NEWEST, {**params, "cap": cap + 1})).first()
        count: int | None = capped if capped <= cap else None
        if count is None and not phrase:
            with contextlib.suppress(QueryInterrupted):
                count = (await db.execute(COUNT, params, custom_time_limit=COUNT_MS)).first()[0]
        context.update(finews_search_count=count, finews_search_more_than=cap)
        where = plan(capped, newest_first(request.args), phrase)
        if where == FLOOR:
            params["floor"] = floor
        return FilterArguments(
            [where],
            params,
            human_descriptions=[f'search matches "{search}"'],
            extra_context=context,
        )

    return inner

"""Datasette facets for the finews archive (``datasette archive/`` loads this plugin).

1. A ``day`` facet (``_facet_day=published_at``): the calendar day as written
   in the value, i.e. Beijing time for ``2022-06-14T07:30:00+08:00``.
   Datasette's ``_facet_date`` applies SQLite's ``date()``, which converts
   values with an offset to UTC and files that article under 2022-06-13.

2. Datasette's array facet (``_facet_array=columns``) made fast: the stock
   one deduplicates with ``select distinct j.value, inner.*``, dragging every
   column of every row (bodies included) through a temp b-tree: 1.4 s for a
   search and 4.3 s for the whole table at 100,000 articles, so it always
   times out at scale. The replacement counts each value once per row by
   comparing ``json_each`` keys, reads only the array column (served by the
   ``articles_facet_columns`` index): 35-50 ms. Same results, same URLs.

Self-contained (stdlib + Datasette), like ``finews_search.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.facets import ArrayFacet, Facet
from datasette.utils import escape_sqlite, path_with_added_args, path_with_removed_args


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

"""Datasette plugin: the archive read like a news archive (``datasette archive/`` loads it).

1. Template filters for ``archive/templates/`` (the articles table as a list
   of headlines, the row page as the article): ``article_html`` renders an
   article's ``body_markdown`` (Python-Markdown, then nh3 with the cleaner's own
   allowlist: :data:`ALLOWED_TAGS`, :data:`ALLOWED_ATTRIBUTES`, the URL
   schemes; ``tests/test_reader.py`` checks they equal
   ``crawler/transform/html/vocabulary.py``'s), ``beijing`` shows an ISO 8601
   time in Beijing time, ``json_list`` joins a JSON array.

2. Cells: every ISO 8601 time of the finews database is shown in Beijing time
   (crawler times are stored in UTC, ``…Z``; the UTC value stays in the
   cell's ``title`` and in the JSON), a crawl run's ``status`` as a coloured
   badge (``partial`` and ``blocked`` must not look like ``ok``), and in canned
   queries ``info_code`` and ``title`` link to the article's row page.

3. Dashboards (datasette-dashboards 0.8) read their charts through
   ``/finews.json?sql=…``, i.e. they need the ``execute-sql`` permission, which
   ``make serve`` withholds (``default_allow_sql off``). A request for a
   dashboard page, or for exactly one of the charts' configured queries, gets
   the actor ``finews-dashboards``, allowed to run SQL; any other SQL is still
   refused.

Self-contained (stdlib, Datasette, markdown and nh3 — both requirements): the
``datasette`` of ``.venv/bin`` cannot import the repository's ``crawler``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import markdown
import nh3
from datasette import hookimpl
from markupsafe import Markup, escape

DATABASES = frozenset({"finews"})
BEIJING = timezone(timedelta(hours=8))

# The cleaner's output vocabulary (crawler/transform/html/vocabulary.py):
# the rendered body may hold nothing the cleaned body could not.
ALLOWED_TAGS = frozenset(
    {"p", "br", "a", "img", "strong", "b", "em", "i", "u", "sub", "sup"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote"}
    | {"table", "thead", "tbody", "tr", "th", "td", "pre", "code", "span", "div", "hr"}
)
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": set(),
    "a": {"href"},
    "img": {"src", "alt"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
LINK_SCHEMES = frozenset({"http", "https", "mailto"})

_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$")


def article_html(text: Any) -> Markup:
    """An article's Markdown as safe HTML: tables and raw HTML blocks kept,
    then everything outside the cleaner's allowlist removed."""
    if not isinstance(text, str) or not text:
        return Markup("")
    html = markdown.markdown(text, output_format="html", extensions=["tables"])
    return Markup(
        nh3.clean(
            html,
            tags=set(ALLOWED_TAGS),
            attributes=ALLOWED_ATTRIBUTES,
            url_schemes=set(LINK_SCHEMES),
            link_rel="noopener noreferrer",
        )
    )


def beijing(value: Any, seconds: bool = True) -> str:
    """``2026-11-24T02:16:58Z`` -> ``2026-11-24 10:16:58`` (Beijing time);
    anything that is not an ISO 8601 time with an offset is returned as it is."""
    if not isinstance(value, str) or not _ISO.match(value):
        return "" if value is None else str(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def json_list(value: Any, sep: str = " · ") -> str:
    """A JSON array of strings, joined; other text as it is."""
    if not isinstance(value, str):
        return ""
    try:
        items = json.loads(value)
    except ValueError:
        return value
    if not isinstance(items, list):
        return value
    return sep.join(str(item) for item in items)


@hookimpl
def prepare_jinja2_environment(env: Any) -> None:
    env.filters["article_html"] = article_html
    env.filters["beijing"] = beijing
    env.filters["json_list"] = json_list


# ok green; partial amber; every other way a run ends without its articles, red;
# a run still going (or whose process died) grey-blue.
STATUS_COLOURS = {
    "ok": ("#1a7f37", "#fff"),
    "partial": ("#bf8700", "#000"),
    "running": ("#57606a", "#fff"),
    "locked": ("#57606a", "#fff"),
}
_BAD = ("#cf222e", "#fff")


def status_badge(status: str) -> Markup:
    background, colour = STATUS_COLOURS.get(status, _BAD)
    return Markup(
        f'<span class="finews-status finews-status-{escape(status)}" style="background:'
        f"{background};color:{colour};padding:0 .4em;border-radius:3px;font-weight:bold"
        f'">{escape(status)}</span>'
    )


def _row_value(row: Any, key: str) -> Any:
    try:
        return row[key]
    except (KeyError, IndexError, TypeError):
        return None


@hookimpl
def render_cell(
    row: Any, value: Any, column: str, table: str | None, database: str, datasette: Any
) -> Markup | None:
    if database not in DATABASES or not isinstance(value, str):
        return None
    if _ISO.match(value):
        return Markup(f'<time datetime="{escape(value)}" title="{escape(value)}">') + Markup(
            f"{escape(beijing(value))}</time>"
        )
    if column == "status" and table in (None, "crawl_runs") and value:
        return status_badge(value)
    if table is None and column in ("info_code", "title"):
        info_code = value if column == "info_code" else _row_value(row, "info_code")
        if isinstance(info_code, str) and info_code:
            url = datasette.urls.row(database, "articles", info_code)
            return Markup(f'<a href="{escape(url)}">{escape(value)}</a>')
    return None


ACTOR = "finews-dashboards"


def dashboard_queries(datasette: Any) -> set[str]:
    """The SQL of every configured dashboard chart."""
    config = datasette.plugin_config("datasette-dashboards") or {}
    return {
        chart["query"]
        for dashboard in config.values()
        if isinstance(dashboard, dict)
        for chart in (dashboard.get("charts") or {}).values()
        if isinstance(chart, dict) and isinstance(chart.get("query"), str)
    }


@hookimpl
def actor_from_request(datasette: Any, request: Any) -> dict[str, str] | None:
    path = request.path
    # (Datasette shows the actor in its menu: "display" says what it is.)
    actor = {"id": ACTOR, "display": "图表 · charts (read-only)"}
    if path == "/-/dashboards" or path.startswith("/-/dashboards/"):
        return actor
    if path.rstrip("/").removesuffix(".json").lstrip("/") in DATABASES:
        sql = request.args.get("sql")
        if sql and sql in dashboard_queries(datasette):
            return actor
    return None


@hookimpl
def permission_allowed(actor: Any, action: str, resource: Any) -> bool | None:
    if action == "execute-sql" and isinstance(actor, dict) and actor.get("id") == ACTOR:
        return resource in DATABASES
    return None


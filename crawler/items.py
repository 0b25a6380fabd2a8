"""Items that flow from the spiders through the pipelines.

Spiders build them from parser output; pipelines fill in the derived fields
(clean HTML, Markdown, snapshot location, post path) in order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass
class Fetched:
    """One upstream response, kept byte for byte for the WARC snapshot.

    ``url`` is the canonical Eastmoney URL (never the replica/mirror origin), so
    a snapshot reads the same whichever origin served it.
    """

    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    fetched_at: str  # ISO 8601 UTC, e.g. "2026-11-24T02:16:58Z"
    method: str = "GET"

    @cached_property
    def key(self) -> str:
        """A stable id of this response (used to write shared list pages once).

        Cached: a list answer (~50 entries) is shared by every article it
        listed and asked for its key by each; responses are never changed."""
        h = hashlib.sha1()
        h.update(self.url.encode())
        h.update(b"\0")
        h.update(self.fetched_at.encode())
        h.update(b"\0")
        h.update(self.body)
        return h.hexdigest()


@dataclass
class ListEntry:
    """One item of a column list answer (getNewsByColumns ``data.list[]``)."""

    code: str
    title: str
    show_time: str  # "YYYY-MM-DD HH:MM:SS", Beijing time
    media: str
    summary: str = ""
    image: str = ""
    url: str = ""
    unique_url: str = ""
    np_dst: str = ""

    @property
    def info_code(self) -> str:
        return "NW" + self.code


@dataclass
class Article:
    """An article on its way into the archive.

    Set by the spider: identity, list metadata, the raw body and every response
    it was built from. Set by the pipelines: ``clean_html``, ``stocks``,
    ``body_markdown``, ``body_text`` (clean), ``snapshot`` (snapshot),
    ``post_path`` (post), ``content_sha256`` (clean).
    """

    info_code: str
    code: str
    title: str = ""
    published: str = ""  # "YYYY-MM-DD HH:MM:SS", Beijing time
    media: str = ""
    summary: str = ""
    columns: list[str] = field(default_factory=list)  # column names, e.g. ["国内经济"]
    column_ids: list[int] = field(default_factory=list)
    source_url: str = ""
    share_url: str = ""
    body_html: str = ""  # raw article HTML as the upstream gave it
    body_source: str = ""  # "page" | "choice" | "browser"
    # True when an archived article is fetched again on purpose (listed in a
    # new column, a refresh): the dedupe stage lets it through.
    refresh: bool = False
    # True when the spider found the article absent from the archive when it
    # read the list (one query per list page, under the run lock): the dedupe
    # stage then need not ask again (its in-run check still applies).
    absent_at_list: bool = False
    # Set by the dedupe stage for a refresh: what the archive holds now.
    previous_sha256: str = ""
    # A refresh whose media or date differ from the published ones: what this
    # fetch gave, by field (``media`` and ``published`` stay the published ones:
    # the post's URL holds the media's slug and the date, so it never moves;
    # the index stage records each change as a ``metadata_changes`` row).
    changed: dict[str, str] = field(default_factory=dict)
    previous_column_ids: list[int] = field(default_factory=list)
    list_responses: list[Fetched] = field(default_factory=list)
    body_responses: list[Fetched] = field(default_factory=list)
    # derived by the pipelines
    clean_html: str = ""
    body_markdown: str = ""
    body_text: str = ""
    stocks: list[str] = field(default_factory=list)
    content_sha256: str = ""
    # Set by the snapshot stage, or by a rebuild (then nothing is rewritten).
    snapshot: str = ""
    post_path: str = ""
    fetched_at: str = ""
    # Failures met on the way that did not stop the article (a damaged
    # snapshot file moved aside): the index stage records them with it.
    failures: list[Any] = field(default_factory=list)
    # The emnews post of the 7×24 item with the same code, when there is one
    # (crawler.transform.pairs sets it; the post names it in ``emnews_post``).
    emnews_post: str = ""


@dataclass
class Failure:
    """Something that could not become an article: recorded, never silently lost."""

    stage: str  # "list" | "article" | "validate" | ...
    reason: str
    url: str = ""
    info_code: str = ""
    detail: str = ""
    responses: list[Fetched] = field(default_factory=list)
    snapshot: str = ""

    @classmethod
    def of_article(cls, article: Any, stage: str, reason: str, **fields: Any) -> Failure:
        """An article's failure: its URL, infoCode and every response it was built
        from (``article`` is read as a mapping: an ``ItemAdapter``)."""
        values = {
            "url": article["source_url"],
            "info_code": article["info_code"],
            "responses": article["list_responses"] + article["body_responses"],
            **fields,
        }
        return cls(stage=stage, reason=reason, **values)


@dataclass
class ListProgress:
    """How far (oldest showTime) this run has paged a column; kept in ``column_state``."""

    column_id: int
    reached: str


@dataclass
class FlashEntry:
    """One 7×24 item of a getFastNewsList answer (``data.fastNewsList[]``), checked."""

    code: str  # 18 ASCII digits
    title: str
    show_time: str  # "YYYY-MM-DD HH:MM:SS", Beijing time
    summary: str = ""  # as given ("" for null)
    digest: str = ""  # the summary without its leading 【<title>】, or the title
    real_sort: str = ""
    title_color: int = 0
    stocks: list[str] = field(default_factory=list)  # stockList: "<market>.<code>"
    images: list[str] = field(default_factory=list)

    @property
    def info_code(self) -> str:
        return "NW" + self.code


@dataclass
class FeedPage:
    """A feed answer as fetched: snapshotted once (``raw/lists/…``), whatever it held."""

    response: Fetched


@dataclass
class Flash:
    """A 7×24 item on its way into the archive as an ``emnews`` post.

    Set by the fastnews spider: the entry, its feed columns, the body (the
    article page or Choice text of the same code, when either has one) and
    every body response; or, when the code is an archived column article,
    that article's snapshot instead (the body is not fetched twice). Set by
    the flash stage: ``body_markdown``, ``body_text``, ``post_path``,
    ``snapshot``.
    """

    entry: FlashEntry
    column_ids: list[int] = field(default_factory=list)
    feed_snapshots: list[str] = field(default_factory=list)
    body_html: str = ""
    body_source: str = ""  # "page" | "choice" | "article" (the archived article's) | ""
    body_responses: list[Fetched] = field(default_factory=list)
    article_info_code: str = ""  # the column article of the same code, when archived
    article_post: str = ""
    article_snapshot: str = ""
    fetched_at: str = ""
    # derived by the flash stage, or set by a rebuild (then nothing is rewritten)
    body_markdown: str = ""
    body_text: str = ""
    post_path: str = ""
    snapshot: str = ""


@dataclass
class FlashColumns:
    """An archived 7×24 item seen in more feed columns: its row, post and snapshot record them."""

    code: str
    column_ids: list[int]

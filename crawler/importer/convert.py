"""An old post becomes what a crawl makes of an article: a row, a post, a record.

The body goes through the crawl's own stages: :func:`clean_article`
(crawler/transform/html) and :func:`html_to_markdown` (crawler/transform/markdown).
An old post's body is Choice HTML (NW articles) or text (emnews flashes: the
digest, or ``> <digest>`` above the Choice ``content``); text becomes paragraphs
(and a quote) first. The post keeps the old front matter's first five values
(the title re-emitted by the YAML library, a zone-less ``date:`` kept a YAML
timestamp), so Jekyll gives it the URL it had; then finews's keys. Pure.
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from crawler.eastmoney.urls import article_url
from crawler.importer.oldpost import OldPost
from crawler.rotation import posts_dir_for
from crawler.transform.emnews import emnews_post_relpath
from crawler.transform.frontmatter import DoubleQuoted, Timestamp, dump_front_matter
from crawler.transform.posts import body_section, link_text

__all__ = [
    "body_html",
    "category_page",
    "old_name_relpath",
    "import_row",
    "info_code_of",
    "post_relpath_of",
    "render_imported_post",
    "source_url_of",
    "utc_stamp",
]

_HTML = re.compile(r"</?(?:p|div|center|table|img|span|strong|br|h[1-6]|a)\b|<!--", re.I)


def info_code_of(kind: str, code: str) -> str:
    """The row's key: ``NW<code>`` (an article, as a crawl keys it), ``EM<code>``
    (an emnews flash: its own record beside the NW article of the same code),
    ``OP<name>`` (another page of the old site, e.g. ``init``)."""
    return {"article": "NW", "flash": "EM"}.get(kind, "OP") + code


def source_url_of(post: OldPost) -> str:
    return article_url(post.code) if post.kind != "page" else ""


def utc_stamp(published: str) -> str:
    """Beijing ``YYYY-MM-DD HH:MM:SS`` as finews's UTC stamp (``…Z``)."""
    when = datetime.strptime(published, "%Y-%m-%d %H:%M:%S") - timedelta(hours=8)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def body_html(post: OldPost) -> str:
    """The body as HTML for the cleaner: Choice HTML as it is; text as one
    paragraph per line, ``> `` lines as a quote."""
    if _HTML.search(post.body):
        return post.body
    parts: list[str] = []
    quoted: list[str] = []
    for line in [*post.body.split("\n"), ""]:
        text = line.strip()
        if text.startswith(">"):
            quoted.append(f"<p>{html.escape(text[1:].strip(), quote=False)}</p>")
            continue
        if quoted:
            parts.append("<blockquote>" + "".join(quoted) + "</blockquote>")
            quoted = []
        if text:
            parts.append(f"<p>{html.escape(text, quote=False)}</p>")
    return "\n".join(parts)


def summary_of(post: OldPost, text: str) -> str:
    """A flash's summary is its digest (its first paragraph); others have none."""
    return text.split("\n", 1)[0].strip() if post.kind == "flash" else ""


def old_name_relpath(name: str, published: str, keep_days: int = 0) -> str:
    """``_posts/YYYY/MM/YYYY-MM-DD-<name>.md``: the old file's name under ``YYYY/MM``."""
    y, m, d = published[:4], published[5:7], published[8:10]
    return f"{posts_dir_for(published, keep_days)}/{y}/{m}/{y}-{m}-{d}-{name}.md"


def post_relpath_of(post: OldPost, keep_days: int = 0) -> str:
    """finews's path of the post: the old name (so the same URL) under ``YYYY/MM``."""
    if post.kind == "flash":  # where the 7×24 feed writes the same item's post
        return emnews_post_relpath(post.name, post.published, keep_days)
    if post.kind == "article":
        return old_name_relpath("NW" + post.code, post.published, keep_days)
    return old_name_relpath(post.name, post.published, keep_days)


def front_matter(
    post: OldPost, info_code: str, summary: str, stocks: list[str], share_url: str, related: str
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "layout": "post",
        "title": DoubleQuoted(post.title),
        "date": Timestamp(post.date) if post.naive_date else post.date,
        "categories": post.category,
        "tags": post.tags,
        "info_code": info_code,
        "source": post.media,
        "source_url": source_url_of(post),
        "share_url": share_url,
        "columns": [],
        "summary": summary,
        "stocks": list(stocks),
        "origin": "import",
        "imported_from": post.relpath,
    }
    if related:
        data["related"] = related
    if post.legacy_url:
        data["legacy_url"] = post.legacy_url
    data["render_with_liquid"] = False
    return data


def render_imported_post(
    post: OldPost,
    markdown: str,
    info_code: str,
    summary: str,
    stocks: list[str],
    share_url: str,
    related: str,
    site_url: str,
) -> str:
    """The whole post file: front matter, body, the link line, the footer."""
    fm = dump_front_matter(front_matter(post, info_code, summary, stocks, share_url, related))
    back = post.tags or f"{post.media}新闻"
    footer = (
        f"[返回{link_text(back)}]({site_url}/category/{quote(post.category)}.html)"
        f"｜[返回首页]({site_url}/)"
    )
    if post.kind == "page":  # no link line
        return f"---\n{fm}---\n{markdown.strip(chr(10))}\n\n{footer}\n"
    link = share_url if post.kind == "article" else source_url_of(post)
    return f"---\n{fm}{body_section(markdown, link)}{footer}\n"


def category_page(post: OldPost) -> tuple[str, str]:
    """(path, text) of the category page of the post's category."""
    return _category_page(post.category, post.tags)


@lru_cache(maxsize=4096)
def _category_page(category: str, tags: str) -> tuple[str, str]:
    # Cached: thousands of posts share a few hundred categories.
    data = {"layout": "category", "title": tags or category, "category": category}
    return f"category/{category}.html", f"---\n{dump_front_matter(data)}---\n"


def import_row(
    post: OldPost,
    info_code: str,
    clean: tuple[str, list[str], str, str],
    markdown: str,
    summary: str,
    paths: tuple[str, str],
    share_url: str,
    related: str,
) -> dict[str, Any]:
    """The ``articles`` row, as :func:`crawler.store.writes.article_row` makes one,
    with the old category and ``origin`` = ``import``. Its ``fetched_at`` is the
    publication time: the old archive fetched within minutes of it, and a
    refresh is due only for articles published in the refresh window."""
    _html, stocks, text, digest = clean
    post_path, snapshot = paths
    return {
        "info_code": info_code,
        "code": post.code,
        "title": post.title,
        "published_at": post.published.replace(" ", "T") + "+08:00",
        "media": post.media,
        "category": post.category,
        "columns": "[]",
        "column_ids": "[]",
        "summary": summary,
        "body_markdown": markdown,
        "body_text": text,
        "body_source": "import",
        "stocks": json.dumps(stocks),
        "source_url": source_url_of(post),
        "share_url": share_url,
        "post_path": post_path,
        "snapshot": snapshot,
        "content_sha256": digest,
        "fetched_at": utc_stamp(post.published),
        "origin": "import",
        "related": related or None,
    }

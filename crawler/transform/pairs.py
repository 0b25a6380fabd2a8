"""One code, two posts: a 7×24 item that is also a column article.

Each post names the other in its front matter (``article_post`` in the emnews
post, ``emnews_post`` in the NW post) and the ``flashes`` row names the article
(``article_info_code``). Whichever was archived first, the link pass
(:func:`link_pairs`, at the end of every fastnews run and of ``make rebuild``)
renders both posts again from their rows, with the link: the same function and
inputs as when they were first written, so the bytes are what a crawl in
either order gives (and a rebuild reproduces them). Files are written only
when their bytes change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlite_utils

from crawler.files import atomic_write, inside
from crawler.items import Article, Flash, FlashEntry
from crawler.store.flashes import ensure_flashes, pairs_since, upsert_flashes
from crawler.transform.emnews import render_emnews_post
from crawler.transform.posts import render_post


def flash_of_row(row: dict[str, Any]) -> Flash:
    """The flash a ``flashes`` row stores (enough to render its post)."""
    entry = FlashEntry(
        code=row["code"],
        title=row["title"],
        show_time=row["published_at"][:19].replace("T", " "),
        summary=row["summary"] or "",
        digest=row["digest"] or "",
        real_sort=row["real_sort"] or "",
        title_color=row["title_color"] or 0,
        stocks=json.loads(row["stocks"] or "[]"),
        images=json.loads(row["images"] or "[]"),
    )
    return Flash(
        entry=entry,
        column_ids=json.loads(row["fast_column_ids"] or "[]"),
        body_source=row["body_source"] or "",
        article_info_code=row["article_info_code"] or "",
        article_post=row["article_post"] or "",
        body_markdown=row["body_markdown"] or "",
        body_text=row["body_text"] or "",
        post_path=row["post_path"] or "",
        snapshot=row["snapshot"] or "",
        fetched_at=row["fetched_at"] or "",
    )


def article_of_row(row: dict[str, Any]) -> Article:
    """The article an ``articles`` row stores (enough to render its post)."""
    return Article(
        info_code=row["info_code"],
        code=row["code"],
        title=row["title"],
        published=row["published_at"][:19].replace("T", " "),
        media=row["media"] or "",
        summary=row["summary"] or "",
        columns=json.loads(row["columns"] or "[]"),
        column_ids=json.loads(row["column_ids"] or "[]"),
        source_url=row["source_url"] or "",
        share_url=row["share_url"] or "",
        stocks=json.loads(row["stocks"] or "[]"),
        body_markdown=row["body_markdown"] or "",
        post_path=row["post_path"] or "",
    )


def link_pairs(db: sqlite_utils.Database, archive: Path, site_url: str, since: str = "") -> int:
    """Link the posts of every code that is both a flash and an article (written
    since ``since``, ISO UTC; "" for all); returns how many files changed."""
    ensure_flashes(db)
    changed = 0
    updated_rows = []
    for flash_row, article_row in pairs_since(db, since):
        flash, article = flash_of_row(flash_row), article_of_row(article_row)
        if not (flash.post_path and article.post_path):
            continue
        article.emnews_post = flash.post_path
        if flash.article_post != article.post_path:
            flash.article_post, flash.article_info_code = article.post_path, article.info_code
            updated_rows.append(
                dict(flash_row, article_post=article.post_path, article_info_code=article.info_code)
            )
        for relpath, text in (
            (flash.post_path, render_emnews_post(flash, site_url)),
            (article.post_path, render_post(article, site_url)),
        ):
            path = inside(archive, relpath)
            if path.exists() and atomic_write(path, text.encode("utf-8")):
                changed += 1
    if updated_rows:
        for row in updated_rows:
            row.pop("first_seen_at", None)
        upsert_flashes(db, updated_rows)
    return changed

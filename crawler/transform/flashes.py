"""A 7×24 item's files: its WARC snapshot and its ``emnews`` post, and its row.

* snapshot ``raw/flash/YYYY/MM/<code>.warc.gz``: a ``metadata`` record (the
  feed item as read, its feed columns, the feed answers it came from, where
  its body came from) and every body response (article page, Choice text,
  failed attempts too). With the feed answers in ``raw/lists/`` it is all
  ``make rebuild`` needs;
* the post (:mod:`crawler.transform.emnews`);
* the ``flashes`` row (:mod:`crawler.store.flashes` writes it).

The body: the article page or Choice text fetched for the item, or, when the
code is an archived column article, that article's body read back from its
own snapshot (fetched once, never twice). :func:`write_flash` is pure but for
the files it writes (atomically, only when their bytes change) and runs in a
worker process (crawler.workers).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from crawler.eastmoney.urls import article_url, fast_column_name
from crawler.files import atomic_write, inside
from crawler.items import Flash, FlashEntry
from crawler.spiders.rebuild import body_from, versions_in
from crawler.transform.emnews import emnews_post_relpath, render_emnews_post
from crawler.transform.html.clean import clean_article
from crawler.transform.markdown import html_to_markdown
from crawler.transform.warc import warc_bytes

__all__ = [
    "archived_body",
    "flash_metadata",
    "flash_from_metadata",
    "flash_row",
    "flash_snapshot_path",
    "write_flash",
]


def flash_snapshot_path(entry: FlashEntry) -> str:
    """``raw/flash/YYYY/MM/<code>.warc.gz`` (by the item's month)."""
    return f"raw/flash/{entry.show_time[:4]}/{entry.show_time[5:7]}/{entry.code}.warc.gz"


def flash_metadata(flash: Flash) -> dict[str, Any]:
    """What the snapshot holds beyond the responses: everything to rebuild the post."""
    return {
        "info_code": flash.entry.info_code,
        "kind": "flash",
        "entry": dataclasses.asdict(flash.entry),
        "column_ids": sorted(set(flash.column_ids)),
        "feed_snapshots": list(flash.feed_snapshots),
        "body_source": flash.body_source,
        "article_info_code": flash.article_info_code,
        "article_post": flash.article_post,
        "article_snapshot": flash.article_snapshot,
        "fetched_at": flash.fetched_at,
    }


def flash_from_metadata(meta: dict[str, Any], snapshot: str) -> Flash:
    """The item a snapshot's metadata describes (a rebuild: nothing is refetched)."""
    entry = FlashEntry(**meta["entry"])
    return Flash(
        entry=entry,
        column_ids=list(meta.get("column_ids", [])),
        feed_snapshots=list(meta.get("feed_snapshots", [])),
        body_source=meta.get("body_source", ""),
        article_info_code=meta.get("article_info_code", ""),
        article_post=meta.get("article_post", ""),
        article_snapshot=meta.get("article_snapshot", ""),
        fetched_at=meta.get("fetched_at", ""),
        snapshot=snapshot,
    )


def archived_body(archive: Path, snapshot: str) -> str:
    """The body HTML of an archived article, from the last fetch in its snapshot."""
    path = inside(archive, snapshot)
    if not snapshot or not path.exists():
        return ""
    try:
        groups = list(versions_in(path))
    except Exception:  # a damaged snapshot: the post keeps its digest
        return ""
    return body_from(*groups[-1]) if groups else ""


def flash_row(flash: Flash) -> dict[str, Any]:
    """The ``flashes`` row (crawler.store.flashes)."""
    entry = flash.entry
    columns = sorted(set(flash.column_ids))
    return {
        "code": entry.code,
        "info_code": entry.info_code,
        "title": entry.title,
        "published_at": entry.show_time.replace(" ", "T") + "+08:00",
        "summary": entry.summary,
        "digest": entry.digest,
        "important": 1 if entry.title_color > 0 else 0,
        "title_color": entry.title_color,
        "fast_columns": json.dumps([fast_column_name(c) for c in columns], ensure_ascii=False),
        "fast_column_ids": json.dumps(columns),
        "stocks": json.dumps(entry.stocks),
        "images": json.dumps(entry.images, ensure_ascii=False),
        "real_sort": entry.real_sort,
        "body_markdown": flash.body_markdown,
        "body_text": flash.body_text,
        "body_source": flash.body_source if flash.body_markdown else "",
        "article_info_code": flash.article_info_code,
        "article_post": flash.article_post,
        "source_url": article_url(entry.code),
        "post_path": flash.post_path,
        "snapshot": flash.snapshot,
        "fetched_at": flash.fetched_at,
    }


def write_flash(archive_dir: str, flash: Flash, site_url: str, keep_days: int) -> dict[str, Any]:
    """Body cleaned, snapshot (unless rebuilt from one) and post written: the row."""
    archive = Path(archive_dir)
    body_html = flash.body_html
    if flash.body_source == "article":
        body_html = archived_body(archive, flash.article_snapshot)
    flash.body_markdown = flash.body_text = ""
    if body_html.strip():
        clean_html, _stocks, text, _sha = clean_article(body_html, article_url(flash.entry.code))
        if text.strip():
            flash.body_markdown, flash.body_text = html_to_markdown(clean_html), text
    if not flash.snapshot:
        flash.snapshot = flash_snapshot_path(flash.entry)
        data = warc_bytes(flash.body_responses, flash_metadata(flash))
        atomic_write(inside(archive, flash.snapshot), data, durable=False)
    flash.post_path = emnews_post_relpath(flash.entry.code, flash.entry.show_time, keep_days)
    text = render_emnews_post(flash, site_url)
    atomic_write(inside(archive, flash.post_path), text.encode("utf-8"), durable=False)
    return flash_row(flash)

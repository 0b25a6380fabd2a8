"""The ``flashes`` rows' write, by path, for the index lane (crawler.workers).

Like ``crawler.store.writes.write_rows_at``: the files the rows name were
written without an fsync each, so one sync of the file system makes them
durable before the rows say they exist; then one transaction
(:func:`crawler.store.flashes.upsert_flashes`). A connection per batch: a
batch is up to FINEWS_DB_BATCH flashes, and 7×24 runs are small.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crawler.files import atomic_write, inside, sync_filesystem
from crawler.spiders.rebuild import versions_in
from crawler.store.flashes import ensure_flashes, flash_rows, upsert_flashes
from crawler.store.schema import connect
from crawler.transform.emnews import render_emnews_post
from crawler.transform.flashes import flash_row
from crawler.transform.pairs import flash_of_row
from crawler.transform.warc import warc_bytes


def write_flash_rows_at(
    db_path: str, archive_dir: str, rows: list[dict[str, Any]]
) -> tuple[int, int]:
    """Make the batch's files durable, then upsert its rows: (inserted, updated)."""
    sync_filesystem(Path(archive_dir))
    db = connect(db_path)
    try:
        ensure_flashes(db)
        return upsert_flashes(db, rows)
    finally:
        db.close()


def update_flash_columns_at(
    db_path: str, archive_dir: str, code: str, column_ids: list[int], site_url: str
) -> bool:
    """An archived flash's feed columns: the row, the post (rendered again from
    the row) and a metadata record appended to its snapshot (so a rebuild
    knows them). False when the flash is not archived or nothing changed."""
    archive = Path(archive_dir)
    db = connect(db_path)
    try:
        ensure_flashes(db)
        rows = flash_rows(db, [code])
        if not rows:
            return False
        flash = flash_of_row(rows[0])
        columns = sorted(set(flash.column_ids) | set(column_ids))
        if columns == sorted(set(flash.column_ids)):
            return False
        flash.column_ids = columns
        snapshot = inside(archive, flash.snapshot)
        if snapshot.exists():
            meta = list(versions_in(snapshot))[-1][0]
            record = warc_bytes([], {**meta, "column_ids": columns})
            atomic_write(snapshot, snapshot.read_bytes() + record, durable=False)
        text = render_emnews_post(flash, site_url)
        atomic_write(inside(archive, flash.post_path), text.encode("utf-8"), durable=False)
        sync_filesystem(archive)
        row = flash_row(flash)
        upsert_flashes(db, [dict(row, first_seen_at=rows[0]["first_seen_at"])])
        return True
    finally:
        db.close()

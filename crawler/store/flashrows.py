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

from crawler.files import sync_filesystem
from crawler.store.flashes import upsert_flashes
from crawler.store.schema import connect


def write_flash_rows_at(
    db_path: str, archive_dir: str, rows: list[dict[str, Any]]
) -> tuple[int, int]:
    """Make the batch's files durable, then upsert its rows: (inserted, updated)."""
    sync_filesystem(Path(archive_dir))
    db = connect(db_path)
    try:
        return upsert_flashes(db, rows)
    finally:
        db.close()

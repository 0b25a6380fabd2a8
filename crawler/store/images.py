"""The ``images`` table: which picture URLs the archive holds, and where.

A row per URL (``crawler.transform.images.ImageCopy``). Written in the index
lane of crawler.workers (:func:`write_images_at`, after a ``syncfs`` so a row
means its copy and WARC are on disk); read by the images stage in the crawl
process (:func:`known_images`) so a URL is fetched once, across runs.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from pathlib import Path

import sqlite_utils

from crawler.files import sync_filesystem
from crawler.store.schema import connect
from crawler.transform.images import ImageCopy, restore_images

CHUNK = 500
# One connection per database and thread of the index lane (as crawler.store.writes).
_CONNECTIONS: dict[tuple[str, int], sqlite_utils.Database] = {}


def known_images(db: sqlite_utils.Database, urls: Iterable[str]) -> dict[str, str]:
    """URL -> archived copy (``assets/img/…``) for the ``urls`` the archive holds."""
    wanted = list(dict.fromkeys(urls))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(f"SELECT url, path FROM images WHERE url IN ({marks})", chunk)
        found.update(rows.fetchall())
    return found


def upsert_images(db: sqlite_utils.Database, copies: list[ImageCopy]) -> None:
    if copies:
        with db.atomic():
            db["images"].upsert_all([dataclasses.asdict(c) for c in copies], pk="url")


def write_images_at(db_path: str, archive_dir: str, copies: list[ImageCopy]) -> None:
    """Make the copies durable, then record them (the index lane)."""
    sync_filesystem(Path(archive_dir))
    key = (db_path, threading.get_ident())
    if key not in _CONNECTIONS:
        _CONNECTIONS[key] = connect(db_path)
    upsert_images(_CONNECTIONS[key], copies)


def close_images_database(db_path: str) -> None:
    db = _CONNECTIONS.pop((db_path, threading.get_ident()), None)
    if db is not None:
        db.close()


def restore_images_at(root: Path, db_path: Path, max_bytes: int) -> list[str]:
    """``make rebuild``'s hook: the pictures of ``raw/images/`` back under
    ``assets/img/`` and in ``images`` (before any article is rebuilt, so the
    images stage finds them); returns what could not be restored."""
    copies, problems = restore_images(root, max_bytes)
    db = connect(db_path)
    try:
        upsert_images(db, copies)
    finally:
        db.close()
    return problems

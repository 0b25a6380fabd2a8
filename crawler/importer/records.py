"""The WARC records of imported files: each original post kept byte for byte.

An article's snapshot file (``raw/articles/YYYY/MM/<infoCode>.warc.gz``, the
same file a crawl appends its fetches to) gets, per imported file, a
``metadata`` record (``origin: import``, the file's path, digest, mtime and the
commit of the checkout it was read from, the row's key and links) and a
``resource`` record holding the file's bytes. A file already recorded (same
path and digest) is never recorded twice, so a second or resumed import adds
nothing; :func:`imported_groups` reads them back for ``make rebuild``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from crawler.files import atomic_write
from crawler.transform.warc import SnapshotRecord, read_warc, resource_bytes

__all__ = ["IMPORT_URI", "imported_groups", "record_group", "write_groups"]

IMPORT_URI = "urn:finews:import:{path}"
CONTENT_TYPE = "text/markdown; charset=utf-8"


def record_group(
    relpath: str, raw: bytes, sha256: str, mtime: float, meta: dict[str, Any]
) -> bytes:
    """The two records of one imported file (deterministic for the same input)."""
    stamp = datetime.fromtimestamp(int(mtime), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata = {
        **meta,
        "origin": "import",
        "source_path": relpath,
        "source_sha256": sha256,
        "source_mtime": stamp,
    }
    return resource_bytes(
        IMPORT_URI.format(path=quote(relpath)), raw, CONTENT_TYPE, stamp, metadata
    )


def _recorded(path: Path) -> set[tuple[str, str]]:
    """(source path, digest) of the files a snapshot already holds."""
    found: set[tuple[str, str]] = set()
    for record in read_warc(path):
        if record.type == "metadata":
            try:
                meta = json.loads(record.body)
            except ValueError:
                continue
            if isinstance(meta, dict) and meta.get("origin") == "import":
                found.add((str(meta.get("source_path")), str(meta.get("source_sha256"))))
    return found


def write_groups(path: Path, groups: list[tuple[str, str, bytes]]) -> int:
    """Add the groups ((source path, digest, bytes)) the file lacks; returns the
    bytes added. An existing file (a crawl's fetches, an earlier import) is
    appended to, whole gzip members, never rewritten otherwise."""
    if path.exists():
        have = _recorded(path)
        missing = [data for rel, sha, data in groups if (rel, sha) not in have]
        if not missing:
            return 0
        added = b"".join(missing)
        atomic_write(path, path.read_bytes() + added, durable=False)
        return len(added)
    data = b"".join(data for _rel, _sha, data in groups)
    atomic_write(path, data, durable=False)
    return len(data)


def imported_groups(records: list[SnapshotRecord]) -> Iterator[tuple[dict[str, Any], bytes]]:
    """(metadata, original bytes) of each imported file among a snapshot's records."""
    meta: dict[str, Any] | None = None
    for record in records:
        if record.type == "metadata":
            meta = json.loads(record.body)
        elif record.type == "resource" and meta is not None and meta.get("origin") == "import":
            yield meta, record.body
            meta = None

"""``make rebuild`` and imported articles: their WARC records read back.

An imported file's group in an article's snapshot is a ``metadata`` record
with ``origin: import`` and a ``resource`` record of the original bytes. The
rebuild spider hands such a group to :func:`imported_file` (its one hook) and
yields the result; ``pipelines/imported.py`` converts it again with the
import's own functions (:func:`crawler.importer.work.rebuilt`) and writes the
post and the row, so a rebuild reproduces imported articles as the import
wrote them. Pure.
"""

from __future__ import annotations

from typing import Any

from crawler.importer.work import ImportedFile
from crawler.transform.warc import SnapshotRecord

__all__ = ["imported_file", "is_imported"]


def is_imported(meta: dict[str, Any]) -> bool:
    return meta.get("origin") == "import"


def imported_file(
    meta: dict[str, Any], records: list[SnapshotRecord], snapshot: str, version: int
) -> ImportedFile | None:
    """The imported file of a snapshot group (None if its resource is missing)."""
    for record in records:
        if record.type == "resource":
            return ImportedFile(meta=meta, raw=record.body, snapshot=snapshot, version=version)
    return None

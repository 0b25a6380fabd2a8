"""The rebuild of the 7×24 items: ``raw/flash/**/*.warc.gz`` -> Flash items again.

Called by the rebuild spider (``crawler.spiders.rebuild``) after the articles:
each flash snapshot's last metadata record is the item as it was read from
the feed; its body is re-parsed from the archived response (or from the
column article's own snapshot, ``body_source`` ``article``), so the flash
stage writes the same post. At the end the link pass
(:func:`crawler.transform.pairs.link_pairs`) links every pair of posts again.

Stats: ``finews/rebuild/flash_files``, ``finews/rebuild/unreadable``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crawler.items import Failure
from crawler.spiders.rebuild import body_from, versions_in
from crawler.transform.flashes import flash_from_metadata
from crawler.transform.pairs import link_pairs


def flash_from_file(spider: Any, path: Path, relpath: str) -> Iterator[Any]:
    """The Flash of one whole flash snapshot (a Failure when its records do not make one)."""
    spider.inc("rebuild/flash_files")
    try:
        groups = list(versions_in(path))
        # The last record says the item's columns now; the body responses
        # are the fetch's (a later record only added a feed column).
        meta = groups[-1][0]
        responses = next((r for _, r in reversed(groups) if r), [])
        flash = flash_from_metadata(meta, relpath)
    except Exception as exc:  # a file that reads but holds no item is reported, not fatal
        spider.inc("rebuild/unreadable")
        yield Failure(stage="rebuild", reason=f"unreadable snapshot: {exc}", detail=relpath)
        return
    if flash.body_source in ("page", "choice"):
        flash.body_html = body_from(meta, responses)
    yield flash


def link_after_rebuild(spider: Any) -> int:
    """Link every pair of posts (a flash that is also a column article)."""
    return link_pairs(spider.db, spider.cfg.archive_dir, spider.cfg.site_url, "")

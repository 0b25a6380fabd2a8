"""Old emnews posts whose item the 7×24 crawl archived before the import.

One item, one record: such an item has its post, ``flashes`` row and snapshot
already, so ``make import`` does not import the old file (it would make a second
record and overwrite the crawl's post): the file is a failure with the reason
:data:`CRAWLED_FIRST` and its path.
"""

from __future__ import annotations

import sqlite_utils

from crawler.store.flashes import imported_flashes, known_flashes

CRAWLED_FIRST = "archived by the 7×24 crawl already"


def crawled_first(db: sqlite_utils.Database, keys: list[str]) -> set[str]:
    """The emnews keys (``EM<code>``) among ``keys`` with a ``flashes`` row of the
    code and no ``EM<code>`` row of ``articles`` (an earlier import keeps importing)."""
    if not db["flashes"].exists():
        return set()
    codes = [key[2:] for key in keys if key.startswith("EM")]
    return {"EM" + code for code in set(known_flashes(db, codes)) - imported_flashes(db, codes)}

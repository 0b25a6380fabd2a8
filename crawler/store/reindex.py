"""The search index's command line: ``python -m crawler.store.search {ensure,rebuild,check} DB``.

``ensure`` opens the database as the crawler does (the whole schema, the
search index and the migrations of older archives included: ``make serve``
runs it first); ``rebuild`` refills the search and stock indexes from
``articles`` (``make reindex``, after a hand edit of the database); ``check``
only reads (besides FTS5's integrity-check). Each ends with the check; exit 1
when it finds problems, 2 when ``check`` finds no database.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from crawler.store.schema import connect
from crawler.store.search import check_search, rebuild_search


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.store.search", description=__doc__)
    parser.add_argument("command", choices=["ensure", "rebuild", "check"])
    parser.add_argument("db", help="path of finews.db")
    args = parser.parse_args(argv)
    if args.command == "check":
        if not Path(args.db).is_file():
            print(f"{args.db}: no such database", file=sys.stderr)
            return 2
        conn = sqlite3.connect(f"file:{args.db}?mode=rw", uri=True, isolation_level=None)
        try:
            problems = check_search(conn)
        finally:
            conn.close()
    else:
        db = connect(args.db)
        try:
            if args.command == "rebuild":
                rebuild_search(db)
            problems = check_search(db)
        finally:
            db.close()
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

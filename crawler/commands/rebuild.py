"""``scrapy rebuild``: regenerate every post and the database from ``raw/`` alone, offline.

Under the archive lock: the database is moved aside to
``finews.db.before-rebuild``, the ``rebuild`` spider recreates ``articles``,
``article_versions`` and the search index and rewrites every post whose
bytes differ; then the run history that is not in the snapshots
(``crawl_runs``, ``failures``, ``column_state``) is copied over from the old
database.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys

from crawler.commands.crawl import Command as FinewsCrawl
from crawler.config import FinewsConfig

KEPT_TABLES = ("crawl_runs", "failures", "column_state")


class Command(FinewsCrawl):
    def syntax(self) -> str:
        return "[options]"

    def short_desc(self) -> str:
        return "Rebuild posts and database from the WARC snapshots (offline)"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        cfg = FinewsConfig.from_settings(self.settings)
        db_path = cfg.db_path
        old = db_path.with_name(db_path.name + ".before-rebuild")
        if db_path.exists():
            # Checkpoint the WAL so the moved file is complete on its own.
            con = sqlite3.connect(db_path)
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            con.close()
            os.replace(db_path, old)
            for suffix in ("-wal", "-shm"):
                db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
        super().run(["rebuild"], opts)
        if old.exists() and db_path.exists():
            con = sqlite3.connect(db_path)
            con.execute("ATTACH DATABASE ? AS old", [str(old)])
            with con:
                for table in KEPT_TABLES:
                    con.execute(f"DELETE FROM main.{table}")
                    con.execute(f"INSERT INTO main.{table} SELECT * FROM old.{table}")
            con.close()
            print(f"finews: rebuilt; previous database kept at {old}", file=sys.stderr)

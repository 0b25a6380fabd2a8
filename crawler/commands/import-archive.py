"""``scrapy import-archive SRC``: the old Jekyll archive at SRC into the archive.

Under the archive lock (a second run exits 75 at once); makes no request.
Reads every ``*.md`` of ``SRC/_posts/`` and ``SRC/old_post/``
(:mod:`crawler.importer.run`), prints progress (files, files/s, ETA) and a
closing report. Exit code 0 (failures are recorded in ``failures``, with the
path), 2 for a bad SRC or setting, 75 when the archive is locked.

Settings: FINEWS_ARCHIVE_DIR, FINEWS_SITE_URL, FINEWS_SHARE_URL,
FINEWS_POSTS_KEEP_DAYS, FINEWS_WORKERS (0: everything in this process).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from crawler.commands import config_or_usage_error
from crawler.importer.run import run_import, source_commit
from crawler.importer.work import Options
from crawler.outcome import EXIT_CODES
from crawler.runlock import ArchiveLock, ArchiveLocked
from crawler.skeleton import ensure_skeleton


class Command(ScrapyCommand):
    requires_project = True

    def syntax(self) -> str:
        return "SRC"

    def short_desc(self) -> str:
        return "Import the posts of an old finews Jekyll archive (offline)"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("give the old archive's directory: scrapy import-archive SRC")
        assert self.settings is not None
        src = Path(args[0])
        if (cfg := config_or_usage_error(self)) is None:
            return
        if not any((src / tree).is_dir() for tree in ("_posts", "old_post")):
            print(f"finews: {src} has neither _posts/ nor old_post/", file=sys.stderr)
            self.exitcode = 2
            return
        lock = ArchiveLock(cfg.archive_dir)
        try:
            lock.acquire(f"scrapy import-archive {src}")
        except ArchiveLocked as exc:
            print(f"finews: {exc}; not starting", file=sys.stderr)
            self.exitcode = EXIT_CODES["locked"]
            return
        try:
            ensure_skeleton(cfg.archive_dir)
            options = Options(
                archive_dir=str(cfg.archive_dir),
                site_url=cfg.site_url,
                share_url=cfg.share_url,
                keep_days=cfg.posts_keep_days,
                commit=source_commit(src),
                db_path=str(cfg.db_path),
            )
            run_import(src.resolve(), options, os.cpu_count() or 1 if cfg.workers else 0)
        finally:
            lock.release()
        self.exitcode = 0

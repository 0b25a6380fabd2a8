"""``scrapy rebuild``: regenerate every post and the database from ``raw/`` alone, offline.

A transaction (:mod:`crawler.store.rebuilddb`), all under the archive lock,
taken before anything is touched (a crawl that holds it: exit 75, nothing
changed):

1. the live ``finews.db`` is backed up (``_backups/finews.db.<n>.<time>``,
   numbered, never overwritten; FINEWS_REBUILD_BACKUPS kept);
2. a new database in ``.finews.db.rebuild`` gets the old history
   (``crawl_runs``, ``failures``, ``column_state``), then the ``rebuild``
   spider (no request, no browser) writes ``articles``, ``article_versions``,
   the search index, its own run and failure rows there, and every post whose
   bytes differ;
3. the new database is checked (``integrity_check``, a row per whole
   snapshot, the history all there, its run row closed) and the damaged
   snapshots are weighed: one whose article has a row in the old database
   stops the rebuild (exit 1, the list printed, the old database kept);
4. one ``os.replace`` swaps it in.

Exit: the rebuild run's code (:mod:`crawler.outcome`), 1 when the check or the
swap refused, or when damaged snapshots were met (listed, recorded as
failures). Settings: FINEWS_ARCHIVE_DIR, FINEWS_REBUILD_BACKUPS (and
FINEWS_DB_NAME, set here for the spider).
"""

from __future__ import annotations

import argparse
import sys

from crawler.commands.crawl import Command as FinewsCrawl
from crawler.config import ConfigError, FinewsConfig, rebuild_overrides
from crawler.outcome import EXIT_CODES
from crawler.runlock import ArchiveLock, ArchiveLocked
from crawler.store import rebuilddb


def say(message: str) -> None:
    print(f"finews: {message}", file=sys.stderr)


class Command(FinewsCrawl):
    def syntax(self) -> str:
        return "[options]"

    def short_desc(self) -> str:
        return "Rebuild posts and database from the WARC snapshots (offline, all or nothing)"

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        assert self.settings is not None
        # The spider writes the temporary database, offline: no browser to probe.
        for name, value in rebuild_overrides(rebuilddb.TEMP_NAME).items():
            self.settings.set(name, value, priority="cmdline")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.crawler_process and self.settings is not None
        try:
            cfg = FinewsConfig.from_settings(self.settings)
        except ConfigError as exc:
            say(str(exc))
            self.exitcode = 2
            return
        lock = ArchiveLock(cfg.archive_dir)
        try:
            lock.acquire("scrapy rebuild")
        except ArchiveLocked as exc:
            say(f"{exc}; not starting (nothing was changed)")
            self.exitcode = EXIT_CODES["locked"]
            return
        except OSError as exc:  # no lock file (a full disk)
            say(f"cannot lock {cfg.archive_dir}: {exc}; not starting (nothing was changed)")
            self.exitcode = EXIT_CODES["failed"]
            return
        try:
            self.exitcode = self.transaction(cfg, opts)
        finally:
            lock.release()

    def transaction(self, cfg: FinewsConfig, opts: argparse.Namespace) -> int:
        live, temp = cfg.live_db_path, cfg.db_path
        rebuilddb.discard(temp)  # a killed rebuild's leftover
        try:
            backup = rebuilddb.backup_database(live, cfg.rebuild_backups)
            history = rebuilddb.seed_history(live, temp)
        except OSError as exc:
            rebuilddb.discard(temp)
            say(f"rebuild not started: {exc}; the database is unchanged")
            return EXIT_CODES["failed"]
        for problem in history:
            say(problem)
        assert self.crawler_process is not None
        crawler = self.crawler_process.create_crawler("rebuild")
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        spider = crawler.spider
        code = int(crawler.stats.get_value("finews/exit_code", 1))
        if self.crawler_process.bootstrap_failed or spider is None or code != 0:
            rebuilddb.discard(temp)
            say(f"rebuild run failed (exit {code}); the database is unchanged")
            return code or EXIT_CODES["failed"]
        damaged: list[dict[str, str]] = list(getattr(spider, "damaged", []))
        at_risk = rebuilddb.good_rows_at_risk(live, damaged)
        problems = rebuilddb.verify_rebuilt(
            temp,
            live,
            set(getattr(spider, "expected", set())),
            crawler.stats.get_value("finews/run_id"),
            history_ok=not history,
        )
        if at_risk:
            problems.append(
                f"{len(at_risk)} damaged snapshots would replace good rows: " + "; ".join(at_risk)
            )
        if problems:
            rebuilddb.discard(temp)
            say("rebuild refused; the database is unchanged:")
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            self.restore_status(cfg)
            return EXIT_CODES["failed"]
        try:
            rebuilddb.swap_in(temp, live)
        except (OSError, RuntimeError) as exc:
            rebuilddb.discard(temp)
            say(f"rebuild not swapped in: {exc}; the database is unchanged")
            self.restore_status(cfg)
            return EXIT_CODES["failed"]
        rows = len(getattr(spider, "expected", ()))
        kept = f"; previous database backed up at {backup}" if backup else ""
        say(f"rebuilt {rows} articles from raw/{kept}")
        if damaged:
            say(f"{len(damaged)} damaged snapshots (recorded as failures, not rebuilt from):")
            for d in damaged:
                print(f"  {d['path']}: {d['reason']}", file=sys.stderr)
            return EXIT_CODES["failed"]
        return 0

    def restore_status(self, cfg: FinewsConfig) -> None:
        """status.json was written from the refused database: write it from the live one."""
        from crawler.extensions.runs import write_status
        from crawler.store.schema import connect

        try:
            db = connect(cfg.live_db_path)
            try:
                write_status(db, cfg)
            finally:
                db.close()
        except Exception as exc:  # the refusal is the report; this is a nicety
            say(f"status.json not rewritten: {exc}")

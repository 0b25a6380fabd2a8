"""``scrapy crawl``, finews's way: one run per archive, meaningful exit codes.

Takes the archive lock first (a second run exits at once with code 75), checks
the archive can be written and its database passes its quick check
(:mod:`crawler.store.health`: else one line, a ``failed`` run where it can be
recorded, exit 1), runs the spider, and exits with the run's code
(:mod:`crawler.outcome`).
"""

from __future__ import annotations

import argparse
import sys

from scrapy.commands.crawl import Command as ScrapyCrawl
from scrapy.exceptions import UsageError

from crawler.config import ConfigError, FinewsConfig
from crawler.outcome import EXIT_CODES
from crawler.runlock import ArchiveLock, ArchiveLocked
from crawler.store.health import archive_problem, record_failed_start


class Command(ScrapyCrawl):
    def short_desc(self) -> str:
        return "Run a finews spider (archive lock, exit codes by outcome)"

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        assert self.settings is not None
        try:
            quiet = FinewsConfig.from_settings(self.settings).quiet
        except ConfigError:
            return  # reported by run()
        if quiet:
            # Before the crawler process configures logging: the console shows
            # warnings and errors only; the archive's log file keeps INFO.
            self.settings.set("LOG_LEVEL", "WARNING", priority="cmdline")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("give exactly one spider: columns, article or rebuild")
        assert self.crawler_process and self.settings is not None
        try:
            cfg = FinewsConfig.from_settings(self.settings)
        except ConfigError as exc:
            print(f"finews: {exc}", file=sys.stderr)
            self.exitcode = 2
            return
        lock = ArchiveLock(cfg.archive_dir)
        try:
            lock.acquire(f"scrapy crawl {args[0]}")
        except ArchiveLocked as exc:
            print(f"finews: {exc}; not starting", file=sys.stderr)
            self.exitcode = EXIT_CODES["locked"]
            return
        except OSError as exc:  # no lock file (a full disk): one line, no traceback
            print(f"finews: cannot lock {cfg.archive_dir}: {exc}; not starting", file=sys.stderr)
            self.exitcode = EXIT_CODES["failed"]
            return
        if problem := archive_problem(cfg):
            missed = record_failed_start(cfg, args[0], problem)
            unwritten = f" ({' and '.join(missed)} not written)" if missed else ""
            print(f"finews: {problem}; not starting{unwritten}", file=sys.stderr)
            lock.release()
            self.exitcode = EXIT_CODES["failed"]
            return
        try:
            crawler = self.crawler_process.create_crawler(args[0])
            self.crawler_process.crawl(crawler, **opts.spargs)
            self.crawler_process.start()
        finally:
            lock.release()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
            return
        self.exitcode = int(crawler.stats.get_value("finews/exit_code", 1))

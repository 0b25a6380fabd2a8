"""``scrapy crawl``, finews's way: one run per archive, meaningful exit codes.

Takes the archive lock first (a second run exits at once with code 75), runs
the spider, and exits with the run's code (:mod:`crawler.outcome`). Several
spiders (``scrapy crawl columns fastnews``, what ``make crawl`` runs) run one
after the other under the one lock; the exit code is the worst of theirs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from scrapy import signals
from scrapy.commands.crawl import Command as ScrapyCrawl
from scrapy.exceptions import UsageError

from crawler.config import ConfigError, FinewsConfig
from crawler.outcome import EXIT_CODES
from crawler.runlock import ArchiveLock, ArchiveLocked


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
        if not args:
            raise UsageError("give a spider: columns, fastnews, article or rebuild")
        if len(args) > 1 and opts.spargs:
            # -a columns=… means column ids to one spider and feed ids to another.
            raise UsageError("-a arguments need exactly one spider")
        assert self.crawler_process and self.settings is not None
        try:
            cfg = FinewsConfig.from_settings(self.settings)
        except ConfigError as exc:
            print(f"finews: {exc}", file=sys.stderr)
            self.exitcode = 2
            return
        lock = ArchiveLock(cfg.archive_dir)
        try:
            lock.acquire(f"scrapy crawl {' '.join(args)}")
        except ArchiveLocked as exc:
            print(f"finews: {exc}; not starting", file=sys.stderr)
            self.exitcode = EXIT_CODES["locked"]
            return
        crawlers: list[Any] = []
        try:
            self.crawl_in_turn(list(args), opts.spargs, crawlers)
            self.crawler_process.start()
        finally:
            lock.release()
        if self.crawler_process.bootstrap_failed or len(crawlers) < len(args):
            self.exitcode = 1
            return
        # Several spiders (``scrapy crawl columns fastnews``): the worst outcome.
        self.exitcode = max(int(c.stats.get_value("finews/exit_code", 1)) for c in crawlers)

    def crawl_in_turn(self, names: list[str], spargs: dict[str, Any], crawlers: list[Any]) -> None:
        """Start the first spider; each next one when the one before has stopped
        (its engine_stopped signal: still inside its crawl, so the process keeps
        running), all under this command's one archive lock."""
        assert self.crawler_process is not None
        crawler = self.crawler_process.create_crawler(names[0])
        crawlers.append(crawler)
        if names[1:]:
            crawler.signals.connect(
                lambda: self.crawl_in_turn(names[1:], spargs, crawlers),
                signal=signals.engine_stopped,
                weak=False,
            )
        self.crawler_process.crawl(crawler, **spargs)

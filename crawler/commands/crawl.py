"""``scrapy crawl``, finews's way: one run per archive, meaningful exit codes.

Checks what it was given first (:mod:`crawler.preflight`: one line and exit 2
for a mistake), takes the archive lock (a second run exits at once with code
75; under FINEWS_QUIET silently, in the log file only, unless the lock has been
held longer than FINEWS_LOCK_QUIET_MINUTES), checks the archive can be written
and its database passes its quick check (:mod:`crawler.store.health`: else one
line, a ``failed`` run where it can be recorded, exit 1), runs the spider and
exits with the run's code (:mod:`crawler.outcome`). SIGTERM and SIGINT stop the run cleanly
(:mod:`crawler.stopping`; a second signal kills it). The console gets one start
line and one summary (:mod:`crawler.console`); with LOG_LEVEL given, Scrapy's log and the summary.
Settings: FINEWS_QUIET, FINEWS_LOCK_QUIET_MINUTES, FINEWS_MAX_RUN_MINUTES,
FINEWS_BACKFILL_MAX_RUN_MINUTES, LOG_LEVEL.
Several spiders (``scrapy crawl columns fastnews``, what ``finews crawl`` runs)
run one after the other under the one lock; the exit code is the worst of theirs.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from scrapy import signals
from scrapy.commands.crawl import Command as ScrapyCrawl
from scrapy.exceptions import UsageError

from crawler import console, stopping
from crawler.clock import utc_now
from crawler.config import ConfigError, FinewsConfig
from crawler.outcome import EXIT_CODES
from crawler.preflight import UsageProblem, check_run
from crawler.runlock import ArchiveLock, ArchiveLocked
from crawler.store.health import archive_problem, record_failed_start

USAGE_EXIT = 2


class Command(ScrapyCrawl):
    def short_desc(self) -> str:
        return "Run a finews spider (archive lock, exit codes by outcome)"

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        assert self.settings is not None
        self.console_summary = self.settings.getpriority("LOG_LEVEL") < 40  # not given
        try:
            quiet = FinewsConfig.from_settings(self.settings).quiet
        except ConfigError:
            quiet = True  # reported by run(), in one line
        if quiet or self.console_summary:
            # Before the crawler process configures logging: the console shows
            # warnings and errors only; the archive's log file keeps INFO.
            self.settings.set("LOG_LEVEL", "WARNING", priority="cmdline")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if not args:
            raise UsageError("give a spider: columns, fastnews, article or rebuild")
        assert self.crawler_process and self.settings is not None
        try:
            cfg = FinewsConfig.from_settings(self.settings)
            notices = check_run(args[0], opts.spargs, cfg)
            if len(args) > 1 and opts.spargs:
                # -a columns=… means column ids to one spider and feed ids to another.
                raise UsageProblem(
                    f"-a arguments need exactly one spider, got {' '.join(args)} "
                    "(finews crawl runs columns then fastnews: give settings with -s instead)"
                )
        except (ConfigError, UsageProblem) as exc:
            console.say(f"error: {exc}")
            self.exitcode = USAGE_EXIT
            return
        lock = ArchiveLock(cfg.archive_dir)
        try:
            lock.acquire(f"scrapy crawl {' '.join(args)}")
        except ArchiveLocked as exc:
            self.locked(cfg, str(exc))
            return
        except OSError as exc:  # no lock file (a full disk): one line, no traceback
            console.say(f"error: cannot lock {cfg.archive_dir}: {exc}; not starting")
            self.exitcode = EXIT_CODES["failed"]
            return
        if problem := archive_problem(cfg):
            missed = record_failed_start(cfg, args[0], problem)
            unwritten = f" ({' and '.join(missed)} not written)" if missed else ""
            console.say(f"error: {problem}; not starting{unwritten}")
            lock.release()
            self.exitcode = EXIT_CODES["failed"]
            return
        for notice in notices:
            console.say(notice)
        backfill = bool(opts.spargs.get("since") or opts.spargs.get("until"))
        budget = cfg.backfill_max_run_minutes if backfill else cfg.max_run_minutes
        if self.console_summary and not cfg.quiet:
            console.say(console.start_line(" then ".join(args), str(cfg.archive_dir), budget))
        crawlers: list[Any] = []
        try:
            self.crawl_in_turn(list(args), opts.spargs, crawlers)
            self.crawler_process.start(install_signal_handlers=False)
        finally:
            lock.release()
        stopped = bool(crawlers) and stopping.stopping(crawlers[-1]) == stopping.STOPPED
        if self.crawler_process.bootstrap_failed or (len(crawlers) < len(args) and not stopped):
            self.exitcode = 1
            return
        # Several spiders (``scrapy crawl columns fastnews``): the worst outcome.
        self.exitcode = max(int(c.stats.get_value("finews/exit_code", 1)) for c in crawlers)
        runs = [crawler.stats.get_stats() for crawler in crawlers]
        if not (cfg.quiet and self.exitcode == 0):
            reasons = [str(stats.get("finews/reasons", "")) for stats in runs]
            console.say(console.runs_summary(runs, reasons))

    def crawl_in_turn(self, names: list[str], spargs: dict[str, Any], crawlers: list[Any]) -> None:
        """Start the first spider; each next one when the one before has stopped
        (its engine_stopped signal: still inside its crawl, so the process keeps
        running), all under this command's one archive lock. A run stopped by a
        signal starts no next spider."""
        assert self.crawler_process is not None
        crawler = self.crawler_process.create_crawler(names[0])
        crawlers.append(crawler)
        if names[1:]:

            def next_spider() -> None:
                if stopping.stopping(crawler) != stopping.STOPPED:
                    self.crawl_in_turn(names[1:], spargs, crawlers)

            crawler.signals.connect(next_spider, signal=signals.engine_stopped, weak=False)
        self.crawler_process.crawl(crawler, **spargs)
        stopping.install_signal_stop(crawler)

    def locked(self, cfg: FinewsConfig, message: str) -> None:
        """Exit 75; quiet under FINEWS_QUIET unless the lock is held too long."""
        self.exitcode = EXIT_CODES["locked"]
        lock_file = cfg.archive_dir / ".lock"
        try:
            held = (time.time() - lock_file.stat().st_mtime) / 60
        except OSError:
            held = 0.0
        line = f"{message}; not starting (held {held:.0f} min)"
        if not cfg.quiet or held >= cfg.lock_quiet_minutes:
            console.say(line)
        logs = cfg.archive_dir / "logs"
        try:
            logs.mkdir(parents=True, exist_ok=True)
            with open(logs / "finews.log", "a", encoding="utf-8") as log:
                log.write(f"{utc_now()} [finews] INFO: {line} (exit 75)\n")
        except OSError:
            pass  # the exit code says it all

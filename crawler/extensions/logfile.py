"""The run's log in the archive.

``ArchiveLogFile``: the run's log also goes to ``<archive>/logs/finews.log``
(rotated: 10 MiB, 5 kept) at FINEWS_LOG_FILE_LEVEL; with FINEWS_QUIET the
console shows only warnings and errors, so cron mails only on trouble.
Settings: FINEWS_ARCHIVE_DIR, FINEWS_LOG_FILE_LEVEL, FINEWS_QUIET.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys

from scrapy.crawler import Crawler

from crawler.config import FinewsConfig


class _LogFile(logging.handlers.RotatingFileHandler):
    """The log file, which a full disk turns off with one line (not a
    "--- Logging error ---" traceback for every record)."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        logging.getLogger().removeHandler(self)
        print(
            f"finews: {self.baseFilename} is not writable any more; the console goes on",
            file=sys.stderr,
        )


class ArchiveLogFile:
    """Add the archive's rotating log file to the root logger (see the module doc)."""

    def __init__(self, crawler: Crawler) -> None:
        cfg = FinewsConfig.from_settings(crawler.settings)
        logs = cfg.archive_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        handler = _LogFile(
            logs / "finews.log", maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8"
        )
        handler.setLevel(cfg.log_file_level)
        handler.setFormatter(logging.Formatter("%(asctime)s [%(name)s] %(levelname)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        # A root set above the file's level (by whoever embeds the crawl) would
        # drop the records the file is there to keep.
        if root.level > handler.level:
            root.setLevel(handler.level)
        if cfg.quiet:
            for other in root.handlers:
                if other is not handler and isinstance(other, logging.StreamHandler):
                    other.setLevel(logging.WARNING)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchiveLogFile:
        return cls(crawler)

"""``scrapy check-archive``: report every damage to the archive (``finews check``).

The checks are :mod:`crawler.archivecheck`: every WARC under ``raw/`` read
whole, rows against snapshots, posts against what their snapshots give, the
database's integrity. Reads only (no lock needed, nothing changed); prints
the report and exits 1 when anything was found, 0 when the archive is whole.
Settings: FINEWS_ARCHIVE_DIR.
"""

from __future__ import annotations

import argparse

from scrapy.commands import ScrapyCommand

from crawler.archivecheck import check_archive
from crawler.commands import config_or_usage_error


class Command(ScrapyCommand):
    requires_project = True
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[options]"

    def short_desc(self) -> str:
        return "Check the archive: damaged snapshots, rows and posts that do not match them"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if (cfg := config_or_usage_error(self)) is None:
            return
        report = check_archive(cfg)
        for line in report.lines():
            print(line)
        self.exitcode = 1 if report.problems else 0

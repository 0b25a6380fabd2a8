"""finews's Scrapy commands (COMMANDS_MODULE): crawl, rebuild, import-archive,
check-archive, distributed-status."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from crawler.config import ConfigError, FinewsConfig

if TYPE_CHECKING:
    from scrapy.commands import ScrapyCommand


def config_or_usage_error(command: ScrapyCommand) -> FinewsConfig | None:
    """The command's FinewsConfig; None after one ``finews:`` line and exit
    code 2 when a FINEWS_* setting cannot be used."""
    assert command.settings is not None
    try:
        return FinewsConfig.from_settings(command.settings)
    except ConfigError as exc:
        print(f"finews: {exc}", file=sys.stderr)
        command.exitcode = 2
        return None

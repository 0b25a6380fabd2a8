"""Log lines that stay small: an item is named by its infoCode, never printed whole.

Scrapy's own formatter prints a failing or dropped item whole (an article
carries its list answer and page bodies, ~50 KB each) with a traceback: a
disk-full run printed ~2 MB. Here a failing item is one line: its infoCode,
the stage (the pipeline module in the traceback), the reason, and where it
was raised; its responses are in the failure snapshot, not the console. An
error of the environment (``OSError``: disk full, permissions; a database
error) raised in a callback is one line too; other callback errors keep their
traceback (a bug in finews must show where it is).

Setting: Scrapy's ``LOG_FORMATTER`` names :class:`FinewsLogFormatter`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import traceback
from typing import Any

from scrapy.logformatter import LogFormatter

ENVIRONMENT_ERRORS = (OSError, sqlite3.Error)


def item_name(item: Any) -> str:
    """An item as a log line names it: its infoCode, else its kind."""
    info_code = getattr(item, "info_code", "") or ""
    return info_code or type(item).__name__


def where(exc: BaseException) -> tuple[str, str]:
    """(stage, place): the pipeline whose code raised ``exc`` and the innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    stage = ""
    for frame in frames:
        parts = frame.filename.split(os.sep)
        if len(parts) > 1 and parts[-2] == "pipelines":
            stage = parts[-1].removesuffix(".py")
    place = ""
    if frames:
        last = frames[-1]
        place = f"{os.path.basename(last.filename)}:{last.lineno}"
    return stage or "pipeline", place


def reason_of(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300].replace("\n", " ")


class _OneLine(logging.Filter):
    """Drops the traceback of an item error (its line says it all) and of a
    callback's environment error (the reason is added to the line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        if hasattr(record, "item"):  # an item error: the message has the reason
            record.exc_info, record.exc_text = None, None
        elif isinstance(exc, ENVIRONMENT_ERRORS):
            record.msg = f"{record.msg}: {reason_of(exc).replace('%', '%%')}"
            record.exc_info, record.exc_text = None, None
        return True


_FILTER = _OneLine()


class FinewsLogFormatter(LogFormatter):
    def __init__(self) -> None:
        super().__init__()
        scraper = logging.getLogger("scrapy.core.scraper")
        if _FILTER not in scraper.filters:
            scraper.addFilter(_FILTER)

    def scraped(self, item: Any, response: Any, spider: Any) -> Any:
        return {
            "level": logging.DEBUG,
            "msg": "scraped %(item)s",
            "args": {"item": item_name(item)},
        }

    def dropped(self, item: Any, exception: BaseException, response: Any, spider: Any) -> Any:
        result = super().dropped(item, exception, response, spider)
        result["msg"] = "dropped %(item)s: %(exception)s"
        result["args"] = {"item": item_name(item), "exception": exception}
        return result

    def item_error(self, item: Any, exception: BaseException, response: Any, spider: Any) -> Any:
        stage, place = where(exception)
        return {
            "level": logging.ERROR,
            "msg": f"item {item_name(item)} failed at {stage} ({place}): "
            f"{reason_of(exception).replace('%', '%%')}",
            "args": {},
        }

"""What a person sees on the console: one start line, one closing summary.

Scrapy's start-up dumps (versions, settings, middleware lists) and its stats
dump go to the archive's log file (``crawler.extensions.logfile``) and to the
console only at an explicit ``LOG_LEVEL`` (``make crawl LOGLEVEL=INFO`` or
``DEBUG``); by default the console shows warnings and errors, plus these lines.
Under FINEWS_QUIET the start line is left out and the summary shown only when
the run did not end ``ok`` (so cron mails only on trouble).
Stats read: ``finews/run_id``, ``finews/status``, ``finews/exit_code``,
``finews/index/*``, ``finews/dedupe/*``, ``finews/blocked``, ``downloader/request_count``.
"""

from __future__ import annotations

import sys
from typing import Any


def say(line: str) -> None:
    """One line on the console (stderr: stdout may be a pipe of data)."""
    print(f"finews: {line}", file=sys.stderr, flush=True)


def start_line(spider: str, archive: str, budget_minutes: float, extra: str = "") -> str:
    budget = f"budget {budget_minutes:g} min" if budget_minutes > 0 else "no time budget"
    return f"{spider} run into {archive}/ ({budget}{', ' + extra if extra else ''})"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def summary_line(stats: dict[str, Any], reasons: str = "") -> str:
    """``run 7: partial (exit 5) | archived 40, refreshed 2, …, 1m12s | why``."""
    return runs_summary([stats], [reasons])


def runs_summary(runs: list[dict[str, Any]], reasons: list[str]) -> str:
    """One line for the runs of one command (``scrapy crawl columns fastnews``):
    ``runs 7, 8: partial (exit 5) | …``, the counts summed, the worst status."""

    def n(key: str) -> int:
        return sum(int(stats.get(key, 0) or 0) for stats in runs)

    took = 0.0
    for stats in runs:
        start, end = stats.get("start_time"), stats.get("finish_time")
        took += (end - start).total_seconds() if start is not None and end is not None else 0.0
    worst = max(runs, key=lambda stats: int(stats.get("finews/exit_code", 1)))
    counts = ", ".join(
        f"{name} {value}"
        for name, value in (
            ("archived", n("finews/index/archived")),
            ("refreshed", n("finews/index/updated")),
            ("skipped", n("finews/dedupe/archived") + n("finews/dedupe/in_run")),
            ("failed", n("finews/index/failures")),
            ("blocked", n("finews/blocked")),
            ("requests", n("downloader/request_count")),
        )
    )
    status = worst.get("finews/status", "failed")
    ids = ", ".join(str(stats.get("finews/run_id", "?")) for stats in runs)
    line = (
        f"{'runs' if len(runs) > 1 else 'run'} {ids}: {status}"
        f" (exit {worst.get('finews/exit_code', 1)}) | {counts}, {_duration(took)}"
    )
    why = "; ".join(r for r in reasons if r)
    return line + (f" | {why}" if why else "")

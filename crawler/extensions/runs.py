"""The run's record: a ``crawl_runs`` row and ``status.json``.

``CrawlRunRecorder``: a ``crawl_runs`` row per run, opened at start and closed
with the run's counts, finish reason, status and exit code (see
:mod:`crawler.outcome`); then ``<archive>/status.json``, a heartbeat a monitor
can read. Rows left ``running`` by a killed run are marked ``killed``. When the
record cannot be written (a full disk), the run is ``failed``, its row closed
and ``status.json`` written as far as space allows, in one log line. At the
end of a run, posts are rotated to ``old_post/`` when FINEWS_POSTS_KEEP_DAYS
is set (:mod:`crawler.rotation`).
Settings: FINEWS_ARCHIVE_DIR, FINEWS_MIN_COVERAGE, FINEWS_MAX_FAILED_SHARE,
FINEWS_POSTS_KEEP_DAYS.
Stats: sets ``finews/run_id``, ``finews/status``, ``finews/exit_code``; reads the
run's counts (``finews/index/*``, ``finews/dedupe/*``, ``downloader/*``).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler

from crawler.clock import utc_now
from crawler.config import FinewsConfig
from crawler.files import atomic_write
from crawler.outcome import outcome
from crawler.rotation import rotate_posts
from crawler.store.health import minimal_status
from crawler.store.schema import connect


class CrawlRunRecorder:
    """Open the run's ``crawl_runs`` row at ``spider_opened``, close it at ``spider_closed``."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.cfg = FinewsConfig.from_settings(crawler.settings)
        self.run_id: int | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlRunRecorder:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        try:
            self.open_run(spider)
        except (OSError, sqlite3.Error) as e:  # a full disk, a broken database
            self.crawler.stats.set_value("finews/fatal", f"run row not written: {e}")
            spider.logger.error("finews: cannot record the run (%s); stopping", e)
            asyncio.ensure_future(self.crawler.engine.close_spider_async(reason="failed"))

    def open_run(self, spider: Spider) -> None:
        db = connect(self.cfg.db_path)
        with db.atomic():
            db.execute(
                "UPDATE crawl_runs SET status = 'killed', exit_code = 1 WHERE status = 'running'"
            )
            table = db["crawl_runs"]
            table.insert({"spider": spider.name, "started_at": utc_now(), "status": "running"})
            self.run_id = table.last_pk
        db.close()
        self.crawler.stats.set_value("finews/run_id", self.run_id)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        try:
            self.close_run(spider, reason)
        except (OSError, sqlite3.Error) as e:  # a full disk: one line, what can be kept
            self.unrecorded(spider, reason, e)

    def unrecorded(self, spider: Spider, reason: str, error: BaseException) -> None:
        """The run's record could not be written: the run failed; its row is
        closed and ``status.json`` written as far as space allows."""
        why = f"run record incomplete: {error}"
        self.crawler.stats.set_value("finews/status", "failed")
        self.crawler.stats.set_value("finews/exit_code", 1)
        run = {"id": self.run_id, "spider": spider.name, "finished_at": utc_now()}
        run.update(status="failed", exit_code=1, finish_reason=reason, reasons=why)
        missed = []
        try:
            con = sqlite3.connect(self.cfg.db_path, timeout=5)
            with con:
                con.execute(
                    "UPDATE crawl_runs SET finished_at = ?, status = 'failed', exit_code = 1,"
                    " finish_reason = ?, reasons = ? WHERE id = ?",
                    [run["finished_at"], reason, why, self.run_id],
                )
            con.close()
        except (OSError, sqlite3.Error):
            missed.append("crawl_runs")
        if not minimal_status(self.cfg, run):
            missed.append("status.json")
        unwritten = f" ({' and '.join(missed)} not written)" if missed else ""
        spider.logger.error("finews run %s: failed (exit 1): %s%s", self.run_id, why, unwritten)

    def close_run(self, spider: Spider, reason: str) -> None:
        stats = self.crawler.stats.get_stats()
        # A stop asked for before the engine could close with its reason (crawler.stopping).
        reason = str(stats.get("finews/stop/reason") or reason)
        result = outcome(stats, reason, self.cfg.min_coverage, self.cfg.max_failed_share)
        self.crawler.stats.set_value("finews/status", result.status)
        self.crawler.stats.set_value("finews/exit_code", result.exit_code)
        self.crawler.stats.set_value("finews/reasons", "; ".join(result.reasons))
        db = connect(self.cfg.db_path)
        with db.atomic():
            walked = sorted(getattr(spider, "walk_done", ()))
            if reason == "finished" and walked:
                # These columns were paged to a normal stop: the next run may
                # stop at its first page of known articles again.
                marks = ",".join("?" * len(walked))
                db.execute(
                    f"UPDATE column_state SET clean = 1 WHERE column_id IN ({marks})", walked
                )
            db["crawl_runs"].update(
                self.run_id,
                {
                    "finished_at": utc_now(),
                    "requests": stats.get("downloader/request_count", 0),
                    "responses": stats.get("downloader/response_count", 0),
                    "archived": stats.get("finews/index/archived", 0),
                    "updated": stats.get("finews/index/updated", 0),
                    "duplicates": stats.get("finews/dedupe/archived", 0)
                    + stats.get("finews/dedupe/in_run", 0),
                    "failures": stats.get("finews/index/failures", 0),
                    "finish_reason": reason,
                    "status": result.status,
                    "exit_code": result.exit_code,
                    "reasons": "; ".join(result.reasons),
                    "stats": json.dumps(stats, default=str, sort_keys=True),
                },
            )
        moved = rotate_posts(self.cfg.archive_dir, db, self.cfg.posts_keep_days)
        if moved:
            spider.logger.info(
                "moved %s posts older than %s days to old_post/", moved, self.cfg.posts_keep_days
            )
        write_status(db, self.cfg)
        db.close()
        if repaired := stats.get("finews/snapshot/repaired"):
            spider.logger.info(
                "repaired %s articles on disk whose rows were missing (fetched again)", repaired
            )
        if result.status == "ok":
            spider.logger.info("finews run %s: ok", self.run_id)
        else:
            # INFO: the console's summary line (crawler.console) says it once.
            spider.logger.info(
                "finews run %s: %s (exit %s): %s",
                self.run_id,
                result.status,
                result.exit_code,
                "; ".join(result.reasons),
            )


def _run_summary(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    keys = ("id", "spider", "started_at", "finished_at", "status", "exit_code", "reasons")
    keys += ("requests", "archived", "updated", "failures")
    return {k: row.get(k) for k in keys}


def write_status(db: Any, cfg: FinewsConfig) -> dict[str, Any]:
    """Write ``status.json`` from the database (it is derived, like everything else)."""

    def one(sql: str) -> dict[str, Any] | None:
        rows = list(db.query(sql))
        return rows[0] if rows else None

    status = {
        "last_run": _run_summary(
            one("SELECT * FROM crawl_runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1")
        ),
        "last_success": _run_summary(
            one("SELECT * FROM crawl_runs WHERE status = 'ok' ORDER BY id DESC LIMIT 1")
        ),
        "articles": db.execute("SELECT count(*) FROM articles").fetchone()[0],
        "unresolved_failures": db.execute(
            "SELECT count(*) FROM failures WHERE resolved_at IS NULL"
        ).fetchone()[0],
        "newest_article": db.execute("SELECT max(published_at) FROM articles").fetchone()[0],
    }
    data = json.dumps(status, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    atomic_write(cfg.archive_dir / "status.json", data.encode("utf-8"))
    return status

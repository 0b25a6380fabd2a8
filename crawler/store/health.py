"""Can a run start on this archive, and what to leave behind when it cannot.

:func:`archive_problem` is the check ``scrapy crawl`` makes under the lock
before the crawler starts: the archive directory takes a small write (a full
disk is one clear line, not a traceback from deep inside the crawler), and
the database opens and passes ``PRAGMA quick_check`` (a database with
damaged pages is reported as such; crawling on it answered every list page
with ``sqlite3.DatabaseError`` and ended "ok"). :func:`record_failed_start`
leaves the refusal in ``crawl_runs`` and ``status.json`` where it can.
"""

from __future__ import annotations

import errno
import json
import re
import sqlite3
from typing import Any

from crawler.clock import utc_now
from crawler.config import FinewsConfig
from crawler.files import atomic_write
from crawler.store.schema import connect

_PROBE = b"finews write probe\n" * 256  # a few KiB: needs a block of its own
_NULL_IN = re.compile(r"^NULL value in (\w+)\.(\w+)$")


def database_check(con: Any, pragma: str = "quick_check") -> list[str]:
    """What ``PRAGMA quick_check`` (or ``integrity_check``) finds wrong; [] when whole.

    SQLite 3.40 reports "NULL value in article_stocks.stock" for a WITHOUT
    ROWID table whose key lists its columns in another order than the table
    (a false alarm: no such NULL exists); such a line is kept only when a
    query finds the NULL.
    """
    found = [r[0] for r in con.execute(f"PRAGMA {pragma}").fetchall()]
    if found == ["ok"]:
        return []
    real = []
    for line in found:
        m = _NULL_IN.match(line)
        if (
            m
            and not con.execute(
                f'SELECT count(*) FROM "{m.group(1)}" WHERE "{m.group(2)}" IS NULL'
            ).fetchone()[0]
        ):
            continue
        real.append(line)
    return real


def archive_problem(cfg: FinewsConfig) -> str:
    """Why no run can start on this archive (one line), or ""."""
    probe = cfg.archive_dir / ".finews-write-probe"
    try:
        cfg.archive_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(probe, _PROBE, durable=False)
        probe.unlink()
    except OSError as e:
        return f"archive {cfg.archive_dir} is not writable: {e.strerror or e}"
    try:
        db = connect(cfg.db_path)
        try:
            found = database_check(db.conn)
        finally:
            db.close()
    except (sqlite3.Error, OSError) as e:
        return f"database {cfg.db_path} is unusable: {e}"
    if found:
        return f"database {cfg.db_path} failed its quick check: {'; '.join(found[:3])}"
    return ""


def minimal_status(cfg: FinewsConfig, run: dict[str, Any]) -> bool:
    """``status.json`` naming a failed run, without the database; False when
    even that cannot be written (a full disk)."""
    data = {"last_run": run, "database": "unavailable: see last_run.reasons"}
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    try:
        atomic_write(cfg.archive_dir / "status.json", text.encode("utf-8"))
    except OSError:
        return False
    return True


def record_failed_start(cfg: FinewsConfig, spider: str, reason: str) -> list[str]:
    """A ``failed`` run row and ``status.json`` for a run refused at its start;
    returns what could not be written."""
    run: dict[str, Any] = {
        "spider": spider,
        "started_at": utc_now(),
        "finished_at": utc_now(),
        "status": "failed",
        "exit_code": 1,
        "reasons": reason,
    }
    missed = []
    try:
        con = sqlite3.connect(cfg.db_path, timeout=5)
        try:
            with con:
                cur = con.execute(
                    "INSERT INTO crawl_runs (spider, started_at, finished_at, status, exit_code,"
                    " reasons, finish_reason) VALUES (?, ?, ?, ?, ?, ?, 'not started')",
                    [run[k] for k in ("spider", "started_at", "finished_at", "status")]
                    + [run["exit_code"], reason],
                )
                run["id"] = cur.lastrowid
        finally:
            con.close()
    except (sqlite3.Error, OSError):
        missed.append("crawl_runs")
    if not minimal_status(cfg, run):
        missed.append("status.json")
    return missed


def disk_full(exc: BaseException) -> bool:
    """An error that means the file system is full."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, sqlite3.Error) and "full" in str(exc)

"""The database side of ``scrapy rebuild`` as a transaction: back up, seed,
verify, swap.

The live database is never touched before the swap: it is backed up (a
numbered, dated copy under ``_backups/``, never overwritten; the newest
FINEWS_REBUILD_BACKUPS kept), its history (``crawl_runs``, ``failures``,
``column_state``: what the snapshots do not hold) is copied into a new
database in a temporary file *before* the rebuild writes its own run and
failure rows there, the new database is checked, and one ``os.replace`` puts
it in place. A rebuild killed at any moment leaves the old database whole,
and a leftover temporary file is removed by the next rebuild.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from crawler.clock import utc_now
from crawler.store.health import database_check
from crawler.store.schema import connect

KEPT_TABLES = {"crawl_runs": "id", "failures": "id", "column_state": "column_id"}
TEMP_NAME = ".finews.db.rebuild"
BACKUP_DIR = "_backups"
_BACKUP_RE = re.compile(r"^finews\.db\.(\d{4,})\.")


def discard(path: Path) -> None:
    """Remove a database file and its ``-wal``/``-shm`` (a killed rebuild's leftover)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def backup_database(db_path: Path, keep: int) -> Path | None:
    """A consistent copy of ``db_path`` (WAL included) as the next numbered
    backup, ``_backups/finews.db.<n>.<UTC time>``; then only the newest
    ``keep`` backups are kept. None when there is no database."""
    if not db_path.exists():
        return None
    folder = db_path.parent / BACKUP_DIR
    folder.mkdir(exist_ok=True)
    numbers = [int(m.group(1)) for p in folder.iterdir() if (m := _BACKUP_RE.match(p.name))]
    stamp = utc_now().replace("-", "").replace(":", "")
    target = folder / f"finews.db.{max(numbers, default=0) + 1:04d}.{stamp}"
    partial = target.with_name("." + target.name + ".tmp")
    discard(partial)
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
        finally:
            dst.close()
    except sqlite3.DatabaseError:
        # Unreadable pages: the backup API stops. The file as it is, then.
        src.close()
        partial.write_bytes(db_path.read_bytes())
    else:
        src.close()
    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, target)  # never onto an existing backup: the number is new
    backups = sorted(
        (p for p in folder.iterdir() if _BACKUP_RE.match(p.name)),
        key=lambda p: int(_BACKUP_RE.match(p.name).group(1)),  # type: ignore[union-attr]
    )
    for old in backups[:-keep]:
        old.unlink()
    return target


def _columns(con: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [r[1] for r in con.execute(f"PRAGMA {schema}.table_info({table})")]


def seed_history(old_path: Path, new_path: Path) -> list[str]:
    """Create the new database and copy the old one's history tables into it;
    returns what could not be copied (an unreadable old database: the rebuild
    goes on, and says so)."""
    connect(new_path).close()
    if not old_path.exists():
        return []
    problems: list[str] = []
    con = sqlite3.connect(new_path, isolation_level=None)
    try:
        con.execute("ATTACH DATABASE ? AS old", [f"file:{old_path}?mode=ro"])
    except sqlite3.DatabaseError as e:
        con.close()
        return [f"old database unreadable ({e}): history not copied"]
    try:
        for table in KEPT_TABLES:
            try:
                old_cols = set(_columns(con, "old", table))
                cols = ", ".join(c for c in _columns(con, "main", table) if c in old_cols)
                con.execute("BEGIN")
                con.execute(f"DELETE FROM main.{table}")
                if cols:
                    con.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM old.{table}")
                con.execute("COMMIT")
            except sqlite3.DatabaseError as e:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                problems.append(f"old {table} unreadable ({e}): not copied")
    finally:
        con.close()
    return problems


def _one(con: sqlite3.Connection, sql: str, args: Iterable[object] = ()) -> object:
    row = con.execute(sql, list(args)).fetchone()
    return row[0] if row else None


def good_rows_at_risk(old_path: Path, damaged: list[dict[str, str]]) -> list[str]:
    """Damaged snapshots whose article has a row in the old database: a rebuild
    would lose (or replace) a good row with what a cut file gives."""
    codes = [d["info_code"] for d in damaged if d["info_code"]]
    if not codes or not old_path.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{old_path}?mode=ro", uri=True)
        try:
            marks = ",".join("?" * len(codes))
            held = {
                r[0]
                for r in con.execute(
                    f"SELECT info_code FROM articles WHERE info_code IN ({marks})", codes
                )
            }
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return []  # no good row to keep in an unreadable database
    return [f"{d['path']} ({d['reason']})" for d in damaged if d["info_code"] in held]


def verify_rebuilt(
    new_path: Path, old_path: Path, expected: set[str], run_id: object, history_ok: bool
) -> list[str]:
    """Why the new database must not replace the old one (empty: it may).

    ``integrity_check`` passes; every whole snapshot's article has a row or a
    failure of this rebuild (nothing left after cleaning, say); the old
    history is all there (when it could be read: ``history_ok``); and this
    rebuild's own ``crawl_runs`` row is closed.
    """
    problems: list[str] = []
    con = sqlite3.connect(f"file:{new_path}?mode=ro", uri=True)
    try:
        check = database_check(con, "integrity_check")
        if check:
            return [f"integrity_check: {'; '.join(check[:5])}"]
        rows = {r[0] for r in con.execute("SELECT info_code FROM articles")}
        failed = {
            r[0] for r in con.execute("SELECT info_code FROM failures WHERE run_id = ?", [run_id])
        }
        missing = sorted(expected - rows - failed)
        if missing:
            problems.append(f"{len(missing)} snapshots without a row: {', '.join(missing[:10])}")
        extra = sorted(rows - expected)
        if extra:
            problems.append(f"{len(extra)} rows without a snapshot: {', '.join(extra[:10])}")
        if not _one(con, "SELECT finished_at FROM crawl_runs WHERE id = ?", [run_id]):
            problems.append("the rebuild's own crawl_runs row is missing or open")
        if history_ok and old_path.exists():
            con.execute("ATTACH DATABASE ? AS old", [f"file:{old_path}?mode=ro"])
            for table, key in KEPT_TABLES.items():
                lost = _one(
                    con,
                    f"SELECT count(*) FROM old.{table} WHERE {key} NOT IN "
                    f"(SELECT {key} FROM main.{table})",
                )
                if lost:
                    problems.append(f"{lost} rows of {table} not copied")
    finally:
        con.close()
    return problems


def swap_in(new_path: Path, live_path: Path) -> None:
    """Put the new database in place with one ``os.replace``.

    The new one is checkpointed whole into its file (no ``-wal`` to carry
    over); the old one's WAL is checkpointed empty first, because a WAL file
    is found by name: frames left in it would be read as the new file's.
    """
    con = sqlite3.connect(new_path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()
    fd = os.open(new_path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if live_path.exists():
        con = sqlite3.connect(live_path)
        try:
            busy, _, _ = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.DatabaseError:
            busy = 0  # an unreadable database has nothing to checkpoint
        finally:
            con.close()
        wal = live_path.with_name(live_path.name + "-wal")
        if busy or (wal.exists() and wal.stat().st_size):
            raise RuntimeError(
                f"{live_path} is in use by a reader (Datasette?): its WAL could not be "
                "emptied; stop it and rebuild again"
            )
    os.replace(new_path, live_path)
    fd = os.open(live_path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

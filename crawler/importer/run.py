"""``make import SRC=…``: every ``*.md`` of ``SRC/_posts/`` and ``SRC/old_post/``
into the archive, idempotent and resumable.

The files are found and grouped by row key (:func:`crawler.importer.work.key_of`);
an emnews flash and the NW article of the same code are told of each other
(``related``). Each group is a :class:`~crawler.importer.work.Job` run in a
worker process of :mod:`crawler.workers` (``os.cpu_count()`` of them, the
crawl's own kind; in this process with FINEWS_WORKERS=0), at most WINDOW in
flight so memory stays flat. This process
writes the rows: every BATCH rows, one ``syncfs`` (the posts and records they
name are on disk) then one transaction with the rows (``upsert_articles``, the
crawl's writer: a differing body becomes an ``article_versions`` row), the
files' digests (``import_sources``: a file imported before with the same digest
is not read again) and the failures (stage ``import``, the file's path in
``detail``). A run killed at any point leaves files whose rows are missing; the
next run writes the same bytes (nothing changes) and the rows. An emnews post
whose item the 7×24 crawl archived first is not imported (one item, one
record; :mod:`crawler.importer.crawled`).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from crawler.clock import utc_now
from crawler.files import atomic_write, inside, sync_filesystem
from crawler.importer.crawled import CRAWLED_FIRST, crawled_first
from crawler.importer.oldpost import ImportProblem
from crawler.importer.work import Done, Job, Options, Source, import_job, import_jobs, key_of
from crawler.store.schema import connect
from crawler.store.writes import upsert_articles
from crawler.workers import Workers

__all__ = ["Report", "find_jobs", "run_import"]

BATCH = 500
WINDOW = 256
CHUNK = 8
TREES = ("_posts", "old_post")


@dataclass
class Report:
    files: int = 0
    imported: int = 0  # articles written (new or changed)
    unchanged: int = 0  # articles whose files were imported before, as they are
    merged: int = 0  # articles made of more than one file
    failed: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"import: {self.files:,} files in {self.seconds:.1f} s: imported {self.imported:,}, "
            f"unchanged {self.unchanged:,}, merged {self.merged:,}, failed {sum(self.failed.values()):,}"
        ]
        out += [f"  failed: {n:,} × {reason}" for reason, n in self.failed.most_common()]
        return out


def reason_kind(reason: str) -> str:
    """A failure's reason without its particulars (the report counts by it)."""
    return reason.split(" (", 1)[0].split(":", 1)[0]


def source_commit(src: Path) -> str:
    """The checkout's HEAD (local git only), "" when ``src`` is no git checkout."""
    if not (src / ".git").exists():
        return ""
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _order(src: Source) -> tuple[int, int]:
    # Oldest first by mtime (whole seconds); at the same second old_post/ is later.
    return int(src.mtime), src.relpath.startswith("old_post/")


Plan = list[tuple[str, tuple[str, ...], str]]  # (key, its files, related key)


def find_jobs(src: Path) -> tuple[Plan, list[tuple[str, str]], int]:
    """(the articles in key order, files that name no post with the reason,
    files seen). Compact on purpose (strings only; the files are looked at when
    their job is sent): the plan is the one thing that grows with the archive."""
    pairs: list[tuple[str, str]] = []
    bad: list[tuple[str, str]] = []
    count = 0
    for tree in TREES:
        for dirpath, dirnames, filenames in os.walk(src / tree):
            dirnames.sort()
            base = os.path.relpath(dirpath, src).replace(os.sep, "/")
            for name in filenames:
                if not name.endswith(".md"):
                    continue
                count += 1
                rel = f"{base}/{name}"
                try:
                    pairs.append((key_of(rel)[0], rel))
                except ImportProblem as exc:
                    bad.append((rel, str(exc)))
    pairs.sort()
    keys = {key for key, _rel in pairs}
    plan: Plan = []
    for key, group in itertools.groupby(pairs, key=lambda pair: pair[0]):
        twin = {"NW": "EM", "EM": "NW"}.get(key[:2], "") + key[2:]
        plan.append((key, tuple(rel for _key, rel in group), twin if twin in keys else ""))
    return plan, sorted(bad), count


def _job(src: Path, key: str, relpaths: tuple[str, ...], related: str) -> Job:
    sources = []
    for rel in relpaths:
        path = os.path.join(src, rel)
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            mtime = 0.0  # gone since: the worker records it unreadable
        sources.append(Source(rel, path, mtime))
    return Job(key, sorted(sources, key=_order), related)


class _Writer:
    """The rows, sources and failures of finished jobs, written in batches."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self.db = connect(archive / "finews.db")
        self.rows: list[dict] = []
        self.sources: list[dict] = []
        self.failures: list[dict] = []
        self.categories: set[str] = set()

    def fail(self, report: Report, key: str, path: str, reason: str) -> None:
        """A file not imported: a failure with its path, once (not again next run)."""
        if not self.recorded(path):
            report.failed[reason_kind(reason)] += 1
            self.add(Done(key=key, sources=[(path, "", key, "failed", reason)],
                          failures=[(path, reason)]))  # fmt: skip

    def recorded(self, path: str) -> bool:
        return bool(
            self.db.execute("SELECT 1 FROM import_sources WHERE path = ?", [path]).fetchone()
        )

    def stored(self, rows: list[dict]) -> bool:
        """The database already holds these rows' bodies: the current one last and
        each as a version (an import after ``make rebuild``, which does not keep
        ``import_sources``): upserting them again would add versions."""
        key = rows[-1]["info_code"]
        row = self.db.execute("SELECT content_sha256 FROM articles WHERE info_code = ?", [key])
        current = row.fetchone()
        if current is None or current[0] != rows[-1]["content_sha256"]:
            return False
        versions = {v for (v,) in self.db.execute(
            "SELECT content_sha256 FROM article_versions WHERE info_code = ?", [key])}  # fmt: skip
        return all(r["content_sha256"] in versions for r in rows)

    def add(self, done: Done) -> None:
        if done.rows and not self.stored(done.rows):
            self.rows += done.rows
        now = utc_now()
        for path, sha, key, status, reason in done.sources:
            self.sources.append(
                {"path": path, "sha256": sha, "info_code": key, "status": status, "reason": reason}
            )
        for path, reason in done.failures:
            self.failures.append(
                {"at": now, "stage": "import", "reason": reason, "url": "", "detail": path,
                 "info_code": done.key, "snapshot": "", "resolved_at": None}
            )  # fmt: skip
        if done.category and done.category[0] not in self.categories:
            self.categories.add(done.category[0])
            page = inside(self.archive, done.category[0])
            if not page.exists():  # a category page the crawl or an earlier import wrote stays
                atomic_write(page, done.category[1].encode(), durable=False)
        if len(self.rows) + len(self.sources) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not (self.rows or self.sources or self.failures):
            return
        sync_filesystem(self.archive)
        with self.db.atomic():
            # Failures first: upsert_articles resolves those of the rows it writes.
            if self.failures:
                self.db["failures"].insert_all(self.failures)
            if self.rows:
                upsert_articles(self.db, self.rows)
            if self.sources:
                self.db["import_sources"].upsert_all(self.sources, pk="path")
        self.rows, self.sources, self.failures = [], [], []

    def close(self) -> None:
        self.flush()
        self.db.close()


def _progress(out: TextIO, done: int, total: int, start: float) -> None:
    rate = done / max(time.monotonic() - start, 1e-9)
    eta = (total - done) / rate if rate > 0 else 0.0
    out.write(
        f"import: {done:,}/{total:,} files, {rate:,.0f} files/s, "
        f"ETA {int(eta) // 60}:{int(eta) % 60:02d}\n"
    )
    out.flush()


def run_import(src: Path, opts: Options, processes: int, out: TextIO = sys.stderr) -> Report:
    """Import ``src`` into ``opts.archive_dir``; returns the closing report."""
    start = time.monotonic()
    report = Report()
    writer = _Writer(Path(opts.archive_dir))
    try:
        plan, bad, report.files = find_jobs(src)
        for path, reason in bad:
            writer.fail(report, "", path, reason)
        seen = len(bad)
        crawled = crawled_first(writer.db, [key for key, _files, _related in plan])
        for key, relpaths, _related in plan:
            if key not in crawled:
                continue
            seen += len(relpaths)
            for path in relpaths:
                writer.fail(report, key, path, CRAWLED_FIRST)
        # (The NW article of such a code is linked to the flash by the 7×24 crawl.)
        plan = [(k, files, "" if r in crawled else r) for k, files, r in plan if k not in crawled]
        out.write(f"import: {report.files:,} files, {len(plan):,} articles in {src}\n")
        jobs = (_job(src, *entry) for entry in plan)
        last = time.monotonic()
        for done in _results(opts, jobs, processes):
            seen += done.files
            report.unchanged += done.unchanged
            report.imported += bool(done.rows)
            report.merged += len(done.rows) > 1
            for _path, reason in done.failures:
                report.failed[reason_kind(reason)] += 1
            writer.add(done)
            if time.monotonic() - last >= 2.0:
                _progress(out, min(seen, report.files), report.files, start)
                last = time.monotonic()
    finally:
        writer.close()
    report.seconds = time.monotonic() - start
    for line in report.lines():
        out.write(line + "\n")
    return report


class _Counts:
    """The stats object crawler.workers counts into (no crawler here)."""

    def __init__(self) -> None:
        self.values: Counter[str] = Counter()

    def inc_value(self, key: str, count: int = 1) -> None:
        self.values[key] += count


def _results(opts: Options, jobs: Iterator[Job], processes: int) -> Iterator[Done]:
    """The jobs' outcomes in order, CHUNK jobs a call to crawler.workers' worker
    processes, at most WINDOW jobs ahead. A worker that dies (killed, out of
    memory) hands its calls back to this process, which does them: nothing is
    lost and nothing waits for an answer that cannot come."""
    if processes <= 0:
        for job in jobs:
            yield import_job(opts, job)
        return
    loop = asyncio.new_event_loop()
    workers = Workers(processes, _Counts(), preload=("crawler.importer.work",))
    window: deque[asyncio.Task[list[Done]]] = deque()
    try:
        while chunk := list(itertools.islice(jobs, CHUNK)):
            window.append(loop.create_task(workers.run(import_jobs, opts, chunk)))
            if len(window) >= WINDOW // CHUNK:
                yield from loop.run_until_complete(window.popleft())
        while window:
            yield from loop.run_until_complete(window.popleft())
    finally:
        for task in window:
            task.cancel()
        workers.close()
        # Let the cancelled calls and the workers' readers finish before the loop goes.
        rest = asyncio.all_tasks(loop)
        loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
        loop.close()

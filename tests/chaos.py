"""`make chaos`: crawl a replica with every fault mode on, then check the archive against it.

    python -m tests.chaos --seed N --runs K --minutes M [--keep DIR] [--page-size 20]
        [--examples E]

Each round starts a replica with ``Faults.chaos(seed)`` (the first seed is random unless
given) (transient 5xx and 429 with
Retry-After, hangs, resets, truncated JSON, a captcha above a request rate, off-site
redirects, redirect loops, 20 MB answers, GBK pages, malformed list items), crawls it
into a fresh archive like cron would (up to K runs, stopping early once nothing is
left to fetch) and compares the archive with the replica's ground truth
(:func:`compare`). Rounds continue with seed N+1, N+2, … until M minutes have passed
(at least one round). A table of the rounds is printed; the exit code is 1 if any
article was lost (a servable article not archived exactly once with its text, an
unservable one not recorded as a failure, a captcha page in the archive, a damaged
database), else 0.

With ``--examples E`` the property tests of hostile content and the parser fuzzing
(``tests/test_hostile.py``, ``tests/test_fuzz_parsers.py``) also run, with E examples each
and random seeds (the suite runs them with fixed seeds and fewer examples).

The same comparison backs ``tests/test_faults.py::test_chaos_archive_matches_ground_truth``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.crawlrun import ROOT, run_crawl
from tests.replica.faults import BAD_ITEMS, Faults
from tests.replica.server import Replica

#: Crawl settings of a chaos run: fast (loopback), cron-like (failed articles are
#: tried again on the very next run). Fewer retries than faults in a row
#: (CHAOS_STREAK): some requests fail for good within a run, and a later run
#: must pick their articles up.
CHAOS_SETTINGS: dict[str, str] = {
    "FINEWS_PAGE_SIZE": "20",
    "RETRY_TIMES": "2",
    "DOWNLOAD_TIMEOUT": "2",
    "FINEWS_BACKOFF_BASE": "0.1",
    "FINEWS_BACKOFF_MAX": "2",
    "FINEWS_BACKOFF_RECOVER": "4",
    "FINEWS_FAILURE_RETRY_HOURS": "0",
    "FINEWS_FAILURE_MAX_TRIES": "20",
}
#: Transient faults in a row a request may meet (Faults.max_streak) in a chaos run.
CHAOS_STREAK = 4
#: Text that must never reach a post or a row (it is only on block pages).
BLOCK_TEXT = ("滑块验证", "请按住滑块")


@dataclass
class Comparison:
    """The archive against the replica's ground truth. ``lost`` must be 0."""

    servable: int = 0
    unservable: int = 0
    archived: int = 0  # servable articles archived once with the right text
    failed: int = 0  # unservable articles recorded in failures
    missing: list[str] = field(default_factory=list)  # servable, not archived
    wrong_text: list[str] = field(default_factory=list)  # archived with other text
    unexpected: list[str] = field(default_factory=list)  # archived, but not servable
    unrecorded: list[str] = field(default_factory=list)  # unservable, no failure row
    leaked: list[str] = field(default_factory=list)  # block-page text in the archive
    bad_items_recorded: int = 0  # kinds of malformed list items with a failure row
    integrity: str = ""
    posts: int = 0
    rows: int = 0
    snapshots: int = 0

    @property
    def lost(self) -> int:
        problems = self.missing + self.wrong_text + self.unexpected + self.unrecorded
        problems += self.leaked
        if self.integrity != "ok":
            problems.append(f"integrity_check: {self.integrity}")
        if not self.posts == self.rows == self.snapshots:
            problems.append(f"posts {self.posts}, rows {self.rows}, snapshots {self.snapshots}")
        return len(problems)

    @property
    def settled(self) -> bool:
        """Nothing left that another run could still fix."""
        return not self.missing and not self.unrecorded


def compare(archive: Path, replica: Replica, columns: set[int] | None = None) -> Comparison:
    """Check ``archive`` against what ``replica`` can serve (see :class:`Comparison`).

    ``columns``: only the articles listed in these columns were crawled.
    """
    truth = replica.ground_truth()
    if columns is not None:
        truth = {k: v for k, v in truth.items() if set(v["columns"]) & columns}
    result = Comparison()
    db = sqlite3.connect(archive / "finews.db")
    try:
        result.integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        rows = dict(db.execute("SELECT info_code, body_text FROM articles").fetchall())
        failed = {r[0] for r in db.execute("SELECT DISTINCT info_code FROM failures")}
        list_reasons = [r[0] for r in db.execute("SELECT reason FROM failures WHERE stage='list'")]
        for row in db.execute("SELECT title, summary, body_markdown, body_text FROM articles"):
            if any(marker in (value or "") for value in row for marker in BLOCK_TEXT):
                result.leaked.append(f"row: {row[0][:40]}")
    finally:
        db.close()
    for info_code, fact in sorted(truth.items()):
        if fact["servable"]:
            result.servable += 1
            if info_code not in rows:
                result.missing.append(f"{info_code} {fact['name']}")
            elif rows[info_code] != fact["expected_text"]:
                result.wrong_text.append(f"{info_code} {fact['name']}")
            else:
                result.archived += 1
        else:
            result.unservable += 1
            if info_code in rows:
                result.unexpected.append(f"{info_code} {fact['name']}")
            elif info_code in failed:
                result.failed += 1
            else:
                result.unrecorded.append(f"{info_code} {fact['name']}")
    result.unexpected += sorted(c for c in rows if c not in truth)
    reasons = {reason for _, reason in BAD_ITEMS}
    result.bad_items_recorded = sum(any(r in got for got in list_reasons) for r in reasons)
    posts = [*archive.glob("_posts/**/*.md"), *archive.glob("old_post/**/*.md")]
    result.posts = len(posts)
    result.rows = len(rows)
    result.snapshots = len(list(archive.glob("raw/articles/**/*.warc.gz")))
    for post in posts:
        text = post.read_text(encoding="utf-8")
        if any(marker in text for marker in BLOCK_TEXT):
            result.leaked.append(post.name)
    return result


def run_stats(archive: Path) -> list[dict[str, Any]]:
    """The Scrapy stats of every run recorded in the archive, oldest first."""
    db = sqlite3.connect(archive / "finews.db")
    try:
        return [
            json.loads(s or "{}")
            for (s,) in db.execute("SELECT stats FROM crawl_runs ORDER BY id").fetchall()
        ]
    finally:
        db.close()


def crawl_until_settled(
    archive: Path, replica: Replica, runs: int, settings: dict[str, str] | None = None
) -> tuple[Comparison, list[int]]:
    """Crawl like cron, up to ``runs`` times, stopping once the archive is settled."""
    merged = {**CHAOS_SETTINGS, **(settings or {})}
    exits: list[int] = []
    result = Comparison()
    for _ in range(runs):
        # Tracebacks are allowed: Scrapy logs some download errors with one.
        done = run_crawl(
            archive, replica.url, settings=merged, expect_exit=None, allow_traceback=True
        )
        exits.append(done.returncode)
        result = compare(archive, replica)
        if result.settled:
            break
    return result, exits


@dataclass
class Round:
    seed: int
    runs: int
    exits: list[int]
    faults: Counter[str]
    retries: int
    blocked: int
    result: Comparison
    seconds: float


def chaos_round(
    seed: int, runs: int, workdir: Path, faults: Faults | None = None, **settings: str
) -> Round:
    """One replica with every fault on, crawled into a fresh archive under ``workdir``."""
    archive = workdir / f"seed{seed}" / "archive"
    started = time.monotonic()
    faults = faults or Faults.chaos(seed, hang_seconds=3.0, max_streak=CHAOS_STREAK)
    with Replica(faults=faults) as replica:
        result, exits = crawl_until_settled(archive, replica, runs, settings)
        counts = Counter(replica.fault_counts())
    stats = run_stats(archive)
    return Round(
        seed=seed,
        runs=len(exits),
        exits=exits,
        faults=counts,
        retries=sum(int(s.get("retry/count", 0)) for s in stats),
        blocked=sum(int(s.get("finews/blocked", 0)) for s in stats),
        result=result,
        seconds=time.monotonic() - started,
    )


FAULT_ORDER = (
    "500",
    "502",
    "503",
    "429",
    "hang",
    "reset",
    "truncate",
    "captcha",
    "offsite",
    "loop",
    "oversize",
    "gbk",
    "bad_items",
)


def table(rounds: list[Round]) -> str:
    """The campaign as Markdown tables: rounds, then faults injected by kind."""
    lines = [
        "| seed | runs | exit codes | faults | retries | blocked | archived | failed | lost | s |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    total = Counter[str]()
    for r in rounds:
        total.update(r.faults)
        res = r.result
        lines.append(
            f"| {r.seed} | {r.runs} | {','.join(map(str, r.exits))} | {sum(r.faults.values())} "
            f"| {r.retries} | {r.blocked} | {res.archived}/{res.servable} "
            f"| {res.failed}/{res.unservable} | {res.lost} | {r.seconds:.0f} |"
        )
    res_all = [r.result for r in rounds]
    lines.append(
        f"| **all** | {sum(r.runs for r in rounds)} | | {sum(total.values())} "
        f"| {sum(r.retries for r in rounds)} | {sum(r.blocked for r in rounds)} "
        f"| {sum(x.archived for x in res_all)}/{sum(x.servable for x in res_all)} "
        f"| {sum(x.failed for x in res_all)}/{sum(x.unservable for x in res_all)} "
        f"| {sum(x.lost for x in res_all)} | {sum(r.seconds for r in rounds):.0f} |"
    )
    kinds = [k for k in FAULT_ORDER if k in total] + sorted(set(total) - set(FAULT_ORDER))
    lines += ["", "| fault | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
    lines.append("| injected | " + " | ".join(str(total[k]) for k in kinds) + " |")
    return "\n".join(lines)


def details(rounds: list[Round]) -> str:
    """What was lost, per round (empty when nothing was)."""
    out = []
    for r in rounds:
        res = r.result
        for name in ("missing", "wrong_text", "unexpected", "unrecorded", "leaked"):
            if getattr(res, name):
                out.append(f"seed {r.seed}: {name}: {', '.join(getattr(res, name))}")
        if res.integrity != "ok" or not res.posts == res.rows == res.snapshots:
            out.append(
                f"seed {r.seed}: integrity {res.integrity}, posts {res.posts}, "
                f"rows {res.rows}, snapshots {res.snapshots}"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seed", type=int, default=None, help="seed of the first round (random)")
    ap.add_argument("--runs", type=int, default=4, help="crawl runs per round (like cron)")
    ap.add_argument("--minutes", type=float, default=5.0, help="keep starting rounds this long")
    ap.add_argument("--keep", default="", help="keep the archives in this directory")
    ap.add_argument("--page-size", default="20", help="FINEWS_PAGE_SIZE of the crawls")
    ap.add_argument(
        "--examples", type=int, default=0, help="also run the property tests with this many"
    )
    args = ap.parse_args(argv)
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="finews-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.minutes * 60
    rounds: list[Round] = []
    seed = args.seed if args.seed is not None else random.randrange(1, 1_000_000)
    print(f"chaos campaign from seed {seed}", file=sys.stderr, flush=True)
    try:
        while not rounds or time.monotonic() < deadline:
            r = chaos_round(seed, args.runs, workdir, FINEWS_PAGE_SIZE=args.page_size)
            rounds.append(r)
            print(
                f"seed {seed}: {r.runs} runs, exits {r.exits}, lost {r.result.lost}, "
                f"{r.seconds:.0f}s",
                file=sys.stderr,
                flush=True,
            )
            seed += 1
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(rounds))
    lost = details(rounds)
    if lost:
        print("\nLOST:\n" + lost)
    properties_ok = True
    if args.examples:
        properties_ok = property_tests(args.examples)
    return 1 if any(r.result.lost for r in rounds) or not properties_ok else 0


def property_tests(examples: int) -> bool:
    """The hostile-content and parser-fuzzing property tests, ``examples`` each, random seeds."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    cmd += ["tests/test_hostile.py", "tests/test_fuzz_parsers.py"]
    env = {**os.environ, "FINEWS_EXAMPLES": str(examples)}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    print(f"\nproperty tests, {examples} examples each: {summary}")
    if done.returncode != 0:
        print(done.stdout[-8000:])
    return done.returncode == 0


if __name__ == "__main__":
    sys.exit(main())

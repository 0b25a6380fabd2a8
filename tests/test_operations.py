"""Cron and backfill operations against the replica: incremental runs, refresh
and versions, backfill windows, the lock, crashes, rebuild, exit codes."""

from __future__ import annotations

import copy
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.crawlrun import ROOT, run_crawl
from tests.replica.server import Replica

SMALL = {"FINEWS_PAGE_SIZE": "20"}


def servable(replica: Replica) -> set[str]:
    return {
        "NW" + a["code"]
        for a in replica.articles
        if a["np_dst"] != "CFH" and (a["page"] != "404" or a["choice"] == "ok")
    }


def archived(archive: Path) -> set[str]:
    db = sqlite3.connect(archive / "finews.db")
    try:
        return {r[0] for r in db.execute("SELECT info_code FROM articles")}
    finally:
        db.close()


def last_run(archive: Path) -> dict:
    db = sqlite3.connect(archive / "finews.db")
    db.row_factory = sqlite3.Row
    try:
        return dict(db.execute("SELECT * FROM crawl_runs ORDER BY id DESC LIMIT 1").fetchone())
    finally:
        db.close()


def new_article(replica: Replica, code: str, show_time: str) -> dict:
    article = copy.deepcopy(replica.article(replica.articles[-1]["code"]))
    article.update(code=code, showTime=show_time, title=f"新发布的文章 {code[-4:]}", name=code)
    return article


def test_cron_loop_archives_new_articles_once(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Replica() as replica:
        run_crawl(archive, replica.url, settings=SMALL, expect_exit=5)
        assert archived(archive) == servable(replica)
        for n in range(3):
            code = f"2026112400000000{n:02d}"
            replica.add_article(new_article(replica, code, f"2026-11-24 0{n}:00:00"))
            replica.reset_log()
            run_crawl(archive, replica.url, settings=SMALL)
            requests = [r for r in replica.requests() if r["path"] != "/robots.txt"]
            lists = sorted(
                (r["query"]["column"], r["query"]["page_index"])
                for r in requests
                if r["path"] == "/comm/web/getNewsByColumns"
            )
            # One list page per column; column 350's first page held something
            # new, so its second page is read too (it holds only known ones).
            assert lists == sorted(
                [("344", "1"), ("345", "1"), ("350", "1"), ("350", "2"), ("351", "1"), ("353", "1")]
            )
            others = [r["path"] for r in requests if r["path"] != "/comm/web/getNewsByColumns"]
            assert others == [f"/a/{code}.html"]
            assert last_run(archive)["archived"] == 1
        assert archived(archive) == servable(replica)


def test_refresh_picks_up_an_edit_as_a_new_version(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Replica() as replica:
        run_crawl(archive, replica.url, settings=SMALL, expect_exit=5)
        posts = {p: p.read_bytes() for p in (archive / "_posts").rglob("*.md")}
        mtimes = {p: p.stat().st_mtime_ns for p in posts}
        edited = replica.article(
            next(a["code"] for a in replica.articles if a["name"] == "current_basic")
        )
        first_line = edited["expected_text"].splitlines()[0]
        edited["body_html"] = edited["body_html"].replace(
            first_line, first_line + "（更正：数据已更新）"
        )
        replica.reset_log()
        # FINEWS_REFRESH_EVERY=0: everything first seen in the last 48 h is due.
        run_crawl(archive, replica.url, settings={**SMALL, "FINEWS_REFRESH_EVERY": "0"})
        fetched = {r["path"] for r in replica.requests()}
        assert f"/a/{edited['code']}.html" in fetched
        db = sqlite3.connect(archive / "finews.db")
        versions = db.execute(
            "SELECT info_code, version FROM article_versions WHERE version > 1"
        ).fetchall()
        assert versions == [("NW" + edited["code"], 2)]
        (text,) = db.execute(
            "SELECT body_text FROM articles WHERE info_code = ?", ["NW" + edited["code"]]
        ).fetchone()
        assert "（更正：数据已更新）" in text
        (old,) = db.execute(
            "SELECT body_markdown FROM article_versions WHERE info_code = ? AND version = 1",
            ["NW" + edited["code"]],
        ).fetchone()
        assert "更正" not in old
        changed = [p for p in posts if p.read_bytes() != posts[p]]
        assert [p.name for p in changed] == [f"{edited['showTime'][:10]}-NW{edited['code']}.md"]
        untouched = [p for p in posts if p not in changed]
        assert all(p.stat().st_mtime_ns == mtimes[p] for p in untouched)
        # The snapshot keeps both fetches.
        (snapshot,) = db.execute(
            "SELECT snapshot FROM articles WHERE info_code = ?", ["NW" + edited["code"]]
        ).fetchone()
        from crawler.spiders.rebuild import versions_in

        assert len(list(versions_in(archive / snapshot))) == 2
        # Refreshed within FINEWS_REFRESH_EVERY: the next run fetches no article.
        replica.reset_log()
        run_crawl(archive, replica.url, settings=SMALL)
        assert {r["path"] for r in replica.requests()} <= {
            "/robots.txt",
            "/comm/web/getNewsByColumns",
        }


def test_backfill_archives_only_the_window(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Replica() as replica:
        result = run_crawl(
            archive,
            replica.url,
            args={"since": "2026-11-18", "until": "2026-11-19"},
            settings=SMALL,
            expect_exit=None,
        )
        window = {
            "NW" + a["code"]
            for a in replica.articles
            if "2026-11-18" <= a["showTime"][:10] <= "2026-11-19"
        } & servable(replica)
        assert window and archived(archive) == window
        assert "backfill column 350 page 1: reached" in result.stderr
        assert "backfill done (finished)" in result.stderr
        # Skips what is archived: a second backfill fetches no article.
        replica.reset_log()
        run_crawl(
            archive,
            replica.url,
            args={"since": "2026-11-18", "until": "2026-11-19"},
            settings=SMALL,
            expect_exit=None,
        )
        assert not [r for r in replica.requests() if r["path"].startswith("/a/")]


def test_second_run_exits_at_once_while_the_archive_is_locked(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from crawler.runlock import ArchiveLock;"
            "ArchiveLock(Path(sys.argv[1])).acquire('test holder'); print('held', flush=True);"
            "time.sleep(120)",
            str(archive),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with Replica() as replica:
            started = time.monotonic()
            result = run_crawl(archive, replica.url, expect_exit=75)
            assert time.monotonic() - started < 30
            assert "locked by another finews run (pid" in result.stderr
            assert not replica.requests()
            # A lock left by a killed run does not block the next one.
            holder.send_signal(signal.SIGKILL)
            holder.wait()
            run_crawl(archive, replica.url, settings=SMALL, expect_exit=5)
            assert archived(archive) == servable(replica)
    finally:
        holder.kill()


def test_sigkill_at_random_moments_then_rerun_loses_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    rng = random.Random(20261124)
    slow = {**SMALL, "DOWNLOAD_DELAY": "0.03", "CONCURRENT_REQUESTS_PER_DOMAIN": "1"}
    from tests.crawlrun import crawl_command

    log = archive / "logs" / "finews.log"

    def opened() -> int:
        return log.read_text(encoding="utf-8").count("Spider opened") if log.exists() else 0

    with Replica() as replica:
        for _ in range(5):
            before = opened()
            proc = subprocess.Popen(
                crawl_command(archive, replica.url, settings=slow),
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            # Kill at a random moment of the crawl itself, not of Python's start-up.
            deadline = time.monotonic() + 60
            while opened() == before and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 2.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        # The upstream gains an article meanwhile.
        replica.add_article(new_article(replica, "202611240000009999", "2026-11-24 09:00:00"))
        run_crawl(archive, replica.url, settings=SMALL, expect_exit=None)
        run_crawl(archive, replica.url, settings=SMALL, expect_exit=None)
        assert archived(archive) == servable(replica)
    db = sqlite3.connect(archive / "finews.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = db.execute("SELECT post_path, snapshot FROM articles").fetchall()
    posts = sorted(p.relative_to(archive).as_posix() for p in (archive / "_posts").rglob("*.md"))
    assert posts == sorted(r[0] for r in rows)
    snapshots = sorted(
        p.relative_to(archive).as_posix() for p in (archive / "raw" / "articles").rglob("*.warc.gz")
    )
    assert snapshots == sorted(r[1] for r in rows)
    for post in posts:  # no half-written post: each parses
        text = (archive / post).read_text(encoding="utf-8")
        assert yaml.safe_load(text.split("\n---\n", 1)[0][4:])["info_code"] in post
    statuses = [r[0] for r in db.execute("SELECT status FROM crawl_runs ORDER BY id")]
    assert "running" not in statuses and "killed" in statuses


def test_rebuild_reproduces_posts_and_rows(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Replica() as replica:
        run_crawl(archive, replica.url, settings=SMALL, expect_exit=5)
        edited = next(a for a in replica.articles if a["name"] == "two_columns")
        first_line = edited["expected_text"].splitlines()[0]
        edited["body_html"] = edited["body_html"].replace(first_line, first_line + "（补充）")
        run_crawl(archive, replica.url, settings={**SMALL, "FINEWS_REFRESH_EVERY": "0"})
    posts = {p: p.read_bytes() for p in (archive / "_posts").rglob("*.md")}
    cols = "info_code, title, published_at, columns, body_markdown, body_text, stocks, post_path, snapshot, content_sha256"
    db = sqlite3.connect(archive / "finews.db")
    before = db.execute(f"SELECT {cols} FROM articles ORDER BY info_code").fetchall()
    versions = db.execute(
        "SELECT info_code, version, content_sha256 FROM article_versions ORDER BY 1, 2"
    ).fetchall()
    runs = db.execute("SELECT count(*) FROM crawl_runs").fetchone()
    db.close()
    for post in posts:
        post.unlink()
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "scrapy"),
            "rebuild",
            "-s",
            f"FINEWS_ARCHIVE_DIR={archive}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "FINEWS_UPSTREAM": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p: p.read_bytes() for p in (archive / "_posts").rglob("*.md")} == posts
    db = sqlite3.connect(archive / "finews.db")
    assert db.execute(f"SELECT {cols} FROM articles ORDER BY info_code").fetchall() == before
    assert (
        db.execute(
            "SELECT info_code, version, content_sha256 FROM article_versions ORDER BY 1, 2"
        ).fetchall()
        == versions
    )
    # The history is kept, and the rebuild's own run row after it.
    assert db.execute("SELECT count(*) FROM crawl_runs").fetchone() == (runs[0] + 1,)
    assert db.execute(
        "SELECT spider, status FROM crawl_runs ORDER BY id DESC LIMIT 1"
    ).fetchone() == ("rebuild", "ok")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert [p.name[:15] for p in (archive / "_backups").iterdir()] == ["finews.db.0001."]


def test_unreachable_upstream_exit_code(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    archive = tmp_path / "archive"
    result = run_crawl(
        archive,
        f"http://127.0.0.1:{port}",
        settings={"RETRY_TIMES": "0"},
        expect_exit=3,
        allow_traceback=True,  # Scrapy logs the robots.txt download error with its traceback
    )
    assert "unreachable" in result.stderr
    status = json.loads((archive / "status.json").read_text())
    assert status["last_run"]["status"] == "unreachable" and status["last_success"] is None


def test_blocked_upstream_exit_code_and_status(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Replica() as replica:
        run_crawl(archive, replica.url, settings=SMALL, expect_exit=5)
        replica.refuse_json = True  # every list answer is {"code":0,"message":"非法请求"}
        result = run_crawl(archive, replica.url, settings=SMALL, expect_exit=4)
    assert "非法请求" in result.stderr
    status = json.loads((archive / "status.json").read_text())
    assert status["last_run"]["status"] == "blocked" and status["last_run"]["exit_code"] == 4
    assert status["last_success"] is None  # the first run was partial
    db = sqlite3.connect(archive / "finews.db")
    assert db.execute("SELECT count(*) FROM failures WHERE stage = 'list'").fetchone()[0] == 5
    log = (archive / "logs" / "finews.log").read_text(encoding="utf-8")
    assert "finews run 2: blocked (exit 4)" in log


@pytest.mark.parametrize("quiet", [True, False])
def test_quiet_runs_print_nothing_on_success(tmp_path: Path, quiet: bool) -> None:
    archive = tmp_path / "archive"
    with Replica() as replica:
        run_crawl(archive, replica.url, settings=SMALL, expect_exit=5)
        result = run_crawl(archive, replica.url, settings={**SMALL, "FINEWS_QUIET": str(quiet)})
    assert (result.stderr.strip() == "") is quiet


def test_rotation_moves_old_posts_and_keeps_rows(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from crawler.rotation import cutoff_day

    archive = tmp_path / "archive"
    with Replica() as replica:
        run_crawl(archive, replica.url, settings=SMALL, expect_exit=5)
        # Keep as many days as reach back to 2026-11-21: older posts move.
        today = (datetime.now(UTC)).date()
        keep = (today - datetime(2026, 11, 21).date()).days + 1
        cutoff = cutoff_day(keep)
        run_crawl(archive, replica.url, settings={**SMALL, "FINEWS_POSTS_KEEP_DAYS": str(keep)})
    db = sqlite3.connect(archive / "finews.db")
    rows = db.execute("SELECT published_at, post_path FROM articles").fetchall()
    assert len(rows) == len(servable(replica))
    assert {p.split("/")[0] for _, p in rows} == {"_posts", "old_post"}
    for published, post_path in rows:
        assert post_path.startswith("old_post/" if published[:10] < cutoff else "_posts/")
        assert (archive / post_path).exists()
    assert (archive / "_config.yml").read_text().count("old_post") >= 1  # Jekyll excludes it

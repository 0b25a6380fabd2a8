"""The archive is never lost (issue 19), tried as an attacker would, with real
crawls against the replica: kill -9 during rebuild, rebuild while a crawl
runs, truncated and cut WARCs, a lost database, corrupt database pages,
commits while a slow run runs, answers nested too deep, bodies that clean to
nothing, a media that changes. Disk full: tests/test_disk_full.py."""

from __future__ import annotations

import copy
import json
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from tests.crawlrun import ROOT, crawl_command, run_crawl
from tests.replica.server import Replica

SMALL = {"FINEWS_PAGE_SIZE": "20"}
SCRAPY = str(Path(sys.executable).parent / "scrapy")


def rebuild_command(archive: Path) -> list[str]:
    return [SCRAPY, "rebuild", "-s", f"FINEWS_ARCHIVE_DIR={archive}", "-s", "LOG_LEVEL=INFO"]


def rebuild(archive: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        rebuild_command(archive), cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def check(archive: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SCRAPY, "check-archive", "-s", f"FINEWS_ARCHIVE_DIR={archive}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def query(archive: Path, sql: str, args: tuple = ()) -> list[tuple]:
    db = sqlite3.connect(f"file:{archive / 'finews.db'}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def state(archive: Path) -> dict[str, list[tuple]]:
    """What a rebuild must never lose: the rows and the history."""
    return {
        "articles": query(
            archive, "SELECT info_code, content_sha256, post_path FROM articles ORDER BY 1"
        ),
        "crawl_runs": query(archive, "SELECT id, spider, started_at FROM crawl_runs ORDER BY 1"),
        "failures": query(archive, "SELECT id, info_code, reason FROM failures ORDER BY 1"),
        "column_state": query(archive, "SELECT column_id, reached FROM column_state ORDER BY 1"),
    }


def crawled(tmp_path: Path, replica: Replica) -> Path:
    archive = tmp_path / "archive"
    run_crawl(archive, replica.url, settings=SMALL, expect_exit=5)
    return archive


def article_snapshots(archive: Path) -> list[Path]:
    return sorted((archive / "raw" / "articles").rglob("*.warc.gz"))


def first_member(data: bytes) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    d.decompress(data)
    return data[: len(data) - len(d.unused_data)]


def test_rebuild_killed_at_any_moment_leaves_a_whole_database(tmp_path: Path) -> None:
    with Replica() as replica:
        archive = crawled(tmp_path, replica)
    before = state(archive)
    started = time.monotonic()
    done = rebuild(archive)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    rng = random.Random(19)
    moments = [rng.uniform(0.2, took) for _ in range(5)] + ["Closing spider", "Spider opened"]
    for moment in moments:
        proc = subprocess.Popen(
            rebuild_command(archive),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if isinstance(moment, str):
            for line in proc.stderr:  # kill the moment the log says so
                if moment in line:
                    break
        else:
            time.sleep(moment)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        assert query(archive, "PRAGMA integrity_check") == [("ok",)], moment
        now = state(archive)
        assert now["articles"] == before["articles"], moment
        assert now["column_state"] == before["column_state"], moment
        for table in ("crawl_runs", "failures"):  # the history, and maybe a rebuild's rows
            assert set(before[table]) <= set(now[table]), (moment, table)
    # A whole rebuild after all that: the history kept, the backups numbered,
    # none overwritten, FINEWS_REBUILD_BACKUPS (5) kept.
    done = rebuild(archive)
    assert done.returncode == 0, done.stderr[-3000:]
    after = state(archive)
    assert after["articles"] == before["articles"]
    assert set(before["crawl_runs"]) < set(after["crawl_runs"])
    backups = sorted(p.name for p in (archive / "_backups").iterdir())
    numbers = [int(name.split(".")[2]) for name in backups]
    assert len(backups) == 5 and numbers == sorted(set(numbers)) and numbers[-1] >= 7
    assert not list(archive.glob(".finews.db.rebuild*"))


def test_rebuild_while_a_crawl_runs_changes_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    slow = {**SMALL, "DOWNLOAD_DELAY": "0.5", "CONCURRENT_REQUESTS_PER_DOMAIN": "1"}
    log = archive / "logs" / "finews.log"
    with Replica() as replica:
        proc = subprocess.Popen(
            crawl_command(archive, replica.url, settings=slow),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if log.exists() and "Spider opened" in log.read_text("utf-8"):
                break
            time.sleep(0.05)
        done = rebuild(archive)
        assert proc.poll() is None, "the crawl ended before the rebuild was tried"
        assert proc.wait(timeout=240) == 5
        listed = {
            "NW" + a["code"]
            for a in replica.articles
            if a["np_dst"] != "CFH" and (a["page"] != "404" or a["choice"] == "ok")
        }
    assert {r[0] for r in query(archive, "SELECT info_code FROM articles")} == listed
    assert not list(archive.glob("finews.db.*")) and not (archive / "_backups").exists()
    assert done.returncode == 75, done.stderr[-2000:]
    assert "locked" in done.stderr and "nothing was changed" in done.stderr


def test_damaged_snapshots_are_found_and_never_rebuilt_from(tmp_path: Path) -> None:
    with Replica() as replica:
        archive = crawled(tmp_path, replica)
    before = state(archive)
    assert check(archive).returncode == 0
    files = article_snapshots(archive)
    truncated, cut_meta, no_response = files[0], files[1], files[2]
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) - 60])  # cut mid-response
    cut_meta.write_bytes(cut_meta.read_bytes()[:40])  # cut inside the metadata record
    no_response.write_bytes(first_member(no_response.read_bytes()))  # its response gone
    a_list = sorted((archive / "raw" / "lists").rglob("*.warc.gz"))[0]
    a_list.write_bytes(a_list.read_bytes()[:-30])
    planted = [truncated, cut_meta, no_response, a_list]
    posts = {p: p.read_bytes() for p in (archive / "_posts").rglob("*.md")}

    found = check(archive)
    assert found.returncode == 1
    for path in planted:
        assert path.relative_to(archive).as_posix() in found.stdout, found.stdout
    assert "damaged snapshot files (4)" in found.stdout
    assert "rows without snapshots (3)" in found.stdout

    refused = rebuild(archive)
    assert refused.returncode == 1
    assert "rebuild refused" in refused.stderr and "would replace good rows" in refused.stderr
    for path in planted[:3]:
        assert path.relative_to(archive).as_posix() in refused.stderr
    assert state(archive) == before  # the old database, whole and untouched
    assert {p: p.read_bytes() for p in posts} == posts

    # Rows that were never there (nothing good to replace): the rebuild goes
    # on, keeps its own failure rows naming the files, and still exits 1.
    db = sqlite3.connect(archive / "finews.db")
    with db:
        codes = [p.name.removesuffix(".warc.gz") for p in planted[:3]]
        db.execute(f"DELETE FROM articles WHERE info_code IN ({','.join('?' * 3)})", codes)
    db.close()
    done = rebuild(archive)
    assert done.returncode == 1 and "3 damaged snapshots" in done.stderr, done.stderr[-2000:]
    rows = query(archive, "SELECT info_code, detail FROM failures WHERE stage = 'rebuild'")
    assert sorted(rows) == sorted(
        (p.name.removesuffix(".warc.gz"), p.relative_to(archive).as_posix()) for p in planted[:3]
    )
    assert set(before["failures"]) <= set(state(archive)["failures"])


def test_refresh_moves_a_damaged_snapshot_aside_and_a_lost_database_rewrites_nothing(
    tmp_path: Path,
) -> None:
    with Replica() as replica:
        archive = crawled(tmp_path, replica)
        edited = next(a for a in replica.articles if a["name"] == "two_columns")
        first_line = edited["expected_text"].splitlines()[0]
        edited["body_html"] = edited["body_html"].replace(first_line, first_line + "（补充）")
        snapshot = next(p for p in article_snapshots(archive) if edited["code"] in p.name)
        cut = snapshot.read_bytes()[:-60]
        snapshot.write_bytes(cut)
        run_crawl(archive, replica.url, settings={**SMALL, "FINEWS_REFRESH_EVERY": "0"})
        (kept,) = [p for p in (archive / "raw" / "damaged").rglob("*") if p.is_file()]
        assert kept.read_bytes() == cut
        ((reason,),) = query(
            archive,
            "SELECT reason FROM failures WHERE stage = 'snapshot' AND info_code = ?",
            ("NW" + edited["code"],),
        )
        assert kept.relative_to(archive).as_posix() in reason
        ((text,),) = query(
            archive, "SELECT body_text FROM articles WHERE info_code = ?", ("NW" + edited["code"],)
        )
        assert "（补充）" in text
        report = check(archive)
        assert report.returncode == 0, report.stdout
        assert "kept in raw/damaged/" in report.stdout

        # The database is lost (a killed rebuild did that before): the next
        # crawl fetches everything again and appends; no snapshot is rewritten.
        snapshots = {p: p.read_bytes() for p in article_snapshots(archive)}
        for name in ("finews.db", "finews.db-wal", "finews.db-shm"):
            (archive / name).unlink(missing_ok=True)
        result = run_crawl(archive, replica.url, settings=SMALL, expect_exit=5)
        for path, old in snapshots.items():
            assert path.read_bytes().startswith(old) and len(path.read_bytes()) > len(old)
        assert f"repaired {len(snapshots)} articles on disk" in result.stderr


def test_corrupt_database_pages_fail_the_run(tmp_path: Path) -> None:
    with Replica() as replica:
        archive = crawled(tmp_path, replica)
        db = archive / "finews.db"
        con = sqlite3.connect(db)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        assert db.stat().st_size > 8192 + 4096
        with db.open("r+b") as fh:
            fh.seek(8192)
            fh.write(random.Random(8192).randbytes(4096))
        replica.reset_log()
        result = run_crawl(archive, replica.url, settings=SMALL, expect_exit=1)
        assert "quick check" in result.stderr or "unusable" in result.stderr
        ours = [line for line in result.stderr.splitlines() if line.startswith("finews:")]
        assert len(ours) == 1 and "Traceback" not in result.stderr, result.stderr
        status = json.loads((archive / "status.json").read_text("utf-8"))
        assert status["last_run"]["status"] == "failed"
        assert "finews.db" in status["last_run"]["reasons"]
        assert not [r for r in replica.requests() if r["path"].startswith("/a/")]


def test_rows_are_committed_while_a_slow_run_runs(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    slow = {
        **SMALL,
        "DOWNLOAD_DELAY": "0.25",
        "CONCURRENT_REQUESTS_PER_DOMAIN": "1",
        "FINEWS_DB_COMMIT_SECONDS": "0.5",
    }
    with Replica() as replica:
        proc = subprocess.Popen(
            crawl_command(archive, replica.url, settings=slow),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        seen, log = 0, archive / "logs" / "finews.log"
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if log.exists() and "Closing spider" in log.read_text("utf-8"):
                break  # too late: the end of a run commits what is left anyway
            if (archive / "finews.db").exists():
                try:
                    seen = query(archive, "SELECT count(*) FROM articles")[0][0]
                except sqlite3.OperationalError:
                    seen = 0
                if seen:
                    break
            time.sleep(0.1)
        closing = log.exists() and "Closing spider" in log.read_text("utf-8")
        running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # Rows while the run still crawls, fewer than FINEWS_DB_BATCH (100) of them.
    assert running and not closing and 0 < seen < 100


class DeepJson(BaseHTTPRequestHandler):
    """Answers every list request with JSON nested 100,000 deep."""

    def do_GET(self) -> None:  # noqa: N802
        body = (b"[" * 100_000 + b"]" * 100_000) if "getNewsByColumns" in self.path else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_list_answer_nested_too_deep_is_unusable_not_unreachable(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), DeepJson)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    archive = tmp_path / "archive"
    try:
        result = run_crawl(
            archive,
            f"http://127.0.0.1:{server.server_address[1]}",
            settings={**SMALL, "FINEWS_COLUMNS": "350"},
            expect_exit=None,
        )
    finally:
        server.shutdown()
    assert result.returncode == 4, result.stderr[-2000:]  # blocked: unusable list answers
    assert "RecursionError" not in result.stderr
    rows = query(archive, "SELECT stage, reason, snapshot FROM failures")
    assert rows and all(s == "list" and "too deep" in r and snap for s, r, snap in rows)
    assert (archive / rows[0][2]).stat().st_size > 0


def test_bodies_that_clean_to_nothing_and_duplicates_are_counted(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Replica() as replica:
        base = replica.article(next(a["code"] for a in replica.articles if a["name"] == "table"))
        for n, body in enumerate(["<!--", '<p><img src="/a.png"></p>']):
            article = copy.deepcopy(base)
            code = f"20261124000000{n:04d}"
            article.update(code=code, name=code, showTime="2026-11-24 09:00:00", body_html=body)
            article.update(choice="empty")
            replica.add_article(article)
        replica.add_article(copy.deepcopy(base))  # the same code listed twice on a page
        for _ in range(2):  # and again on the retry: never "failed"
            result = run_crawl(
                archive,
                replica.url,
                settings={**SMALL, "FINEWS_FAILURE_RETRY_HOURS": "0"},
                expect_exit=None,
            )
            assert result.returncode in (0, 5), result.stderr[-2000:]
    rows = query(archive, "SELECT DISTINCT info_code FROM failures WHERE stage = 'clean'")
    assert {r[0] for r in rows} == {"NW202611240000000000", "NW202611240000000001"}
    ((stats,),) = query(archive, "SELECT stats FROM crawl_runs ORDER BY id LIMIT 1")
    stats = json.loads(stats)
    assert stats["finews/clean/empty"] == 2 and stats["finews/list/duplicates_in_page"] >= 1


def test_a_changed_media_keeps_the_post_where_it_is(tmp_path: Path) -> None:
    with Replica() as replica:
        archive = crawled(tmp_path, replica)
        moved = next(a for a in replica.articles if a["name"] == "current_basic")
        info_code = "NW" + moved["code"]
        ((post_path, media),) = query(
            archive, "SELECT post_path, media FROM articles WHERE info_code = ?", (info_code,)
        )
        post = archive / post_path
        front = yaml.safe_load(post.read_text("utf-8").split("\n---\n", 1)[0][4:])
        # Listed again, in a new column and under another media (so another
        # category, which is in the post's URL).
        moved["mediaName"] = "茂名媒体"
        moved["columns"] = [*moved["columns"], 351]
        run_crawl(archive, replica.url, settings=SMALL, expect_exit=None)
    after = yaml.safe_load(post.read_text("utf-8").split("\n---\n", 1)[0][4:])
    assert after["categories"] == front["categories"] and after["date"] == front["date"]
    assert query(
        archive, "SELECT post_path, media FROM articles WHERE info_code = ?", (info_code,)
    ) == [(post_path, media)]
    changes = query(archive, "SELECT field, published, fetched FROM metadata_changes")
    assert changes == [("media", media, "茂名媒体")]
    assert not list((archive / "_posts").rglob("*maomingmeiti*"))
    # A rebuild from the snapshots comes to the same.
    posts = {p: p.read_bytes() for p in (archive / "_posts").rglob("*.md")}
    assert rebuild(archive).returncode == 0
    assert {p: p.read_bytes() for p in (archive / "_posts").rglob("*.md")} == posts
    assert query(archive, "SELECT field, published, fetched FROM metadata_changes") == changes
    shown = subprocess.run(
        [
            str(Path(sys.executable).parent / "datasette"),
            str(archive / "finews.db"),
            "--get",
            "/finews/metadata_changes.json?_shape=array",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(shown.stdout)[0]["fetched"] == "茂名媒体"

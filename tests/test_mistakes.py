"""Every user mistake issue 16 lists gets one clear line, a non-zero exit and no
traceback; the console of a default run is a start line and a summary (the
``finews`` command, run as ``python -m crawler.cli`` like .venv/bin/finews)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.crawlrun import ROOT
from tests.replica.server import Replica

FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "FINEWS_RENDER=never"]
FAST += ["-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8", "-s", "FINEWS_PAGE_SIZE=20"]


def finews(*args: str, cwd: Path = ROOT, timeout: int = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "crawler.cli", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def scrapy(*args: str) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "scrapy"), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)


def one_error(result: subprocess.CompletedProcess, *words: str) -> str:
    """The run failed with exactly one ``finews: error:`` line holding ``words``."""
    assert result.returncode != 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("finews: error:")]
    assert len(errors) == 1 and len(lines) == 1, lines
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def replica() -> Iterator[Replica]:
    with Replica() as running:
        yield running


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, replica: Replica) -> Path:
    """An archive with one crawl in it."""
    path = tmp_path_factory.mktemp("mistakes") / "archive"
    result = finews("crawl", "--archive", str(path), "-s", f"FINEWS_UPSTREAM={replica.url}", *FAST)
    assert result.returncode == 5, result.stderr  # one article of the replica has no body
    return path


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["crawl", "-s", "FINEWS_PAGE_SIZE=abc"], ["FINEWS_PAGE_SIZE", "'abc'", "whole number"]),
        (["crawl", "--pages", "x"], ["FINEWS_MAX_PAGES", "'x'"]),  # make crawl PAGES=x
        (["crawl", "-a", "pages=x"], ["-a pages", "'x'"]),
        (["crawl", "-s", "FINEWS_QUIET=maybe"], ["FINEWS_QUIET", "'maybe'", "True/False"]),
        (["backfill", "--since", "yesterday"], ["since", "'yesterday'", "YYYY-MM-DD"]),
        (["backfill", "--since", "2026-13-45"], ["since", "'2026-13-45'", "real date"]),
        (["backfill", "--since", "2026-02-30"], ["since", "'2026-02-30'"]),
        (["backfill", "--since", "2026-03-01", "--until", "2026-01-01"], ["after until"]),
        (["backfill"], ["--since"]),
    ],
)
def test_bad_settings_and_dates_one_line_each(
    tmp_path: Path, args: list[str], words: list[str]
) -> None:
    result = finews(*args, "--archive", str(tmp_path / "a"))
    one_error(result, *words)
    assert result.returncode == 2
    assert not (tmp_path / "a").exists()  # refused before anything was made


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-a", "ids=foo"], ["not an article id or URL", "'foo'"]),
        ([], ["needs ids"]),
        (["-a", "file=/nonexistent/ids.txt"], ["cannot read", "/nonexistent/ids.txt"]),
    ],
)
def test_article_with_bad_or_no_ids_exits_non_zero(
    tmp_path: Path, args: list[str], words: list[str]
) -> None:
    one_error(scrapy("crawl", "article", *args, "-s", f"FINEWS_ARCHIVE_DIR={tmp_path}"), *words)


def test_article_no_body_is_partial_and_archived_ids_are_said_skipped(
    archive: Path, replica: Replica
) -> None:
    up = ["-s", f"FINEWS_UPSTREAM={replica.url}", "-s", f"FINEWS_ARCHIVE_DIR={archive}", *FAST]
    no_body = next(a for a in replica.articles if a["page"] == "404" and a["choice"] != "ok")
    result = scrapy("crawl", "article", "-a", f"ids=NW{no_body['code']}", *up)
    assert result.returncode == 5 and "partial (exit 5)" in result.stderr
    known = (
        sqlite3.connect(archive / "finews.db")
        .execute("SELECT info_code FROM articles")
        .fetchone()[0]
    )
    result = scrapy("crawl", "article", "-a", f"ids={known}", *up)
    assert result.returncode == 0
    assert f"{known} is already archived: skipped (-a force=1" in result.stderr
    assert "skipped 1" in result.stderr


def test_unknown_column_is_warned_and_columns_lists_the_known_ones(
    archive: Path, replica: Replica
) -> None:
    result = finews(
        "crawl", "--archive", str(archive), "--columns", "351,999",
        "-s", f"FINEWS_UPSTREAM={replica.url}", *FAST,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "unknown column id 999 in FINEWS_COLUMNS" in result.stderr
    assert "`finews columns` lists the known ones" in result.stderr
    listed = finews("columns")
    assert listed.returncode == 0
    assert {line.split("\t")[0] for line in listed.stdout.splitlines()} >= {"344", "350", "1207"}


def test_mistyped_archive_is_created_by_a_crawl_with_a_notice(
    tmp_path: Path, replica: Replica
) -> None:
    path = tmp_path / "archvie"
    result = finews(
        "crawl",
        "--archive",
        str(path),
        "--columns",
        "351",
        "-s",
        f"FINEWS_UPSTREAM={replica.url}",
        *FAST,
    )
    assert result.returncode == 0, result.stderr
    assert f"{path} does not exist: starting a new archive there" in result.stderr
    assert (path / "finews.db").is_file()


def test_serve_over_a_missing_archive_creates_nothing(tmp_path: Path) -> None:
    one_error(
        finews("serve", "--archive", str(tmp_path / "none")), "no archive database", "never creates"
    )
    assert not (tmp_path / "none").exists()
    (tmp_path / "empty").mkdir()
    one_error(finews("serve", "--archive", str(tmp_path / "empty")), "no archive database")
    assert list((tmp_path / "empty").iterdir()) == []


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` bind-mounted read-only onto itself (a real read-only file system)."""
    done = subprocess.run(["mount", "-o", "bind,ro", str(path), str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount read-only here: {done.stderr.decode()[:200]}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_read_only_archive_refused_by_crawl_and_served_immutable(
    archive: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "ro"
    shutil.copytree(archive, copy, ignore=shutil.ignore_patterns(".lock", "*.db-*"))
    before = sorted(p.name for p in copy.iterdir())
    with read_only(copy):
        one_error(finews("crawl", "--archive", str(copy)), "not writable", str(copy))
        served = finews("serve", "--archive", str(copy), "--get", "/finews/articles.json?_size=2")
        assert served.returncode == 0, served.stderr[-2000:]
        assert "Traceback" not in served.stderr
        assert len(json.loads(served.stdout)["rows"]) == 2
        assert "read-only: serving finews.db immutable" in served.stderr
    assert sorted(p.name for p in copy.iterdir()) == before


def test_default_console_is_a_start_line_and_a_summary(archive: Path, replica: Replica) -> None:
    result = finews(
        "crawl", "--archive", str(archive), "-s", f"FINEWS_UPSTREAM={replica.url}", *FAST
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2, lines  # (was 125-170 lines: Scrapy's dumps and stats)
    assert (
        lines[0].startswith("finews: columns then fastnews run into") and "budget 4 min" in lines[0]
    )
    summary = lines[1]
    for word in (
        "ok (exit 0)",
        "archived 0",
        "refreshed",
        "skipped",
        "failed",
        "blocked",
        "requests",
    ):
        assert word in summary, summary
    # Scrapy's start-up and its stats are in the log file.
    log = (archive / "logs" / "finews.log").read_text(encoding="utf-8")
    assert "Dumping Scrapy stats" in log
    quiet = finews(
        "crawl", "--quiet", "--archive", str(archive), "-s", f"FINEWS_UPSTREAM={replica.url}", *FAST
    )
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_backfill_reports_progress_per_column_while_articles_download(
    tmp_path: Path, replica: Replica
) -> None:
    # 0.15 s between requests: ~50 requests take at least 7 s, several reports at 1 s.
    result = finews(
        "backfill", "--since", "2026-11-15", "--archive", str(tmp_path / "a"),
        "-s", f"FINEWS_UPSTREAM={replica.url}", "-s", "FINEWS_RENDER=never",
        "-s", "DOWNLOAD_DELAY=0.15", "-s", "AUTOTHROTTLE_ENABLED=False",
        "-s", "FINEWS_PROGRESS_SECONDS=1", "-s", "FINEWS_PAGE_SIZE=10",
    )  # fmt: skip
    assert result.returncode == 5, result.stderr[-2000:]
    reports = [line for line in result.stderr.splitlines() if "backfill column 350:" in line]
    assert len(reports) >= 3, result.stderr
    fetched = [int(line.split(" fetched")[0].rsplit(" ", 1)[1]) for line in reports]
    assert fetched == sorted(fetched) and fetched[-1] > fetched[0]  # it moved between reports
    assert all("pages, reached 2026-11-" in line and "/s, ETA" in line for line in reports)
    assert any("ETA 0m" in line or "ETA listed all" in line for line in reports)


def test_article_with_some_bad_ids_fetches_the_good_and_ends_partial(
    archive: Path, replica: Replica
) -> None:
    good = next(a for a in replica.articles if a["page"] == "ok")
    result = scrapy(
        "crawl", "article", "-a", f"ids=NW{good['code']},foo", "-a", "force=1",
        "-s", f"FINEWS_UPSTREAM={replica.url}", "-s", f"FINEWS_ARCHIVE_DIR={archive}", *FAST,
    )  # fmt: skip
    assert result.returncode == 5, result.stderr[-2000:]
    assert "1 given ids are not article ids or URLs" in result.stderr


def test_offline_rebuild_does_not_probe_the_browser(archive: Path, tmp_path: Path) -> None:
    copy = tmp_path / "archive"
    shutil.copytree(archive, copy, ignore=shutil.ignore_patterns(".lock", ".browser-probe.json"))
    result = finews("rebuild", "--archive", str(copy), "-s", "LOG_LEVEL=INFO")  # FINEWS_RENDER=auto
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert not (copy / ".browser-probe.json").exists()  # no Chromium launched to check it
    assert "browser route" not in result.stderr

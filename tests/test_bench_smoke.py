"""The benchmark harness runs on tiny sizes and prints every figure (no timing is asserted)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.request import urlopen

from bench import synth
from bench.fastreplica import FastReplica
from bench.stages import char_f1, finews_extract, render_page
from crawler.eastmoney.lists import parse_list

ROOT = Path(__file__).resolve().parent.parent


def test_synthetic_articles_are_deterministic_and_extract_exactly() -> None:
    related = [synth.synth_article(i) for i in range(5)]
    for i in (0, 3, 7, 11, 27, 1000):
        art = synth.synth_article(i)
        assert art == synth.synth_article(i)
        assert synth.index_of(art["code"]) == i
        assert finews_extract(render_page(art, related)) == art["expected_text"]
    assert synth.index_of("202611233592418806") is None  # a fixture's code


def test_char_f1() -> None:
    assert char_f1("abc", "abc") == 1.0
    assert char_f1("", "") == 1.0
    assert char_f1("xyz", "abc") == 0.0
    assert 0.0 < char_f1("ab", "abcd") < 1.0
    assert char_f1("a b\nc", "abc") == 1.0  # whitespace is ignored


def test_fast_replica_serves_lists_and_pages() -> None:
    with FastReplica(120) as replica:
        url = (
            replica.url
            + "/comm/web/getNewsByColumns?column=350&page_index=1&page_size=50&req_trace=1"
        )
        with urlopen(url, timeout=10) as resp:
            page = parse_list(resp.read().decode("utf-8"))
        assert page.ok and page.total and len(page.entries) == min(50, page.total)
        first = synth.synth_article(synth.index_of(page.entries[0].code))
        assert 350 in first["columns"]
        with urlopen(f"{replica.url}/a/{first['code']}.html", timeout=10) as resp:
            assert finews_extract(resp.read().decode("utf-8")) == first["expected_text"]
        assert replica.stats() == {"list": 1, "article": 1}


def test_synthetic_archive_rows(tmp_path: Path) -> None:
    db_path = tmp_path / "finews.db"
    synth.build_archive(db_path, 250, batch=100)
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 250
    assert con.execute("SELECT count(*) FROM article_versions").fetchone()[0] == 250
    hits = con.execute(
        "SELECT count(*) FROM articles_search WHERE articles_search MATCH ?", ['"同比 比增 增长"']
    ).fetchone()[0]
    scanned = con.execute(
        "SELECT count(*) FROM articles WHERE title LIKE '%同比增长%' "
        "OR summary LIKE '%同比增长%' OR body_text LIKE '%同比增长%'"
    )
    assert hits == scanned.fetchone()[0] > 0


def test_bench_runs_on_tiny_sizes_and_prints_every_figure(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--dir",
        str(tmp_path),
        "--e2e",
        "60",
        "--memory",
        "60,240",
        "--noop",
        "200,800",
        "--reps",
        "1",
        "--only",
        "e2e,stages,extract,noop,memory,rebuild,search",
        "--no-external",
    ]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout
    for label in ("1 e2e", "2 stages", "3 extract", "4 no-op", "5 memory", "6 rebuild", "7 search"):
        assert label in out, out
    for measure in (
        "ratio finews / bare",
        "FINEWS_WORKERS=0",
        "search index",
        "char F1",
        "requests per run",
        "peak RSS",
        "articles/s",
        "direct SQL",
    ):
        assert measure in out, out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["e2e"]["rate"]["finews"] > 0 and results["e2e"]["rate"]["one process"] > 0
    assert all(v > 0 for k, v in results["stages"]["us"].items() if k != "dedupe lookup")
    assert results["noop"]["same_requests"]
    assert results["memory"]["ratio"] > 0
    assert results["rebuild"]["rc"] == 0

"""The archive a crawl of the replica makes, reduced to what must never change by accident.

A digest of every post (bytes), every WARC record (type, URL, payload; the
metadata record's JSON without its fetch time), every database row that does
not depend on the clock (articles, versions, failures, column progress, stocks,
every entry of the search index) and every category page. Two archives made
from the same replica by two versions of finews have equal digests exactly
when their output is the same byte for byte.

``tests/fixtures/golden/replica.json`` is the digest finews made before the
"one room per concern" restructure (commit ffb3e54): tests/test_same_output.py
crawls the replica the same ways and compares. To record a new reference
after a deliberate change of output (and say so in the changelog):

    .venv/bin/python -m tests.golden --write
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tests.crawlrun import FAST
from tests.replica.server import Replica

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "fixtures" / "golden" / "replica.json"

#: The crawls compared: name -> (spider, settings). The first is the default
#: crawl (article pages), the second takes bodies from Choice, the third runs
#: without worker processes; "rebuild" rebuilds the first from its snapshots.
CRAWLS: dict[str, dict[str, str]] = {
    "page": {"FINEWS_PAGE_SIZE": "20"},
    "choice": {"FINEWS_PAGE_SIZE": "20", "FINEWS_BODY_SOURCE": "choice"},
}


def _sha(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _scrapy(command: str, archive: Path, settings: dict[str, str]) -> int:
    cmd = [str(Path(sys.executable).parent / "scrapy"), *command.split()]
    for key, value in {**FAST, "FINEWS_ARCHIVE_DIR": str(archive), **settings}.items():
        cmd += ["-s", f"{key}={value}"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if "Traceback" in result.stderr:
        raise AssertionError(f"{command} raised:\n{result.stderr[-4000:]}")
    return result.returncode


def _without_clock(url: str) -> str:
    """A URL without its ``req_trace`` (a clock reading in every list request)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "req_trace"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _warc_records(path: Path) -> list[list[str]]:
    from warcio.archiveiterator import ArchiveIterator

    records = []
    with path.open("rb") as fh:
        for record in ArchiveIterator(fh):
            body = record.content_stream().read()
            if record.rec_type == "metadata":
                meta = json.loads(body)
                meta.pop("fetched_at", None)
                # Named after the list request (its req_trace is a clock reading).
                meta["list_snapshots"] = len(meta.get("list_snapshots", []))
                body = json.dumps(meta, sort_keys=True, ensure_ascii=False).encode()
            url = record.rec_headers.get_header("WARC-Target-URI") or ""
            if "req_trace=" in url:
                # A list answer: the replica's answer echoes the request's clock.
                records.append([record.rec_type, _without_clock(url)])
            else:
                records.append([record.rec_type, url, _sha(body)])
    return records


ROW_QUERIES = {
    "articles": (
        "SELECT info_code, code, title, published_at, media, category, columns, column_ids, "
        "summary, body_markdown, body_text, body_source, stocks, source_url, share_url, "
        "post_path, snapshot, content_sha256 FROM articles ORDER BY info_code"
    ),
    "article_versions": (
        "SELECT info_code, version, content_sha256, body_markdown FROM article_versions "
        "ORDER BY info_code, version"
    ),
    "failures": (
        # The snapshot's name holds the day of the crawl: only whether there is one.
        "SELECT stage, reason, url, info_code, detail, snapshot != '', resolved_at IS NULL "
        "FROM failures ORDER BY info_code, stage, reason, url, detail"
    ),
    "column_state": "SELECT column_id, clean, reached FROM column_state ORDER BY column_id",
    "article_stocks": "SELECT code, stock, info_code FROM article_stocks ORDER BY 1, 2, 3",
    # Archived pictures (pipelines/images.py); fetched_at is a clock reading.
    "images": "SELECT url, sha256, ext, content_type, bytes, path, snapshot FROM images ORDER BY url",
}


def _rows(db_path: Path) -> dict[str, Any]:
    db = sqlite3.connect(db_path)
    out: dict[str, Any] = {}
    for name, query in ROW_QUERIES.items():
        out[name] = [_sha(json.dumps(row, ensure_ascii=False)) for row in db.execute(query)]
    # The search index: every (term, article, column, offset) it holds.
    db.execute(
        "CREATE VIRTUAL TABLE temp.search_vocab USING fts5vocab(main, articles_search, 'instance')"
    )
    terms = db.execute(
        "SELECT a.info_code, v.term, v.col, v.offset FROM temp.search_vocab v "
        "JOIN articles a ON a.rowid = v.doc ORDER BY 1, 2, 3, 4"
    ).fetchall()
    out["search_index"] = _sha(json.dumps(terms, ensure_ascii=False))
    db.close()
    return out


def digest(archive: Path) -> dict[str, Any]:
    """The digest of one archive directory."""
    posts = {
        str(p.relative_to(archive)): _sha(p.read_bytes())
        for p in sorted((archive / "_posts").rglob("*.md"))
    }
    categories = {
        str(p.relative_to(archive)): _sha(p.read_bytes())
        for p in sorted((archive / "category").glob("*.html"))
    }
    warcs = {
        str(p.relative_to(archive)): _warc_records(p)
        for p in sorted((archive / "raw" / "articles").rglob("*.warc.gz"))
    }
    # List and failure snapshots are named by day and request: their records, pooled.
    for kind in ("lists", "failures", "images"):
        records = [r for p in (archive / "raw" / kind).rglob("*.warc.gz") for r in _warc_records(p)]
        warcs[kind] = sorted(records)
    pictures = {
        str(p.relative_to(archive)): _sha(p.read_bytes())
        for p in sorted((archive / "assets" / "img").glob("*"))
    }
    return {
        "posts": posts,
        "pictures": pictures,
        "categories": categories,
        "warc": warcs,
        "rows": _rows(archive / "finews.db"),
    }


def crawl_all(scratch: Path) -> dict[str, Any]:
    """Crawl a fresh replica each way and digest every archive."""
    result: dict[str, Any] = {}
    with Replica() as replica:
        for name, settings in CRAWLS.items():
            archive = scratch / name
            code = _scrapy("crawl columns", archive, {"FINEWS_UPSTREAM": replica.url, **settings})
            result[name] = {"exit": code, **digest(archive)}
    # A rebuild of the default crawl from its snapshots alone (no network).
    rebuilt = scratch / "rebuilt"
    shutil.copytree(scratch / "page" / "raw", rebuilt / "raw")
    code = _scrapy("rebuild", rebuilt, {})
    result["rebuild"] = {"exit": code, **digest(rebuilt)}
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"write {REFERENCE.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="finews-golden-") as scratch:
        result = crawl_all(Path(scratch))
    text = json.dumps(result, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if args.write:
        REFERENCE.parent.mkdir(parents=True, exist_ok=True)
        REFERENCE.write_text(text, encoding="utf-8")
        print(f"wrote {REFERENCE}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`make demo`: start the local replica, crawl it into a scratch archive, say where things are.

python -m tests.demo [--dir build/demo] [--site] [--refuse-json]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from crawler.sitepages import write_pages
from tests.replica.server import Replica

ROOT = Path(__file__).resolve().parent.parent


def crawl(archive: Path, upstream: str, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        str(Path(sys.executable).parent / "scrapy"),
        "crawl",
        "columns",
        "-s",
        f"FINEWS_ARCHIVE_DIR={archive}",
        "-s",
        f"FINEWS_UPSTREAM={upstream}",
        # The replica is local: no politeness delay needed.
        "-s",
        "DOWNLOAD_DELAY=0",
        "-s",
        "AUTOTHROTTLE_ENABLED=False",
        "-s",
        "CONCURRENT_REQUESTS_PER_DOMAIN=8",
        "-s",
        "LOG_LEVEL=INFO",
        *extra,
    ]
    return subprocess.run(cmd, cwd=ROOT, check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", default="build/demo", help="scratch directory (wiped)")
    ap.add_argument("--site", action="store_true", help="also build the Jekyll site")
    ap.add_argument(
        "--refuse-json",
        action="store_true",
        help="the replica refuses direct JSON calls: only the browser route gets the data",
    )
    args = ap.parse_args()
    scratch = (ROOT / args.dir).resolve()
    shutil.rmtree(scratch, ignore_errors=True)
    archive = scratch / "archive"
    with Replica(refuse_json=args.refuse_json) as replica:
        print(f"replica of the upstream at {replica.url}")
        result = crawl(archive, replica.url)
        # The replica holds an article with no body anywhere on purpose, so
        # the run is "partial" (exit 5): recorded, not a demo failure.
        if result.returncode not in (0, 5):
            print(f"crawl failed with exit code {result.returncode}", file=sys.stderr)
            return result.returncode
    db = sqlite3.connect(archive / "finews.db")
    articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    failures = db.execute("SELECT stage, reason, url FROM failures").fetchall()
    posts = sorted((archive / "_posts").rglob("*.md"))
    print()
    print(f"archived {articles} articles into {archive}")
    print(f"  posts:     {archive / '_posts'} ({len(posts)} files)")
    print(f"  snapshots: {archive / 'raw'}")
    print(f"  database:  {archive / 'finews.db'}")
    print(f"  recorded failures: {len(failures)}")
    for stage, reason, url in failures:
        print(f"    [{stage}] {reason} {url}")
    if args.site:
        out = scratch / "_site"
        write_pages(archive)  # the index pages (crawler/sitepages.py), as make site
        config = f"{archive / '_config.yml'},{archive / '_finews_site.yml'}"
        subprocess.run(
            ["jekyll", "build", "--safe", "-q", "-s", str(archive), "-d", str(out)]
            + ["--config", config],
            check=True,
            env={"LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"},
        )
        print(f"  site:      {out} (root-relative links: serve it, do not open the files)")
        print(
            f"site:    make serve-site ARCHIVE={archive}   (builds and serves http://127.0.0.1:4000/)"
        )
        print(f"         or: python3 -m http.server 4000 --bind 127.0.0.1 --directory {out}")
    print(
        f"browse:  make serve ARCHIVE={archive}   (Datasette with the archive's metadata and search plugin)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``finews``: the command cron and systemd call, whose exit status is finews's own.

``make`` turns every failing recipe into its own status 2, so a locked (75),
blocked (4), partial (5) or failed (1) run all looked alike to cron and systemd.
``finews`` (``.venv/bin/finews``, a console script installed by ``make install``;
``python -m crawler.cli`` is the same) runs the Scrapy command in this process
and exits with its status (:mod:`crawler.outcome`; 2 for a usage mistake):

    finews crawl    [--archive DIR] [--columns 350,351] [--pages N] [--quiet] [-s NAME=VALUE]…
    finews backfill --since YYYY-MM-DD [--until YYYY-MM-DD] [--feed fast] [same options]
    finews rebuild | import | check   [same options; scrapy rebuild / import-archive / check-archive]
    finews serve    [--archive DIR] [--port 8001]   Datasette over the archive, read-only
    finews site     [--archive DIR] [--if-changed]  Jekyll build into DIR/_site
    finews status   [--archive DIR]                 the last run, from DIR/status.json
    finews columns                                  the column ids finews knows

Options after the command that are not finews's own go to Scrapy unchanged
(``-s FINEWS_MAX_RUN_MINUTES=3``, ``-a columns=351``, ``-L DEBUG``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from crawler.config import CLI_SETTINGS
from crawler.eastmoney.urls import COLUMNS

USAGE_EXIT = 2
OFFLINE_COMMANDS = frozenset({"rebuild", "import", "check"})
#: finews command -> the Scrapy command line it runs.
SCRAPY_COMMANDS = {
    "crawl": ["crawl", "columns", "fastnews"],  # the columns, then the 7×24 feed
    "backfill": ["crawl", "columns"],
    "rebuild": ["rebuild"],
    "import": ["import-archive"],
    "check": ["check-archive"],
}


def _error(message: str) -> int:
    print(f"finews: error: {message}", file=sys.stderr)
    return USAGE_EXIT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="finews", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=[*SCRAPY_COMMANDS, "serve", "site", "status", "columns"])
    parser.add_argument("--archive", help="the archive directory (FINEWS_ARCHIVE_DIR)")
    parser.add_argument("--columns", help="column ids, comma list (FINEWS_COLUMNS)")
    parser.add_argument("--pages", help="at most this many pages per column (FINEWS_MAX_PAGES)")
    parser.add_argument("--quiet", action="store_true", help="console: trouble only (cron)")
    parser.add_argument("--since", help="backfill: first day, YYYY-MM-DD")
    parser.add_argument("--until", help="backfill: last day, YYYY-MM-DD")
    parser.add_argument(
        "--feed",
        choices=["columns", "fast"],
        default="columns",
        help="backfill: the columns (default) or the 7×24 feed (fast)",
    )
    parser.add_argument(
        "--if-changed", action="store_true", help="site: build only when posts changed"
    )
    parser.add_argument("--site-url", help="site: the site's URL, for absolute feed links")
    parser.add_argument("--port", type=int, default=8001, help="serve: the port on 127.0.0.1")
    return parser


def scrapy_argv(opts: argparse.Namespace, rest: list[str]) -> list[str]:
    """The ``scrapy …`` command line for a crawl-like finews command."""
    argv = ["scrapy", *SCRAPY_COMMANDS[opts.command]]
    given = {"archive": opts.archive, "columns": opts.columns, "pages": opts.pages}
    given["quiet"] = "True" if opts.quiet else None
    # Offline commands fetch nothing: no browser launch check (crawler.browser.addon).
    given["offline"] = "True" if opts.command in OFFLINE_COMMANDS else None
    for option, value in given.items():
        if value is not None:
            argv += ["-s", f"{CLI_SETTINGS[option]}={value}"]
    if opts.command == "backfill":
        if opts.feed == "fast":
            argv[2] = "fastnews"
        argv += ["-a", f"since={opts.since}"]
        if opts.until:
            argv += ["-a", f"until={opts.until}"]
    return argv + rest


def run_scrapy(argv: list[str]) -> int:
    """Run a Scrapy command in this process; its exit status."""
    from scrapy.cmdline import execute

    # cron and systemd may start finews anywhere: the project's settings by name.
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "crawler.settings")
    try:
        execute(argv)
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def serve(archive: Path, port: int, rest: list[str]) -> int:
    """Datasette over an existing archive; never creates a database."""
    db = archive / "finews.db"
    if not db.is_file():
        return _error(
            f"no archive database at {db}: serve never creates one "
            "(crawl first: finews crawl --archive …)"
        )
    writable = os.access(archive, os.W_OK) and os.access(db, os.W_OK)
    argv = [shutil.which("datasette", path=str(Path(sys.executable).parent)) or "datasette"]
    argv += ["serve", "-h", "127.0.0.1", "-p", str(port)]
    if writable:
        from crawler.store.reindex import main as index_main

        if index_main(["ensure", str(db)]) != 0:
            return 1
        argv.append(str(archive))
    else:
        # A read-only mount: SQLite cannot make its WAL files there, so the
        # database is opened immutable (nothing is written, nothing created).
        print(f"finews: {archive} is read-only: serving {db.name} immutable", file=sys.stderr)
        argv += ["-i", str(db), "--metadata", str(archive / "metadata.yml")]
        argv += ["--plugins-dir", str(archive / "plugins")]
    argv += ["--setting", "default_allow_sql", "off", "--setting", "allow_download", "off"]
    argv += ["--setting", "allow_csv_stream", "off", "--setting", "suggest_facets", "off"]
    argv += ["--setting", "sql_time_limit_ms", "3000", "--setting", "facet_time_limit_ms", "500"]
    argv += ["--setting", "max_returned_rows", "1000"]
    if (archive / "assets").is_dir():  # the archived pictures the bodies show (/assets/img/…)
        argv += ["--static", f"assets:{archive / 'assets'}"]
    argv += rest
    os.execv(argv[0], argv)
    return 1  # not reached


def _newest_post(archive: Path) -> float:
    """The newest modification time among the posts and category pages (0: none)."""
    times = [0.0]
    for folder, pattern in (("_posts", "*.md"), ("old_post", "*.md"), ("category", "*.html")):
        times += [p.stat().st_mtime for p in (archive / folder).rglob(pattern)]
    return max(times)


def site(archive: Path, if_changed: bool, site_url: str = "") -> int:
    """Jekyll build into ``<archive>/_site``; with ``if_changed`` only when posts changed
    since the last build (``_site/.finews-built``), so cron can call it after every run.
    First the index pages Jekyll cannot make under ``--safe`` (:mod:`crawler.sitepages`);
    ``site_url`` gives ``/feed.xml`` absolute links."""
    if not (archive / "_config.yml").is_file():
        return _error(f"{archive} is not an archive (no _config.yml)")
    jekyll = shutil.which("jekyll")
    if jekyll is None:
        return _error("jekyll is not installed (make sysdeps installs it)")
    stamp = archive / "_site" / ".finews-built"
    started = time.time()
    if if_changed and stamp.exists() and _newest_post(archive) <= stamp.stat().st_mtime:
        return 0
    from crawler.sitepages import SITE_CONFIG, write_pages

    try:
        write_pages(archive, site_url)
    except ValueError as exc:
        return _error(str(exc))
    env = {**os.environ, "LANG": "C.UTF-8"}
    argv = [jekyll, "build", "--safe", "-s", str(archive), "-d", str(archive / "_site")]
    argv += ["--config", f"{archive / '_config.yml'},{archive / SITE_CONFIG}"]
    done = subprocess.run(argv, env=env, check=False)
    if done.returncode == 0:
        stamp.touch()
        os.utime(stamp, (started, started))  # posts written during the build: next time
    return done.returncode


def status(archive: Path) -> int:
    path = archive / "status.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return _error(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
    last = data.get("last_run") or {}
    ok = data.get("last_success") or {}
    print(
        f"last run {last.get('id', '-')} ({last.get('spider', '-')}): {last.get('status', '-')}"
        f" (exit {last.get('exit_code', '-')}) at {last.get('finished_at', '-')}"
        f"{': ' + last['reasons'] if last.get('reasons') else ''}"
    )
    print(f"last success: {ok.get('finished_at', 'never')}")
    print(
        f"articles {data.get('articles', 0)}, newest {data.get('newest_article', '-')}, "
        f"unresolved failures {data.get('unresolved_failures', 0)}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    opts, rest = _parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    archive = Path(opts.archive or "archive")
    if opts.command == "columns":
        for column in COLUMNS.values():
            print(f"{column.id}\t{column.name}\thttps://{column.host}/a/{column.slug}.html")
        return 0
    if opts.command == "status":
        return status(archive)
    if opts.command == "serve":
        return serve(archive, opts.port, rest)
    if opts.command == "site":
        return site(archive, opts.if_changed, opts.site_url or "")
    if opts.command == "backfill" and not opts.since:
        return _error("backfill needs --since YYYY-MM-DD (and may take --until YYYY-MM-DD)")
    if opts.command != "backfill" and (opts.since or opts.until):
        return _error(f"--since/--until are for backfill, not {opts.command}")
    return run_scrapy(scrapy_argv(opts, rest))


if __name__ == "__main__":
    sys.exit(main())

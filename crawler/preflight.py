"""Mistakes caught before a run starts: one clear line each, never a traceback.

:func:`check_run` looks at what ``scrapy crawl`` (and so ``finews crawl``,
``backfill``) was given before anything is opened: the archive directory
(read-only: refused; missing: created, with a notice, since a mistyped
``ARCHIVE`` would otherwise start a new archive silently), the backfill dates
(``YYYY-MM-DD``, a real day, ``since`` not after ``until``), ``-a pages``, the
column ids (unknown ones warned about: ``finews columns`` lists the known ones)
and the ``article`` spider's ids (none, or none that is an article id or URL,
are refused; a mix is fetched and the bad ones make the run partial). FINEWS_* settings themselves are checked by
:class:`crawler.config.FinewsConfig`. Settings: FINEWS_ARCHIVE_DIR, FINEWS_COLUMNS.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from crawler.config import ConfigError, FinewsConfig, parse_column_ids, parse_fast_columns
from crawler.eastmoney.ids import code_from_id, split_ids
from crawler.eastmoney.urls import COLUMNS


class UsageProblem(ValueError):
    """What the run was given cannot work; the message is the one line to print."""


def _day(value: str, name: str) -> date:
    try:
        if len(value) != 10:  # fromisoformat takes 20260131 too
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise UsageProblem(
            f"{name} must be a real date as YYYY-MM-DD (e.g. 2026-01-31), got {value!r}"
        ) from None


def check_archive(archive: Path, creating_ok: bool) -> list[str]:
    """Refuse an archive that cannot be written; notices for one about to be created."""
    if archive.exists():
        if not archive.is_dir():
            raise UsageProblem(f"FINEWS_ARCHIVE_DIR (ARCHIVE) {archive} is not a directory")
        if not os.access(archive, os.W_OK | os.X_OK):
            raise UsageProblem(
                f"FINEWS_ARCHIVE_DIR (ARCHIVE) {archive} is not writable (read-only mount?); "
                "a crawl needs to write there"
            )
        return []
    if not creating_ok:
        raise UsageProblem(f"FINEWS_ARCHIVE_DIR (ARCHIVE) {archive} does not exist")
    parent = next((p for p in archive.absolute().parents if p.exists()), Path("/"))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageProblem(
            f"FINEWS_ARCHIVE_DIR (ARCHIVE) {archive} does not exist and cannot be created "
            f"({parent} is not writable)"
        )
    return [f"{archive} does not exist: starting a new archive there (FINEWS_ARCHIVE_DIR)"]


def check_columns_args(spargs: dict[str, str], cfg: FinewsConfig) -> list[str]:
    """The columns spider's arguments; the warnings to show."""
    since, until = spargs.get("since") or "", spargs.get("until") or ""
    first = _day(since, "since (SINCE, -a since)") if since else None
    last = _day(until, "until (UNTIL, -a until)") if until else None
    if first and last and first > last:
        raise UsageProblem(f"since {since} is after until {until}: the window would be empty")
    pages = spargs.get("pages")
    if pages is not None and not (pages.isascii() and pages.isdigit()):
        raise UsageProblem(f"-a pages (PAGES) must be a whole number >= 0, got {pages!r}")
    try:
        ids = parse_column_ids(spargs["columns"], "-a columns") if spargs.get("columns") else None
    except ConfigError as exc:
        raise UsageProblem(str(exc)) from None
    unknown = [c for c in (ids or cfg.columns) if c not in COLUMNS]
    if not unknown:
        return []
    where = "-a columns" if ids else "FINEWS_COLUMNS (COLUMNS)"
    return [
        f"unknown column id{'s' if len(unknown) > 1 else ''} {', '.join(map(str, unknown))} "
        f"in {where}: the list API may answer nothing for it; `finews columns` lists the known ones"
    ]


def check_fast_args(spargs: dict[str, str], cfg: FinewsConfig) -> list[str]:
    """The fastnews spider's arguments: the window as for the columns, feed ids 100..131."""
    since, until = spargs.get("since") or "", spargs.get("until") or ""
    first = _day(since, "since (SINCE, -a since)") if since else None
    last = _day(until, "until (UNTIL, -a until)") if until else None
    if first and last and first > last:
        raise UsageProblem(f"since {since} is after until {until}: the window would be empty")
    try:
        if spargs.get("columns"):
            parse_fast_columns(spargs["columns"], "-a columns")
    except ConfigError as exc:
        raise UsageProblem(str(exc)) from None
    return []


def check_article_args(spargs: dict[str, str]) -> list[str]:
    """The article spider needs ids, all of them article ids or URLs."""
    raw = split_ids(spargs.get("ids") or "")
    file = spargs.get("file")
    if file:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageProblem(f"-a file: cannot read {file}: {exc.strerror or exc}") from None
        raw += [x.split("#", 1)[0].strip() for x in text.splitlines()]
        raw = [x for x in raw if x]
    if not raw:
        raise UsageProblem(
            "scrapy crawl article needs ids: -a ids=NW202206142411662087,… or -a file=ids.txt"
        )
    bad = [x for x in raw if code_from_id(x) is None]
    if len(bad) == len(raw):  # some good ones: those are fetched, the run ends partial
        shown = ", ".join(repr(x[:60]) for x in bad[:5]) + (" …" if len(bad) > 5 else "")
        raise UsageProblem(
            f"-a ids: not an article id or URL: {shown} "
            "(accepted: NW + 17/18 digits, the bare code, an article URL)"
        )
    return []


def check_run(spider: str, spargs: dict[str, str], cfg: FinewsConfig) -> list[str]:
    """All checks for ``scrapy crawl <spider>``; returns notices, raises UsageProblem."""
    # The spiders that may start a new archive (a distributed run's writer, and
    # its workers, which write only their logs there).
    creating_ok = spider in ("columns", "fastnews", "article", "writer", "columns_worker")
    notices = check_archive(cfg.archive_dir, creating_ok=creating_ok)
    if spider in ("columns", "columns_worker"):
        notices += check_columns_args(spargs, cfg)
    elif spider == "fastnews":
        notices += check_fast_args(spargs, cfg)
    elif spider == "article":
        notices += check_article_args(spargs)
    return notices

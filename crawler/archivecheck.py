"""``scrapy check-archive`` (``finews check``): is the archive whole?

Reads every WARC under ``raw/`` (articles, lists, failures, any other kind;
not ``raw/damaged/``, which holds files already moved aside) and the
database, and reports:

* damaged files: a file that does not read whole (:func:`warc_damage`: a cut
  or corrupt gzip member, a short record, an article file without its
  metadata or responses);
* rows without snapshots: an ``articles`` row whose snapshot file is missing
  (or damaged);
* snapshots without rows: a whole article snapshot with no ``articles`` row
  (a run killed before its commit: the next crawl fetches it again);
* posts that differ from what the snapshots give: the body of the last fetch,
  cleaned and made Markdown as a crawl does, is not the post's body, the
  row's digest is not that fetch's, or the post is missing;
* the database's ``integrity_check``.

Pure reading: nothing is changed. Exit status 0 when nothing was found, 1
otherwise. The files moved to ``raw/damaged/`` are listed for information.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from crawler.config import FinewsConfig
from crawler.eastmoney.urls import article_url
from crawler.spiders.rebuild import body_from, versions_in
from crawler.store.health import database_check
from crawler.transform.html.clean import clean_article
from crawler.transform.images import localize
from crawler.transform.markdown import html_to_markdown
from crawler.transform.posts import body_section
from crawler.transform.warc import warc_damage


@dataclass
class Report:
    """What :func:`check_archive` found; each list holds one line per finding."""

    files: int = 0
    articles: int = 0
    rows: int = 0
    damaged: list[str] = field(default_factory=list)
    rows_without_snapshots: list[str] = field(default_factory=list)
    snapshots_without_rows: list[str] = field(default_factory=list)
    posts_differ: list[str] = field(default_factory=list)
    database: list[str] = field(default_factory=list)
    moved_aside: list[str] = field(default_factory=list)

    SECTIONS = (
        ("damaged", "damaged snapshot files"),
        ("rows_without_snapshots", "rows without snapshots"),
        ("snapshots_without_rows", "snapshots without rows"),
        ("posts_differ", "posts that differ from their snapshots"),
        ("database", "database"),
    )

    @property
    def problems(self) -> int:
        return sum(len(getattr(self, name)) for name, _ in self.SECTIONS)

    def lines(self) -> list[str]:
        out = [
            f"{self.files} snapshot files, {self.articles} articles in them, "
            f"{self.rows} rows: {self.problems or 'no'} problems"
        ]
        for name, title in self.SECTIONS:
            found = getattr(self, name)
            if found:
                out.append(f"{title} ({len(found)}):")
                out += [f"  {line}" for line in found]
        if self.moved_aside:
            out.append(f"kept in raw/damaged/ (moved aside earlier): {len(self.moved_aside)}")
            out += [f"  {line}" for line in self.moved_aside]
        return out


def _post_body(
    article_body_html: str, source_url: str, pictures: dict[str, str]
) -> tuple[str, str]:
    """(Markdown body, content digest) the crawl makes of a body; its archived
    pictures (``pictures``: URL -> ``/assets/img/…``) shown from their copies."""
    html, _, _, digest = clean_article(article_body_html, source_url)
    return html_to_markdown(localize(html, pictures)).strip("\n"), digest


def _pictures(db_path: Path) -> dict[str, str]:
    """URL -> site path of every archived picture (none when the table is not there)."""
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT url, path FROM images").fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return {}
    return {url: "/" + path for url, path in rows}


def _check_rows(db_path: Path, report: Report) -> dict[str, tuple[str, str, str, str]]:
    """infoCode -> (snapshot, post_path, content_sha256, share_url) of every row."""
    if not db_path.exists():
        report.database.append(f"{db_path.name} is missing")
        return {}
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            check = database_check(con, "integrity_check")
            if check:
                report.database += [f"integrity_check: {line}" for line in check[:20]]
            rows = con.execute(
                "SELECT info_code, snapshot, post_path, content_sha256, share_url FROM articles"
            ).fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        report.database.append(f"{db_path.name} is unreadable: {e}")
        return {}
    report.rows = len(rows)
    return {r[0]: (r[1] or "", r[2] or "", r[3] or "", r[4] or "") for r in rows}


def check_archive(cfg: FinewsConfig) -> Report:
    """Check every snapshot file and the database (see the module doc)."""
    root, report = cfg.archive_dir, Report()
    rows = _check_rows(cfg.live_db_path, report)
    pictures = _pictures(cfg.live_db_path) if cfg.images == "archive" else {}
    raw = root / "raw"
    whole: dict[str, str] = {}  # article infoCode -> its snapshot, read whole
    bad_files: set[str] = set()
    aside = raw / "damaged"
    report.moved_aside = sorted(
        p.relative_to(root).as_posix() for p in aside.rglob("*") if p.is_file()
    )
    for path in sorted(raw.rglob("*.warc.gz")) if raw.exists() else []:
        relpath = path.relative_to(root).as_posix()
        if relpath.startswith("raw/damaged/"):
            continue
        report.files += 1
        is_article = relpath.startswith("raw/articles/")
        try:
            flash = relpath.startswith("raw/flash/")  # metadata alone is whole there
            reason = warc_damage(path.read_bytes(), article=is_article or flash, bodies=not flash)
        except OSError as e:
            reason = f"cannot read: {e}"
        if reason:
            report.damaged.append(f"{relpath}: {reason}")
            bad_files.add(relpath)
            continue
        if not is_article:
            continue
        groups = list(versions_in(path))
        info_code = groups[-1][0]["info_code"]
        report.articles += 1
        whole[info_code] = relpath
        row = rows.get(info_code)
        if row is None:
            report.snapshots_without_rows.append(f"{relpath} ({info_code})")
            continue
        _, post_path, digest, share_url = row
        meta, responses = groups[-1]
        body, expected_digest = _post_body(
            body_from(meta, responses), article_url(info_code[2:]), pictures
        )
        post = root / post_path
        if not post_path or not post.exists():
            report.posts_differ.append(f"{info_code}: post {post_path or '(none)'} is missing")
        elif body_section(body, share_url) not in post.read_text("utf-8", "replace"):
            report.posts_differ.append(f"{info_code}: {post_path} is not its last fetch's body")
        if digest and digest != expected_digest:
            report.posts_differ.append(f"{info_code}: its row is not its last fetch ({relpath})")
    for info_code, (snapshot, *_rest) in sorted(rows.items()):
        if snapshot in bad_files:
            report.rows_without_snapshots.append(f"{info_code}: {snapshot} is damaged")
        elif info_code not in whole:
            report.rows_without_snapshots.append(f"{info_code}: {snapshot or '(none)'} is missing")
    return report

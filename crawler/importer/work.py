"""The work on one article of the old archive, in a worker process: its files
read, parsed, cleaned, converted; its WARC records and its post written.

An article is every file of one key (``NW<code>``, ``EM<code>``, ``OP<name>``):
usually one, two when the post is in both ``_posts/`` and ``old_post/``. Its
files are taken oldest first (by mtime; at the same second ``old_post/`` is the
later, where the old scripts moved a post after its days in ``_posts/``): each
gives a row (upserted in that order, so a differing body becomes a version and
the last the current row); the post is the last one's. Nothing here touches
the database (:mod:`crawler.importer.run` writes the rows).
"""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.files import atomic_write, inside
from crawler.importer.convert import (
    body_html,
    category_page,
    import_row,
    info_code_of,
    post_relpath_of,
    render_imported_post,
    source_url_of,
    summary_of,
)
from crawler.importer.oldpost import ImportProblem, OldPost, identity, parse_old_post
from crawler.importer.records import record_group, write_groups
from crawler.transform.html.clean import clean_article
from crawler.transform.markdown import html_to_markdown

__all__ = [
    "Converted",
    "Done",
    "ImportedFile",
    "Job",
    "Options",
    "Source",
    "convert",
    "import_job",
    "import_jobs",
    "key_of",
    "rebuilt",
    "rewrite",
]


@dataclass(frozen=True)
class Options:
    """What the conversion needs from the configuration (picklable)."""

    archive_dir: str
    site_url: str
    share_url: str  # FINEWS_SHARE_URL's template ("…{info_code}")
    keep_days: int
    commit: str = ""  # the checkout's HEAD, when the source is a git repository
    db_path: str = ""  # where the digests of files imported before are (import_sources)


@dataclass
class Source:
    relpath: str  # "_posts/2021-12-08-202112082206672930.md"
    path: str
    mtime: float


@dataclass
class Job:
    key: str
    sources: list[Source]
    related: str = ""
    known: dict[str, str] = field(default_factory=dict)  # relpath -> digest imported before


@dataclass
class Done:
    """What became of a job: rows to upsert in order, the files' outcomes
    ((path, digest, key, status, reason) for ``import_sources``), failures."""

    key: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    sources: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    category: tuple[str, str] | None = None
    unchanged: bool = False
    bytes_written: int = 0
    files: int = 0


@dataclass
class ImportedFile:
    """An imported file read back from its WARC record by ``make rebuild``."""

    meta: dict[str, Any]
    raw: bytes
    snapshot: str
    version: int = 0


@dataclass
class Converted:
    row: dict[str, Any]
    post_relpath: str
    post_text: str
    category: tuple[str, str]


def convert(post: OldPost, key: str, related: str, snapshot: str, opts: Options) -> Converted:
    """One parsed post as row, post and category page; ImportProblem when its
    body has no text left after cleaning."""
    share = opts.share_url.format(info_code=key) if post.kind == "article" else ""
    clean = clean_article(body_html(post), source_url_of(post) or "https://finance.eastmoney.com/")
    html, stocks, text, _digest = clean
    if not text.strip():
        raise ImportProblem("nothing left after cleaning")
    markdown = html_to_markdown(html)
    summary = summary_of(post, text)
    relpath = post_relpath_of(post, opts.keep_days)
    text_out = render_imported_post(
        post, markdown, key, summary, stocks, share, related, opts.site_url
    )
    row = import_row(post, key, clean, markdown, summary, (relpath, snapshot), share, related)
    return Converted(row, relpath, text_out, category_page(post))


HEAD_FIELDS = ("title", "date", "published", "category", "tags")


def head_of(post: OldPost) -> dict[str, str]:
    """The front matter values the post keeps (those of the copy the old site built)."""
    return {name: getattr(post, name) for name in HEAD_FIELDS}


def with_head(post: OldPost, head: dict[str, str] | None) -> OldPost:
    if not head:
        return post
    return dataclasses.replace(post, **{k: str(v) for k, v in head.items() if k in HEAD_FIELDS})


def snapshot_relpath(key: str, published: str) -> str:
    return f"raw/articles/{published[:4]}/{published[5:7]}/{key}.warc.gz"


_READERS: dict[str, sqlite3.Connection] = {}


def imported_before(db_path: str, relpaths: list[str]) -> dict[str, str]:
    """relpath -> digest of those files an earlier import recorded. Each process
    asks the database itself (one connection each): nothing of the kind is held
    for the whole archive."""
    if not db_path or not relpaths:
        return {}
    con = _READERS.get(db_path)
    if con is None:
        con = _READERS[db_path] = sqlite3.connect(db_path, timeout=30)
    marks = ",".join("?" * len(relpaths))
    return dict(
        con.execute(f"SELECT path, sha256 FROM import_sources WHERE path IN ({marks})", relpaths)
    )


def import_job(opts: Options, job: Job) -> Done:
    """Import one article's files (see the module docstring)."""
    done = Done(job.key, files=len(job.sources))
    files: list[tuple[Source, bytes, str]] = []
    for src in job.sources:
        try:
            raw = Path(src.path).read_bytes()
        except OSError as exc:
            done.failures.append((src.relpath, f"unreadable: {exc.strerror}"))
            continue
        files.append((src, raw, hashlib.sha256(raw).hexdigest()))
    known = job.known or imported_before(opts.db_path, [s.relpath for s, _r, _h in files])
    if files and all(known.get(s.relpath) == sha for s, _raw, sha in files):
        done.unchanged = True
        return done
    parsed: list[tuple[Source, bytes, str, OldPost]] = []
    for src, raw, sha in files:
        try:
            parsed.append((src, raw, sha, parse_old_post(src.relpath, raw)))
        except ImportProblem as exc:
            done.failures.append((src.relpath, str(exc)))
            done.sources.append((src.relpath, sha, job.key, "failed", str(exc)))
    if not parsed:
        return done
    # The old site built only _posts/: the post keeps that copy's front matter
    # (so its URL) whichever copy is the later body.
    head = next((p for *_f, p in parsed if p.relpath.startswith("_posts/")), parsed[-1][3])
    heading = head_of(head)
    snapshot = snapshot_relpath(job.key, head.published)
    results: list[tuple[Source, bytes, str, Converted]] = []
    for src, raw, sha, post in parsed:
        try:
            post = with_head(post, heading)
            results.append((src, raw, sha, convert(post, job.key, job.related, snapshot, opts)))
        except ImportProblem as exc:
            done.failures.append((src.relpath, str(exc)))
            done.sources.append((src.relpath, sha, job.key, "failed", str(exc)))
    if not results:
        return done
    root = Path(opts.archive_dir)
    meta = {
        "info_code": job.key,
        "related": job.related,
        "source_commit": opts.commit,
        "head": heading,
    }
    groups = [
        (src.relpath, sha, record_group(src.relpath, raw, sha, src.mtime, meta))
        for src, raw, sha, _c in results
    ]
    done.bytes_written = write_groups(inside(root, snapshot), groups)
    current = results[-1][3]
    atomic_write(inside(root, current.post_relpath), current.post_text.encode(), durable=False)
    done.category = current.category
    for src, _raw, sha, conv in results:
        done.rows.append(conv.row)
        done.sources.append((src.relpath, sha, job.key, "imported", ""))
    return done


def import_jobs(opts: Options, jobs: list[Job]) -> list[Done]:
    """Several jobs in one call (a worker's round trip costs more than a small post)."""
    return [import_job(opts, job) for job in jobs]


def key_of(relpath: str) -> tuple[str, str, str]:
    """(row key, kind, code) of an old post's file name (ImportProblem if none)."""
    kind, code = identity(relpath)
    return info_code_of(kind, code), kind, code


def rebuilt(opts: Options, item: ImportedFile) -> Converted:
    """The row and post of an imported file, again, from its WARC record."""
    meta = item.meta
    post = with_head(parse_old_post(str(meta["source_path"]), item.raw), meta.get("head"))
    return convert(
        post, str(meta["info_code"]), str(meta.get("related") or ""), item.snapshot, opts
    )


def rewrite(opts: Options, item: ImportedFile) -> dict[str, Any]:
    """Write an imported file's post (and its category page when missing) again;
    returns its row. Runs in a worker process (crawler.workers) in a rebuild."""
    conv = rebuilt(opts, item)
    root = Path(opts.archive_dir)
    atomic_write(inside(root, conv.post_relpath), conv.post_text.encode(), durable=False)
    page = inside(root, conv.category[0])
    if not page.exists():
        atomic_write(page, conv.category[1].encode(), durable=False)
    return conv.row

"""Proposed performance fixes to core files, applied as patches so the benchmark can
measure them before they are made (``bench/README.md``, "Hot spots", lists them
as diffs).

    .venv/bin/python -m bench.proposals crawl columns -s ...   # scrapy with the fixes

- **P1 durable batches** (``crawler/files.py``, ``pipelines/post.py``,
  ``pipelines/snapshot.py``, ``pipelines/index.py``): ``atomic_write`` without
  an ``fsync`` per file; the index stage calls ``syncfs`` on the archive's file
  system once before each batch of rows is committed (and before a failure
  row); the temp file gets a fixed per-process name instead of ``mkstemp``'s. "A row means snapshot and post are on disk" still holds; the fsyncs,
  2–3 per article and each blocking the Twisted reactor for 0.5–8 ms here,
  become one per batch.
- **P2 libyaml front matter** (``pipelines/post.py``): ``dump_front_matter``
  with ``yaml.CSafeDumper`` (same representer, same options): ~6× faster. The
  C emitter escapes characters outside the BMP and C1 controls differently
  (``"\\U0001F600"``), so such text keeps the Python dumper: the bytes of
  every post stay what they are.
- **P3 lexical ``inside``** (``crawler/files.py``): the archive root resolved
  once, the relative path checked with ``normpath`` instead of
  ``Path.resolve()`` (one ``lstat`` per path component, three paths per
  article). Paths are derived from ids and dates; a symlink planted inside
  the archive is no longer refused (nothing in finews makes one).
- **P4 bigger batches** (``crawler/settings.py``): ``FINEWS_DB_BATCH = 1000``
  (rows per transaction; FTS5 merges fewer, smaller segments per row, and P1
  syncs once per batch). Passed as a setting, not patched.
- **P6 fewer item workers** (``crawler/settings.py``): ``CONCURRENT_ITEMS = 8``.
  Scrapy 2.19 starts CONCURRENT_ITEMS (default 100) asyncio worker tasks for
  *every* response's output (``_parallel_asyncio``), ~100 tasks and ~300
  queue operations per article page that yields one item. A setting too.
- **P7 index batches in a thread** (``pipelines/index.py``): see
  :func:`apply_index_thread`.
- **P8 clean in a worker process** (``pipelines/clean.py``, ``pipelines/post.py``):
  see :func:`apply_clean_pool`.
- **P9 bounded look-ahead of list pages** (``crawler/spiders/columns.py``): see
  :func:`apply_bounded_lookahead`.
- **P5 direct WARC records** (``pipelines/snapshot.py``): ``warc_bytes`` writes
  the two or three records itself (headers in warcio's order, the same
  digests, one gzip member per record at level 9): byte-identical output
  (checked on every benchmark article), without warcio's per-record
  builder/parser objects. Falls back to warcio for a non-ASCII HTTP header.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def syncfs(directory: Path) -> None:
    """Flush the file system holding ``directory`` (Linux ``syncfs``; ``os.sync`` elsewhere)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        if getattr(_LIBC, "syncfs", None) is None or _LIBC.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- P1


def atomic_write_deferred(path: Path, data: bytes) -> bool:
    """``crawler.files.atomic_write`` without the fsync (made durable in batches)."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # One writer per archive (the archive lock): a fixed temp name per process
    # is unique, and cheaper than mkstemp's random names.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # as mkstemp
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return True


def apply_durable_batches() -> None:
    import pipelines.index as index
    import pipelines.post as post
    import pipelines.snapshot as snapshot
    from crawler.items import Failure

    post.atomic_write = atomic_write_deferred
    snapshot.atomic_write = atomic_write_deferred
    flush, process_item = index.IndexPipeline.flush, index.IndexPipeline.process_item

    def durable_flush(self: Any) -> None:
        if self.pending:
            syncfs(self.cfg.archive_dir)  # every file the pending rows name is on disk
        flush(self)

    def durable_process_item(self: Any, item: Any) -> Any:
        if isinstance(item, Failure) and item.snapshot:
            syncfs(self.cfg.archive_dir)
        return process_item(self, item)

    index.IndexPipeline.flush = durable_flush
    index.IndexPipeline.process_item = durable_process_item


# --------------------------------------------------------------------------- P2

# What libyaml's emitter writes differently from PyYAML's: non-BMP characters,
# C1 controls, NEL, line/paragraph separators, BOM.
_C_EMITTER_DIFFERS = re.compile("[\U00010000-\U0010ffff\x80-\x9f\u2028\u2029\ufeff]")


def apply_libyaml() -> None:
    import yaml

    import pipelines.post as post

    if not getattr(yaml, "__with_libyaml__", False):
        return

    class CPostDumper(yaml.CSafeDumper):
        pass

    CPostDumper.add_representer(post.DoubleQuoted, post._double_quoted)
    python_dump = post.dump_front_matter

    def texts(value: Any) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict):
            return [t for k, v in value.items() for t in texts(k) + texts(v)]
        if isinstance(value, (list, tuple)):
            return [t for v in value for t in texts(v)]
        return []

    def dump_front_matter(data: dict[str, Any]) -> str:
        if any(_C_EMITTER_DIFFERS.search(t) for t in texts(data)):
            return python_dump(data)
        return yaml.dump(
            data,
            Dumper=CPostDumper,
            allow_unicode=True,
            sort_keys=False,
            default_flow_style=False,
            width=1_000_000,
        )

    post.dump_front_matter = dump_front_matter


# --------------------------------------------------------------------------- P3


@functools.lru_cache(maxsize=64)
def _resolved_root(root: str) -> str:
    return os.path.realpath(root)


def inside_lexical(root: Path, relpath: str) -> Path:
    from crawler.files import UnsafePathError

    base = _resolved_root(os.fspath(root))
    path = os.path.normpath(os.path.join(base, relpath))
    if path != base and not path.startswith(base.rstrip(os.sep) + os.sep):
        raise UnsafePathError(f"{relpath!r} is outside {root}")
    return Path(path)


def apply_lexical_inside() -> None:
    import crawler.files as files
    import pipelines.post as post
    import pipelines.snapshot as snapshot

    files.inside = inside_lexical
    post.inside = inside_lexical
    snapshot.inside = inside_lexical


#: Settings that go with the patches (P4, P6).
SETTINGS = {"FINEWS_DB_BATCH": "1000", "CONCURRENT_ITEMS": "8"}

PATCHES = {
    "P1": apply_durable_batches,
    "P2": apply_libyaml,
    "P3": apply_lexical_inside,
}


def apply(names: list[str] | None = None) -> list[str]:
    """Apply the named patches (all by default); returns their names."""
    chosen = names or list(PATCHES)
    for name in chosen:
        PATCHES[name]()
    return chosen


# --------------------------------------------------------------------------- P5

_ASCII = re.compile(r"^[\x20-\x7e]*$")


def _b32_sha1(data: bytes) -> str:
    import base64
    import hashlib

    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def _gzip_member(data: bytes) -> bytes:
    import zlib

    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    return compressor.compress(data) + compressor.flush()


def _record(headers: list[tuple[str, str]], block: bytes) -> bytes:
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    head += f"Content-Length: {len(block)}\r\n\r\n"
    return _gzip_member(head.encode("utf-8") + block + b"\r\n\r\n")


def warc_bytes_direct(responses: list[Any], metadata: dict[str, Any] | None = None) -> bytes:
    """``pipelines.snapshot.warc_bytes`` without warcio's record machinery: the same bytes
    (checked by ``check_warc_identical``), ~3x faster. Falls back to warcio when an HTTP
    header is not plain ASCII (warcio percent-encodes those)."""
    import json

    import pipelines.snapshot as snapshot

    parts: list[bytes] = []
    if metadata is not None:
        payload = json.dumps(metadata, ensure_ascii=False, sort_keys=True, indent=1).encode()
        digest = _b32_sha1(payload)
        headers = [
            ("WARC-Record-ID", snapshot._record_id("metadata", payload)),
            (
                "WARC-Date",
                snapshot._warc_date(metadata.get("fetched_at") or "1970-01-01T00:00:00Z"),
            ),
            ("WARC-Type", "metadata"),
            (
                "WARC-Target-URI",
                snapshot.METADATA_URI.format(info_code=metadata.get("info_code", "")),
            ),
            ("WARC-Payload-Digest", digest),
            ("WARC-Block-Digest", digest),
            ("Content-Type", "application/json"),
        ]
        parts.append(_record(headers, payload))
    for resp in responses:
        http = snapshot._http_headers(resp)
        lines = [http.statusline] + [f"{k}: {v}" for k, v in http.headers]
        if not all(_ASCII.match(line) for line in lines) or not _ASCII.match(resp.url):
            return _ORIGINAL_WARC_BYTES(responses, metadata)
        http_block = ("HTTP/1.1 " + "\r\n".join(lines) + "\r\n\r\n").encode("ascii")
        block = http_block + resp.body
        headers = [
            ("WARC-Record-ID", snapshot._record_id(resp.key)),
            ("WARC-Date", snapshot._warc_date(resp.fetched_at)),
            ("WARC-Type", "response"),
            ("WARC-Target-URI", resp.url),
            ("WARC-Payload-Digest", _b32_sha1(resp.body)),
            ("WARC-Block-Digest", _b32_sha1(block)),
            ("Content-Type", "application/http; msgtype=response"),
        ]
        parts.append(_record(headers, block))
    return b"".join(parts)


_ORIGINAL_WARC_BYTES: Any = None


def apply_direct_warc() -> None:
    global _ORIGINAL_WARC_BYTES
    import pipelines.snapshot as snapshot

    if _ORIGINAL_WARC_BYTES is None:
        _ORIGINAL_WARC_BYTES = snapshot.warc_bytes
    snapshot.warc_bytes = warc_bytes_direct


PATCHES["P5"] = apply_direct_warc


# --------------------------------------------------------------------------- P7


def apply_index_thread() -> None:
    """The index stage's batches (upsert, FTS triggers, the P1 ``syncfs``) run in a worker
    thread with a connection of its own: SQLite and the file-system sync release the GIL,
    so they overlap with downloading and parsing instead of stopping the reactor. One
    worker, so batches keep their order; ``close_spider`` waits for the last one."""
    from concurrent.futures import Future, ThreadPoolExecutor

    import pipelines.index as index
    from crawler.database import connect

    open_spider, close_spider = index.IndexPipeline.open_spider, index.IndexPipeline.close_spider

    def threaded_open(self: Any, spider: Any = None) -> None:
        open_spider(self, spider)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="finews-index")
        self._futures: list[Future[Any]] = []
        self._tdb = None

    def write(self: Any, rows: list[dict[str, Any]]) -> None:
        if self._tdb is None:  # sqlite3 connections stay in their thread
            self._tdb = connect(self.cfg.db_path)
        syncfs(self.cfg.archive_dir)  # P1: the files these rows name are on disk
        inserted, updated = index.upsert_articles(self._tdb, rows)
        self.stats.inc_value("finews/index/archived", inserted)
        self.stats.inc_value("finews/index/updated", updated)

    def threaded_flush(self: Any) -> None:
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        self._futures = [f for f in self._futures if not f.done() or f.exception()]
        self._futures.append(self._pool.submit(write, self, rows))

    def close_db(self: Any) -> None:
        if self._tdb is not None:
            self._tdb.close()

    def threaded_close(self: Any, spider: Any = None) -> None:
        self.flush()
        self._futures.append(self._pool.submit(close_db, self))
        self._pool.shutdown(wait=True)
        for future in self._futures:
            future.result()  # a failed batch fails the run, as before
        close_spider(self, spider)

    index.IndexPipeline.open_spider = threaded_open
    index.IndexPipeline.flush = threaded_flush
    index.IndexPipeline.close_spider = threaded_close


PATCHES["P7"] = apply_index_thread


# --------------------------------------------------------------------------- P8


def clean_and_render(body_html: str, source_url: str) -> tuple[str, list[str], str, str, str]:
    """The clean stage's work and the post's Markdown, in a worker process:
    (clean_html, stocks, body_text, content_sha256, body_markdown)."""
    import hashlib

    from pipelines.clean import body_text, clean_body
    from pipelines.markdown import html_to_markdown

    result = clean_body(body_html, source_url)
    text = body_text(result.html)
    if not text.strip():
        return result.html, list(result.stocks), text, "", ""
    digest = hashlib.sha256(result.html.encode("utf-8")).hexdigest()
    return result.html, list(result.stocks), text, digest, html_to_markdown(result.html)


def _warm() -> bool:
    import pipelines.clean  # noqa: F401
    import pipelines.markdown  # noqa: F401

    return True


def apply_clean_pool(workers: int = 1) -> None:
    """Clean + body text + digest + Markdown (the CPU-heaviest stages, ~1 ms an article)
    run in a worker process: ``CleanPipeline.process_item`` becomes a coroutine awaiting
    it, so the reactor thread downloads and parses meanwhile, on the other core. The post
    stage takes the Markdown computed there instead of converting again."""
    import asyncio
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import pipelines.clean as clean
    import pipelines.post as post

    # By module name, so it pickles even when this file runs as __main__.
    from bench.proposals import clean_and_render as worker_fn
    from crawler.items import Article, Failure

    state: dict[str, Any] = {"pool": None}
    markdown_of: dict[int, tuple[str, str]] = {}  # id(item) -> (clean_html, markdown)
    html_to_markdown = post.html_to_markdown

    def pool() -> ProcessPoolExecutor:
        if state["pool"] is None:
            state["pool"] = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn")
            )
            state["pool"].submit(_warm)
        return state["pool"]

    def open_spider(self: Any, spider: Any = None) -> None:
        pool()

    def close_spider(self: Any, spider: Any = None) -> None:
        if state["pool"] is not None:
            state["pool"].shutdown(wait=True)
            state["pool"] = None

    async def process_item(self: Any, item: Any) -> Any:
        if not isinstance(item, Article):
            return item
        if state.get("slots") is None:  # bounds the work queued for the pool
            state["slots"] = asyncio.Semaphore(4 * workers)
        async with state["slots"]:
            future = pool().submit(worker_fn, item.body_html, item.source_url)
            html, stocks, text, digest, markdown = await asyncio.wrap_future(future)
        if not text.strip():
            self.stats.inc_value("finews/clean/empty")
            return Failure(
                stage="clean",
                reason="nothing left after cleaning",
                url=item.source_url,
                info_code=item.info_code,
                responses=item.list_responses + item.body_responses,
            )
        item.clean_html, item.stocks, item.body_text, item.content_sha256 = (
            html,
            stocks,
            text,
            digest,
        )
        markdown_of[id(item)] = (html, markdown)
        self.stats.inc_value("finews/clean/articles")
        return item

    post_process_item = post.PostPipeline.process_item

    def post_item(self: Any, item: Any) -> Any:
        done = markdown_of.pop(id(item), None)
        if done is not None and done[0] == item.clean_html:
            post.html_to_markdown = lambda _html, md=done[1]: md
            try:
                return post_process_item(self, item)
            finally:
                post.html_to_markdown = html_to_markdown
        return post_process_item(self, item)

    clean.CleanPipeline.open_spider = open_spider
    clean.CleanPipeline.close_spider = close_spider
    clean.CleanPipeline.process_item = process_item
    post.PostPipeline.process_item = post_item


PATCHES["P8"] = apply_clean_pool


# --------------------------------------------------------------------------- P9

#: Article requests waiting in the scheduler above which the next list page waits too.
LOOKAHEAD = 500


def apply_bounded_lookahead(limit: int = LOOKAHEAD) -> None:
    """The next list page is requested at priority 10 (before the waiting articles, as
    now) only while fewer than ``limit`` requests wait in the scheduler; beyond that at
    priority -2, after them. Without it, list pages (priority 10, answered in
    milliseconds) run ahead of the article pages (-1), and a backfill queues every
    article request of the whole window in memory, each holding its Article and the
    list answer it came from: RSS grows with the size of the backfill."""
    from crawler.spiders.columns import ColumnsSpider

    list_request = ColumnsSpider.list_request

    def bounded_list_request(self: Any, column: int, page: int) -> Any:
        request = list_request(self, column, page)
        engine = getattr(self.crawler, "engine", None)
        slot = getattr(engine, "_slot", None) or getattr(engine, "slot", None)
        scheduler = getattr(slot, "scheduler", None)
        if page > 1 and scheduler is not None and len(scheduler) >= limit:
            request = request.replace(priority=-2)
        return request

    ColumnsSpider.list_request = bounded_list_request


PATCHES["P9"] = apply_bounded_lookahead


def main(argv: list[str] | None = None) -> None:
    """``scrapy`` with the patches applied (``FINEWS_BENCH_PATCHES=P1,P2`` to choose)."""
    from scrapy.cmdline import execute

    wanted = [p for p in os.environ.get("FINEWS_BENCH_PATCHES", "").split(",") if p]
    apply(wanted or None)
    execute(["scrapy", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()

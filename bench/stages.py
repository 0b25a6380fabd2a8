"""In-process measurements: cost per article of each pipeline stage, and extraction
against trafilatura.

Per stage (:func:`measure_stages`), on synthetic articles rendered as the
replica serves them, each stage timed alone over the same articles, several
repetitions, median of the per-repetition mean, in microseconds per article
(CPU time of the process for the computing stages, which the other processes
on a shared machine disturb much less than wall time; wall time for the
writes and SQLite, whose cost is mostly waiting for the disk):

- ``parse``: ``parse_article_page`` (the spider's work on an article page);
- ``clean``: ``clean_article`` (``clean_body`` + ``body_text`` + the digest);
- ``markdown``: ``html_to_markdown``;
- ``yaml``: the post's front matter (``dump_front_matter(front_matter(...))``);
- ``warc build``: ``warc_bytes`` (metadata record + page response, gzip);
- ``warc write`` / ``post write``: ``atomic_write`` of those bytes (temp file,
  rename, no fsync) into a fresh directory and one ``syncfs`` per 100 files,
  as the pipelines write;
- ``dedupe lookup``: ``archived_state`` against an archive of the same size;
- ``sqlite upsert``: ``upsert_articles`` in batches of FINEWS_DB_BATCH (100),
  one transaction each, into a fresh database, without its search-index
  maintenance; ``search index``: the same with it (bigram text in Python,
  FTS5 insert), minus the former.

In a crawl, clean, markdown, yaml and the WARC and post writes run in the
worker process (crawler.workers), the SQLite work in the index lane's worker; the
total is what one process doing everything would spend.

Extraction (:func:`measure_extraction`): the replica's rendered article pages
(the hand-written fixtures with a body on the page, the fillers) and synthetic
pages; finews = ``parse_article_page`` + ``clean_body`` + ``body_text``;
trafilatura = ``trafilatura.extract`` (default and ``fast=True``). Speed in
articles/s (median of repetitions) and accuracy against each fixture's
``expected_text``: character-level F1 (bag of characters, whitespace ignored:
precision = shared characters / extracted characters, recall = shared /
expected).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.synth import COLUMN_NAMES, synth_article  # noqa: E402
from crawler.eastmoney.pages import parse_article_page  # noqa: E402
from crawler.items import Article, Fetched  # noqa: E402
from tests.replica import pages  # noqa: E402

BASE_URL = "https://finance.eastmoney.com/a/{code}.html"
#: Stages timed in wall time (the rest in CPU time of the process).
WALL_STAGES = ("warc write", "post write", "sqlite upsert", "sqlite upsert+search")
SHARE_URL = "http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode={info_code}"
HEADERS = [("Server", "nginx"), ("Content-Type", "text/html; charset=utf-8")]


def render_page(art: dict[str, Any], related: list[dict[str, Any]]) -> str:
    """The article page as the replica serves it."""
    if art["page"] == "old":
        return pages.old_article_page(art)
    return pages.article_page(art, related)


def make_items(n: int, offset: int = 0) -> list[tuple[str, Article]]:
    """(rendered page, Article as the spider yields it) for synthetic articles."""
    related = [synth_article(i) for i in range(5)]
    out = []
    for i in range(offset, offset + n):
        art = synth_article(i)
        html = render_page(art, related)
        info_code = "NW" + art["code"]
        url = BASE_URL.format(code=art["code"])
        fetched_at = "2026-11-01T00:00:00Z"
        item = Article(
            info_code=info_code,
            code=art["code"],
            title=art["title"],
            published=art["showTime"],
            media=art["mediaName"],
            summary=art["summary"],
            columns=[COLUMN_NAMES[c] for c in sorted(art["columns"])],
            column_ids=list(art["columns"]),
            source_url=url,
            share_url=SHARE_URL.format(info_code=info_code),
            body_source="page",
            body_responses=[Fetched(url, 200, HEADERS, html.encode("utf-8"), fetched_at)],
            fetched_at=fetched_at,
        )
        out.append((html, item))
    return out


def _noise(samples: list[float]) -> float:
    """Spread of repetitions: (max - min) / median."""
    med = statistics.median(samples)
    return (max(samples) - min(samples)) / med if med else 0.0


def measure_stages(n: int = 300, reps: int = 5, workdir: Path | None = None) -> dict[str, Any]:
    """Microseconds per article for each stage of the code as it is, each timed
    alone over the same articles, median of ``reps`` repetitions."""
    import crawler.store.search as search
    import crawler.store.writes as store_writes
    from crawler.files import atomic_write, inside, sync_filesystem
    from crawler.store.memory import archived_state
    from crawler.store.schema import connect
    from crawler.store.writes import article_row, upsert_articles
    from crawler.transform.frontmatter import dump_front_matter
    from crawler.transform.html.clean import clean_article
    from crawler.transform.markdown import html_to_markdown
    from crawler.transform.posts import front_matter, post_relpath, render_post
    from crawler.transform.snapshots import article_metadata, article_snapshot_path
    from crawler.transform.warc import warc_bytes

    items = make_items(n)
    htmls = [h for h, _ in items]
    arts = [a for _, a in items]
    # Run the pipeline once to have every stage's input ready.
    for html, art in items:
        page, _ = parse_article_page(html, art.source_url)
        art.body_html = page.body_html
        art.clean_html, art.stocks, art.body_text, art.content_sha256 = clean_article(
            art.body_html, art.source_url
        )
        art.body_markdown = html_to_markdown(art.clean_html)
        art.post_path = post_relpath(art.info_code, art.published)
        art.snapshot = article_snapshot_path(art)

    def warc(art: Article) -> bytes:
        return warc_bytes(art.body_responses, article_metadata(art, []))

    tmp = Path(tempfile.mkdtemp(prefix="stages-", dir=workdir))
    warcs = [warc(a) for a in arts]
    posts = [render_post(a, "").encode() for a in arts]
    rows = [article_row(a) for a in arts]
    counter = iter(range(1_000_000))

    def writes(kind: str) -> Callable[[list[Article]], None]:
        # As the pipelines write: no fsync per file, one syncfs per batch of rows.
        def run(batch: list[Article]) -> None:
            d = tmp / f"w{next(counter)}"
            for k, a in enumerate(batch):
                relpath, data = (
                    (a.snapshot, warcs[k]) if kind == "warc" else (a.post_path, posts[k])
                )
                atomic_write(inside(d, relpath), data, durable=False)
                if k % 100 == 99 or k == len(batch) - 1:
                    sync_filesystem(d)

        return run

    def upserts(with_search: bool) -> Callable[[list[Article]], None]:
        def run(_: list[Article]) -> None:
            db = connect(tmp / f"db{next(counter)}" / "finews.db")
            saved = store_writes.index_articles, store_writes.unindex_articles
            if not with_search:  # the crawler's writer keeps the search index itself
                store_writes.index_articles = store_writes.unindex_articles = lambda *a: None
            try:
                for start in range(0, len(rows), 100):
                    upsert_articles(db, [dict(x) for x in rows[start : start + 100]])
            finally:
                store_writes.index_articles, store_writes.unindex_articles = saved
            db.close()

        return run

    assert search.index_articles is store_writes.index_articles  # what upserts() switches off
    db = connect(tmp / "lookup" / "finews.db")
    upsert_articles(db, [dict(x) for x in rows])

    def each(fn: Callable[[Any], Any], inputs: list[Any]) -> Callable[[list[Any]], None]:
        def run(_: list[Any]) -> None:
            for x in inputs:
                fn(x)

        return run

    plan: dict[str, Callable[[list[Any]], None]] = {
        "parse": each(lambda h: parse_article_page(h, ""), htmls),
        "clean": each(lambda a: clean_article(a.body_html, a.source_url), arts),
        "markdown": each(lambda a: html_to_markdown(a.clean_html), arts),
        "yaml": each(lambda a: dump_front_matter(front_matter(a)), arts),
        "warc build": each(warc, arts),
        "warc write": writes("warc"),
        "post write": writes("post"),
        "sqlite upsert": upserts(False),
        "sqlite upsert+search": upserts(True),
        "dedupe lookup": each(lambda a: archived_state(db, a.info_code), arts),
    }
    samples: dict[str, list[float]] = {k: [] for k in plan}
    try:
        for _ in range(reps):
            for name, fn in plan.items():
                # CPU time of this process, except for the writes and SQLite,
                # whose cost is partly waiting for the disk: wall time there.
                clock = time.perf_counter if name in WALL_STAGES else time.process_time
                t0 = clock()
                fn(arts)
                samples[name].append((clock() - t0) / len(arts) * 1e6)
    finally:
        db.close()
        if workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)
        # else the harness deletes it after the last figure (bench.run.empty_trash):
        # freshly freed inodes make file creation slow for minutes on this VM.
    us = {name: statistics.median(v) for name, v in samples.items()}
    us["search index"] = max(us.pop("sqlite upsert+search") - us["sqlite upsert"], 0.0)
    us["total"] = sum(us.values())
    return {"us": us, "noise": {name: _noise(v) for name, v in samples.items()}}


# --------------------------------------------------------------------------- extraction


def char_f1(extracted: str, expected: str) -> float:
    """Character-level F1 (bag of characters, whitespace ignored)."""
    a = Counter(c for c in extracted if not c.isspace())
    b = Counter(c for c in expected if not c.isspace())
    if not a and not b:
        return 1.0
    shared = sum((a & b).values())
    if not shared:
        return 0.0
    precision, recall = shared / sum(a.values()), shared / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def fixture_pages() -> list[tuple[str, str, str]]:
    """(name, rendered page, expected text) for the replica's fixtures served as a page."""
    from tests.replica.fixtures import load_articles

    articles = load_articles()
    related = [a for a in articles if a["page"] != "404"]
    out = []
    for art in articles:
        if art["page"] == "404" or art["np_dst"] == "CFH" or not art["expected_text"]:
            continue
        others = [a for a in related if a["code"] != art["code"]][:5]
        out.append((art["name"], render_page(art, others), art["expected_text"]))
    return out


def synthetic_pages(n: int) -> list[tuple[str, str, str]]:
    related = [synth_article(i) for i in range(5)]
    return [
        (
            synth_article(i)["name"],
            render_page(synth_article(i), related),
            synth_article(i)["expected_text"],
        )
        for i in range(1000, 1000 + n)
    ]


def finews_extract(html: str) -> str:
    from crawler.transform.html.clean import clean_body
    from crawler.transform.text import body_text

    page, _ = parse_article_page(html, "")
    if page is None:
        return ""
    return body_text(clean_body(page.body_html, "https://finance.eastmoney.com/a/x.html").html)


def extractors() -> dict[str, Callable[[str], str]]:
    found: dict[str, Callable[[str], str]] = {"finews": finews_extract}
    try:
        import trafilatura
    except ImportError:  # reported as missing
        return found

    def traf(html: str) -> str:
        return trafilatura.extract(html, include_comments=False, include_tables=True) or ""

    def traf_fast(html: str) -> str:
        return (
            trafilatura.extract(html, include_comments=False, include_tables=True, fast=True) or ""
        )

    found["trafilatura"] = traf
    found["trafilatura fast"] = traf_fast
    return found


def measure_extraction(synthetic: int = 200, reps: int = 5) -> dict[str, Any]:
    """Speed and F1 per extractor on the fixture pages and synthetic pages."""
    sets = {"fixtures": fixture_pages(), "synthetic": synthetic_pages(synthetic)}
    out: dict[str, Any] = {"pages": {k: len(v) for k, v in sets.items()}}
    for name, fn in extractors().items():
        res: dict[str, Any] = {}
        for set_name, docs in sets.items():
            scores = [char_f1(fn(html), expected) for _, html, expected in docs]
            worst = min(range(len(docs)), key=lambda k: scores[k])
            samples = []
            for _ in range(reps):
                t0 = time.perf_counter()
                for _, html, _ in docs:
                    fn(html)
                samples.append(len(docs) / (time.perf_counter() - t0))
            res[set_name] = {
                "f1_mean": statistics.fmean(scores),
                "f1_min": scores[worst],
                "f1_min_page": docs[worst][0],
                "rate": statistics.median(samples),
                "noise": _noise(samples),
            }
        out[name] = res
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(measure_stages(int(sys.argv[1]) if len(sys.argv) > 1 else 200, 3), indent=1))
    print(json.dumps(measure_extraction(), indent=1))

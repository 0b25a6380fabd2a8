"""Archived pictures: the pure checks, and real crawls of the replica's picture host.

The replica (tests/replica/images.py) serves real JPEG and PNG bytes, a page
where a picture was expected, a 6 MiB picture and a 404; the crawls go through
FINEWS_UPSTREAM, so nothing leaves the loopback.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from scrapy.settings import Settings

from crawler.config import ConfigError, FinewsConfig
from crawler.middlewares.upstream import UpstreamOverrideMiddleware
from crawler.transform.images import check_image, image_urls, localize
from crawler.transform.warc import read_warc
from tests.crawlrun import run_crawl
from tests.replica import images as replica_images
from tests.replica.server import Replica

PIC = "https://np-newspic.dfcfw.com/download/"
JPEG, PNG = replica_images.JPEG, replica_images.PNG
JPEG_SHA, PNG_SHA = hashlib.sha256(JPEG).hexdigest(), hashlib.sha256(PNG).hexdigest()


# --- the pure functions ------------------------------------------------------
def test_image_urls_are_the_picture_hosts_once_each_in_order() -> None:
    html = (
        f'<p>a</p><img src="{PIC}b.png" alt="x"><img src="https://other.example.com/c.jpg">'
        f'<img src="{PIC}a.jpg?x=1&amp;y=2"><img src="{PIC}b.png">'
        '<img src="http://pic.eastmoney.com/d.gif"><img src="https://finance.eastmoney.com/a/x">'
    )
    assert image_urls(html) == [
        f"{PIC}b.png",
        f"{PIC}a.jpg?x=1&y=2",
        "http://pic.eastmoney.com/d.gif",
    ]


def test_localize_points_only_known_pictures_at_their_copy() -> None:
    html = f'<img src="{PIC}a.jpg?x=1&amp;y=2" alt="图"><img src="{PIC}gone.jpg">'
    out = localize(html, {f"{PIC}a.jpg?x=1&y=2": "/assets/img/ab.jpg"})
    assert out == f'<img src="/assets/img/ab.jpg" alt="图"><img src="{PIC}gone.jpg">'


@pytest.mark.parametrize(
    ("status", "ctype", "body", "expected"),
    [
        (200, "image/jpeg", JPEG, ("jpg", "")),
        (200, "image/png; charset=binary", PNG, ("png", "")),
        (200, "image/webp", b"RIFF\0\0\0\0WEBPVP8 ", ("webp", "")),
        (404, "image/jpeg", JPEG, ("", "image HTTP 404")),
        (200, "text/html", b"<html>", ("", "not an image: Content-Type text/html")),
        (200, "", JPEG, ("", "not an image: Content-Type missing")),
        (200, "image/png", b"", ("", "empty image")),
        (
            200,
            "image/jpeg",
            b"<html>login</html>",
            ("", "not an image: image/jpeg body is not JPEG, PNG, GIF or WebP"),
        ),
        (
            200,
            "image/png",
            PNG + b"\0" * 100,
            ("", f"image too large: {len(PNG) + 100} bytes > 1100"),
        ),
    ],
)
def test_check_image(status: int, ctype: str, body: bytes, expected: tuple[str, str]) -> None:
    headers = [("Content-Type", ctype)] if ctype else []
    assert check_image(status, headers, body, 1100) == expected


def _settings(**values: str) -> Settings:
    settings = Settings()
    settings.setmodule("crawler.settings")
    settings.update(values)
    return settings


def test_images_setting_is_checked() -> None:
    assert FinewsConfig.from_settings(_settings()).images == "archive"
    assert FinewsConfig.from_settings(_settings(FINEWS_IMAGES="LINK")).images == "link"
    with pytest.raises(ConfigError, match="FINEWS_IMAGES"):
        FinewsConfig.from_settings(_settings(FINEWS_IMAGES="yes"))


def test_picture_hosts_go_to_the_upstream() -> None:
    from types import SimpleNamespace

    from scrapy import Request

    upstream = FinewsConfig.from_settings(_settings(FINEWS_UPSTREAM="http://127.0.0.1:9")).upstream
    mw = UpstreamOverrideMiddleware(SimpleNamespace(stats=None), upstream)  # type: ignore[arg-type]
    for url in (f"{PIC}a.jpg", "https://pic.eastmoney.com/x.png"):
        out = mw.process_request(Request(url))
        assert out is not None and out.url.startswith("http://127.0.0.1:9/")
        assert out.meta["finews_canonical_url"] == url
    assert mw.process_request(Request("https://other.example.com/a.jpg")) is None


# --- real crawls ---------------------------------------------------------------
def _article(code: str, time: str, pictures: list[str]) -> dict[str, object]:
    imgs = "".join(f'<center><img src="{p}" /></center>\n' for p in pictures)
    return {
        "code": code,
        "showTime": time,
        "title": f"图片新闻{code[-4:]}",
        "mediaName": "中国证券报",
        "summary": "",
        "columns": [350],
        "np_dst": "CMS",
        "image": "",
        "page": "ok",
        "choice": "ok",
        "purpose": "pictures",
        "body_html": f"<p>　　正文第一段。</p>\n{imgs}<p>　　正文第二段。</p>",
        "expected_text": "正文第一段。\n正文第二段。",
        "expected_stocks": [],
    }


GOOD = [f"{PIC}D1_w690h389.jpg", f"{PIC}D2_chart.png"]
BAD = {
    f"{PIC}D3_wrongtype.jpg": "not an image: Content-Type text/html",
    f"{PIC}D4_oversize.png": "image download failed",
    f"{PIC}D5_missing.jpg": "image HTTP 404",
}
ELSEWHERE = "https://other.example.com/x.jpg"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("picdata")
    first = _article("202611233592000001", "2026-11-23 10:00:00", [*GOOD, *BAD, ELSEWHERE])
    # The same JPEG URL in a second article: fetched once.
    second = _article("202611233592000002", "2026-11-23 11:00:00", [GOOD[0]])
    for art in (first, second):
        (d / f"pic_{art['code']}.json").write_text(json.dumps(art, ensure_ascii=False))
    return d


def _picture_requests(replica: Replica) -> list[str]:
    return [q["path"] for q in replica.requests() if q["path"].startswith("/download/")]


def _posts(archive: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((archive / "_posts").rglob("*.md"))}


@pytest.fixture(scope="module")
def crawled(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    archive = tmp_path_factory.mktemp("picarchive") / "archive"
    with Replica(data_dir, fillers=False) as replica:
        run_crawl(archive, replica.url, settings={"FINEWS_COLUMNS": "350"})
        first = _picture_requests(replica)
        replica.reset_log()
        # A second run of the same archive: the pictures are known.
        run_crawl(
            archive, replica.url, settings={"FINEWS_COLUMNS": "350", "FINEWS_REFRESH_HOURS": "0"}
        )
        assert _picture_requests(replica) == []
    return archive, first


def test_each_picture_url_is_fetched_once(crawled: tuple[Path, list[str]]) -> None:
    _, requested = crawled
    names = sorted(u.rsplit("/", 1)[1] for u in [*GOOD, *BAD])
    assert sorted(p.rsplit("/", 1)[1] for p in requested) == names


def test_good_pictures_are_archived_content_addressed(crawled: tuple[Path, list[str]]) -> None:
    archive, _ = crawled
    assert (archive / f"assets/img/{JPEG_SHA}.jpg").read_bytes() == JPEG
    assert (archive / f"assets/img/{PNG_SHA}.png").read_bytes() == PNG
    assert len(list((archive / "assets/img").iterdir())) == 2
    db = sqlite3.connect(archive / "finews.db")
    rows = db.execute(
        "SELECT url, sha256, ext, content_type, bytes, path FROM images ORDER BY url"
    ).fetchall()
    assert rows == [
        (GOOD[0], JPEG_SHA, "jpg", "image/jpeg", len(JPEG), f"assets/img/{JPEG_SHA}.jpg"),
        (GOOD[1], PNG_SHA, "png", "image/png", len(PNG), f"assets/img/{PNG_SHA}.png"),
    ]
    # Kept in a WARC: the canonical URL and the exact bytes.
    (record,) = [r for r in read_warc(archive / f"raw/images/{JPEG_SHA[:2]}/{JPEG_SHA}.warc.gz")]
    assert (record.type, record.url, record.status, record.body) == ("response", GOOD[0], 200, JPEG)


def test_bad_pictures_are_recorded_failures_and_stay_links(crawled: tuple[Path, list[str]]) -> None:
    archive, _ = crawled
    db = sqlite3.connect(archive / "finews.db")
    rows = dict(db.execute("SELECT url, reason FROM failures WHERE stage = 'image'").fetchall())
    assert set(rows) == set(BAD)
    for url, reason in BAD.items():
        assert rows[url].startswith(reason), rows[url]
    # The articles are archived all the same.
    assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == 2
    posts = _posts(archive)
    first = posts["2026-11-23-NW202611233592000001.md"].decode()
    assert f"![](/assets/img/{JPEG_SHA}.jpg)" in first
    assert f"![](/assets/img/{PNG_SHA}.png)" in first
    for url in [*BAD, ELSEWHERE]:
        assert f"![]({url})" in first
    assert (
        f"![](/assets/img/{JPEG_SHA}.jpg)" in posts["2026-11-23-NW202611233592000002.md"].decode()
    )
    markdown = db.execute(
        "SELECT body_markdown FROM articles WHERE info_code = 'NW202611233592000002'"
    ).fetchone()[0]
    assert f"/assets/img/{JPEG_SHA}.jpg" in markdown and "dfcfw" not in markdown


def test_rebuild_restores_pictures_from_the_warc(
    crawled: tuple[Path, list[str]], tmp_path: Path
) -> None:
    archive, _ = crawled
    copy = tmp_path / "archive"
    shutil.copytree(archive, copy)
    before = _posts(copy)
    shutil.rmtree(copy / "assets" / "img")
    shutil.rmtree(copy / "_posts")
    (copy / "finews.db").unlink()
    for extra in ("finews.db-wal", "finews.db-shm"):
        (copy / extra).unlink(missing_ok=True)
    run_crawl(copy, "", spider="rebuild", settings={"FINEWS_UPSTREAM": ""})
    assert (copy / f"assets/img/{JPEG_SHA}.jpg").read_bytes() == JPEG
    assert (copy / f"assets/img/{PNG_SHA}.png").read_bytes() == PNG
    assert _posts(copy) == before
    db = sqlite3.connect(copy / "finews.db")
    assert db.execute("SELECT count(*) FROM images").fetchone()[0] == 2


def test_link_mode_fetches_no_picture(data_dir: Path, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Replica(data_dir, fillers=False) as replica:
        run_crawl(archive, replica.url, settings={"FINEWS_COLUMNS": "350", "FINEWS_IMAGES": "link"})
        assert _picture_requests(replica) == []
    first = _posts(archive)["2026-11-23-NW202611233592000001.md"].decode()
    assert f"![]({GOOD[0]})" in first and "/assets/img/" not in first
    assert not (archive / "assets" / "img").exists()


def test_datasette_serves_the_copy_a_row_names(crawled: tuple[Path, list[str]]) -> None:
    """Real Datasette with the static mount docs/browsing.md gives (``--static
    assets:<archive>/assets/``): the path in ``body_markdown`` answers the picture."""
    import asyncio
    import re

    from datasette.app import Datasette

    archive, _ = crawled
    db = sqlite3.connect(archive / "finews.db")
    markdown = db.execute(
        "SELECT body_markdown FROM articles WHERE info_code = 'NW202611233592000002'"
    ).fetchone()[0]
    (path,) = re.findall(r"!\[\]\((/assets/img/[0-9a-f]{64}\.jpg)\)", markdown)

    async def get() -> tuple[int, str, bytes]:
        ds = Datasette(
            [str(archive / "finews.db")], static_mounts=[("assets", str(archive / "assets"))]
        )
        response = await ds.client.get(path)
        return response.status_code, response.headers["content-type"], response.content

    assert asyncio.run(get()) == (200, "image/jpeg", JPEG)


def test_a_slow_picture_does_not_hold_the_article(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    art = _article("202611233592000003", "2026-11-23 12:00:00", [f"{PIC}D6_slow.jpg"])
    (data / "slow.json").write_text(json.dumps(art, ensure_ascii=False))
    archive = tmp_path / "archive"
    with Replica(data, fillers=False) as replica:
        settings = {"FINEWS_COLUMNS": "350", "FINEWS_IMAGE_TIMEOUT": "0.5"}
        # 1 of 4 requests timed out: over FINEWS_MAX_FAILED_SHARE, the run is "partial".
        run_crawl(archive, replica.url, settings=settings, expect_exit=5)
    db = sqlite3.connect(archive / "finews.db")
    ((reason,),) = db.execute("SELECT reason FROM failures WHERE stage = 'image'").fetchall()
    assert reason.startswith("image download failed") and "Timeout" in reason, reason
    assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == 1
    post = _posts(archive)["2026-11-23-NW202611233592000003.md"].decode()
    assert f"![]({PIC}D6_slow.jpg)" in post

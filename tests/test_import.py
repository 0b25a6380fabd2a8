"""``make import``: the old Jekyll archive (real seed files and a generated one
in every shape) into finews — rows, posts at the old URLs (real Jekyll),
records that ``make rebuild`` reproduces, idempotence, a killed run completed."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import lxml.html
import pytest

from tests.oldarchive import write_old_archive
from tests.sitebuild import build_site, copy_skeleton, jekyll_available

REPO = Path(__file__).resolve().parent.parent
SCRAPY = str(Path(sys.executable).parent / "scrapy")
SEED = Path("/work/shared/seed-archive")
needs_jekyll = pytest.mark.skipif(not jekyll_available(), reason="jekyll not installed")


def run_import(
    src: Path, archive: Path, *extra: str, check: bool = True
) -> subprocess.CompletedProcess:
    cmd = [SCRAPY, "import-archive", str(src), "-s", f"FINEWS_ARCHIVE_DIR={archive}"]
    cmd += ["-s", "LOG_LEVEL=WARNING", *extra]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    # Nothing left behind at the end (the workers' streams are closed in order).
    assert "Traceback" not in result.stderr and "Task was destroyed" not in result.stderr
    return result


def state(archive: Path) -> tuple[dict[str, str], list[tuple]]:
    """Every file's digest (but the database and logs) and every row."""
    files = {
        p.relative_to(archive).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in archive.rglob("*")
        if p.is_file() and "finews.db" not in p.name and "logs" not in p.parts
        and p.name not in (".lock", "status.json", ".browser-probe.json")
        and not (p.name.startswith(".") and p.name.endswith(".tmp"))  # a killed write's
    }  # fmt: skip
    con = sqlite3.connect(archive / "finews.db")
    rows = []
    for table in ("articles", "article_versions", "import_sources"):
        rows += [(table, *r) for r in con.execute(f"SELECT * FROM {table} ORDER BY 1, 2")]
    rows += [("failures", *r) for r in con.execute(
        "SELECT stage, reason, detail, info_code FROM failures ORDER BY detail")]  # fmt: skip
    con.close()
    return files, rows


def rows_by_key(archive: Path) -> dict[str, dict]:
    con = sqlite3.connect(archive / "finews.db")
    con.row_factory = sqlite3.Row
    out = {r["info_code"]: dict(r) for r in con.execute("SELECT * FROM articles")}
    con.close()
    return out


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def site_urls(site: Path) -> set[str]:
    return {"/" + p.relative_to(site).as_posix() for p in site.rglob("*.html")}


# ----------------------------------------------------------------- the seed files


def _seed_copy(tmp_path: Path) -> Path:
    src = tmp_path / "old"
    for tree in ("_posts", "old_post"):
        shutil.copytree(SEED / tree, src / tree)
    return src


def _original(path: Path) -> dict[str, str]:
    """The five front matter values and the body's text, read here on purpose
    without the importer (raw lines; the body's trailers cut by hand)."""
    text = path.read_text(encoding="utf-8").lstrip("\n")
    head, body = text.split("\n---\n", 1)
    fields = dict(line.split(": ", 1) for line in head.split("\n")[1:] if ": " in line)
    kept = []
    for line in body.split("\n"):
        if line.startswith(("<http", "[返回")):
            continue
        kept.append(line)
    body = "\n".join(kept)
    if "<p" in body:
        doc = lxml.html.fragment_fromstring(body, create_parent="div")
        for hidden in doc.xpath('.//p[contains(@style, "display:none")]'):
            hidden.drop_tree()
        body = doc.text_content()
    fields["text"] = body
    fields["title"] = fields["title"].strip().strip('"')
    return fields


@needs_jekyll
def test_seed_archive(tmp_path: Path) -> None:
    src = _seed_copy(tmp_path)
    archive = tmp_path / "archive"
    result = run_import(src, archive)
    assert "imported 23" in result.stderr and "merged 1" in result.stderr
    rows = rows_by_key(archive)
    files = sorted((src / "_posts").glob("*.md")) + sorted((src / "old_post").glob("*.md"))
    names = {re.sub(r"^\d{4}-\d\d-\d\d-", "", f.stem) for f in files}
    assert len(rows) == len(names) == 23  # _posts/ and old_post/ copies: one row
    for f in files:
        name = re.sub(r"^\d{4}-\d\d-\d\d-", "", f.stem)
        key = name if name.startswith("NW") else ("EM" + name if name.isdigit() else "OP" + name)
        row, orig = rows[key], _original(f)
        assert row["title"] == orig["title"]
        assert row["published_at"] == orig["date"][:19].replace(" ", "T") + "+08:00"
        assert row["category"] == orig["categories"] and row["origin"] == "import"
        assert orig["tags"] in (row["media"] + "新闻", row["media"])
        if f.parent.name == "old_post" or not (src / "old_post" / f.name).exists():
            assert squash(row["body_text"]) == squash(orig["text"]), f
    nw = rows["NW202206142411662087"]
    assert json.loads(nw["stocks"]) == ["116.00992"]
    # The raw snapshot: the original file's bytes, with its path.
    from crawler.transform.warc import read_warc

    records = list(read_warc(archive / nw["snapshot"]))
    meta = json.loads(records[0].body)
    assert meta["source_path"] == "_posts/2022-06-14-NW202206142411662087.md"
    assert records[1].type == "resource"
    assert records[1].body == (src / meta["source_path"]).read_bytes()
    # A second import changes no file and no row.
    before = state(archive)
    again = run_import(src, archive)
    assert "unchanged 23" in again.stderr
    assert state(archive) == before
    # The old site's post URLs (Jekyll on the original files) are the new site's.
    old_site = copy_skeleton(tmp_path / "oldsite")
    shutil.copytree(src / "_posts", old_site / "_posts")
    build_site(old_site, tmp_path / "old_out")
    build_site(archive, tmp_path / "new_out")
    old_urls = {u for u in site_urls(tmp_path / "old_out") if re.search(r"/\d{4}/\d\d/\d\d/", u)}
    assert len(old_urls) == len(list((src / "_posts").glob("*.md")))
    # A file with a blank line before its "---" had no front matter to the old
    # Jekyll (served raw at /YYYY/MM/DD/<name>.html); its post now has its category.
    raw = {f.stem[11:] for f in (src / "_posts").glob("*.md") if f.read_bytes().startswith(b"\n")}
    assert raw == {"202112082206703990"}
    new_urls = site_urls(tmp_path / "new_out")
    assert {u for u in old_urls if u.split("/")[-1][:-5] not in raw} <= new_urls
    assert "/emnews/2021/12/08/202112082206703990.html" in new_urls
    page = (tmp_path / "new_out" / "emnews/2021/12/08/202112082206672930.html").read_text()
    assert "离岸人民币兑美元升至6.3512" in page


# ------------------------------------------------------------ a generated archive


@needs_jekyll
def test_generated_archive_every_shape(tmp_path: Path) -> None:
    src = tmp_path / "old"
    expected = write_old_archive(src, 400)
    archive = tmp_path / "archive"
    run_import(src, archive)
    rows = rows_by_key(archive)
    good = [e for e in expected if not e.fails]
    assert set(rows) == {e.key for e in good}
    for e in good:
        row = rows[e.key]
        assert (row["title"], row["published_at"][:19]) == (
            e.title,
            e.published.replace(" ", "T"),
        ), e
        assert row["category"] == e.category
        assert squash(row["body_text"]) == squash(e.text), e
        assert (row["related"] or "") == e.related
        assert not row["published_at"].startswith("1970")
    con = sqlite3.connect(archive / "finews.db")
    versions = dict(con.execute("SELECT info_code, count(*) FROM article_versions GROUP BY 1"))
    failures = {
        d: r for d, r in con.execute("SELECT detail, reason FROM failures WHERE stage = 'import'")
    }
    con.close()
    for e in good:
        assert versions[e.key] == e.versions, e
    for e in expected:
        if e.fails:
            assert failures[e.relpath].startswith(e.fails), (e, failures.get(e.relpath))
    assert {e.relpath for e in expected if e.fails} == set(failures)
    # Every imported post is at its old URL on the built site.
    build_site(archive, tmp_path / "site")
    urls = site_urls(tmp_path / "site")
    missing = [e.url for e in good if e.url and e.url not in urls]
    assert not missing, missing[:5]
    assert all((archive / "category" / f"{e.category}.html").exists() for e in good)
    # make rebuild reproduces the imported articles: the same posts and rows.
    before = state(archive)
    subprocess.run(
        [SCRAPY, "rebuild", "-s", f"FINEWS_ARCHIVE_DIR={archive}", "-s", "LOG_LEVEL=WARNING"],
        cwd=REPO, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    after = state(archive)
    assert {
        k: v for k, v in after[0].items() if "_site" not in k and "before-rebuild" not in k
    } == {k: v for k, v in before[0].items() if "_site" not in k}
    assert [r for r in after[1] if r[0] in ("articles", "article_versions")] == [
        r for r in before[1] if r[0] in ("articles", "article_versions")
    ]
    # An import after the rebuild (which keeps no import_sources) adds nothing.
    run_import(src, archive)
    again = state(archive)
    assert [r for r in again[1] if r[0] in ("articles", "article_versions")] == [
        r for r in before[1] if r[0] in ("articles", "article_versions")
    ]
    assert {k: v for k, v in again[0].items() if "before-rebuild" not in k} == {
        k: v for k, v in after[0].items() if "before-rebuild" not in k
    }


def test_killed_import_is_completed_by_the_next(tmp_path: Path) -> None:
    src = tmp_path / "old"
    write_old_archive(src, 3000, seed=3)
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    run_import(src, clean)
    cmd = [SCRAPY, "import-archive", str(src), "-s", f"FINEWS_ARCHIVE_DIR={killed}"]
    proc = subprocess.Popen(cmd + ["-s", "LOG_LEVEL=WARNING"], cwd=REPO, start_new_session=True,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    db = killed / "finews.db"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            con = sqlite3.connect(db, timeout=1)
            n = con.execute("SELECT count(*) FROM import_sources").fetchone()[0]
            con.close()
        except sqlite3.Error:
            n = 0
        if n > 0:
            break
        time.sleep(0.05)
    import os

    os.killpg(proc.pid, signal.SIGKILL)  # the command and its workers, mid-run
    proc.wait()
    con = sqlite3.connect(db)
    partial = con.execute("SELECT count(*) FROM articles").fetchone()[0]
    con.close()
    # A write killed midway leaves its hidden temp file (one per process at most).
    assert len(list(killed.rglob(".*.tmp"))) <= 3
    run_import(src, killed)
    files_clean, rows_clean = state(clean)
    files_killed, rows_killed = state(killed)
    assert rows_killed == rows_clean and files_killed == files_clean
    assert partial < len([r for r in rows_clean if r[0] == "articles"])


# ------------------------------------------------------- imported, then crawled


def test_imported_article_is_the_crawled_article(tmp_path: Path) -> None:
    """An imported NW article is archived: the crawl does not fetch it until it is
    due a refresh; then a changed body is a new version of the same row."""
    from tests.crawlrun import run_crawl
    from tests.replica.server import Replica

    with Replica() as replica:
        same, changed = replica.article("202611233592418806"), replica.article("202611233592436152")
        src = tmp_path / "old" / "_posts"
        src.mkdir(parents=True)
        for art, extra in ((same, ""), (changed, "<p>旧版本多出的一段。</p>")):
            slug = "zhongguojingjiwang"
            text = (
                f'---\nlayout: post\ntitle: "{art["title"]}"\ndate: {art["showTime"]} +0800\n'
                f"categories: {slug}\ntags: {art['mediaName']}新闻\n---\n{extra}{art['body_html']}\n\n"
                f"<http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW{art['code']}>\n"
            )
            (src / f"{art['showTime'][:10]}-NW{art['code']}.md").write_text(text, encoding="utf-8")
        archive = tmp_path / "archive"
        run_import(tmp_path / "old", archive)
        codes = (same["code"], changed["code"])

        def fetched(code: str) -> bool:
            return any(code in r["path"] or code in str(r["query"]) for r in replica.requests())

        run_crawl(archive, replica.url, settings={"FINEWS_PAGE_SIZE": "20"}, expect_exit=None)
        assert not any(fetched(c) for c in codes)  # archived by the import: not fetched
        con = sqlite3.connect(archive / "finews.db")
        q = "SELECT count(*), min(origin) FROM articles WHERE code = ?"
        assert [con.execute(q, [c]).fetchone() for c in codes] == [(1, "import")] * 2
        before = con.execute(
            "SELECT content_sha256 FROM articles WHERE code = ?", [changed["code"]]
        ).fetchone()[0]
        con.close()
        # Due a refresh (every article seen in the window, fetched 0 h ago or more):
        replica.reset_log()
        refresh = {"FINEWS_PAGE_SIZE": "20", "FINEWS_REFRESH_HOURS": "100000",
                   "FINEWS_REFRESH_EVERY": "0"}  # fmt: skip
        run_crawl(archive, replica.url, settings=refresh, expect_exit=None)
        assert all(fetched(c) for c in codes)
        con = sqlite3.connect(archive / "finews.db")
        assert [con.execute(q, [c]).fetchone()[0] for c in codes] == [1, 1]
        versions = con.execute(
            "SELECT count(*) FROM article_versions WHERE info_code = ?", ["NW" + changed["code"]]
        ).fetchone()[0]
        after = con.execute(
            "SELECT content_sha256 FROM articles WHERE code = ?", [changed["code"]]
        ).fetchone()[0]
        con.close()
        assert versions == 2 and after != before


def _old_flashes(src: Path, items: list[dict]) -> None:
    """Old emnews posts (``> digest`` above a text, the one-line footer) of feed items."""
    (src / "_posts").mkdir(parents=True, exist_ok=True)
    for item in items:
        text = (
            f'---\nlayout: post\ntitle: "{item["title"]}"\ndate: {item["showTime"]} +0800\n'
            f"categories: emnews\ntags: 东财滚动新闻\n---\n> 旧档案的摘要。\n\n旧档案的正文。\n\n"
            f"[返回东财滚动新闻](../emnews/)｜[返回首页](../)\n"
        )
        (src / "_posts" / f"{item['showTime'][:10]}-{item['code']}.md").write_text(text, "utf-8")


def test_imported_flash_is_not_crawled_again_from_the_feed(tmp_path: Path) -> None:
    """An emnews post imported from the old archive is the 7×24 feed's item: the
    fastnews crawl skips it (no body fetched, no flashes row, the post untouched)
    and archives the feed's other items; the page of imported items counts as known."""
    from tests.crawlrun import run_crawl
    from tests.replica import fastnews as feed
    from tests.replica.server import Replica

    items = {i["code"]: i for i in feed.FLASHES}
    old = [items["202611233799000001"], items["202611223799000002"]]  # each has a body upstream
    _old_flashes(tmp_path / "old", old)
    archive = tmp_path / "archive"
    run_import(tmp_path / "old", archive)
    posts = {p: p.read_bytes() for p in (archive / "_posts").rglob("*.md")}
    assert len(posts) == 2
    with Replica() as replica:
        result = run_crawl(archive, replica.url, "fastnews", settings={"FINEWS_PAGE_SIZE": "10"})
        asked = [r["path"] + "?" + str(r["query"]) for r in replica.requests()]
    for item in old:
        assert not [a for a in asked if item["code"] in a]  # neither page nor Choice
    assert "finews/fast/imported" in result.stderr
    assert {p: p.read_bytes() for p in posts} == posts  # the imported posts as they were
    con = sqlite3.connect(archive / "finews.db")
    flashes = {c for (c,) in con.execute("SELECT code FROM flashes")}
    keys = [k for (k,) in con.execute("SELECT info_code FROM articles ORDER BY 1")]
    con.close()
    assert not flashes & {i["code"] for i in old}
    assert {"202611233799000003", "202611233799000004"} <= flashes  # the others came
    assert keys == sorted("EM" + i["code"] for i in old)


def test_flash_crawled_first_is_not_imported_twice(tmp_path: Path) -> None:
    """The other order: the 7×24 crawl archived an item, then the old archive with
    its emnews post is imported. One item, one record: the crawl's post, row and
    snapshot stay; the old file is a failure with its path; the rest is imported."""
    from tests.crawlrun import run_crawl
    from tests.replica import fastnews as feed
    from tests.replica.server import Replica

    archive = copy_skeleton(tmp_path / "archive")
    with Replica() as replica:
        run_crawl(archive, replica.url, "fastnews", settings={"FINEWS_PAGE_SIZE": "10"})
    items = {i["code"]: i for i in feed.FLASHES}
    crawled = items["202611233799000001"]
    posts = {p: p.read_bytes() for p in (archive / "_posts").rglob("*.md")}
    assert any(crawled["code"] in p.name for p in posts)
    other = dict(crawled, code="202111233799000099", showTime="2021-11-23 11:30:00")
    _old_flashes(tmp_path / "old", [crawled, other])
    result = run_import(tmp_path / "old", archive)
    assert "imported 1," in result.stderr
    assert "1 × archived by the 7×24 crawl already" in result.stderr
    assert all(p.read_bytes() == data for p, data in posts.items())  # the crawl's posts kept
    con = sqlite3.connect(archive / "finews.db")
    keys = [k for (k,) in con.execute("SELECT info_code FROM articles WHERE code LIKE '%99000%'")]
    flash = con.execute("SELECT count(*) FROM flashes WHERE code = ?", [crawled["code"]])
    failures = con.execute("SELECT reason, detail FROM failures WHERE stage = 'import'").fetchall()
    assert keys == ["EM" + other["code"]] and flash.fetchone()[0] == 1
    assert failures == [
        ("archived by the 7×24 crawl already", f"_posts/2026-11-23-{crawled['code']}.md")
    ]
    con.close()
    # Again: nothing changes, nothing is counted twice.
    before = state(archive)
    again = run_import(tmp_path / "old", archive)
    assert "imported 0," in again.stderr and state(archive) == before


def test_a_worker_killed_mid_import_loses_nothing(tmp_path: Path) -> None:
    """A worker killed mid-job (out of memory, say): the import process does its
    jobs itself and the run ends complete, the same as an unbroken one."""
    import psutil

    src = tmp_path / "old"
    write_old_archive(src, 3000, seed=5)
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    run_import(src, clean)
    cmd = [SCRAPY, "import-archive", str(src), "-s", f"FINEWS_ARCHIVE_DIR={broken}"]
    proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, text=True)
    killed, deadline = False, time.monotonic() + 120
    while not killed and proc.poll() is None and time.monotonic() < deadline:
        for kid in psutil.Process(proc.pid).children():
            try:  # a worker at work (not one still importing its modules)
                if kid.cpu_times().user > 1.0:
                    kid.kill()
                    killed = True
                    break
            except psutil.Error:
                continue
        time.sleep(0.05)
    _out, err = proc.communicate(timeout=300)
    assert killed and proc.returncode == 0, err
    assert "a worker process died" in err
    assert state(broken) == state(clean)

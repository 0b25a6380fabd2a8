"""Synthetic Eastmoney articles and archives for the benchmark and scale tests.

Two things come out of here, both deterministic (article ``i`` is always the
same article):

- **Replica articles** (:func:`synth_article`): dicts in the replica's fixture
  format (``tests/replica/README.md``: ``code``, ``showTime``, ``title``,
  ``body_html``, ``expected_text``, ``expected_stocks``, …). Article 0 is the
  newest; article ``i`` is ``STEP`` seconds older than article ``i - 1``. Bodies
  look like Eastmoney's: the hidden first paragraph, ``　　`` paragraphs,
  stock links, K-line chart blocks, tables now and then, the ``em_media``
  source line; median ~900 characters of text. ``expected_text`` follows the
  replica's rules, so the extraction benchmark scores against it.
- **Archives** (:func:`build_archive`): a real ``finews.db`` with N articles,
  written through :func:`crawler.store.writes.upsert_articles` in big batches
  (schema, search and stock indexes and ``article_versions`` included), with the
  rows the crawler would write for the same replica articles. A crawl of the
  fast replica serving the same N articles finds them all archived.

Command line::

    .venv/bin/python -m bench.synth 100000 --db build/bench/archive-100k/finews.db
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from datetime import datetime, timedelta
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

Article = dict[str, Any]

#: Columns the synthetic articles are listed in (the default FINEWS_COLUMNS).
COLUMNS = [344, 345, 350, 351, 353]
COLUMN_NAMES = {344: "财经导读", 345: "资讯精华", 350: "国内经济", 351: "国际经济", 353: "证券聚焦"}
#: Article 0's showTime (Beijing time); older articles follow every STEP seconds.
NEWEST = datetime(2026, 10, 31, 21, 0, 0)
STEP = 240
#: Codes are YYYYMMDD + (CODE_BASE + i) on 10 digits: never a fixture's code.
CODE_BASE = 4_000_000_000

MEDIA = [
    "中国经济网",
    "证券时报",
    "上海证券报·中国证券网",
    "新华社",
    "人民网",
    "财联社",
    "21世纪经济报道",
    "中国证券报",
    "经济参考报",
    "界面新闻",
]
SUBJECTS = [
    "国家统计局",
    "央行",
    "财政部",
    "商务部",
    "证监会",
    "多家券商",
    "业内人士",
    "分析人士",
    "有关负责人",
    "机构投资者",
    "上市公司",
    "银行业",
    "新能源汽车产业",
    "半导体行业",
    "消费市场",
    "外贸企业",
]
VERBS = [
    "发布数据显示",
    "表示",
    "指出",
    "认为",
    "预计",
    "在会上介绍",
    "在接受记者采访时说",
    "日前透露",
]
CLAUSES = [
    "今年前10个月，全国规模以上工业增加值同比增长{p}%",
    "社会消费品零售总额达到{n}亿元，同比增长{p}%",
    "高技术制造业增加值同比增长{p}%，增速快于全部规上工业",
    "固定资产投资保持稳定增长，制造业投资同比增长{p}%",
    "货物贸易进出口总值{n}亿元，比去年同期增长{p}%",
    "市场流动性保持合理充裕，资金面总体平稳",
    "一揽子增量政策持续落地见效，经济运行稳中向好",
    "A股三大指数集体收涨，沪指上涨{p}%，成交额突破{n}亿元",
    "北向资金全天净买入{n}亿元，连续第三个交易日净流入",
    "行业库存去化已进入后半程，龙头企业业绩确定性较强",
    "新动能加快成长，集成电路、工业机器人产量分别增长{p}%",
    "房地产市场出现积极变化，重点城市成交面积环比增长{p}%",
    "居民消费价格指数同比上涨{p}%，核心CPI保持温和",
    "人民币汇率在合理均衡水平上保持基本稳定",
    "政策性金融工具加快投放，已支持项目{n}个",
    "下阶段要持续用力扩大国内需求，巩固和增强经济回升向好态势",
    "企业盈利能力持续改善，利润总额同比增长{p}%",
    "消费复苏节奏仍存在不确定性，短期或以震荡为主",
]
STOCKS = [
    ("1", "600519", "贵州茅台"),
    ("0", "000858", "五粮液"),
    ("0", "300750", "宁德时代"),
    ("1", "601318", "中国平安"),
    ("1", "600036", "招商银行"),
    ("0", "002594", "比亚迪"),
    ("116", "00992", "联想集团"),
    ("116", "00700", "腾讯控股"),
]


def code_of(i: int) -> str:
    show = NEWEST - timedelta(seconds=STEP * i)
    return f"{show:%Y%m%d}{CODE_BASE + i:010d}"


def index_of(code: str) -> int | None:
    """``i`` of a synthetic article's code (None if not one)."""
    if len(code) != 18 or not code.isdigit():
        return None
    i = int(code[8:]) - CODE_BASE
    return i if i >= 0 and code_of(i) == code else None


def columns_of(i: int) -> list[int]:
    column = COLUMNS[i % len(COLUMNS)]
    if i % 40 == 3:  # now and then listed in two columns
        return [column, COLUMNS[(i + 1) % len(COLUMNS)]]
    return [column]


def _sentence(rng: random.Random) -> str:
    clause = rng.choice(CLAUSES).format(p=f"{rng.uniform(0.5, 30):.1f}", n=rng.randint(12, 98765))
    return f"{rng.choice(SUBJECTS)}{rng.choice(VERBS)}，{clause}。"


@lru_cache(maxsize=4096)
def synth_article(i: int) -> Article:
    """Synthetic article ``i`` in the replica's fixture format."""
    rng = random.Random(i * 1_000_003 + 17)
    show = NEWEST - timedelta(seconds=STEP * i)
    media = MEDIA[i % len(MEDIA)]
    html: list[str] = ['<p style="display:none;height:1px;overflow:hidden;"><br /></p>']
    text: list[str] = []
    stocks: list[str] = []
    # Paragraph count ~ lognormal around 7 (median ~900 characters of text).
    n_par = max(2, min(30, round(rng.lognormvariate(2.1, 0.5))))
    chart_at = rng.randrange(n_par) if i % 5 == 0 else -1
    stock_at = rng.randrange(n_par) if i % 3 == 0 else -1
    table_at = rng.randrange(n_par) if i % 20 == 7 else -1
    for k in range(n_par):
        sentences = [_sentence(rng) for _ in range(rng.randint(2, 4))]
        if k == stock_at:
            market, scode, name = rng.choice(STOCKS)
            link = (
                f'<a href="http://quote.eastmoney.com/r/{market}.{scode}" '
                f'class="em_stock_key_common" data-code="{market},{scode}">{name}</a>'
                f'<span id="Info.{scode}"></span>'
            )
            change = f"{rng.uniform(0.1, 9.9):.2f}"
            rest = "".join(sentences)
            html.append(f"<p>\u3000\u3000截至收盘，{link}上涨{change}%，{rest}</p>")
            text.append(f"截至收盘，{name}上涨{change}%，{rest}")
            if f"{market}.{scode}" not in stocks:
                stocks.append(f"{market}.{scode}")
        else:
            html.append(f"<p>\u3000\u3000{''.join(sentences)}</p>")
            text.append("".join(sentences))
        if k == chart_at:
            market, scode, _ = rng.choice(STOCKS)
            html.append(
                '<!-- EM_StockImg_Start --><p style="text-align:center;">'
                f'<a href="http://quote.eastmoney.com/unify/r/{market}.{scode}" '
                f'data-code="{scode}|{market}|5" class="EmImageRemark">'
                f'<img src="https://webquoteklinepic.eastmoney.com/GetPic.aspx?nid={market}.{scode}'
                '&amp;imageType=k" /></a></p><!-- EM_StockImg_End -->'
            )
            if f"{market}.{scode}" not in stocks:
                stocks.append(f"{market}.{scode}")
        if k == table_at:
            rows = [["指标", "本月", "同比"]] + [
                [
                    rng.choice(["出口", "进口", "投资", "消费"]),
                    str(rng.randint(100, 9999)),
                    f"{rng.uniform(-5, 20):.1f}%",
                ]
                for _ in range(rng.randint(2, 5))
            ]
            cells = "".join(
                "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows
            )
            html.append(f'<table border="1"><tbody>{cells}</tbody></table>')
            text.extend(" ".join(row) for row in rows)
    source = f"（文章来源：{media}）"
    html.append(f'<p class="em_media">{source}</p>')
    text.append(source)
    title_rng = rng.choice(CLAUSES).format(p=f"{rng.uniform(0.5, 30):.1f}", n=rng.randint(12, 999))
    return {
        "name": f"synth_{i}",
        "code": code_of(i),
        "showTime": f"{show:%Y-%m-%d %H:%M:%S}",
        "title": title_rng.split("，")[0][:40],
        "mediaName": media,
        "summary": text[0][:120],
        "columns": columns_of(i),
        "np_dst": "CMS",
        "image": "",
        "body_html": "\n".join(html),
        # One in 25 pages uses the older (pre-2022) template.
        "page": "old" if i % 25 == 11 else "ok",
        "choice": "ok",
        "expected_text": "\n".join(text),
        "expected_stocks": stocks,
        "purpose": "synthetic (bench.synth)",
    }


# --------------------------------------------------------------------------- archive rows


def _utc_of(show_time: str, minutes: int = 7) -> str:
    """Beijing showTime -> an ISO UTC time a few minutes later (when it was "fetched")."""
    dt = datetime.strptime(show_time, "%Y-%m-%d %H:%M:%S") - timedelta(hours=8, minutes=-minutes)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def archive_row(i: int) -> dict[str, Any]:
    """The ``articles`` row the crawler writes for synthetic article ``i``.

    Text fields come from the article's ``expected_text`` (what the cleaner
    yields) rather than from running the cleaner, so 100,000 rows take
    seconds to make; the database work (upsert, versions, FTS) is the real one.
    """
    from crawler.store.writes import published_iso
    from crawler.transform.posts import category_slug, post_relpath

    art = synth_article(i)
    info_code = "NW" + art["code"]
    paragraphs = art["expected_text"].split("\n")
    clean_html = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    columns = sorted(set(art["columns"]))
    y, m = art["showTime"][:4], art["showTime"][5:7]
    return {
        "info_code": info_code,
        "code": art["code"],
        "title": art["title"],
        "published_at": published_iso(art["showTime"]),
        "media": art["mediaName"],
        "category": category_slug(art["mediaName"]),
        "columns": json.dumps([COLUMN_NAMES[c] for c in columns], ensure_ascii=False),
        "column_ids": json.dumps(columns),
        "summary": art["summary"],
        "body_markdown": "\n\n".join(paragraphs),
        "body_text": art["expected_text"],
        "body_source": "page",
        "stocks": json.dumps(art["expected_stocks"]),
        "source_url": f"https://finance.eastmoney.com/a/{art['code']}.html",
        "share_url": "http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode="
        + info_code,
        "post_path": post_relpath(info_code, art["showTime"]),
        "snapshot": f"raw/articles/{y}/{m}/{info_code}.warc.gz",
        "content_sha256": hashlib.sha256(clean_html.encode()).hexdigest(),
        # First seen and fetched minutes after publication: long before any
        # refresh window, so an incremental run refetches none of them.
        "fetched_at": _utc_of(art["showTime"]),
    }


def build_archive(db_path: Path, n: int, batch: int = 2000, progress: bool = False) -> float:
    """Write synthetic articles ``0..n-1`` into ``db_path`` (created or extended).

    Rows go through ``upsert_articles`` (one transaction per batch), oldest
    first as a crawler would have archived them. Returns seconds taken.
    """
    from crawler.store.schema import connect
    from crawler.store.writes import upsert_articles

    t0 = time.perf_counter()
    db = connect(db_path)
    have = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    order = list(range(n - 1, -1, -1))
    for start in range(0, n, batch):
        rows = [archive_row(i) for i in order[start : start + batch]]
        if have:  # extending an archive: skip what is there
            codes = [r["info_code"] for r in rows]
            marks = ",".join("?" * len(codes))
            known = {
                c
                for (c,) in db.execute(
                    f"SELECT info_code FROM articles WHERE info_code IN ({marks})", codes
                ).fetchall()
            }
            rows = [r for r in rows if r["info_code"] not in known]
        if rows:
            upsert_articles(db, rows)
        if progress and (start // batch) % 10 == 0:
            print(f"  {start + len(rows)}/{n} rows", file=sys.stderr, flush=True)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return time.perf_counter() - t0


def ensure_archive(db_path: Path, n: int) -> tuple[float, bool]:
    """An archive of exactly synthetic articles ``0..n-1`` at ``db_path``, reused when present.

    Returns (seconds spent building, reused).
    """
    marker = db_path.with_name(db_path.name + f".synth-{n}")
    if db_path.exists() and marker.exists():
        return 0.0, True
    for suffix in ("", "-wal", "-shm"):
        db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
    seconds = build_archive(db_path, n)
    marker.write_text(f"{n} synthetic articles, {seconds:.1f} s\n")
    return seconds, False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic finews archive database.")
    parser.add_argument("n", type=int, help="number of articles")
    parser.add_argument("--db", type=Path, required=True, help="finews.db to create or extend")
    parser.add_argument("--batch", type=int, default=2000, help="rows per transaction")
    args = parser.parse_args(argv)
    seconds = build_archive(args.db, args.n, args.batch, progress=True)
    print(f"{args.n} articles in {args.db}: {seconds:.1f} s ({args.n / seconds:.0f} rows/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

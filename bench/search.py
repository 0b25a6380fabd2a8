"""Benchmark of the archive's Chinese search at scale.

    .venv/bin/python bench/search.py [N] [--dir DIR] [--queries K] [--reuse]

Builds ``DIR/finews.db`` (default ``build/bench-search``) with N synthetic
articles (default 100,000): Chinese text sampled from a word list with Zipf
weights, bodies of lognormal length (median ~900 characters, as Eastmoney
news), Markdown beside the plain text. The path of a real archive is taken:
``crawler.store.schema`` schema, bulk insert, then the indexes (``ensure_schema``:
the bigram search index, stocks, browse indexes) built over the existing rows,
as when an archive is migrated; then the last 2% of the articles are written
through ``upsert_articles`` in batches of 100 (the crawler's path: it keeps the
search index itself; gives the write cost and leaves the index with fresh
segments like a live archive).

Then, for K queries each of 2, 3 and 6 characters (real words plus random
substrings of random articles), median and p95 latency of:

- ``table SQL``: the two statements Datasette's table page runs for
  ``/finews/articles?_search=q`` (rows: newest first, limit 101; and the
  count), with the plugin's ``escape_fts`` — the bigram index for any length;
- ``canned SQL``: the ``search`` canned query of ``archive/metadata.yml``
  (bigram index, ranked, snippet);
- ``scan SQL``: the table statements without an index (``instr`` over every
  row), what search would cost without it (a few queries);
- ``table HTTP`` / ``canned HTTP``: the same pages through Datasette's own
  client (``/finews/articles.json?_search=q``, facets included, and
  ``/finews/search.json?q=q``) with the settings of ``make serve``.

Prints the timings, the build times and the size of each index.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import math
import random
import shutil
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler.store.schema import SCHEMA, connect, ensure_schema  # noqa: E402
from crawler.store.search import SEARCH_TABLE_SQL, check_search  # noqa: E402
from crawler.store.writes import upsert_articles  # noqa: E402
from tests.searchdata import SERVE_SETTINGS, load_plugin  # noqa: E402

ARCHIVE = ROOT / "archive"


# Financial news vocabulary, most frequent first (Zipf weights by rank):
# function words, then general and market words, names, phrases.
WORDS = """
的 在 和 了 是 将 对 为 与 也 等 中 上 有 不 已 于 及 以 其 被 从 到 并 而 但 或 由 这 该 此 各 其中 同时 此外
市场 公司 经济 投资 发展 增长 政策 企业 行业 资金 银行 数据 金融 产品 业务 项目 规模 水平 情况 表示 认为 显示 目前 今年 去年
同比 环比 亿元 万元 季度 年度 月份 上半年 下半年 预计 预期 继续 进一步 持续 稳定 支持 推动 加快 提高 降低 扩大 加强 实现 保持 推进
股市 指数 板块 个股 上涨 下跌 涨幅 跌幅 涨停 跌停 收盘 开盘 成交 成交额 成交量 沪指 深成指 创业板 科创板 北交所 两市 主力 资金面
基金 债券 利率 汇率 人民币 美元 欧元 通胀 消费 出口 进口 贸易 制造业 服务业 房地产 楼市 土地 基建 新能源 汽车 光伏 芯片 半导体 医药 白酒
央行 降息 降准 加息 货币政策 财政政策 流动性 逆回购 中期借贷便利 贷款市场报价利率 存款准备金率 美联储 欧洲央行 监管 证监会 银保监会 交易所
机构 投资者 分析师 券商 私募 公募 外资 北向资金 南向资金 净买入 净卖出 融资 融券 质押 回购 分红 业绩 营收 净利润 毛利率 估值 市盈率
国务院 发改委 财政部 商务部 统计局 国家统计局 中国人民银行 上海证券交易所 深圳证券交易所 香港交易所 国内生产总值 居民消费价格指数
记者 报道 据悉 获悉 采访 发布 公告 披露 召开 会议 指出 强调 要求 部署 落实 改革 开放 创新 转型 升级 高质量发展 稳增长 防风险
一 二 三 四 五 六 七 八 九 十 百 千 万 亿 个 家 只 位 项 次 点 倍 成 年 月 日 周 天 小时
""".split()  # noqa: SIM905 (a list literal of 250 words is unreadable)

PUNCT = "，，，，，。。、；："
MEDIA = [
    "新华社",
    "中国经济网",
    "上海证券报·中国证券网",
    "证券时报网",
    "财联社",
    "中国证券报",
    "第一财经",
    "东方财富研究中心",
]
COLUMNS = [
    "国内经济",
    "财经导读",
    "证券聚焦",
    "全球市场",
    "公司",
    "基金",
    "商品",
    "外汇",
    "产业",
    "观点",
]

# Queries: real words of each length (those in WORDS occur; others partly).
REAL_QUERIES = {
    1: ["涨", "跌", "股", "债", "息", "汇", "金", "油", "房", "茅", "港", "矿", "钢", "猪"],
    2: [
        "央行",
        "降息",
        "基金",
        "银行",
        "利率",
        "芯片",
        "白酒",
        "降准",
        "券商",
        "光伏",
        "楼市",
        "涨停",
        "外资",
        "估值",
    ],
    3: [
        "人民币",
        "美联储",
        "创业板",
        "科创板",
        "房地产",
        "新能源",
        "半导体",
        "北交所",
        "制造业",
        "成交额",
        "净利润",
        "证监会",
        "市盈率",
        "逆回购",
    ],
    6: [
        "中国人民银行",
        "上海证券交易所",
        "存款准备金率",
        "货币政策稳定",
        "国内生产总值",
        "北向资金净买",
        "降息预期升温",
        "人民币汇率稳",
        "新能源汽车销",
        "上涨的市场",
    ],
}


class Text:
    """Chinese-like text with realistic statistics, fast to draw.

    A vocabulary of 60,000 words with Zipf weights (exponent 1): the real words
    above at the top ranks (function words first, so 央行 or 降息 land in a few
    per cent of the articles, as in real news), then made-up words of 1-4
    characters drawn from 3,500 CJK characters, themselves Zipf-distributed
    (the most common ~1,000 characters covering ~80% of the text, as in real
    Chinese). Sentences of 4-14 words are pooled and sampled per article.
    """

    def __init__(
        self,
        seed: int = 20221024,
        vocabulary: int = 60000,
        pool: int = 200000,
        body_median: int = 900,
    ) -> None:
        self.body_median = body_median
        self.rnd = rnd = random.Random(seed)
        charset = sorted({c for w in WORDS for c in w})
        rnd.shuffle(charset)
        others = [chr(cp) for cp in range(0x4E00, 0x9FA6) if chr(cp) not in set(charset)]
        rnd.shuffle(others)
        charset += others[: 3500 - len(charset)]
        char_cum = list(itertools.accumulate(1 / (r + 1) for r in range(len(charset))))

        def made_up() -> str:
            length = rnd.choices((1, 2, 3, 4), (10, 65, 15, 10))[0]
            return "".join(
                charset[bisect.bisect(char_cum, rnd.random() * char_cum[-1])] for _ in range(length)
            )

        words = list(WORDS)
        seen = set(words)
        while len(words) < vocabulary:
            w = made_up()
            if w not in seen:
                seen.add(w)
                words.append(w)
        # Real words at ranks 0..~1,400 (function words first), made-up ones fill in.
        ranked: list[str] = []
        real, fake = iter(words[: len(WORDS)]), iter(words[len(WORDS) :])
        for rank in range(vocabulary):
            nxt = next(real, None) if rank < 60 or rank % 4 == 0 else None
            ranked.append(nxt if nxt is not None else next(fake))
        self.words = ranked
        self.cum = list(itertools.accumulate(1 / (r + 1) for r in range(len(ranked))))
        self.sentences = [
            "".join(self._word() for _ in range(rnd.randint(4, 14))) + rnd.choice(PUNCT)
            for _ in range(pool)
        ]

    def _word(self) -> str:
        return self.words[bisect.bisect(self.cum, self.rnd.random() * self.cum[-1])]

    def text(self, chars: int) -> str:
        out: list[str] = []
        n = 0
        while n < chars:
            s = self.sentences[self.rnd.randrange(len(self.sentences))]
            out.append(s)
            n += len(s)
        return "".join(out)

    def article(self, i: int) -> dict[str, Any]:
        rnd = self.rnd
        body_len = int(rnd.lognormvariate(math.log(self.body_median), 0.6))
        paragraphs = [self.text(max(40, body_len // 4)) for _ in range(4)]
        body = "\n".join(paragraphs)
        code = f"2022{i:014d}"
        ts = 1577836800 + i * 90  # from 2020-01-01, one article every 1.5 minutes
        published = time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(ts + 8 * 3600))
        media = rnd.choice(MEDIA)
        stocks = [
            f"{rnd.choice((0, 1))}.{rnd.randrange(1, 700000):06d}"
            for _ in range(rnd.randrange(0, 4))
        ]
        return {
            "info_code": "NW" + code,
            "code": code,
            "title": self.text(12)[:28].rstrip(PUNCT),
            "published_at": published,
            "media": media,
            "category": f"media{MEDIA.index(media)}",
            "columns": json.dumps(rnd.sample(COLUMNS, rnd.randint(1, 2)), ensure_ascii=False),
            "column_ids": "[350]",
            "summary": self.text(60)[:100],
            "body_markdown": "\n\n".join(paragraphs),
            "body_text": body,
            "body_source": "page",
            "stocks": json.dumps(stocks),
            "source_url": f"https://finance.eastmoney.com/a/{code}.html",
            "share_url": "",
            "post_path": f"_posts/{published[:10]}-NW{code}.md",
            "snapshot": f"raw/articles/{published[:4]}/{published[5:7]}/NW{code}.warc.gz",
            "content_sha256": f"{i:064x}",
            "first_seen_at": "2022-10-24T00:00:00Z",
            "fetched_at": "2022-10-24T00:00:00Z",
        }


def timed(label: str, fn: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    result = fn()
    print(f"  {label}: {time.perf_counter() - t0:.1f} s", flush=True)
    return result


#: FTS5 merge settings while the index is first filled: segments are merged once, by
#: the refill's 'optimize', instead of again and again (automerge 4 rewrites the whole
#: index about log4(segments) times: over an hour at 1,000,000 articles here).
BULK_MERGE = {"automerge": 0, "crisismerge": 64}
LIVE_MERGE = {"automerge": 4, "crisismerge": 16}  # FTS5's defaults, as a live archive has


def merge_settings(db: Any, settings: dict[str, int]) -> None:
    for name, value in settings.items():
        db.execute(
            "INSERT INTO articles_search(articles_search, rank) VALUES (?, ?)", [name, value]
        )


def build(directory: Path, n: int, body_median: int = 900, check: bool = True) -> dict[str, float]:
    """Build the database; returns phase timings (s)."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    path = directory / "finews.db"
    gen = Text(body_median=body_median)
    live = max(1, n // 50)  # written through the crawler's path at the end
    bulk = n - live
    times: dict[str, float] = {}
    print(
        f"building {path}: {bulk} articles in bulk, then {live} through upsert_articles", flush=True
    )

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    cols = list(gen.article(0))
    sql = f"INSERT INTO articles ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"

    def insert() -> None:
        for start in range(0, bulk, 10000):
            rows = [tuple(gen.article(i).values()) for i in range(start, min(bulk, start + 10000))]
            conn.execute("BEGIN")
            conn.executemany(sql, rows)
            conn.execute("COMMIT")

    t0 = time.perf_counter()
    timed("generate + insert articles", insert)
    times["insert"] = time.perf_counter() - t0
    conn.close()

    import sqlite_utils

    db = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))
    # The search table first, to fill it with BULK_MERGE: ensure_schema then
    # finds it (same definition) and fills it with the stock table.
    db.execute(SEARCH_TABLE_SQL)
    merge_settings(db, BULK_MERGE)
    t0 = time.perf_counter()
    timed("indexes: bigram search, stocks, browse (ensure_schema)", lambda: ensure_schema(db))
    times["indexes"] = time.perf_counter() - t0
    merge_settings(db, LIVE_MERGE)
    db.close()

    db = connect(path)
    rows = [gen.article(i) for i in range(bulk, n)]
    t0 = time.perf_counter()
    for start in range(0, len(rows), 100):
        upsert_articles(db, rows[start : start + 100])
    times["live"] = time.perf_counter() - t0
    times["live_per_article_ms"] = 1000 * times["live"] / len(rows)
    print(
        f"  upsert_articles (search and stock indexes kept): {times['live_per_article_ms']:.2f} ms/article",
        flush=True,
    )
    if check:  # reads the whole index: minutes at 1,000,000 articles
        problems = check_search(db)
        assert not problems, problems
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return times


def sizes(path: Path) -> dict[str, int]:
    """Bytes per group of b-trees (dbstat)."""
    conn = sqlite3.connect(path)
    groups = dict.fromkeys(
        [
            "articles",
            "articles_search",
            "browse indexes",
            "article_stocks",
            "other",
        ],
        0,
    )
    browse = {"articles_search_order", "articles_facet_media", "articles_facet_category"}
    browse.add("articles_facet_columns")
    for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
        if name in browse:
            groups["browse indexes"] += size
        elif name.startswith("articles_search"):
            groups["articles_search"] += size
        elif name.startswith("article_stocks"):
            groups["article_stocks"] += size
        elif name.startswith("articles") or name.startswith("sqlite_autoindex_articles"):
            groups["articles"] += size
        else:
            groups["other"] += size
    conn.close()
    groups["file"] = path.stat().st_size
    return groups


def pick_queries(path: Path, k: int, seed: int = 7) -> dict[int, list[str]]:
    """Half real words, half substrings of random articles (all CJK)."""
    rnd = random.Random(seed)
    conn = sqlite3.connect(path)
    n = conn.execute("SELECT max(rowid) FROM articles").fetchone()[0]
    out: dict[int, list[str]] = {}
    for length, words in REAL_QUERIES.items():
        chosen = list(words[: k // 2])
        while len(chosen) < k:
            (body,) = conn.execute(
                "SELECT body_text FROM articles WHERE rowid = ?", [rnd.randint(1, n)]
            ).fetchone()
            i = rnd.randrange(0, max(1, len(body) - length))
            s = body[i : i + length]
            if len(s) == length and all("\u4e00" <= c <= "\u9fff" for c in s) and s not in chosen:
                chosen.append(s)
        out[length] = chosen
    conn.close()
    return out


# Exactly what Datasette runs for /finews/articles?_search=q (every column,
# newest first, 101 rows; and the count), with fts_pk = code.
COLUMNS_SQL = (
    "info_code, code, title, published_at, media, category, columns, column_ids, summary, "
    "body_markdown, body_text, body_source, stocks, source_url, share_url, post_path, "
    "snapshot, content_sha256, first_seen_at, fetched_at"
)
TABLE_ROWS = (
    f"select {COLUMNS_SQL} from articles where {{pk}} in "
    "(select rowid from {fts} where {fts} match {q}) order by published_at desc limit 101"
)
TABLE_COUNT = (
    "select count(*) from articles where {pk} in (select rowid from {fts} where {fts} match {q})"
)
SCAN_ROWS = (
    "select info_code, published_at, title, media from articles "
    "where instr(title, :q) or instr(summary, :q) or instr(body_text, :q) "
    "order by published_at desc limit 101"
)
SCAN_COUNT = "select count(*) from articles where instr(title, :q) or instr(summary, :q) or instr(body_text, :q)"


#: CPU ms (this process, all threads) of each query of the last measure/http_all: on a
#: machine other work keeps busy, wall time waits for a core; the CPU time does not.
LAST_CPU: list[float] = []


def measure(fn: Callable[[str], Any], queries: list[str]) -> tuple[list[float], list[Any]]:
    times, results = [], []
    LAST_CPU.clear()
    for q in queries:
        c0, t0 = time.process_time(), time.perf_counter()
        results.append(fn(q))
        times.append(1000 * (time.perf_counter() - t0))
        LAST_CPU.append(1000 * (time.process_time() - c0))
    return times, results


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def summary(times: list[float]) -> str:
    """Wall median and p95 (what bench/run.py reads), then the CPU's."""
    if not times:
        return "-"
    text = f"median {statistics.median(times):8.1f} ms   p95 {p95(times):8.1f} ms"
    if len(LAST_CPU) == len(times):
        text += f"   (cpu median {statistics.median(LAST_CPU):.1f}, p95 {p95(LAST_CPU):.1f} ms)"
    return text


def load_plans() -> Any:
    """archive/plugins/finews_table_search.py: the table search's plans."""
    import importlib.util

    path = ARCHIVE / "plugins" / "finews_table_search.py"
    spec = importlib.util.spec_from_file_location("finews_table_search_bench", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_queries(directory: Path, k: int, scans: int) -> None:
    path = directory / "finews.db"
    plugin = load_plugin("finews_search_bench")
    plans = load_plans()
    canned = yaml.safe_load((ARCHIVE / "metadata.yml").read_text("utf-8"))["databases"]["finews"][
        "queries"
    ]["search"]["sql"]
    queries = pick_queries(path, k)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.create_function("escape_fts", 1, plugin.fts_query, deterministic=True)
    conn.create_function("search_word", 1, plugin.search_word, deterministic=True)
    conn.create_function("finews_rank", 5, plugin.rank_score, deterministic=True)

    def table_sql(pk: str, fts: str, escape: str) -> Callable[[str], int]:
        rows_sql = TABLE_ROWS.format(pk=pk, fts=fts, q=escape)
        count_sql = TABLE_COUNT.format(pk=pk, fts=fts, q=escape)

        def run(q: str) -> int:
            conn.execute(rows_sql, {"search": q}).fetchall()
            return conn.execute(count_sql, {"search": q}).fetchone()[0]

        return run

    used: dict[str, int] = {}

    def planned_sql(q: str) -> int:
        """What finews_table_search.py runs: the capped count, the planned page of
        21 rows newest first (the count of a common word is left out: the plugin
        gives it COUNT_MS ms, then shows "more than COMMON"; a phrase's, none)."""
        params = {"search": q}
        fts = plugin.fts_query(q)
        cap = plans.cap_for(fts)
        capped, floor = conn.execute(plans.NEWEST, {**params, "cap": cap + 1}).fetchone()
        clause = plans.plan(capped, True, plans.is_phrase(fts))
        used[clause] = used.get(clause, 0) + 1
        conn.execute(
            f"select {COLUMNS_SQL} from articles where {clause} "
            "order by published_at desc limit 21",
            {**params, "floor": floor},
        ).fetchall()
        return capped

    def canned_sql(q: str) -> int:
        return len(conn.execute(canned, {"q": q}).fetchall())

    def scan_sql(q: str) -> int:
        conn.execute(SCAN_ROWS, {"q": q}).fetchall()
        return conn.execute(SCAN_COUNT, {"q": q}).fetchone()[0]

    default_table = table_sql("code", "articles_search", "escape_fts(:search)")
    names = {
        plans.BY_KEY: "by key",
        plans.ALL_HITS: "all hits",
        plans.PROBE: "probe",
        plans.FLOOR: "floor",
    }

    from datasette.app import Datasette

    ds = Datasette(config_dir=directory, settings=SERVE_SETTINGS)

    async def http_all(paths: list[str]) -> tuple[list[float], list[int]]:
        times, statuses = [], []
        LAST_CPU.clear()
        for p in paths:
            c0, t0 = time.process_time(), time.perf_counter()
            r = await ds.client.get(p)
            times.append(1000 * (time.perf_counter() - t0))
            LAST_CPU.append(1000 * (time.process_time() - c0))
            statuses.append(r.status_code)
        return times, statuses

    from urllib.parse import quote

    print(
        f"\nqueries: {k} per length (first {k // 2}: real words; rest: substrings of random articles)"
    )
    # Templates compiled, caches warm: the first request of a process costs ~0.5 s.
    asyncio.run(http_all(["/finews/articles", "/finews/search?q=x", "/finews/articles?_search=x"]))
    for length, qs in queries.items():
        print(f"\n{length}-character queries, e.g. {' '.join(qs[:4])} … {' '.join(qs[-2:])}")
        used.clear()
        t, hits = measure(planned_sql, qs)
        plan_counts = ", ".join(f"{names[c]} {n}" for c, n in sorted(used.items(), key=str))
        print(
            f"  table SQL   (planned)  {summary(t)}   hits median {statistics.median(hits):.0f}"
            f" (capped at {plans.COMMON + 1}, a phrase at {plans.PHRASE_CAP + 1}); plans: {plan_counts}"
        )
        few = qs[:scans]
        t, dhits = measure(default_table, few)
        print(
            f"  table SQL   (datasette) {summary(t)}   ({len(few)} queries: Datasette's own plan and count)"
        )
        t, rows = measure(canned_sql, qs)
        print(f"  canned SQL  (bigram)   {summary(t)}")
        t, shits = measure(scan_sql, few)
        print(
            f"  scan SQL    (no index) {summary(t)}   ({len(few)} queries; same hits: {shits == dhits})"
        )
        for label, url in [
            ("table HTTP  (nofacet) ", "/finews/articles?_search={}&_nofacet=1"),
            ("table JSON  (nofacet) ", "/finews/articles.json?_search={}&_nofacet=1"),
            ("table HTTP  (facets)  ", "/finews/articles?_search={}"),
            ("canned HTTP           ", "/finews/search?q={}"),
        ]:
            t, st = asyncio.run(http_all([url.format(quote(q)) for q in qs]))
            print(f"  {label} {summary(t)}   statuses {sorted(set(st))}")
    conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("n", nargs="?", type=int, default=100000, help="articles (default 100000)")
    parser.add_argument("--dir", type=Path, default=ROOT / "build" / "bench-search")
    parser.add_argument("--queries", type=int, default=30, help="queries per length (default 30)")
    parser.add_argument("--scans", type=int, default=3, help="unindexed scans to time (default 3)")
    parser.add_argument("--reuse", action="store_true", help="query an existing DIR/finews.db")
    parser.add_argument(
        "--no-check", action="store_true", help="skip the index check after the build (slow at 1M)"
    )
    parser.add_argument(
        "--body-median",
        type=int,
        default=900,
        help="median body length in characters (default 900; less builds faster, "
        "for the costs that grow with the number of rows)",
    )
    args = parser.parse_args(argv)
    directory: Path = args.dir
    if not args.reuse:
        t0 = time.perf_counter()
        times = build(directory, args.n, args.body_median, check=not args.no_check)
        print(
            f"built in {time.perf_counter() - t0:.0f} s: {json.dumps({k: round(v, 2) for k, v in times.items()})}"
        )
    for name in ("metadata.yml",):
        shutil.copy(ARCHIVE / name, directory / name)
    shutil.copytree(ARCHIVE / "plugins", directory / "plugins", dirs_exist_ok=True)
    shutil.copytree(ARCHIVE / "templates", directory / "templates", dirs_exist_ok=True)
    size = sizes(directory / "finews.db")
    base = size["articles"] + size["other"]
    n = (
        sqlite3.connect(directory / "finews.db")
        .execute("SELECT count(*) FROM articles")
        .fetchone()[0]
    )
    print(f"\n{n} articles; sizes (MB; % of the articles table and its own indexes + other):")
    for name, value in size.items():
        print(f"  {name:16s} {value / 1e6:10.1f}   {100 * value / base:6.1f} %")
    run_queries(directory, args.queries, args.scans)


if __name__ == "__main__":
    main()

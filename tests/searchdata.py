"""A small archive database for the search and Datasette tests.

Twenty hand-written articles (rows made by the crawler's own ``article_row``
and written by ``upsert_articles``), with the traps a Chinese search must get
right:

- 央行 in a title, a summary, a body, and as the last two characters of a body;
- 中央。行业 (央 and 行 with a full stop between) and a title ending in 央 with
  the summary starting with 行: neither contains 央行;
- "降 息" (a space between) does not contain 降息;
- 涨 as the very last character of a title and of a body;
- 3+ character phrases (人民币, 降息预期, 中国人民银行) and Latin letters in two
  cases (GDP, gdp);
- stocks on several markets (000001 is both 1.000001 and 0.000001).

``expected(query)`` is the ground truth: the articles in which every
whitespace-separated word of ``query`` occurs in the title, summary or body
(case-insensitive, as the index is), computed in Python independently of SQLite.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crawler.items import Article
from crawler.store.schema import connect
from crawler.store.search import ensure_search
from crawler.store.writes import article_row, upsert_articles

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = ROOT / "archive"

# The Datasette settings of `make serve` (see the Makefile target): read-only
# for visitors and bounded work per request.
SERVE_SETTINGS: dict[str, object] = {
    "default_allow_sql": False,
    "allow_download": False,
    "allow_csv_stream": False,
    "suggest_facets": False,
    "sql_time_limit_ms": 3000,
    "facet_time_limit_ms": 500,
    "max_returned_rows": 1000,
}


def load_plugin(name: str = "finews_search_under_test") -> Any:
    """archive/plugins/finews_search.py as a module (for its query rewriting)."""
    spec = importlib.util.spec_from_file_location(name, ARCHIVE / "plugins" / "finews_search.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def serve_args() -> list[str]:
    """SERVE_SETTINGS as ``datasette serve`` options."""
    args: list[str] = []
    for name, value in SERVE_SETTINGS.items():
        text = ("on" if value else "off") if isinstance(value, bool) else str(value)
        args += ["--setting", name, text]
    return args


XH = "新华社"
ZG = "中国经济网"
SH = "上海证券报·中国证券网"
ZQ = "证券时报网"


@dataclass(frozen=True)
class Doc:
    key: str  # A01 … A20; info_code = NW2022061424116621<key digits>
    published: str  # Beijing time "YYYY-MM-DD HH:MM:SS"
    media: str
    columns: tuple[str, ...]
    title: str
    summary: str
    body: str
    stocks: tuple[str, ...] = ()

    @property
    def info_code(self) -> str:
        return "NW2022061424116621" + self.key[1:]


DOCS: list[Doc] = [
    Doc(
        "A01",
        "2022-06-14 07:30:00",
        XH,
        ("国内经济",),
        "央行开展逆回购操作 维护流动性合理充裕",
        "人民银行今日开展1000亿元逆回购操作。",
        "为维护银行体系流动性合理充裕，人民银行今日以利率招标方式开展了1000亿元7天期逆回购操作，中标利率2.1%。",
    ),
    Doc(
        "A02",
        "2022-06-14 09:15:00",
        ZG,
        ("国内经济", "财经导读"),
        "多家机构预计本月LPR维持不变",
        "市场对降息预期有所升温。",
        "分析人士认为，在稳增长政策发力的背景下，中国人民银行可能通过降准而非降息来释放流动性。"
        "贷款市场报价利率（LPR）本月维持不变。",
    ),
    Doc(
        "A03",
        "2022-06-14 15:05:00",
        SH,
        ("证券聚焦",),
        "A股三大指数集体上涨 沪指涨超1%",
        "两市成交额突破万亿元。",
        "截至收盘，沪指上涨1.02%，深成指涨1.5%，创业板指涨2.1%。北向资金净买入逾50亿元。",
        ("1.000001", "0.399001", "0.399006"),
    ),
    Doc(
        "A04",
        "2022-06-13 20:00:00",
        XH,
        ("国内经济",),
        "中央经济工作会议部署重点任务",
        "会议部署下一阶段经济工作。",
        "会议指出，要坚持稳中求进工作总基调。出席会议的有党中央。行业协会代表表示积极响应。",
    ),
    Doc(
        "A05",
        "2022-06-16 02:10:00",
        ZQ,
        ("全球市场",),
        "美联储宣布降息25个基点",
        "这是美联储年内第三次降息。",
        "美联储宣布将联邦基金利率目标区间下调25个基点。市场此前的降息预期升温，美元指数应声下跌。",
    ),
    Doc(
        "A06",
        "2022-06-15 10:00:00",
        ZG,
        ("外汇",),
        "人民币汇率稳中有升",
        "在岸人民币对美元汇率小幅走强。",
        "外汇市场人士表示，央行近期多次释放稳汇率信号，人民币汇率有望保持基本稳定。",
    ),
    Doc(
        "A07",
        "2022-06-15 11:30:00",
        ZQ,
        ("基金",),
        "基金发行市场回暖",
        "新发基金规模环比增长。",
        "数据显示，本周新成立基金12只，合计募集规模超过80亿元。权益类基金占比提升。",
    ),
    Doc(
        "A08",
        "2022-06-16 19:45:00",
        XH,
        ("全球市场",),
        "欧洲央行维持利率不变",
        "欧洲央行行长表示将保持耐心。",
        "欧洲中央银行周四宣布维持三大关键利率不变，符合市场预期。",
    ),
    Doc(
        "A09",
        "2022-06-15 08:00:00",
        ZG,
        ("国内经济",),
        "降 息 还是降准？",
        "专家解读货币政策工具箱。",
        "降准释放长期资金，利率调整则影响融资成本。",
    ),
    Doc(
        "A10",
        "2022-06-17 06:50:00",
        ZG,
        ("财经导读",),
        "财经早报：六月十七日",
        "今日要闻一览。",
        "多家银行下调存款利率。市场人士认为，后续还要看央行",
    ),
    Doc(
        "A11",
        "2022-06-17 15:10:00",
        SH,
        ("证券聚焦",),
        "上证综指收报3300点，涨",
        "",
        "沪深两市个股涨跌互现。",
    ),
    Doc(
        "A12",
        "2022-06-17 16:20:00",
        ZQ,
        ("商品",),
        "黄金价格走势分析",
        "国际金价震荡。",
        "分析师认为短期内金价仍有望上涨",
    ),
    Doc(
        "A13",
        "2022-06-18 09:00:00",
        ZG,
        ("产业",),
        "新能源汽车销量创新高",
        "五月新能源汽车销量同比增长超过一倍。",
        "乘联会数据显示，五月新能源乘用车零售销量达到34万辆，同比增长。比亚迪（002594）表现亮眼。",
        ("0.002594",),
    ),
    Doc(
        "A14",
        "2022-06-18 14:00:00",
        SH,
        ("证券聚焦", "公司"),
        "贵州茅台股东大会召开",
        "贵州茅台（600519）举行年度股东大会。",
        "公司管理层表示，将继续推进高质量发展。股价小幅上涨。",
        ("1.600519",),
    ),
    Doc(
        "A15",
        "2022-06-18 16:30:00",
        ZQ,
        ("全球市场",),
        "港股收评：恒指收高",
        "腾讯控股领涨。",
        "恒生指数收高0.8%，科技股表现活跃。贵州茅台（600519）A股同步走强。",
        ("116.00700", "1.600519"),
    ),
    Doc(
        "A16",
        "2022-06-19 18:00:00",
        ZG,
        ("公司",),
        "平安银行发布一季度业绩",
        "平安银行（000001）一季度净利润同比增长。",
        "平安银行表示，资产质量保持稳定，不良贷款率下降。",
        ("0.000001",),
    ),
    Doc(
        "A17",
        "2022-06-19 07:59:59",
        XH,
        ("国内经济", "财经导读"),
        "央行：保持货币政策稳定性",
        "中国人民银行召开工作会议。",
        "会议要求，继续实施稳健的货币政策，降息降准等工具灵活运用，"
        "保持人民币汇率在合理均衡水平上的基本稳定。",
    ),
    Doc(
        "A18",
        "2022-06-20 10:00:00",
        ZQ,
        ("商品",),
        "国际油价大幅下挫",
        "布伦特原油期货下跌超过3%。",
        "市场担忧全球经济放缓将拖累原油需求，油价承压。",
    ),
    Doc(
        "A19",
        "2022-06-20 11:00:00",
        ZG,
        ("国内经济",),
        "一季度GDP同比增长4.8%",
        "国家统计局发布一季度gdp数据。",
        "初步核算，一季度国内生产总值同比增长4.8%，经济运行开局良好。",
    ),
    Doc(
        "A20",
        "2022-06-20 12:00:00",
        SH,
        ("证券聚焦",),
        "券商晨会聚焦党中央",
        "行业配置建议：关注消费板块。",
        "机构建议关注低估值蓝筹。",
    ),
]

BY_KEY = {doc.key: doc for doc in DOCS}
FETCHED_AT = "2022-06-21T00:00:00Z"


def row_of(doc: Doc) -> dict[str, Any]:
    """The ``articles`` row the crawler would write for ``doc``."""
    code = doc.info_code[2:]
    y, m = doc.published[:4], doc.published[5:7]
    article = Article(
        info_code=doc.info_code,
        code=code,
        title=doc.title,
        published=doc.published,
        media=doc.media,
        summary=doc.summary,
        columns=list(doc.columns),
        column_ids=[350 + len(c) for c in doc.columns],
        source_url=f"https://finance.eastmoney.com/a/{code}.html",
        share_url=f"http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode={doc.info_code}",
        body_source="page",
        body_markdown=doc.body,
        body_text=doc.body,
        stocks=list(doc.stocks),
        content_sha256=hashlib.sha256(doc.body.encode()).hexdigest(),
        snapshot=f"raw/articles/{y}/{m}/{doc.info_code}.warc.gz",
        post_path=f"_posts/{doc.published[:10]}-{doc.info_code}.md",
        fetched_at=FETCHED_AT,
    )
    return article_row(article)


def contains(doc: Doc, word: str) -> bool:
    word = word.lower()
    return any(word in text.lower() for text in (doc.title, doc.summary, doc.body))


def expected(query: str) -> set[str]:
    """infoCodes of the articles containing every word of ``query``."""
    words = query.split()
    return {doc.info_code for doc in DOCS if words and all(contains(doc, w) for w in words)}


def codes(*keys: str) -> set[str]:
    return {BY_KEY[key].info_code for key in keys}


def utc(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


# A02 is first archived with this body, then refreshed with its final one:
# article_versions gets versions 1 and 2 and the index must forget 旧版.
A02_FIRST_BODY = "旧版正文：中国人民银行可能降准。"


def build(directory: Path) -> Path:
    """Write ``<directory>/finews.db`` with the articles (A02 in two versions),
    three crawl runs (1, 3 and 20 days ago) and their failures; return its path."""
    path = directory / "finews.db"
    db = connect(path)
    ensure_search(db)  # idempotent; also reached through ensure_schema once wired
    rows = [row_of(doc) for doc in DOCS]
    first = dict(rows[1], body_markdown=A02_FIRST_BODY, body_text=A02_FIRST_BODY)
    first["content_sha256"] = hashlib.sha256(A02_FIRST_BODY.encode()).hexdigest()
    first["fetched_at"] = "2022-06-15T00:00:00Z"
    upsert_articles(db, [first])
    # Then everything in two batches, as the pipeline would write them.
    upsert_articles(db, rows[:12])
    upsert_articles(db, rows[12:])
    with db.atomic():
        for run_id, days, status, failures in [
            (1, 20, "failed", 1),
            (2, 3, "partial", 2),
            (3, 1, "ok", 0),
        ]:
            db["crawl_runs"].insert(
                {
                    "id": run_id,
                    "spider": "columns",
                    "started_at": utc(timedelta(days=-days)),
                    "finished_at": utc(timedelta(days=-days, minutes=5)),
                    "requests": 100 * run_id,
                    "responses": 100 * run_id,
                    "archived": 10 * run_id,
                    "updated": run_id,
                    "duplicates": 0,
                    "failures": failures,
                    "finish_reason": "finished" if status != "failed" else "shutdown",
                    "status": status,
                    "stats": json.dumps({"run": run_id}),
                }
            )
        for run_id, days, stage, reason, info_code, resolved in [
            (1, 20, "list", "list answer is not JSON", "", None),
            (2, 3, "article", "no body on the page nor in Choice", "NW202206142411662199", None),
            (
                2,
                3,
                "article",
                "no body on the page nor in Choice",
                "NW202206142411662198",
                utc(timedelta(days=-1)),
            ),
            (3, 1, "list", "list answer is not JSON", "", None),
        ]:
            db["failures"].insert(
                {
                    "run_id": run_id,
                    "at": utc(timedelta(days=-days, minutes=1)),
                    "stage": stage,
                    "reason": reason,
                    "url": "https://np-listapi.eastmoney.com/comm/web/getNewsByColumns",
                    "info_code": info_code,
                    "detail": "",
                    "snapshot": None,
                    "resolved_at": resolved,
                }
            )
    db.close()
    return path


def archive_dir(directory: Path) -> Path:
    """A Datasette config directory like ``archive/``: the test database with
    the repository's ``metadata.yml`` and ``plugins/``."""
    directory.mkdir(parents=True, exist_ok=True)
    build(directory)
    shutil.copy(ARCHIVE / "metadata.yml", directory / "metadata.yml")
    shutil.copytree(ARCHIVE / "plugins", directory / "plugins", dirs_exist_ok=True)
    if (ARCHIVE / "templates").is_dir():
        shutil.copytree(ARCHIVE / "templates", directory / "templates", dirs_exist_ok=True)
    return directory

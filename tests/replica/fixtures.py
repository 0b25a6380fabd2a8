"""Fixture articles of the replica: loading, checking and the generated fillers.

An article is a plain ``dict`` with the fields documented in ``README.md``
(``code``, ``showTime``, ``title``, ``mediaName``, ``summary``, ``columns``,
``np_dst``, ``image``, ``body_html``, ``page``, ``choice``, ``expected_text``,
``expected_stocks``, ``purpose``) plus ``name``: the fixture file's stem, or
``filler_NN`` for the generated fillers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

Article = dict[str, Any]

ARTICLES_DIR = Path(__file__).with_name("articles")

#: Column id → (name, list page slug) for the columns the replica knows.
COLUMNS: dict[int, tuple[str, str]] = {
    344: ("财经导读", "ccjdd"),
    345: ("资讯精华", "cywjh"),
    350: ("国内经济", "cgnjj"),
    351: ("国际经济", "cgjjj"),
    353: ("证券聚焦", "czqyw"),
}

#: How many generated filler articles go into column 350 (see ``make_fillers``).
FILLER_COUNT = 26
FILLER_COLUMN = 350

REQUIRED = {
    "code": str,
    "showTime": str,
    "title": str,
    "mediaName": str,
    "summary": str,
    "columns": list,
    "np_dst": str,
    "image": str,
    "body_html": str,
    "page": str,
    "choice": str,
    "expected_text": str,
    "expected_stocks": list,
    "purpose": str,
}
SHOW_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) \d{2}:\d{2}:\d{2}$")


def check_article(art: Article) -> None:
    """Raise ``ValueError`` if ``art`` does not follow the fixture format."""
    name = art.get("name", "?")
    for key, kind in REQUIRED.items():
        if not isinstance(art.get(key), kind):
            raise ValueError(f"{name}: field {key!r} missing or not {kind.__name__}")
    match = SHOW_TIME.match(art["showTime"])
    if not match:
        raise ValueError(f"{name}: bad showTime {art['showTime']!r}")
    if not re.fullmatch(r"\d{18}", art["code"]) or art["code"][:8] != "".join(match.groups()):
        raise ValueError(f"{name}: code must be 18 digits starting with the showTime date")
    if art["np_dst"] not in ("CMS", "CFH"):
        raise ValueError(f"{name}: np_dst must be CMS or CFH")
    if art["page"] not in ("ok", "404", "old") or art["choice"] not in ("ok", "empty"):
        raise ValueError(f"{name}: page must be ok/404/old and choice ok/empty")
    if not art["columns"] or not all(isinstance(c, int) for c in art["columns"]):
        raise ValueError(f"{name}: columns must be a non-empty list of ints")


def load_articles(data_dir: str | Path | None = None, fillers: bool = True) -> list[Article]:
    """Load ``*.json`` fixtures from ``data_dir`` (default: ``articles/``), sorted by file name.

    With ``fillers`` the generated column-350 fillers are appended.
    Raises ``ValueError`` on a malformed fixture or a duplicate code.
    """
    folder = Path(data_dir) if data_dir is not None else ARTICLES_DIR
    articles: list[Article] = []
    for path in sorted(folder.glob("*.json")):
        art = json.loads(path.read_text(encoding="utf-8"))
        art["name"] = path.stem
        check_article(art)
        articles.append(art)
    if fillers:
        articles.extend(make_fillers())
    codes = [a["code"] for a in articles]
    if len(codes) != len(set(codes)):
        raise ValueError("duplicate article code in fixtures")
    return articles


_REGIONS = [
    "广东",
    "江苏",
    "浙江",
    "山东",
    "河南",
    "四川",
    "湖北",
    "福建",
    "湖南",
    "安徽",
    "上海",
    "北京",
    "河北",
]
_INDICATORS = [
    ("规模以上工业增加值", "装备制造业", "高技术制造业"),
    ("固定资产投资", "制造业投资", "基础设施投资"),
    ("社会消费品零售总额", "升级类商品", "服务零售"),
    ("货物进出口总值", "机电产品出口", "跨境电商"),
]
_MEDIA = ["中国经济网", "证券时报", "上海证券报·中国证券网", "新华社", "人民网", "财联社"]


def make_filler(i: int) -> Article:
    """Return filler article ``i`` (0-based): a short regional-data story in column 350.

    Deterministic: the same ``i`` always gives the same article. Dates run from
    2026-11-19 20:xx backwards, nine per day, older than every hand-written fixture.
    """
    region = _REGIONS[i % len(_REGIONS)]
    indicator, sector1, sector2 = _INDICATORS[i % len(_INDICATORS)]
    media = _MEDIA[i % len(_MEDIA)]
    day, hour, minute = 19 - i // 9, 20 - i % 9, (i * 17) % 60
    growth = f"{3 + (i * 7) % 50 / 10:.1f}"
    change = f"{(i % 5 + 1) / 10:.1f}"
    trend = "加快" if i % 2 == 0 else "回落"
    city = region in ("上海", "北京")
    place, scope = (f"{region}市", "全市") if city else (f"{region}省", "全省")
    paragraphs = [
        f"{place}统计局日前发布数据显示，今年前10个月，{scope}{indicator}同比增长{growth}%，"
        f"增速比前三季度{trend}{change}个百分点。",
        f"分领域看，{sector1}、{sector2}保持较快增长，对{scope}经济增长的贡献率持续提升。",
        f"业内人士表示，随着一揽子增量政策持续落地见效，{region}经济有望保持稳中向好态势。",
    ]
    source = f"（文章来源：{media}）"
    body = [f"<p>　　{p}</p>" for p in paragraphs] + [f'<p class="em_media">{source}</p>']
    return {
        "name": f"filler_{i:02d}",
        "code": f"202611{day:02d}{3589000000 + i * 48611:010d}",
        "showTime": f"2026-11-{day:02d} {hour:02d}:{minute:02d}:00",
        "title": f"{place}前10月{indicator}同比增长{growth}%",
        "mediaName": media,
        "summary": paragraphs[0],
        "columns": [FILLER_COLUMN],
        "np_dst": "CMS",
        "image": "",
        "body_html": "\n".join(body),
        "page": "ok",
        "choice": "ok",
        "expected_text": "\n".join([*paragraphs, source]),
        "expected_stocks": [],
        "purpose": "Generated filler so column 350 has more than one page of 20.",
    }


def make_fillers(count: int = FILLER_COUNT) -> list[Article]:
    """Return the first ``count`` filler articles."""
    return [make_filler(i) for i in range(count)]

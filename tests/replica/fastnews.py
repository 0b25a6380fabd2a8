"""The replica's 7×24 feed: ``GET /comm/web/getFastNewsList`` (np-weblist and
np-listapi answer the same path; the crawler maps both hosts here).

Built to the documented upstream (``/work/shared/upstream.md``, "7×24 快讯"):
``client=web&biz=web_724&fastColumn=<id>&sortEnd=<cursor>&pageSize=<n>&req_trace=<ms>``,
optional ``callback`` (JSONP). Answer ``{"req_trace","code":"1","message":"success",
"data":{"sortEnd","fastNewsList":[{code,title,summary,showTime,realSort,titleColor,
stockList,image,share,pinglun_Num}]}}``; ``realSort`` is the epoch seconds of
``showTime`` (Beijing), ``0`` and the code's last five digits; a page holds the
items with ``realSort`` below ``sortEnd``, newest first; ``data.sortEnd`` is the
last item's ``realSort`` (left out of every third page, so a client must fall back
to the last item's ``realSort``); past the end an empty list and ``sortEnd`` "".

Items (:data:`FLASHES` and :func:`filler_flashes`): codes that are also column
articles of the replica, flash-only codes whose article page or Choice text has
a body (:func:`flash_articles`), codes with no body anywhere, summaries with and
without ``【…】``, null and empty summaries, ``titleColor``, ``stockList``,
images, hostile titles and digests (YAML, Markdown, Liquid, HTML). With the
``bad_items`` fault the first page also holds :data:`BAD_FLASHES`; the other
fault modes apply as to every route. ``refuse_first``: the first request for
each page gets an error answer (``code`` "0"), as a host that is down would,
so a client must try the other host.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

FAST_PATH = "/comm/web/getFastNewsList"
JSON_TYPE = "application/json;charset=UTF-8"
JS_TYPE = "application/javascript;charset=UTF-8"
BEIJING = timezone(timedelta(hours=8))


def real_sort(code: str, show_time: str) -> str:
    moment = datetime.strptime(show_time, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    return f"{int(moment.timestamp())}0{code[-5:]}"


def _flash(code: str, show_time: str, title: str, summary: Any, **more: Any) -> dict[str, Any]:
    item = {
        "code": code,
        "title": title,
        "summary": summary,
        "showTime": show_time,
        "titleColor": more.pop("titleColor", 0),
        "stockList": more.pop("stockList", []),
        "image": more.pop("image", []),
        "columns": more.pop("columns", [102]),
        "body": more.pop("body", ""),  # "page" / "choice": a flash-only article has one
    }
    item.update(more)
    return item


HOSTILE_YAML = '他说："涨停" & *alias: !tag #注释 --- ... |> {a: 1}'
HOSTILE_LIQUID = "{{ site.title }}{% raw %}{% endraw %}{%- include x -%}"

#: Hand-made items (the purpose of each in its title or comment).
FLASHES: list[dict[str, Any]] = [
    # Column articles of the replica (current_basic, two_columns, page404_choice_ok, no_body).
    _flash(
        "202611233592418806",
        "2026-11-23 09:12:00",
        "国家统计局：10月份国民经济运行总体平稳",
        "【国家统计局：10月份国民经济运行总体平稳】10月份全国规模以上工业增加值同比增长5.6%。",
        titleColor=2,
        stockList=["1.000001", "0.399001"],
    ),
    _flash(
        "202611223591699102",
        "2026-11-22 08:00:00",
        "两个栏目的文章也是快讯",
        "【两个栏目的文章也是快讯】同一篇文章在两个快讯栏目。",
        columns=[102, 101],
    ),
    _flash("202611213591688540", "2026-11-21 22:15:00", "只有Choice正文的快讯", "只有Choice。"),
    _flash("202611203591011784", "2026-11-20 16:50:00", "无正文的栏目文章快讯", None),
    # Flash-only codes with an article somewhere.
    _flash(
        "202611233799000001",
        "2026-11-23 11:30:00",
        "快讯有正文页",
        "【快讯有正文页】正文页有全文。",
        body="page",
        stockList=["116.00700", "105.AAPL", "90.BK0477"],
        image=["https://np-newspic.dfcfw.com/download/D25411.jpg"],
    ),
    _flash("202611223799000002", "2026-11-22 21:05:00", "快讯只有Choice全文", "", body="choice"),
    # No body anywhere: digest-only posts.
    _flash("202611233799000003", "2026-11-23 10:59:59", "短讯：摘要为空值", None, titleColor=1),
    _flash("202611233799000004", "2026-11-23 10:30:00", "短讯：摘要为空串", ""),
    _flash("202611233799000005", "2026-11-23 10:00:00", "短讯：无方括号", "摘要没有标题前缀。"),
    _flash("202611233799000006", "2026-11-23 09:30:00", "短讯", "【另一个标题】方括号里不是标题。"),
    _flash("202611233799000007", "2026-11-23 09:00:00", HOSTILE_YAML, f"【{HOSTILE_YAML}】: - ? &"),
    _flash(
        "202611233799000008",
        "2026-11-23 08:30:00",
        HOSTILE_LIQUID,
        f"{HOSTILE_LIQUID} {{{{ page }}}}",
    ),
    _flash(
        "202611233799000009",
        "2026-11-23 08:00:00",
        "# 标题 *星号* [链接](javascript:alert(1))",
        "# 一级\n- 列表\n1. 编号\n[x](javascript:alert(1)) **粗** `代码` ---\n> 引用 | 表格 |",
    ),
    _flash(
        "202611233799000010",
        "2026-11-23 07:30:00",
        "<script>alert(1)</script>标题",
        '<img src=x onerror="alert(1)"><iframe src="//evil"></iframe>&amp; &lt;b&gt;',
        titleColor="1",
    ),
    _flash(
        "202611223799000011",
        "2026-11-22 23:00:00",
        "只在要闻栏目 𠮷",
        "【只在要闻栏目 𠮷】\u2028行分隔符\u0085与NEL",
        columns=[101],
    ),
]

#: Malformed items (the ``bad_items`` fault) and the reason finews must record.
BAD_FLASHES: list[tuple[Any, str]] = [
    ({"title": "无代码", "showTime": "2026-11-23 12:00:00"}, "no code"),
    ({"code": "", "title": "空代码", "showTime": "2026-11-23 12:00:00"}, "no code"),
    ({"code": "20261123379900001", "title": "17位", "showTime": "2026-11-23 12:00:00"}, "bad code"),
    (
        {"code": "2026112337990000012", "title": "19位", "showTime": "2026-11-23 12:00:00"},
        "bad code",
    ),
    (
        {"code": "NW202611233799000013", "title": "NW", "showTime": "2026-11-23 12:00:00"},
        "bad code",
    ),
    (
        {"code": "../../../etc/passwd", "title": "路径", "showTime": "2026-11-23 12:00:00"},
        "bad code",
    ),
    (
        {"code": "٢٠٢٦١١٢٣٣٧٩٩٠٠٠٠١٤", "title": "数字", "showTime": "2026-11-23 12:00:00"},
        "bad code",
    ),
    (
        {"code": 2.0261123379900002e17, "title": "浮点", "showTime": "2026-11-23 12:00:00"},
        "bad code",
    ),
    (
        {"code": "202611233799000015", "title": "日期", "showTime": "2026-02-30 10:00:00"},
        "bad showTime",
    ),
    ({"code": "202611233799000016", "title": "无日期", "showTime": None}, "bad showTime"),
    ({"code": "209901013799000017", "title": "未来", "showTime": "2099-01-01 08:00:00"}, "future"),
    (
        {"code": "202611233799000018", "title": None, "showTime": "2026-11-23 12:00:00"},
        "missing title",
    ),
    ("不是对象", "not an object"),
]

FILLERS = 40


def filler_flashes(count: int = FILLERS) -> list[dict[str, Any]]:
    """Short flashes every two hours back from 2026-11-23 06:00 (to 2026-11-20 00:00)."""
    start = datetime(2026, 11, 23, 6, 0, 0)
    out = []
    for i in range(count):
        moment = start - timedelta(hours=2 * i)
        code = f"{moment:%Y%m%d}38{i:08d}"
        title = f"快讯{i}：市场动态"
        summary = f"【{title}】第{i}条快讯的摘要。" if i % 2 else f"第{i}条快讯的摘要。"
        out.append(_flash(code, f"{moment:%Y-%m-%d %H:%M:%S}", title, summary))
    return out


def flash_articles() -> list[dict[str, Any]]:
    """Replica articles of the flash-only codes with a body (served by code, listed nowhere)."""
    arts = []
    for item in FLASHES:
        if not item["body"]:
            continue
        text = f"{item['title']}的全文第一段。\n第二段说明{item['code'][-4:]}。"
        paragraphs = text.split("\n")
        arts.append(
            {
                "name": "flash_" + item["code"][-4:],
                "code": item["code"],
                "showTime": item["showTime"],
                "title": item["title"],
                "mediaName": "东方财富研究中心",
                "summary": "",
                "columns": [102],
                "np_dst": "CMS",
                "image": "",
                "body_html": "\n".join(f"<p>　　{p}</p>" for p in paragraphs),
                "page": "ok" if item["body"] == "page" else "404",
                "choice": "ok",
                "expected_text": text,
                "expected_stocks": [],
                "purpose": "A 7×24 item whose code has an article, listed in no column.",
            }
        )
    return arts


def feed_item(item: dict[str, Any]) -> dict[str, Any]:
    """One ``fastNewsList[]`` entry as the upstream sends it."""
    return {
        "code": item["code"],
        "title": item["title"],
        "summary": item["summary"],
        "showTime": item["showTime"],
        "realSort": real_sort(item["code"], item["showTime"]),
        "titleColor": item["titleColor"],
        "stockList": item["stockList"],
        "image": item["image"],
        "share": 0,
        "pinglun_Num": 0,
    }


class FastFeed:
    """The feed's items and answers (``items``: hand-made first, then the fillers)."""

    def __init__(self, items: list[dict[str, Any]] | None = None) -> None:
        self.items = items if items is not None else FLASHES + filler_flashes()
        self.bad_items = False
        self.refuse_first = False
        self._seen: set[tuple[str, str]] = set()

    def add(self, item: dict[str, Any]) -> None:
        """Publish one more item (the feed gains news over time)."""
        self.items.append(item)

    def page(self, column: int, sort_end: str, size: int) -> list[dict[str, Any]]:
        ranked = sorted(
            (i for i in self.items if column in i["columns"]),
            key=lambda i: int(real_sort(i["code"], i["showTime"])),
            reverse=True,
        )
        if sort_end:
            bound = int(sort_end)
            ranked = [i for i in ranked if int(real_sort(i["code"], i["showTime"])) < bound]
        return ranked[:size]

    def answer(self, query: dict[str, str], allowed: bool) -> tuple[int, str, bytes]:
        """(status, content type, body) of one request."""
        trace = query.get("req_trace")
        column, sort_end = query.get("fastColumn", ""), query.get("sortEnd", "")
        size_text = query.get("pageSize", "")
        size = min(int(size_text), 200) if size_text.isdigit() and int(size_text) > 0 else 20
        page_no = 0
        if trace is None:
            doc: dict[str, Any] = {
                "code": "0",
                "message": "Required String parameter 'req_trace' is not present",
            }
        elif not allowed:
            doc = {"req_trace": trace, "code": "0", "message": "非法请求"}
        elif not column.isdigit() or not (sort_end == "" or sort_end.isdigit()):
            doc = {"req_trace": trace, "code": "0", "message": "参数缺失"}
        elif self.refuse_first and (column, sort_end) not in self._seen:
            self._seen.add((column, sort_end))
            doc = {"req_trace": trace, "code": "0", "message": "系统繁忙"}
        else:
            chunk = self.page(int(column), sort_end, size)
            items: list[Any] = [feed_item(i) for i in chunk]
            page_no = len(self.page(int(column), "", 10**6)) - len(
                self.page(int(column), sort_end, 10**6)
            )
            data: dict[str, Any] = {"fastNewsList": items}
            if page_no // max(size, 1) % 3 != 2:
                data["sortEnd"] = items[-1]["realSort"] if items else ""
            if self.bad_items and not sort_end:
                data["fastNewsList"] = [item for item, _ in BAD_FLASHES] + items
            doc = {"req_trace": trace, "code": "1", "message": "success", "data": data}
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        callback = query.get("callback", "")
        if callback and callback.replace("_", "a").replace("$", "a").isalnum():
            return 200, JS_TYPE, callback.encode() + b"(" + body + b");"
        return 200, JSON_TYPE, body

"""HTML pages of the replica: article pages (current and older template), column
shells, the Choice share page and the 404 page.

Every text from a fixture is HTML-escaped except ``body_html``, which is
inserted exactly as the upstream serves it (hostile fixtures included).
"""

from __future__ import annotations

import json
from html import escape

from tests.replica.fixtures import COLUMNS, Article

EDITORS = ["张三", "李娜", "王雪", "刘洋", "陈静"]
#: The promo paragraph the current template adds after the body (not article text).
PROMO = (
    '<p class="em_promo">海量资讯、精准解读，尽在<a href="https://acttg.eastmoney.com/pub/'
    'web_nr_dbtg_dbxw_01_01_01_0" target="_blank">东方财富APP</a>。'
    "下载东方财富APP，随时随地查看7×24小时全球财经直播。</p>"
)
AD = (
    '<div class="em_ad" id="ad_article_bottom"><script type="text/javascript">'
    'var em_ad_slot = "news_article_bottom"; (window.emAds = window.emAds || []).push(em_ad_slot);'
    "</script></div>"
)
HEAD_SCRIPTS = (
    '<script type="text/javascript">var pageConfig = {{"code": {code}, "type": "article"}};</script>\n'
    '<script type="text/javascript">(function () {{ window._emtj = window._emtj || []; '
    'window._emtj.push(["page", location.pathname]); }})();</script>'
)
NAV = (
    '<div class="header"><ul class="nav">'
    '<li><a href="https://www.eastmoney.com/">东方财富网</a></li>'
    '<li><a href="https://finance.eastmoney.com/">财经</a></li>'
    '<li><a href="https://stock.eastmoney.com/">股票</a></li>'
    '<li><a href="https://fund.eastmoney.com/">基金</a></li>'
    '<li><a href="https://finance.eastmoney.com/a/cgnjj.html">国内经济</a></li>'
    "</ul></div>"
)


def cn_minutes(show_time: str) -> str:
    """``2026-11-20 10:45:00`` → ``2026年11月20日 10:45`` (the page shows minutes only)."""
    date, clock = show_time.split(" ")
    y, m, d = date.split("-")
    return f"{y}年{m}月{d}日 {clock[:5]}"


def editor_of(art: Article) -> str:
    """A deterministic editor name for the ``p.res-edit`` line."""
    return EDITORS[int(art["code"]) % len(EDITORS)]


def _head(title: str, description: str, scripts: str = "") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n'
        '<meta charset="utf-8">\n'
        '<meta http-equiv="X-UA-Compatible" content="IE=edge">\n'
        f"<title>{escape(title)}</title>\n"
        '<meta name="keywords" content="东方财富,财经,新闻">\n'
        f'<meta name="description" content="{escape(description)}">\n'
        f"{scripts}\n</head>\n"
    )


def _recommendations(related: list[Article]) -> str:
    items = "".join(
        f'<li><a href="http://finance.eastmoney.com/a/{a["code"]}.html">{escape(a["title"])}</a></li>'
        for a in related
    )
    return (
        '<div class="mainright"><div class="rbox"><div class="rtitle">相关阅读</div>'
        f'<ul class="rlist">{items}</ul></div>'
        '<div class="rbox"><div class="rtitle">热门推荐</div><p class="hot">'
        '<a href="https://data.eastmoney.com/">数据中心</a> <a href="https://quote.eastmoney.com/">行情中心</a>'
        "</p></div></div>"
    )


def article_page(art: Article, related: list[Article]) -> str:
    """The current article template (see ``/work/shared/upstream.md``)."""
    title = art["title"]
    abstract = (
        f'<div class="abstract"><div class="tit">摘要</div><div class="txt">{escape(art["summary"])}</div></div>\n'
        if art["summary"]
        else ""
    )
    scripts = HEAD_SCRIPTS.format(code=json.dumps(art["code"]))
    return (
        _head(f"{title}_东方财富网", art["summary"], scripts)
        + "<body>\n"
        + NAV
        + '\n<div class="contentwrap">\n'
        + f'<div class="title">{escape(title)}</div>\n'
        + '<div class="tipbox"><div class="infos">'
        + f'<div class="item">{cn_minutes(art["showTime"])}</div>'
        + f'<div class="item">来源：{escape(art["mediaName"])}</div>'
        + '</div><div class="fontsize">字号 <a href="#">大</a> <a href="#">小</a></div></div>\n'
        + '<div class="contentbox">\n<div class="mainleft">\n<div class="zwinfos">\n'
        + abstract
        + '<div class="txtinfos" id="ContentBody">\n<!--文章主体-->\n'
        + art["body_html"]
        + f'\n<p class="res-edit">（责任编辑：{editor_of(art)}）</p>\n'
        + AD
        + "\n"
        + PROMO
        + "\n</div>\n</div>\n</div>\n</div>\n"
        + _recommendations(related)
        + "\n</div>\n"
        + '<div class="footer">东方财富网 版权所有</div>\n</body>\n</html>\n'
    )


def old_article_page(art: Article) -> str:
    """The older (pre-2022) article template."""
    return (
        _head(f"{art['title']}_东方财富网", art["summary"])
        + "<body>\n"
        + NAV
        + '\n<div class="main"><div class="left">\n<div class="newsContent">\n'
        + f"<h1>{escape(art['title'])}</h1>\n"
        + '<div class="Info"><div class="time-source">'
        + f'<div class="time">{cn_minutes(art["showTime"])}</div>'
        + f'<div class="source data-source" data-source="{escape(art["mediaName"])}">'
        + f"来源：{escape(art['mediaName'])}</div>"
        + "</div></div>\n"
        + f'<div class="b-review">{escape(art["summary"])}</div>\n'
        + '<div id="ContentBody" class="Body">\n<!--文章主体-->\n'
        + art["body_html"]
        + f'\n<!--责任编辑-->\n<p class="res-edit">（责任编辑：{editor_of(art)}）</p>\n'
        + "</div>\n</div>\n</div></div>\n</body>\n</html>\n"
    )


def not_found_page() -> str:
    """The 404 page."""
    return (
        _head("404 您访问的页面不存在_东方财富网", "")
        + '<body><div class="error404"><h1>404</h1><p>抱歉，您访问的页面不存在或已被删除。</p>'
        + '<p><a href="https://www.eastmoney.com/">返回东方财富网首页</a></p></div></body>\n</html>\n'
    )


COLUMN_SCRIPT = """
(function () {
  var column = %(column)s, slug = %(slug)s, page = %(page)d, size = 20;
  var ul = document.getElementById("newsListContent");
  function fmt(s) {
    return s.substr(5, 2) + "月" + s.substr(8, 2) + "日 " + s.substr(11, 5);
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  var url = "/comm/web/getNewsByColumns?client=web&biz=web_news_col&column=" + column +
    "&order=1&needInteractData=0&page_index=" + page + "&page_size=" + size +
    "&req_trace=" + Date.now() +
    "&fields=code,showTime,title,mediaName,summary,image,url,uniqueUrl,Np_dst&types=1,20";
  fetch(url, {headers: {"X-Requested-With": "XMLHttpRequest"}, credentials: "same-origin"})
    .then(function (r) { return r.json(); })
    .then(function (res) {
      var data = (res && res.data) || {};
      (data.list || []).forEach(function (it, i) {
        var li = el("li"), div = el("div", "text"), title = el("p", "title"), a = el("a", "", it.title);
        li.id = "newsTr" + i;
        a.href = it.uniqueUrl || it.url;
        a.target = "_blank";
        title.appendChild(a);
        div.appendChild(title);
        div.appendChild(el("p", "info", it.summary));
        div.appendChild(el("p", "time", fmt(it.showTime)));
        li.appendChild(div);
        ul.appendChild(li);
      });
      var pages = Math.ceil((data.totle_hits || 0) / size), pager = document.getElementById("pagerNoDiv");
      for (var n = 1; n <= pages; n++) {
        var link = el("a", n === page ? "cur" : "", String(n));
        link.href = n === 1 ? slug + ".html" : slug + "_" + n + ".html";
        pager.appendChild(link);
      }
      ul.setAttribute("data-state", "loaded");
    })
    .catch(function () { ul.setAttribute("data-state", "error"); });
})();
"""


def column_page(column: int, page: int) -> str:
    """A column list shell: empty ``ul#newsListContent`` filled by a fetch() of the list API."""
    name, slug = COLUMNS[column]
    script = COLUMN_SCRIPT % {
        "column": json.dumps(str(column)),
        "slug": json.dumps(slug),
        "page": page,
    }
    return (
        _head(f"{name}_东方财富网", f"{name}栏目最新资讯")
        + "<body>\n"
        + NAV
        + f'\n<div class="main"><div class="mainleft"><div class="listtitle">{name}</div>\n'
        + '<div class="repeatList"><ul id="newsListContent" data-state="loading"></ul></div>\n'
        + '<div class="pagerbox" id="pagerNoDiv"></div>\n</div></div>\n'
        + f'<script type="text/javascript">{script}</script>\n</body>\n</html>\n'
    )


SHARE_SCRIPT = """
(function () {
  var infoCode = new URLSearchParams(location.search).get("infoCode") || "";
  var box = document.getElementById("newsContent");
  fetch("/NewsData/GetNewsText.do?id=" + encodeURIComponent(infoCode),
        {headers: {"X-Requested-With": "XMLHttpRequest"}, credentials: "same-origin"})
    .then(function (r) { return r.json(); })
    .then(function (d) {
      document.getElementById("newsTitle").textContent = d.title || "";
      document.getElementById("newsInfo").textContent = (d.showTime || "") + " " + (d.mediaName || "");
      box.innerHTML = d.text || "";
      box.setAttribute("data-state", d.text ? "loaded" : "empty");
    })
    .catch(function () { box.setAttribute("data-state", "error"); });
})();
"""


def share_page() -> str:
    """The Choice share page: a static shell whose script loads ``GetNewsText.do``."""
    return (
        _head("资讯详情", "")
        + '<body>\n<div class="newsShare">\n<h1 id="newsTitle"></h1>\n<div id="newsInfo"></div>\n'
        + '<div id="newsContent" data-state="loading"></div>\n</div>\n'
        + f'<script type="text/javascript">{SHARE_SCRIPT}</script>\n</body>\n</html>\n'
    )

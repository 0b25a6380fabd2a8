"""Reading one old post (crawler/importer/oldpost.py) and its new front matter: pure."""

from __future__ import annotations

import pytest
import yaml

from crawler.importer.convert import render_imported_post
from crawler.importer.oldpost import ImportProblem, parse_old_post

HEAD = (
    "---\nlayout: post\ntitle: {title}\ndate: {date}\ncategories: emnews\ntags: 东财滚动新闻\n---\n"
)


def post(
    title: str = '"标题"', date: str = "2021-12-08 10:46:18", body: str = "\n摘要。\n"
) -> bytes:
    return (HEAD.format(title=title, date=date) + body).encode()


def test_title_with_ascii_quotes_is_recovered_from_the_raw_line() -> None:
    raw = post(title='"他说"好"的"')
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(raw.decode().split("---")[1])
    p = parse_old_post("_posts/2021-12-08-202112082206672930.md", raw)
    assert p.title == '他说"好"的' and "title from the raw line" in p.repaired
    text = render_imported_post(p, "摘要。", "EM" + p.code, "摘要。", [], "", "", "")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["title"] == '他说"好"的'
    # The first five lines keep the old values; a zone-less date stays a timestamp.
    assert text.split("\n")[1:6] == [
        "layout: post",
        'title: "他说\\"好\\"的"',
        "date: 2021-12-08 10:46:18",
        "categories: emnews",
        "tags: 东财滚动新闻",
    ]


def test_escaped_title_reads_as_yaml_reads_it() -> None:
    p = parse_old_post("_posts/2021-12-08-202112082206672930.md", post(title=r'"a\"b"'))
    assert p.title == 'a"b' and not p.repaired


def test_empty_date_takes_the_codes_day_never_1970() -> None:
    raw = post(title='""', date=" +0800", body="\n央行今天公布数据。其他内容\n")
    p = parse_old_post("_posts/-202112082206672930.md", raw)
    assert p.published == "2021-12-08 00:00:00" and p.date == "2021-12-08 00:00:00 +0800"
    assert p.title == "央行今天公布数据。"
    with pytest.raises(ImportProblem, match="no date"):
        parse_old_post("_posts/-note.md", raw)
    with pytest.raises(ImportProblem, match="no date"):
        parse_old_post("_posts/-199001010000000000.md", raw)


def test_dates_with_and_without_zone_crlf_blank_first_line() -> None:
    raw = b"\n" + post(date="2021-12-08 23:30:00 +0800", body="\r\n<p>a</p>\r\n <p>b</p>").replace(
        b"\n", b"\r\n"
    )
    p = parse_old_post("old_post/2021-12-08-NW202112082206672930.md", raw)
    assert (p.kind, p.published, p.naive_date) == ("article", "2021-12-08 23:30:00", False)
    assert "<p>a</p>" in p.body and "\r" not in p.body
    z = parse_old_post("_posts/2021-12-08-x.md", post(date="2021-12-08 20:00:00Z"))
    assert z.published == "2021-12-09 04:00:00"


@pytest.mark.parametrize(
    "tail",
    [
        "\n\n<http://finance.eastmoney.com/news/11060,1.html>\n",
        "\n\n<http://hk.eastmoney.com/news/1797,1.html>\n\n[返回东财滚动新闻](../emnews/)\n[返回首页](../)",
        "\n\n<http://x.eastmoney.com/news/1,1.html>\n\n[返回东财滚动新闻](//finews.withounder.com/emnews/)｜[返回首页](//finews.withounder.com/)\n",
        "\n\n<http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW1>\n\n[返回安信国际证券(香港)新闻](//finews.zning.me/category/anxinguojizhengquan(xianggang).html)｜[返回首页](//finews.zning.me/)\n",
        "",
    ],
)
def test_trailers_are_cut_off(tail: str) -> None:
    p = parse_old_post("_posts/2021-12-08-202112082206672930.md", post(body="\n摘要。" + tail))
    assert p.body == "摘要。"


def test_not_utf8_and_no_front_matter_are_reasons() -> None:
    with pytest.raises(ImportProblem, match="not UTF-8"):
        parse_old_post("_posts/2021-12-08-1.md", b"---\n\xff\n---\n")
    with pytest.raises(ImportProblem, match="no front matter"):
        parse_old_post("_posts/2021-12-08-1.md", b"text\n")
    with pytest.raises(ImportProblem, match="not closed"):
        parse_old_post("_posts/2021-12-08-1.md", b"---\ntitle: x\n")

"""Fault modes of the replica: the upstream on a bad day, seeded and reproducible.

Every mode is a switch on :class:`Faults`, passed as ``Replica(faults=Faults(seed=1, ...))``
or given as command-line flags (``python -m tests.replica.server --chaos --fault-seed 7``).

Transient faults (a retry may succeed):

- ``error_share``: HTTP 500, 502 or 503 (HTML body);
- ``throttle_share``: HTTP 429 with ``Retry-After`` (delta-seconds, or an HTTP-date);
- ``hang_share``: the connection is held open, silent, for ``hang_seconds`` and then closed;
- ``reset_share``: the headers promise the whole body, half of it is sent, then a TCP reset;
- ``truncate_share``: JSON routes only: a complete HTTP answer whose JSON is cut in half;
- ``unavailable_share``: HTTP 503 without ``Retry-After`` (a lone 503: finews retries it
  and does not slow down);
- ``captcha_share``: article pages only: the slider-captcha page, as a transient fault
  (the issue-16 setup: a fifth of the article pages answer a captcha once);
- ``captcha_rate``: a client going faster than this many requests per ``captcha_window``
  seconds gets the slider-captcha page (``滑块验证``, HTTP 200, HTML) on any route.

Whether a request gets a transient fault is a pure function of the seed, the request (path
and query without ``req_trace``) and how many times that request was seen before, so a
crawl that sends the same requests meets the same faults whatever the thread timing. No
request is faulted more than ``max_streak`` times in a row (so a client that retries enough
always gets through). The captcha depends on timing by nature. ``warmup`` (a list of
transient kinds) forces those faults, in order, on the first requests they fit (a
truncation needs a JSON route), so a short run still meets every mode once.

Permanent faults of an article's route (``page``: ``/a/<code>.html``; ``choice``:
``GetNewsText.do``), chosen by seed (``page_broken_share``, ``choice_broken_share``) or
by hand (``broken_pages``, ``broken_choice``: code -> kind):

- ``offsite``: a 302 to another site (``http://offsite.invalid/...``, which never resolves);
- ``loop``: a redirect loop (``x`` -> ``x?r=1`` -> ``x``);
- ``oversize``: a 20 MB answer (``oversize_bytes``).

Content faults:

- ``gbk``: older-template pages are served GB18030-encoded with ``charset=gbk`` in the
  header and in a ``<meta http-equiv>``; one more legacy article (:func:`legacy_gbk_article`,
  Choice text empty, with characters outside GBK) is published so its only route is the
  GBK page;
- ``bad_items``: page 1 of every list answer also holds :data:`BAD_ITEMS`: entries with
  missing or wrong-typed fields, codes that are not 17/18 ASCII digits (``NW../../etc``),
  impossible and future dates, non-objects.

``/robots.txt`` and ``/__replica/*`` are never faulted (Scrapy's robots middleware treats
any failure as "allow all" anyway). The ground truth for a chaos comparison is
:func:`ground_truth`: an article can be served unless every route of it is broken for good
(a 404 page or a permanent fault, and an empty or permanently broken Choice text).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from typing import Any

Article = dict[str, Any]

TRANSIENT_KINDS = ("500", "502", "503", "429", "hang", "reset", "truncate")
PERMANENT_KINDS = ("offsite", "loop", "oversize")
OFFSITE_ORIGIN = "http://offsite.invalid"  # RFC 2606: .invalid never resolves
HTML_TYPE = "text/html; charset=utf-8"
GBK_TYPE = "text/html; charset=gbk"
LIST_PATH = "/comm/web/getNewsByColumns"
CHOICE_PATH = "/NewsData/GetNewsText.do"
FAST_PATH = "/comm/web/getFastNewsList"  # the 7×24 feed (tests/replica/fastnews.py)
ARTICLE_PATH = re.compile(r"/a/(\d{17,18})\.html")
JSONP = re.compile(rb"^([\w$.]+)\((.*)\);?$", re.S)
# Query keys that change on every call and so do not identify a request.
VOLATILE_KEYS = frozenset({"req_trace", "_"})

CAPTCHA_PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>安全验证</title></head>
<body><div class="em-captcha" id="captcha_box">
<p class="tip">您的访问过于频繁，请完成滑块验证后继续访问</p>
<div id="nc_1_wrapper" class="nc-container"><div class="nc_scale"><span class="nc_iconfont btn_slide">&gt;&gt;</span>
<span class="nc-lang-cnt">请按住滑块，拖动到最右边</span></div></div>
</div><script src="https://g.alicdn.com/sd/nch5/index.js"></script></body></html>
"""

ERROR_PAGE = (
    "<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}</h1>"
    "</center><hr><center>nginx</center></body></html>\n"
)
REASONS = {
    "500": "Internal Server Error",
    "502": "Bad Gateway",
    "503": "Service Temporarily Unavailable",
    "429": "Too Many Requests",
}

_ITEM = {
    "np_dst": "CMS",
    "showTime": "2026-11-23 12:00:00",
    "title": "畸形列表项",
    "mediaName": "东方财富网",
    "summary": "",
    "image": "",
    "url": "",
    "uniqueUrl": "",
}

#: Malformed list entries (``bad_items``) and the reason finews must record for each
#: (a substring of the ``failures.reason``).
BAD_ITEMS: list[tuple[Any, str]] = [
    ({k: v for k, v in _ITEM.items()}, "bad code"),  # no code at all
    ({**_ITEM, "code": "2026112312345678"}, "bad code"),  # 16 digits
    ({**_ITEM, "code": "2026112312345678901"}, "bad code"),  # 19 digits
    ({**_ITEM, "code": "NW../../etc"}, "bad code"),
    ({**_ITEM, "code": "../../../../etc/passwd"}, "bad code"),
    ({**_ITEM, "code": 2.0261123359241882e17}, "bad code"),  # a float
    ({**_ITEM, "code": "٢٠٢٦١١٢٣٣٥٩٢٤١٨٨٠٦"}, "bad code"),  # 18 Arabic-Indic digits
    ({**_ITEM, "code": "202611239990000001", "showTime": 1795000000}, "bad showTime"),
    ({**_ITEM, "code": "202611239990000002", "showTime": "2026-02-30 10:00:00"}, "bad showTime"),
    ({**_ITEM, "code": "209901019990000003", "showTime": "2099-01-01 08:00:00"}, "future"),
    ({**_ITEM, "code": "202611239990000004", "title": ["标题", "是列表"]}, "missing title"),
    ({**_ITEM, "code": "202611239990000005", "title": None}, "missing title"),
    ("不是一个对象", "not an object"),
    (None, "not an object"),
    ([202611239990000006], "not an object"),
]


def legacy_gbk_article() -> Article:
    """A pre-2022 article whose only route is its GBK page (Choice text empty).

    Its text holds characters GBK lacks but GB18030 has (``䶮``, ``𠮷``, ``€``): a client
    that decodes ``charset=gbk`` as GBK (or as UTF-8) gets it wrong.
    """
    paragraphs = [
        "新华社广州11月20日电 南汉开国皇帝刘䶮（“䶮”读作yǎn）相关史料的数字化整理工作日前取得新进展，"
        "首批古籍影像已向公众开放。",
        "古籍数字化中的生僻字编码问题同样受到关注。专家介绍，“𠮷”等字符不在GBK字符集中，"
        "按GB18030标准编码才能完整保存。",
        "据介绍，该项目总投入约1200万元（约合150万€），计划三年内完成。",
    ]
    source = "（文章来源：新华社）"
    body = "\n".join(
        [*(f"<p>　　{p}</p>" for p in paragraphs), f'<p class="em_media">{source}</p>']
    )
    return {
        "name": "legacy_gbk",
        "code": "202611203590500017",
        "showTime": "2026-11-20 08:15:00",
        "title": "南汉开国皇帝刘䶮史料数字化整理取得进展",
        "mediaName": "新华社",
        "summary": "南汉开国皇帝刘䶮相关史料的数字化整理工作日前取得新进展。",
        "columns": [351],
        "np_dst": "CMS",
        "image": "",
        "body_html": body,
        "page": "old",
        "choice": "empty",
        "expected_text": "\n".join([*paragraphs, source]),
        "expected_stocks": [],
        "purpose": "Legacy GBK page (charset=gbk, GB18030 bytes) and no Choice text.",
    }


@dataclass(frozen=True)
class Faults:
    """Which faults the replica injects, and how often. All off by default."""

    seed: int = 0
    error_share: float = 0.0
    unavailable_share: float = 0.0
    captcha_share: float = 0.0
    throttle_share: float = 0.0
    retry_after: int = 1
    hang_share: float = 0.0
    hang_seconds: float = 10.0
    reset_share: float = 0.0
    truncate_share: float = 0.0
    max_streak: int = 2
    warmup: tuple[str, ...] = ()
    captcha_rate: float = 0.0
    captcha_window: float = 1.0
    page_broken_share: float = 0.0
    choice_broken_share: float = 0.0
    broken_kinds: tuple[str, ...] = PERMANENT_KINDS
    broken_pages: dict[str, str] = field(default_factory=dict)
    broken_choice: dict[str, str] = field(default_factory=dict)
    gbk: bool = False
    bad_items: bool = False
    oversize_bytes: int = 20 * 1024 * 1024

    @classmethod
    def chaos(cls, seed: int = 0, **overrides: Any) -> Faults:
        """Every fault mode on at once, at rates a patient client gets through."""
        values: dict[str, Any] = {
            "seed": seed,
            "error_share": 0.08,
            "throttle_share": 0.04,
            "retry_after": 1,
            "hang_share": 0.01,
            "hang_seconds": 4.0,
            "reset_share": 0.03,
            "truncate_share": 0.06,
            "captcha_rate": 12.0,
            "page_broken_share": 0.15,
            "choice_broken_share": 0.15,
            "gbk": True,
            "bad_items": True,
            "warmup": TRANSIENT_KINDS,
        }
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        kinds = (*self.broken_kinds, *self.broken_pages.values(), *self.broken_choice.values())
        unknown = [k for k in kinds if k not in PERMANENT_KINDS]
        unknown += [k for k in self.warmup if k not in TRANSIENT_KINDS]
        if unknown:
            raise ValueError(f"unknown permanent fault kinds {unknown}; use {PERMANENT_KINDS}")
        shares = (self.error_share, self.throttle_share, self.hang_share, self.reset_share)
        if any(not 0 <= s <= 1 for s in (*shares, self.truncate_share)) or sum(shares) > 1:
            raise ValueError("fault shares must be within 0..1 and sum to at most 1")


def _rng(*parts: object) -> random.Random:
    # A str seed is hashed with SHA-512 by random.Random: stable across processes
    # (unlike hash(), which is salted per process).
    return random.Random("|".join(str(p) for p in parts))


def request_key(path: str, query: dict[str, str]) -> str:
    """What identifies a request for the fault schedule (volatile keys left out)."""
    stable = sorted((k, v) for k, v in query.items() if k not in VOLATILE_KEYS)
    return path + "?" + "&".join(f"{k}={v}" for k, v in stable)


def is_cms(art: Article) -> bool:
    return art["np_dst"] != "CFH"


class FaultInjector:
    """Applies :class:`Faults` to the routed answers of a replica (thread-safe)."""

    def __init__(self, faults: Faults, articles: list[Article]) -> None:
        self.faults = faults
        self.counts: Counter[str] = Counter()
        # (time.time(), path, kind) of every injected fault, oldest first.
        self.events: list[tuple[float, str, str]] = []
        self._attempts: Counter[str] = Counter()
        self._streak: Counter[str] = Counter()
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()
        # Set when the server stops: hanging connections give up at once.
        self.stopped = threading.Event()
        self.page_faults: dict[str, str] = {}
        self.choice_faults: dict[str, str] = {}
        self._warmup = list(faults.warmup)
        self.choose_permanent(articles)

    # -- permanent faults ----------------------------------------------------

    def choose_permanent(self, articles: list[Article]) -> None:
        """Pick the permanently broken routes (seeded), then apply the explicit ones."""
        f = self.faults
        kinds = list(f.broken_kinds)
        for art in articles:
            if not is_cms(art) or not kinds:
                continue
            code = art["code"]
            # Older-template pages stay servable so the GBK route is always exercised.
            if art["page"] == "ok" and _rng(f.seed, "page", code).random() < f.page_broken_share:
                self.page_faults[code] = _rng(f.seed, "page-kind", code).choice(kinds)
            if (
                art["choice"] == "ok"
                and _rng(f.seed, "choice", code).random() < f.choice_broken_share
            ):
                self.choice_faults[code] = _rng(f.seed, "choice-kind", code).choice(kinds)
        self.page_faults.update(f.broken_pages)
        self.choice_faults.update(f.broken_choice)

    def extra_articles(self) -> list[Article]:
        """Articles published only under these faults (the legacy GBK one)."""
        return [legacy_gbk_article()] if self.faults.gbk else []

    def _permanent(self, path: str, query: dict[str, str]) -> tuple[str, str] | None:
        """(kind, route) when this request hits a permanently broken route."""
        if m := ARTICLE_PATH.fullmatch(path):
            kind = self.page_faults.get(m.group(1))
            return (kind, "page") if kind else None
        if path == CHOICE_PATH:
            info_code = query.get("id", "")
            kind = self.choice_faults.get(info_code[2:]) if info_code.startswith("NW") else None
            return (kind, "choice") if kind else None
        return None

    def _permanent_answer(self, routed: Any, kind: str, path: str, query: dict[str, str]) -> Any:
        if kind == "oversize":
            pad = b"<!-- " + b"x" * self.faults.oversize_bytes + b" -->"
            body = b"<html><body><div id='ContentBody'>" + pad + b"</div></body></html>"
            return replace(routed, status=200, content_type=HTML_TYPE, body=body, headers={})
        if kind == "offsite":
            location = OFFSITE_ORIGIN + path + ("?" + _query(query) if query else "")
        else:  # loop: x -> x?r=1 -> x -> ...
            looped = {k: v for k, v in query.items() if k != "r"}
            if "r" not in query:
                looped["r"] = "1"
            host = "choicewzp1" if path == CHOICE_PATH else "finance"
            location = f"http://{host}.eastmoney.com{path}" + (
                "?" + _query(looped) if looped else ""
            )
        body = f'<html><body>Moved to <a href="{location}">here</a></body></html>'.encode()
        return replace(
            routed, status=302, content_type=HTML_TYPE, body=body, headers={"Location": location}
        )

    # -- transient faults ----------------------------------------------------

    def _transient(self, key: str, attempt: int, json_route: bool) -> str:
        """The transient fault for the ``attempt``-th request of ``key`` ("" = none)."""
        f = self.faults
        if (
            ARTICLE_PATH.fullmatch(key.split("?", 1)[0])
            and _rng(f.seed, "captcha", key, attempt).random() < f.captcha_share
        ):
            return "captcha"
        if _rng(f.seed, "unavailable", key, attempt).random() < f.unavailable_share:
            return "503"
        roll = _rng(f.seed, "transient", key, attempt).random()
        for kind, share in (
            ("error", f.error_share),
            ("429", f.throttle_share),
            ("hang", f.hang_share),
            ("reset", f.reset_share),
        ):
            if roll < share:
                if kind == "error":
                    return _rng(f.seed, "status", key, attempt).choice(("500", "502", "503"))
                return kind
            roll -= share
        if json_route and _rng(f.seed, "truncate", key, attempt).random() < f.truncate_share:
            return "truncate"
        return ""

    def _forced(self, json_route: bool) -> str:
        """The next ``warmup`` fault this request fits ("" when none is left or fits)."""
        for i, kind in enumerate(self._warmup):
            if kind != "truncate" or json_route:
                return self._warmup.pop(i)
        return ""

    def _captcha_due(self) -> bool:
        """Count this request; True when the client went over ``captcha_rate``."""
        f = self.faults
        if f.captcha_rate <= 0:
            return False
        now = time.monotonic()
        self._recent.append(now)
        while self._recent and self._recent[0] <= now - f.captcha_window:
            self._recent.popleft()
        return len(self._recent) > f.captcha_rate * f.captcha_window

    def _retry_after(self, key: str, attempt: int) -> str:
        seconds = self.faults.retry_after
        if _rng(self.faults.seed, "retry-after-form", key, attempt).random() < 0.5:
            # HTTP-date form, one second later so that rounding never shortens the wait.
            return formatdate(time.time() + seconds + 1, usegmt=True)
        return str(seconds)

    # -- applying ------------------------------------------------------------

    @staticmethod
    def faultable(path: str) -> bool:
        return path != "/robots.txt" and not path.startswith("/__replica/")

    def apply(self, path: str, query: dict[str, str], routed: Any) -> tuple[Any, str]:
        """The answer to send instead of ``routed`` and how: ``(answer, mode)``.

        ``routed`` is the server's ``Response`` dataclass (``status``, ``content_type``,
        ``body``, ``headers``); the answer is one too. ``mode`` is ``""`` (send it),
        ``"hang"`` (send nothing, hold the connection) or ``"reset"`` (send half, reset).
        """
        if not self.faultable(path):
            return routed, ""
        json_route = path in (LIST_PATH, CHOICE_PATH, FAST_PATH)
        key = request_key(path, query)
        with self._lock:
            attempt = self._attempts[key]
            self._attempts[key] += 1
            due = self._captcha_due()
            kind = ""
            if not due and self._streak[key] < self.faults.max_streak:
                kind = self._forced(json_route) or self._transient(key, attempt, json_route)
            if due or kind == "captcha":
                if kind:
                    self._streak[key] += 1
                self._note(path, "captcha")
                captcha = replace(
                    routed,
                    status=200,
                    content_type=HTML_TYPE,
                    body=CAPTCHA_PAGE.encode(),
                    headers={},
                )
                return captcha, ""
            self._streak[key] = self._streak[key] + 1 if kind else 0
            permanent = self._permanent(path, query)
            if kind:
                self._note(path, kind)
            elif permanent:
                self._note(path, permanent[0])
        if kind in REASONS:
            page = ERROR_PAGE.format(status=kind, reason=REASONS[kind]).encode()
            headers = {"Retry-After": self._retry_after(key, attempt)} if kind == "429" else {}
            return replace(
                routed, status=int(kind), content_type=HTML_TYPE, body=page, headers=headers
            ), ""
        if kind in ("hang", "reset"):
            return routed, kind
        if permanent:
            return self._permanent_answer(routed, permanent[0], path, query), ""
        answer = routed
        if kind == "truncate":
            answer = replace(answer, body=answer.body[: max(1, len(answer.body) // 2)])
        elif self.faults.bad_items and path == LIST_PATH and query.get("page_index") == "1":
            answer = self._with_bad_items(answer)
        if (
            self.faults.gbk
            and ARTICLE_PATH.fullmatch(path)
            and b'class="newsContent"' in answer.body
        ):
            answer = self._as_gbk(answer, path)
        return answer, ""

    def _note(self, path: str, kind: str, n: int = 1) -> None:
        """Count an injected fault (the caller holds the lock)."""
        self.counts[kind] += n
        self.events.append((time.time(), path, kind))

    def _with_bad_items(self, answer: Any) -> Any:
        body = answer.body
        m = JSONP.match(body)
        payload = m.group(2) if m else body
        try:
            doc = json.loads(payload)
        except ValueError:
            return answer
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("list"), list):
            return answer  # an error answer: nothing to add to
        with self._lock:
            self._note(LIST_PATH, "bad_items")  # one list answer with all of BAD_ITEMS
        data["list"] = [item for item, _ in BAD_ITEMS] + data["list"]
        out = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        if m:
            out = m.group(1) + b"(" + out + b");"
        return replace(answer, body=out)

    def _as_gbk(self, answer: Any, path: str) -> Any:
        """The page as a legacy server sends it: GB18030 bytes labelled ``gbk``."""
        html = answer.body.decode("utf-8").replace(
            '<meta charset="utf-8">',
            '<meta http-equiv="Content-Type" content="text/html; charset=gbk">',
        )
        with self._lock:
            self._note(path, "gbk")
        return replace(answer, content_type=GBK_TYPE, body=html.encode("gb18030"))

    def fault_events(self) -> list[tuple[float, str, str]]:
        """``(time.time(), path, kind)`` of each injected fault so far."""
        with self._lock:
            return list(self.events)

    def snapshot(self) -> dict[str, Any]:
        """Faults injected so far by kind, and the permanently broken routes."""
        with self._lock:
            return {
                "counts": dict(sorted(self.counts.items())),
                "page_faults": dict(sorted(self.page_faults.items())),
                "choice_faults": dict(sorted(self.choice_faults.items())),
            }


def _query(query: dict[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in query.items())


def ground_truth(articles: list[Article], injector: FaultInjector | None) -> dict[str, Any]:
    """What the replica can serve at all: ``{info_code: {...}}`` for every CMS article
    (``servable``, ``page``, ``choice``, ``title``, ``expected_text``, ``name``, ``columns``).

    ``servable`` is True unless every route is broken for good: the page is a 404 or
    permanently faulted, and the Choice text is empty or permanently faulted. Transient
    faults and captchas never make an article unservable.
    """
    page_faults = injector.page_faults if injector else {}
    choice_faults = injector.choice_faults if injector else {}
    truth: dict[str, Any] = {}
    for art in articles:
        if not is_cms(art):
            continue
        code = art["code"]
        page = "404" if art["page"] == "404" else page_faults.get(code, "ok")
        choice = "empty" if art["choice"] == "empty" else choice_faults.get(code, "ok")
        truth["NW" + code] = {
            "servable": page == "ok" or choice == "ok",
            "page": page,
            "choice": choice,
            "title": art["title"],
            "expected_text": art["expected_text"],
            "name": art.get("name", ""),
            "columns": list(art["columns"]),
        }
    return truth


# -- command line --------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--fault-*`` flags of ``python -m tests.replica.server``."""
    g = parser.add_argument_group("faults (all off by default)")
    g.add_argument("--chaos", action="store_true", help="every fault mode on (Faults.chaos)")
    g.add_argument("--fault-seed", type=int, default=0, help="seed of the fault schedule")
    g.add_argument("--fault-errors", type=float, help="share of requests answered 500/502/503")
    g.add_argument("--fault-429", type=float, help="share answered 429 with Retry-After")
    g.add_argument("--retry-after", type=int, help="Retry-After seconds (default 1)")
    g.add_argument("--fault-hang", type=float, help="share of connections that hang")
    g.add_argument("--hang-seconds", type=float, help="how long a hanging connection stays open")
    g.add_argument("--fault-reset", type=float, help="share reset in the middle of the body")
    g.add_argument("--fault-truncate", type=float, help="share of JSON answers cut in half")
    g.add_argument("--captcha-rate", type=float, help="captcha above this many requests/s")
    g.add_argument("--fault-pages", type=float, help="share of article pages broken for good")
    g.add_argument("--fault-choice", type=float, help="share of Choice texts broken for good")
    g.add_argument("--fault-gbk", action="store_true", help="legacy pages in GBK (+1 article)")
    g.add_argument("--fault-bad-items", action="store_true", help="malformed list entries")
    g.add_argument(
        "--fault-warmup",
        help="comma list of transient faults forced on the first requests (e.g. 500,429,hang)",
    )


_FLAG_FIELDS = {
    "fault_errors": "error_share",
    "fault_429": "throttle_share",
    "retry_after": "retry_after",
    "fault_hang": "hang_share",
    "hang_seconds": "hang_seconds",
    "fault_reset": "reset_share",
    "fault_truncate": "truncate_share",
    "captcha_rate": "captcha_rate",
    "fault_pages": "page_broken_share",
    "fault_choice": "choice_broken_share",
}


def from_args(args: argparse.Namespace) -> Faults | None:
    """The :class:`Faults` the flags ask for, or None when no fault flag is given."""
    values: dict[str, Any] = {
        name: getattr(args, flag)
        for flag, name in _FLAG_FIELDS.items()
        if getattr(args, flag) is not None
    }
    if args.fault_gbk:
        values["gbk"] = True
    if args.fault_bad_items:
        values["bad_items"] = True
    if args.fault_warmup:
        values["warmup"] = tuple(k.strip() for k in args.fault_warmup.split(",") if k.strip())
    if args.chaos:
        return Faults.chaos(args.fault_seed, **values)
    if not values:
        return None
    return Faults(seed=args.fault_seed, **values)

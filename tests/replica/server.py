"""A local replica of the Eastmoney upstream, served at one loopback origin.

Routes (paths as on the real hosts; the crawler maps every ``*.eastmoney.com``
host onto this origin, keeping path and query):

- ``GET /comm/web/getNewsByColumns``  column list API (JSON or JSONP)
- ``GET /a/<code>.html``              article page (current or older template, or 404)
- ``GET /a/<slug>.html``, ``/a/<slug>_<n>.html``  column shell pages (script-filled)
- ``GET /news/1<column>,<code>.html`` legacy URL → 301 to the canonical article URL
- ``GET /NewsData/GetNewsText.do``    Choice text API
- ``GET /comm/web/getFastNewsList``   the 7×24 feed (:mod:`tests.replica.fastnews`)
- ``GET /html_News/NewsShare.html``   Choice share page (script-filled)
- ``GET /__replica/requests``, ``POST /__replica/reset``  the request log (not logged)
- ``GET /__replica/faults``           faults injected so far and the ground truth

Fault modes (transient 5xx/429, hangs, resets, truncated JSON, captcha, redirects,
GBK, a 20 MB answer, malformed list items) are switched on with
``Replica(faults=Faults(seed=1, ...))`` or the ``--fault-*``/``--chaos`` flags; see
:mod:`tests.replica.faults`.

Command line::

    python -m tests.replica.server --port 0 [--host 127.0.0.1] [--data DIR]
        [--refuse-json] [--no-fillers] [--verbose] [--chaos] [--fault-seed N] [--fault-...]

prints ``READY http://127.0.0.1:<port>`` and serves until SIGTERM/SIGINT.
In tests::

    with Replica() as r:
        urlopen(r.url + "/a/202611233592418806.html")
        r.requests()
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.replica import fastnews as fastfeed
from tests.replica import faults as faultmodes
from tests.replica import images as pictures
from tests.replica import pages
from tests.replica.faults import FaultInjector, Faults
from tests.replica.fixtures import COLUMNS, Article, load_articles

JSON_TYPE = "application/json;charset=UTF-8"
JS_TYPE = "application/javascript;charset=UTF-8"
HTML_TYPE = "text/html; charset=utf-8"
MAX_PAGE_SIZE = 200
SLUG_COLUMNS = {slug: column for column, (_, slug) in COLUMNS.items()}
CALLBACK = re.compile(r"^[A-Za-z_$][\w$.]{0,99}$")


@dataclass
class Response:
    """What a route answers."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _html(status: int, text: str) -> Response:
    return Response(status, HTML_TYPE, text.encode("utf-8"))


def _not_found() -> Response:
    return _html(404, pages.not_found_page())


def choice_content(art: Article) -> str:
    """The Choice ``content`` field: each paragraph of the text prefixed with 　　, CRLF-joined."""
    return "\r\n".join("\u3000\u3000" + line for line in art["expected_text"].split("\n") if line)


class ReplicaState:
    """Articles, indexes, switches and the request log shared by all handler threads."""

    def __init__(
        self, articles: list[Article], refuse_json: bool = False, faults: Faults | None = None
    ) -> None:
        # Fault modes may publish extra articles (the legacy GBK page).
        self.faults = FaultInjector(faults, articles) if faults is not None else None
        if self.faults is not None:
            articles.extend(self.faults.extra_articles())
        self.articles = articles
        self.by_code = {a["code"]: a for a in articles}
        # The 7×24 feed (tests/replica/fastnews.py) and its flash-only articles.
        self.fast = fastfeed.FastFeed()
        self.fast.bad_items = bool(faults is not None and faults.bad_items)
        for art in fastfeed.flash_articles():
            self.by_code.setdefault(art["code"], art)
        self.refuse_json = refuse_json
        self.origin = ""  # set once the server is bound, e.g. "http://127.0.0.1:8123"
        self._log: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, entry: dict[str, Any]) -> None:
        """Append one request to the log."""
        with self._lock:
            self._log.append(entry)

    def requests(self) -> list[dict[str, Any]]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return [dict(e) for e in self._log]

    def reset_log(self) -> None:
        """Forget every logged request."""
        with self._lock:
            self._log.clear()

    # -- routes ----------------------------------------------------------

    def allowed(self, headers: dict[str, str]) -> bool:
        """In refuse-json mode only same-origin XHR/fetch calls get data."""
        if not self.refuse_json:
            return True
        xhr = headers.get("x-requested-with", "").lower() == "xmlhttprequest"
        referer = headers.get("referer", "")
        origins = {self.origin}
        if headers.get("host"):
            origins.add("http://" + headers["host"])
        return xhr and any(o and (referer == o or referer.startswith(o + "/")) for o in origins)

    def list_api(self, query: dict[str, str], headers: dict[str, str]) -> Response:
        """``/comm/web/getNewsByColumns``."""
        callback = query.get("callback", "")
        if "req_trace" not in query:
            answer: dict[str, Any] = {
                "code": 0,
                "message": "Required String parameter 'req_trace' is not present",
            }
        elif not self.allowed(headers):
            answer = {"code": 0, "message": "非法请求"}
        else:
            answer = self._list_answer(query)
        if callback and CALLBACK.match(callback):
            body = callback.encode() + b"(" + _json_bytes(answer) + b");"
            return Response(200, JS_TYPE, body)
        return Response(200, JSON_TYPE, _json_bytes(answer))

    def _list_answer(self, query: dict[str, str]) -> dict[str, Any]:
        columns = [c.strip() for c in query.get("column", "").split(",") if c.strip()]
        page_text = query.get("page_index", "")
        if not columns or not all(c.isdigit() for c in columns):
            return {"code": 0, "message": "参数缺失"}
        if not page_text.isdigit() or int(page_text) < 1:
            return {"code": 0, "message": "参数缺失"}
        page = int(page_text)
        size = page_size(query.get("page_size", ""))
        wanted = [int(c) for c in columns]
        hits = [a for a in self.articles if any(c in a["columns"] for c in wanted)]
        hits.sort(key=lambda a: (a["showTime"], a["code"]), reverse=True)
        chunk = hits[(page - 1) * size : page * size]
        items = [list_item(a, wanted) for a in chunk]
        return list_answer(query["req_trace"], page, size, len(hits), items)

    def article(self, code: str) -> Response:
        """``/a/<code>.html``."""
        art = self.by_code.get(code)
        if art is None or art["page"] == "404":
            return _not_found()
        if art["page"] == "old":
            return _html(200, pages.old_article_page(art))
        related = [a for a in self.articles if a["code"] != code and a["page"] != "404"][:5]
        return _html(200, pages.article_page(art, related))

    def choice_text(self, query: dict[str, str], headers: dict[str, str]) -> Response:
        """``/NewsData/GetNewsText.do?id=NW<code>``."""
        if not self.allowed(headers):
            return Response(200, JSON_TYPE, _json_bytes({"code": 0, "message": "非法请求"}))
        info_code = query.get("id", "")
        art = self.by_code.get(info_code[2:]) if info_code.startswith("NW") else None
        answer = {
            "id": info_code,
            "title": "",
            "showTime": "",
            "mediaName": "",
            "text": "",
            "content": "",
        }
        if art is not None:
            answer.update(title=art["title"], showTime=art["showTime"], mediaName=art["mediaName"])
            if art["choice"] == "ok":
                answer.update(text=art["body_html"], content=choice_content(art))
        return Response(200, JSON_TYPE, _json_bytes(answer))

    def serve(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> tuple[Response, str]:
        """The routed answer with the fault modes applied: ``(answer, send mode)``.

        The mode is ``""``, ``"hang"`` or ``"reset"`` (see :meth:`FaultInjector.apply`).
        """
        response = self.route(method, path, query, headers)
        if self.faults is None:
            return response, ""
        return self.faults.apply(path, query, response)

    def ground_truth(self) -> dict[str, Any]:
        """``{info_code: {servable, page, choice, title, expected_text, name, columns}}``."""
        return faultmodes.ground_truth(self.articles, self.faults)

    def route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> Response:
        """Answer one logged request."""
        if method != "GET":
            return _not_found()
        if path == "/comm/web/getNewsByColumns":
            return self.list_api(query, headers)
        if path == "/NewsData/GetNewsText.do":
            return self.choice_text(query, headers)
        if path == fastfeed.FAST_PATH:
            return Response(*self.fast.answer(query, self.allowed(headers)))
        if path == "/html_News/NewsShare.html":
            return _html(200, pages.share_page())
        if m := re.fullmatch(r"/a/(\d{17,18})\.html", path):
            return self.article(m.group(1))
        if m := re.fullmatch(r"/a/([a-z]+)(?:_(\d+))?\.html", path):
            column = SLUG_COLUMNS.get(m.group(1))
            page = int(m.group(2) or 1)
            if column is not None and page >= 1:
                return _html(200, pages.column_page(column, page))
        if (pic := pictures.picture(path)) is not None:  # np-newspic.dfcfw.com pictures
            return Response(pic[0], pic[1], pic[2])
        if m := re.fullmatch(r"/news/1\d+,(\d{17,18})\.html", path):
            location = f"https://finance.eastmoney.com/a/{m.group(1)}.html"
            body = f'<html><body>Moved to <a href="{location}">{location}</a></body></html>'
            return Response(301, HTML_TYPE, body.encode(), {"Location": location})
        return _not_found()


def page_size(text: str) -> int:
    """``page_size``: 20 when missing, empty, non-numeric or 0; at most ``MAX_PAGE_SIZE``."""
    return min(int(text), MAX_PAGE_SIZE) if text.isdigit() and int(text) > 0 else 20


def list_answer(
    req_trace: str, page: int, size: int, total: int, items: list[dict[str, str]]
) -> dict[str, Any]:
    """The list API's answer to a valid request: page ``page`` (``items``, made
    by :func:`list_item`) of ``total`` hits, ``totle_hits`` spelled as
    Eastmoney does. ``code`` is a number on odd pages and a string on even
    ones, so the list parser meets both."""
    return {
        "req_trace": req_trace,
        "code": 1 if page % 2 else "1",
        "message": "success",
        "data": {
            "page_index": page,
            "page_size": size,
            "totle_hits": total,
            "list": items,
        },
    }


def list_item(art: Article, wanted: list[int]) -> dict[str, str]:
    """One ``data.list[]`` entry of the list API for ``art``."""
    code = art["code"]
    if art["np_dst"] == "CFH":
        url, unique = f"http://caifuhao.eastmoney.com/news/{code}", ""
    else:
        column = next((c for c in art["columns"] if c in wanted), art["columns"][0])
        url = f"http://finance.eastmoney.com/news/1{column},{code}.html"
        unique = f"http://finance.eastmoney.com/a/{code}.html"
    return {
        "code": code,
        "np_dst": art["np_dst"],
        "showTime": art["showTime"],
        "title": art["title"],
        "mediaName": art["mediaName"],
        "summary": art["summary"],
        "image": art["image"],
        "url": url,
        "uniqueUrl": unique,
    }


class Handler(BaseHTTPRequestHandler):
    """Parses a request, logs it, and writes the routed answer."""

    protocol_version = "HTTP/1.1"
    timeout = 30
    server: ReplicaServer

    def version_string(self) -> str:
        """The ``Server`` header."""
        return "nginx"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle("HEAD")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        parts = urlsplit(self.path)
        state = self.server.state
        if parts.path.startswith("/__replica/"):
            self._send(self._control(method, parts.path, state))
            return
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        state.record(
            {
                "method": method,
                "path": parts.path,
                "query": query,
                "headers": dict(self.headers.items()),
                "time": time.time(),
            }
        )
        response, mode = state.serve(
            "GET" if method == "HEAD" else method, parts.path, query, headers
        )
        self._send(response, head=method == "HEAD", mode=mode)

    @staticmethod
    def _control(method: str, path: str, state: ReplicaState) -> Response:
        if method == "GET" and path == "/__replica/requests":
            return Response(200, JSON_TYPE, _json_bytes(state.requests()))
        if method == "POST" and path == "/__replica/reset":
            state.reset_log()
            return Response(200, JSON_TYPE, _json_bytes({"ok": True}))
        if method == "GET" and path == "/__replica/faults":
            injected = state.faults.snapshot() if state.faults is not None else {}
            return Response(
                200, JSON_TYPE, _json_bytes({**injected, "ground_truth": state.ground_truth()})
            )
        return _not_found()

    def _send(self, response: Response, head: bool = False, mode: str = "") -> None:
        if mode == "hang":
            # Hold the connection open and silent past the client's timeout.
            faults = self.server.state.faults
            assert faults is not None
            faults.stopped.wait(faults.faults.hang_seconds)
            self.close_connection = True
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not head and mode == "reset":
            # Half the promised body, then a TCP reset (SO_LINGER 0 makes close() send RST).
            self.wfile.write(response.body[: len(response.body) // 2])
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif not head:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet unless the server was started verbose."""
        if self.server.verbose:
            super().log_message(format, *args)


class ReplicaServer(ThreadingHTTPServer):
    """A threading HTTP server bound to loopback, carrying the replica state."""

    daemon_threads = True

    def __init__(self, host: str, port: int, state: ReplicaState, verbose: bool = False) -> None:
        if not is_loopback(host):
            raise ValueError(f"the replica only binds to loopback, not {host!r}")
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.state = state
        self.verbose = verbose
        super().__init__((host, port), Handler)
        bound_host, bound_port = self.server_address[:2]
        shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
        state.origin = f"http://{shown}:{bound_port}"

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s reverse-DNS lookup of the address."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped connections are normal (clients time out, browsers cancel)."""
        if self.verbose:
            super().handle_error(request, client_address)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Replica:
    """The replica in a background thread, for tests.

    ``Replica(data_dir=None, refuse_json=False, faults=None)``; use as a context
    manager or call ``start()``/``stop()``. ``refuse_json`` may be changed while
    running. ``faults`` (a :class:`~tests.replica.faults.Faults`) switches fault
    modes on; :meth:`ground_truth` says which articles can be served at all.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        refuse_json: bool = False,
        *,
        fillers: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
        faults: Faults | None = None,
    ) -> None:
        self.articles: list[Article] = load_articles(data_dir, fillers=fillers)
        self._state = ReplicaState(self.articles, refuse_json, faults)
        self._host, self._port, self._verbose = host, port, verbose
        self._server: ReplicaServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The origin, e.g. ``http://127.0.0.1:8123`` (no trailing slash)."""
        if not self._state.origin:
            raise RuntimeError("replica not started")
        return self._state.origin

    @property
    def refuse_json(self) -> bool:
        """Whether the JSON APIs refuse calls that are not same-origin XHR."""
        return self._state.refuse_json

    @refuse_json.setter
    def refuse_json(self, value: bool) -> None:
        self._state.refuse_json = value

    def article(self, code: str) -> Article:
        """The fixture article with this code (``KeyError`` if none)."""
        return self._state.by_code[code]

    def add_article(self, article: Article) -> None:
        """Publish one more article while running (the upstream gains news over time)."""
        self.articles.append(article)
        self._state.by_code[article["code"]] = article

    def requests(self) -> list[dict[str, Any]]:
        """Requests received so far: ``{method, path, query, headers, time}`` dicts."""
        return self._state.requests()

    def reset_log(self) -> None:
        """Forget the requests received so far."""
        self._state.reset_log()

    def ground_truth(self) -> dict[str, Any]:
        """Per CMS article (by infoCode): can it be served at all, and through which route."""
        return self._state.ground_truth()

    def servable(self) -> set[str]:
        """infoCodes of the articles the replica can serve (through some route)."""
        return {k for k, v in self.ground_truth().items() if v["servable"]}

    def unservable(self) -> set[str]:
        """infoCodes of the listed CMS articles no route serves (must become failures)."""
        return {k for k, v in self.ground_truth().items() if not v["servable"]}

    @property
    def fast(self) -> fastfeed.FastFeed:
        """The 7×24 feed (its items, ``refuse_first``, ``bad_items``)."""
        return self._state.fast

    @property
    def injector(self) -> FaultInjector | None:
        """The fault injector (its routes, counts and events), None without faults."""
        return self._state.faults

    def fault_counts(self) -> dict[str, int]:
        """Faults injected so far, by kind (empty without faults)."""
        injector = self._state.faults
        return dict(injector.snapshot()["counts"]) if injector is not None else {}

    def start(self) -> Replica:
        """Bind and serve in a daemon thread."""
        if self._state.faults is not None:
            self._state.faults.stopped.clear()  # hanging connections hang again
        self._server = ReplicaServer(self._host, self._port, self._state, self._verbose)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="replica", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._state.faults is not None:
            self._state.faults.stopped.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Replica:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description="Serve the local Eastmoney replica.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0: let the OS choose)")
    parser.add_argument("--data", default=None, help="directory of fixture *.json files")
    parser.add_argument("--refuse-json", action="store_true", help="refuse non-XHR JSON API calls")
    parser.add_argument(
        "--no-fillers", action="store_true", help="do not add the generated fillers"
    )
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    faultmodes.add_arguments(parser)
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"--host must be a loopback address, not {args.host!r}")
    try:
        faults = faultmodes.from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    state = ReplicaState(
        load_articles(args.data, fillers=not args.no_fillers), args.refuse_json, faults
    )
    server = ReplicaServer(args.host, args.port, state, verbose=args.verbose)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # also when started in the background (SIGINT ignored)
    print(f"READY {state.origin}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if state.faults is not None:
            state.faults.stopped.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A fast variant of the replica for benchmarks: synthetic articles, asyncio, no log.

The crawl benchmarks need an upstream that is never the bottleneck. The test
replica (``tests/replica/server.py``) is a ``ThreadingHTTPServer`` that logs
every request and scans all articles per list request; fine for tests, slow at
50,000 articles. This server answers the same routes with the same bytes
(``tests.replica.pages`` renders the article pages, ``list_item`` the list
entries) for the synthetic articles ``0..count-1`` of :mod:`bench.synth`:

- ``GET /comm/web/getNewsByColumns``  list API (JSON; ``code`` 1 / "1" alternating)
- ``GET /a/<code>.html``              article page (current or older template) or 404
- ``GET /NewsData/GetNewsText.do``    Choice text JSON
- anything else                       the replica's 404 page (``/robots.txt`` too)
- ``GET /__bench/stats``, ``POST /__bench/reset``  request counts per route

It is a minimal HTTP/1.1 server on ``asyncio.Protocol`` (keep-alive,
``Content-Length`` on every answer, GET/HEAD/POST), one process, no threads:
about 5,000–10,000 requests/s here, against ~100–400/s for a Scrapy crawl.
Articles are generated and rendered per request (~0.1 ms), so memory stays
flat whatever ``count`` is.

    .venv/bin/python -m bench.fastreplica --count 50000 [--port 0]

prints ``READY http://127.0.0.1:<port>`` and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.synth import COLUMNS, columns_of, index_of, synth_article  # noqa: E402
from tests.replica import pages  # noqa: E402
from tests.replica.server import list_answer, list_item, page_size  # noqa: E402

JSON_TYPE = b"application/json;charset=UTF-8"
HTML_TYPE = b"text/html; charset=utf-8"
ARTICLE_RE = re.compile(r"^/a/(\d{17,18})\.html$")
NOT_FOUND = pages.not_found_page().encode("utf-8")


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class App:
    """Routes for synthetic articles ``0..count-1`` (article 0 is the newest)."""

    def __init__(self, count: int) -> None:
        self.count = count
        # Per column, the article indexes listed there, newest first.
        self.by_column: dict[int, list[int]] = {c: [] for c in COLUMNS}
        for i in range(count):
            for c in columns_of(i):
                self.by_column[c].append(i)
        self.related = [synth_article(i) for i in range(min(5, count))]
        self.hits: Counter[str] = Counter()

    def route(self, method: str, target: str) -> tuple[int, bytes, bytes]:
        parts = urlsplit(target)
        path = parts.path
        if path.startswith("/__bench/"):
            if path == "/__bench/stats":
                return 200, JSON_TYPE, _json(dict(self.hits))
            if path == "/__bench/reset" and method == "POST":
                self.hits.clear()
                return 200, JSON_TYPE, b'{"ok":true}'
            return 404, HTML_TYPE, NOT_FOUND
        if method not in ("GET", "HEAD"):
            self.hits["other"] += 1
            return 404, HTML_TYPE, NOT_FOUND
        if path == "/comm/web/getNewsByColumns":
            self.hits["list"] += 1
            return 200, JSON_TYPE, self.list_api(dict(parse_qsl(parts.query)))
        if m := ARTICLE_RE.match(path):
            self.hits["article"] += 1
            i = index_of(m.group(1))
            if i is None or i >= self.count:
                return 404, HTML_TYPE, NOT_FOUND
            art = synth_article(i)
            if art["page"] == "old":
                return 200, HTML_TYPE, pages.old_article_page(art).encode("utf-8")
            return 200, HTML_TYPE, pages.article_page(art, self.related).encode("utf-8")
        if path == "/NewsData/GetNewsText.do":
            self.hits["choice"] += 1
            return 200, JSON_TYPE, self.choice(dict(parse_qsl(parts.query)))
        self.hits["other"] += 1
        return 404, HTML_TYPE, NOT_FOUND

    def list_api(self, query: dict[str, str]) -> bytes:
        if "req_trace" not in query:
            return _json(
                {"code": 0, "message": "Required String parameter 'req_trace' is not present"}
            )
        columns = [c for c in query.get("column", "").split(",") if c.strip()]
        page_text = query.get("page_index", "")
        if not columns or not all(c.isdigit() for c in columns) or not page_text.isdigit():
            return _json({"code": 0, "message": "参数缺失"})
        page = int(page_text)
        if page < 1:
            return _json({"code": 0, "message": "参数缺失"})
        size = page_size(query.get("page_size", ""))
        wanted = [int(c) for c in columns]
        if len(wanted) == 1:
            hits = self.by_column.get(wanted[0], [])
        else:
            hits = sorted({i for c in wanted for i in self.by_column.get(c, [])})
        chunk = hits[(page - 1) * size : page * size]
        items = [list_item(synth_article(i), wanted) for i in chunk]
        return _json(list_answer(query["req_trace"], page, size, len(hits), items))

    def choice(self, query: dict[str, str]) -> bytes:
        info_code = query.get("id", "")
        i = index_of(info_code[2:]) if info_code.startswith("NW") else None
        answer = dict.fromkeys(("title", "showTime", "mediaName", "text", "content"), "")
        answer = {"id": info_code, **answer}
        if i is not None and i < self.count:
            art = synth_article(i)
            content = "\r\n".join(
                "\u3000\u3000" + line for line in art["expected_text"].split("\n")
            )
            answer.update(
                title=art["title"],
                showTime=art["showTime"],
                mediaName=art["mediaName"],
                text=art["body_html"],
                content=content,
            )
        return _json(answer)


REASONS = {200: b"OK", 404: b"Not Found", 400: b"Bad Request"}


class HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive; requests are answered in order as they arrive."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > 65536:
                    self.transport.close()
                return
            head = self.buf[:end].decode("latin-1")
            lines = head.split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buf) < end + 4 + length:
                return  # wait for the request body
            self.buf = self.buf[end + 4 + length :]
            try:
                method, target, version = lines[0].split(" ", 2)
            except ValueError:
                self.respond(400, HTML_TYPE, NOT_FOUND, close=True)
                return
            status, ctype, body = self.app.route(method, target)
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            self.respond(status, ctype, b"" if method == "HEAD" else body, close, len(body))
            if close:
                return

    def respond(
        self, status: int, ctype: bytes, body: bytes, close: bool, length: int | None = None
    ) -> None:
        head = b"HTTP/1.1 %d %s\r\nServer: nginx\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
            status,
            REASONS.get(status, b"OK"),
            ctype,
            len(body) if length is None else length,
        )
        head += b"Connection: close\r\n\r\n" if close else b"\r\n"
        self.transport.write(head + body)
        if close:
            self.transport.close()


async def serve(count: int, host: str, port: int) -> None:
    app = App(count)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpProtocol(app), host, port, backlog=1024)
    bound = server.sockets[0].getsockname()
    print(f"READY http://{bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


class FastReplica:
    """The fast replica in a subprocess: ``with FastReplica(50000) as r: r.url``."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> FastReplica:
        cmd = [sys.executable, "-m", "bench.fastreplica", "--count", str(self.count)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"fast replica did not start: {line!r}")
        self.url = line.split()[1]
        return self

    def stats(self) -> dict[str, int]:
        from urllib.request import urlopen

        with urlopen(self.url + "/__bench/stats", timeout=10) as resp:
            return json.loads(resp.read())

    def reset(self) -> None:
        from urllib.request import Request, urlopen

        with urlopen(Request(self.url + "/__bench/reset", method="POST"), timeout=10):
            pass

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def capacity(url: str, seconds: float = 2.0, connections: int = 8) -> float:
    """Requests/s this server answers for article pages (a quick load check)."""
    from http.client import HTTPConnection

    parts = urlsplit(url)
    paths = [f"/a/{synth_article(i)['code']}.html" for i in range(50)]
    done = 0

    def worker() -> int:
        conn = HTTPConnection(parts.hostname, parts.port, timeout=10)
        n = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            conn.request("GET", paths[n % len(paths)])
            conn.getresponse().read()
            n += 1
        conn.close()
        return n

    from concurrent.futures import ThreadPoolExecutor

    t0 = time.monotonic()
    with ThreadPoolExecutor(connections) as pool:
        done = sum(pool.map(lambda _: worker(), range(connections)))
    return done / (time.monotonic() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve synthetic articles like the replica, fast.")
    parser.add_argument("--count", type=int, default=1000, help="synthetic articles served")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("loopback only")
    asyncio.run(serve(args.count, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())

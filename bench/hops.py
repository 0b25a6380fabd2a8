"""Count the rooms one article passes through, from its list JSON to its row.

python -m bench.hops [--json]

Crawls a fresh replica for exactly one article (one column, one list page of
one entry; no refresh, no browser) with every function call of finews's own
code traced, in the crawl process (FINEWS_WORKERS=0, so the stages' work is
traced too), from the first call of the list parser to the end of the run.

- files: the finews modules (under crawler/ and pipelines/) that ran code;
- hops: the distinct (calling module -> called module) pairs, where the
  caller is the frame that made the call; a call made by Scrapy, the event
  loop or an executor is a hop from "scrapy";
- rooms and hops between rooms: the same, with each package below crawler/
  counted as one room (``crawler/store/``, ``crawler/transform/html/``);
- calls: how many calls crossed from one module to another in all;
- crossings: how often the article's data crosses a process boundary in a
  default crawl (FINEWS_WORKERS=1, traced in the crawl process only): twice
  for every call handed to a worker.

docs/architecture.md lists the path this prints.
"""

from __future__ import annotations

import argparse
import inspect
import json
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

from tests.replica.server import Replica

ROOT = Path(__file__).resolve().parent.parent
ROOMS = (str(ROOT / "crawler") + "/", str(ROOT / "pipelines") + "/")
#: The calls that hand work to another process in a default crawl.
SEAMS = {("crawler/workers.py", "run"), ("crawler/offload.py", "call")}


_SUSPENDABLE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _room(filename: str) -> str | None:
    if filename.startswith(ROOMS):
        return filename[len(str(ROOT)) + 1 :]
    return None


class Tracer:
    def __init__(self) -> None:
        self.on = False
        self.done = False
        self.started: set[int] = set()
        self.edges: Counter[tuple[str, str]] = Counter()
        self.order: list[tuple[str, str]] = []
        self.files: list[str] = []
        self.crossings = 0
        self.lock = threading.Lock()

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        room = _room(frame.f_code.co_filename)
        if room is None:
            return
        name = frame.f_code.co_name
        if frame.f_code.co_flags & _SUSPENDABLE:
            # A coroutine or generator raises "call" at every resume: count its start only.
            if id(frame) in self.started:
                return
            self.started.add(id(frame))
        if not self.on:
            if self.done or not name.startswith("parse_list"):
                return
            self.on = True
        if name == "spider_closed" and room.startswith("crawler/extensions"):
            self.on, self.done = False, True  # the run's own bookkeeping begins
            return
        # A call made by Scrapy, the event loop or an executor, not by finews directly.
        back = frame.f_back
        caller = (_room(back.f_code.co_filename) if back is not None else None) or "scrapy"
        with self.lock:
            if room not in self.files:
                self.files.append(room)
            if (room, name) in SEAMS:
                self.crossings += 2
            if caller != room:
                edge = (caller, room)
                if edge not in self.edges:
                    self.order.append(edge)
                self.edges[edge] += 1


def run(scratch: Path, workers: int) -> Tracer:
    from scrapy.cmdline import execute

    tracer = Tracer()
    with Replica() as replica:
        settings = {
            "FINEWS_ARCHIVE_DIR": str(scratch / "archive"),
            "FINEWS_UPSTREAM": replica.url,
            "FINEWS_COLUMNS": "350",
            "FINEWS_PAGE_SIZE": "1",
            "FINEWS_MAX_PAGES": "1",
            "FINEWS_REFRESH_HOURS": "0",
            "FINEWS_RENDER": "never",
            "FINEWS_WORKERS": str(workers),
            "DOWNLOAD_DELAY": "0",
            "AUTOTHROTTLE_ENABLED": "False",
            "LOG_LEVEL": "WARNING",
        }
        argv = ["scrapy", "crawl", "columns"]
        for key, value in settings.items():
            argv += ["-s", f"{key}={value}"]
        threading.setprofile(tracer)
        sys.setprofile(tracer)
        try:
            execute(argv)
        except SystemExit:
            pass
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]
    return tracer


def _traced(scratch: Path, workers: int) -> dict[str, Any]:
    """One traced crawl in a process of its own (Twisted's reactor runs once a process)."""
    out = scratch / f"hops-{workers}.json"
    cmd = [sys.executable, "-m", "bench.hops", "--one", str(workers), "--out", str(out)]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def room_of(module: str) -> str:
    """The room a module belongs to: its package below crawler/ (``crawler/store/``,
    ``crawler/transform/html/``), else the module itself (``crawler/files.py``,
    ``pipelines/clean.py``)."""
    parts = module.split("/")
    return "/".join(parts[:-1]) + "/" if len(parts) > 2 else module


def count(scratch: Path) -> dict[str, Any]:
    """Hops traced in one process (FINEWS_WORKERS=0); crossings of a default crawl."""
    local = _traced(scratch, 0)
    local["crossings"] = _traced(scratch, 1)["crossings"]
    calls = 0
    rooms: list[str] = []
    for hop, n in local["counts"].items():
        a, b = (room_of(m) if m != "scrapy" else m for m in hop.split(" -> "))
        calls += n
        if a != b and f"{a} -> {b}" not in rooms:
            rooms.append(f"{a} -> {b}")
    local["calls"] = calls
    local["rooms"] = sorted({room_of(f) for f in local["files"]})
    local["room_hops"] = rooms
    return local


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the whole result as JSON")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # FINEWS_WORKERS of one crawl
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one is not None:
        with tempfile.TemporaryDirectory(prefix="finews-hops-") as scratch:
            tracer = run(Path(scratch), args.one)
        result = {
            "files": tracer.files,
            "hops": [f"{a} -> {b}" for a, b in tracer.order],
            "counts": {f"{a} -> {b}": n for (a, b), n in tracer.edges.items()},
            "crossings": tracer.crossings,
        }
        Path(args.out).write_text(json.dumps(result, ensure_ascii=False))
        return 0
    with tempfile.TemporaryDirectory(prefix="finews-hops-") as scratch:
        result = count(Path(scratch))
    if args.json:
        print(json.dumps(result, indent=1, ensure_ascii=False))
    else:
        for hop in result["hops"]:
            print(hop)
        print(
            f"{len(result['files'])} files, {len(result['hops'])} hops "
            f"({result['calls']} calls across files); {len(result['rooms'])} rooms, "
            f"{len(result['room_hops'])} hops between rooms; "
            f"{result['crossings']} process crossings"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

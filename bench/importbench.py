"""Figure 9 of ``make bench``: ``make import`` throughput and memory.

A synthetic old archive in every shape (``tests/oldarchive.py``, the tests'
generator) of 4,000 and 40,000 post files (400 and 4,000 with ``--quick``) is
imported into an empty archive by ``scrapy import-archive``: posts (files) per
second from the command's own closing report (the import, without interpreter
start-up), wall time, the peak RSS (``VmHWM``, sampled every 20 ms) of the
command, and the most its worker processes held at once (their ``VmRSS``
summed per sample), and the CPU time of the command and its workers. Targets: ≥ 400
posts/s at the large size, and peak RSS (command + workers) large / small ≤ 1.2.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
SCRAPY = str(Path(sys.executable).parent / "scrapy")
SIZES = {"full": (4_000, 40_000), "quick": (400, 4_000)}
TARGET_RATE = 400.0
TARGET_RSS_RATIO = 1.2
REPORT = re.compile(r"import: ([\d,]+) files in ([\d.]+) s")


def _hwm_kb(pid: int, field: bytes = b"VmHWM:") -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def import_once(src: Path, archive: Path) -> dict[str, Any]:
    """One ``scrapy import-archive`` run, measured."""
    cmd = [SCRAPY, "import-archive", str(src), "-s", f"FINEWS_ARCHIVE_DIR={archive}"]
    cmd += ["-s", "LOG_LEVEL=WARNING"]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, children, tick = 0, 0, 0
    kids: list[int] = []
    while proc.poll() is None:
        peak = max(peak, _hwm_kb(proc.pid))
        if tick % 5 == 0:
            try:
                kids = [c.pid for c in psutil.Process(proc.pid).children()]
            except psutil.Error:
                kids = []
        # The most the workers held at once (their RSS summed, per sample).
        children = max(children, sum(_hwm_kb(kid, b"VmRSS:") for kid in kids))
        tick += 1
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    # CPU of the command and its workers (crawler.workers waits for them, so
    # their times are the command's children's): what the machine's load does
    # not change much.
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    stderr = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    m = REPORT.search(stderr)
    files, seconds = (int(m.group(1).replace(",", "")), float(m.group(2))) if m else (0, wall)
    return {
        "files": files,
        "seconds": seconds,
        "wall": wall,
        "rate": files / seconds if seconds else 0.0,
        "rss_mb": peak / 1024,
        "worker_rss_mb": children / 1024,
        "rc": proc.returncode,
        "cpu_ms_per_post": cpu * 1000 / files if files else 0.0,
        "report": stderr.strip().splitlines()[-8:],
    }


def fig_import(quick: bool, work: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.oldarchive import write_old_archive

    out: dict[str, Any] = {"load_before": os.getloadavg()}
    for n in SIZES["quick" if quick else "full"]:
        src, archive = work / f"old-{n}", work / f"import-{n}"
        subprocess.run(["rm", "-rf", str(src), str(archive)], check=True)
        write_old_archive(src, n)
        subprocess.run(["sync"], check=False)
        time.sleep(1)
        out[str(n)] = import_once(src, archive)
        subprocess.run(["rm", "-rf", str(src), str(archive)], check=True)
    small, big = (out[str(n)] for n in SIZES["quick" if quick else "full"])
    out["sizes"] = SIZES["quick" if quick else "full"]
    out["rate"] = big["rate"]
    total = [r["rss_mb"] + r["worker_rss_mb"] for r in (small, big)]
    out["ratio"] = total[1] / total[0] if total[0] else 0.0
    out["ratio_command"] = big["rss_mb"] / small["rss_mb"] if small["rss_mb"] else 0.0
    out["load_after"] = os.getloadavg()
    return out


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, bool]]:
    """(measure, value, reference, target, ok) rows of the table."""
    small, big = (r[str(n)] for n in r["sizes"])
    return [
        (
            f"posts/s ({big['files']:,} files)",
            f"{r['rate']:.0f}",
            f"{small['rate']:.0f}/s at {small['files']:,}; wall {big['wall']:.0f} s",
            f">= {TARGET_RATE:.0f}",
            r["rate"] >= TARGET_RATE,
        ),
        (
            "peak RSS MiB command + workers, large / small",
            f"{r['ratio']:.2f}",
            f"{big['rss_mb']:.0f}+{big['worker_rss_mb']:.0f} vs "
            f"{small['rss_mb']:.0f}+{small['worker_rss_mb']:.0f}",
            f"<= {TARGET_RSS_RATIO}",
            r["ratio"] <= TARGET_RSS_RATIO,
        ),
        (
            "CPU ms per post (command + workers, start-up included)",
            f"{big['cpu_ms_per_post']:.2f}",
            f"{small['cpu_ms_per_post']:.2f} at {small['files']:,}; "
            f"load {r['load_before'][0]:.1f} before",
            "",
            True,
        ),
    ]


if __name__ == "__main__":
    import json

    result = fig_import("--quick" in sys.argv, ROOT / "build" / "bench")
    print(json.dumps(result, indent=1, default=str))
    for row in rows(result):
        print(" | ".join(map(str, row)))

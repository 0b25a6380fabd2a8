"""Run a real crawl (a `scrapy crawl` subprocess) against a replica, for the tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAST = {
    # The replica is local: no politeness delays, robots.txt check kept.
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "8",
    "RETRY_TIMES": "1",
    "LOG_LEVEL": "INFO",
}


def run_crawl(
    archive: Path,
    upstream: str,
    spider: str = "columns",
    args: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
    timeout: int = 180,
) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "scrapy"), "crawl", spider]
    for key, value in (args or {}).items():
        cmd += ["-a", f"{key}={value}"]
    merged = {**FAST, "FINEWS_ARCHIVE_DIR": str(archive), "FINEWS_UPSTREAM": upstream}
    merged.update(settings or {})
    for key, value in merged.items():
        cmd += ["-s", f"{key}={value}"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0 or "Traceback" in result.stderr:
        raise AssertionError(f"crawl failed ({result.returncode}):\n{result.stderr[-6000:]}")
    return result

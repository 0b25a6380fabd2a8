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
    # No browser unless a test asks for one (tests/test_browser_route.py).
    "FINEWS_RENDER": "never",
}


def crawl_command(
    archive: Path,
    upstream: str,
    spider: str = "columns",
    args: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
) -> list[str]:
    cmd = [str(Path(sys.executable).parent / "scrapy"), "crawl", spider]
    for key, value in (args or {}).items():
        cmd += ["-a", f"{key}={value}"]
    merged = {**FAST, "FINEWS_ARCHIVE_DIR": str(archive), "FINEWS_UPSTREAM": upstream}
    merged.update(settings or {})
    for key, value in merged.items():
        cmd += ["-s", f"{key}={value}"]
    return cmd


def run_crawl(
    archive: Path,
    upstream: str,
    spider: str = "columns",
    args: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
    timeout: int = 180,
    expect_exit: int | None = 0,
    allow_traceback: bool = False,
) -> subprocess.CompletedProcess:
    """Run a crawl; fail on a traceback or (unless ``expect_exit`` is None) another exit code."""
    cmd = crawl_command(archive, upstream, spider, args, settings)
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if ("Traceback" in result.stderr and not allow_traceback) or (
        expect_exit is not None and result.returncode != expect_exit
    ):
        raise AssertionError(
            f"crawl exited {result.returncode} (expected {expect_exit}):\n{result.stderr[-6000:]}"
        )
    return result

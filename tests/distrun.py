"""A distributed crawl for the tests and the benchmark: N workers and one writer
(``scrapy crawl`` subprocesses) against a replica, through a real redis-server."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.crawlrun import ROOT, crawl_command

#: A short lease, so a killed worker's requests come back within the test.
LEASE = "3"


class DistributedRun:
    def __init__(
        self,
        scratch: Path,
        upstream: str,
        redis_url: str,
        args: dict[str, str] | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.scratch = scratch
        self.archive = scratch / "archive"
        self.upstream = upstream
        self.args = args or {"since": "2000-01-01"}
        self.settings = {
            "FINEWS_REDIS_URL": redis_url,
            "FINEWS_REDIS_LEASE_SECONDS": LEASE,
            "FINEWS_HOST_INTERVAL": "0",
            "FINEWS_PAGE_SIZE": "20",
            **(settings or {}),
        }
        self.workers: list[subprocess.Popen] = []
        self.writers: list[subprocess.Popen] = []
        self.count = 0

    def _spawn(
        self, spider: str, archive: Path, args: dict[str, str], extra: dict[str, str] | None = None
    ) -> subprocess.Popen:
        self.count += 1
        cmd = crawl_command(
            archive, self.upstream, spider, args, {**self.settings, **(extra or {})}
        )
        log = (self.scratch / f"{self.count:02d}-{spider}.log").open("wb")
        return subprocess.Popen(
            cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start_worker(self, settings: dict[str, str] | None = None) -> subprocess.Popen:
        """A worker (``settings``: its own, e.g. its FINEWS_EGRESS)."""
        proc = self._spawn(
            "columns_worker", self.scratch / f"worker{self.count}", self.args, settings
        )
        self.workers.append(proc)
        return proc

    def start_writer(self) -> subprocess.Popen:
        proc = self._spawn("writer", self.archive, {})
        self.writers.append(proc)
        return proc

    def start(self, workers: int = 3) -> DistributedRun:
        self.start_writer()
        for _ in range(workers):
            self.start_worker()
        return self

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    def wait(self, timeout: float = 300) -> dict[str, int]:
        """Wait for every live process; their exit codes, by log name."""
        deadline = time.monotonic() + timeout
        codes = {}
        for proc in self.workers + self.writers:
            left = max(1.0, deadline - time.monotonic())
            try:
                codes[proc.args[2] + str(proc.pid)] = proc.wait(timeout=left)
            except subprocess.TimeoutExpired:
                self.stop()
                raise AssertionError(
                    f"{proc.args[2]} did not finish:\n{self.logs()[-6000:]}"
                ) from None
        return codes

    def logs(self) -> str:
        return "\n".join(
            f"== {p.name}\n" + p.read_text(errors="replace")[-3000:]
            for p in sorted(self.scratch.glob("*.log"))
        )

    def stop(self) -> None:
        for proc in self.workers + self.writers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

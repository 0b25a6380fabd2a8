"""deploy/: the systemd unit and timer, the crontab line, run as written (paths moved
into a temporary directory); what cron and systemd see is finews's own exit status."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.crawlrun import ROOT
from tests.replica.server import Replica
from tests.sitebuild import copy_skeleton

DEPLOY = ROOT / "deploy"
SRV = "/srv/finews"


def unit_values(path: Path) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def install_tree(tmp_path: Path) -> Path:
    """A /srv/finews look-alike: ``.venv/bin/finews`` runs this checkout's crawler.cli
    (what ``make install``'s ``pip install -e .`` puts there)."""
    srv = tmp_path / "srv"
    bin_dir = srv / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "finews"
    script.write_text(
        f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(ROOT))} exec {shlex.quote(sys.executable)} "
        '-m crawler.cli "$@"\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return srv


def hold_lock(archive: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from crawler.runlock import ArchiveLock;"
            "ArchiveLock(Path(sys.argv[1])).acquire('test holder'); print('held', flush=True);"
            "time.sleep(120)",
            str(archive),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_timer_and_service_are_valid_units(tmp_path: Path) -> None:
    timer = unit_values(DEPLOY / "finews.timer")
    assert timer.get("OnCalendar") and timer.get("Persistent") == ["true"]
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze here")
    srv = install_tree(tmp_path)
    for name in ("finews.timer", "finews.service"):
        text = (DEPLOY / name).read_text(encoding="utf-8").replace(SRV, str(srv))
        (tmp_path / name).write_text(text.replace("User=finews", "User=root"), encoding="utf-8")
    done = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            str(tmp_path / "finews.timer"),
            str(tmp_path / "finews.service"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_service_exec_start_exits_75_under_the_lock_and_systemd_calls_it_success(
    tmp_path: Path,
) -> None:
    service = unit_values(DEPLOY / "finews.service")
    assert "75" in " ".join(service["SuccessExitStatus"]).split()
    srv = install_tree(tmp_path)
    (exec_start,) = service["ExecStart"]
    argv = shlex.split(exec_start.replace(SRV, str(srv)))
    holder = hold_lock(srv / "archive")
    try:
        started = time.monotonic()
        done = subprocess.run(argv, cwd=srv, capture_output=True, text=True, timeout=60)
        assert time.monotonic() - started < 30
        assert done.returncode == 75, done.stderr  # not make's 2
        assert done.stderr == ""  # QUIET: a fresh lock is logged, not mailed
        log = (srv / "archive" / "logs" / "finews.log").read_text(encoding="utf-8")
        assert "locked by another finews run" in log and "(exit 75)" in log
        # Held longer than the threshold: said on the console.
        long = subprocess.run(
            [*argv, "-s", "FINEWS_LOCK_QUIET_MINUTES=0"], cwd=srv, capture_output=True, text=True
        )
        assert long.returncode == 75 and "locked by another finews run" in long.stderr
        # Without QUIET it is said at once.
        loud = subprocess.run(
            [a for a in argv if a != "--quiet"], cwd=srv, capture_output=True, text=True
        )
        assert loud.returncode == 75 and "locked by another finews run" in loud.stderr
    finally:
        holder.kill()
        holder.wait()


def cron_command(srv: Path) -> str:
    lines = [
        line
        for line in (DEPLOY / "crontab").read_text(encoding="utf-8").splitlines()
        if re.match(r"^[*\d/,-]+\s+[*\d/,-]+\s+[*\d/,-]+\s+[*\d/,-]+\s+[*\d/,-]+\s", line)
    ]
    assert len(lines) == 1, lines
    return lines[0].split(None, 5)[5].replace(SRV, str(srv))


def test_cron_line_rebuilds_the_site_whenever_articles_were_archived(tmp_path: Path) -> None:
    if shutil.which("jekyll") is None:
        pytest.skip("no jekyll")
    srv = install_tree(tmp_path)
    copy_skeleton(srv / "archive")  # the committed skeleton: no database, no posts
    with Replica() as replica:
        command = cron_command(srv)
        env = {
            **os.environ,
            # The replica instead of the live site (tests/deploysettings.py).
            "SCRAPY_SETTINGS_MODULE": "tests.deploysettings",
            "FINEWS_TEST_UPSTREAM": replica.url,
            "PYTHONPATH": str(ROOT),
        }
        done = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=srv,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    # The crawl was partial (exit 5: one replica article has no body), and still the site
    # was built, since articles were archived; the console is quiet but for that summary.
    assert "partial (exit 5)" in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    built = list((srv / "archive" / "_site").rglob("*.html"))
    assert any("/20" in str(p) for p in built), built[:5]


def test_run_targets_never_run_pip_even_after_requirements_changed() -> None:
    """After a `git pull` that touched requirements.txt the next cron run did
    `pip install -U pip` and reinstalled; now only `make install` does."""
    for target in ("crawl", "backfill SINCE=2026-01-01", "rebuild", "serve", "reindex", "site"):
        plan = subprocess.run(
            ["make", "-n", "-W", "requirements.txt", *target.split()],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        assert plan.returncode == 0, plan.stderr
        assert "pip" not in plan.stdout and "apt-get" not in plan.stdout, (target, plan.stdout)
    install = subprocess.run(
        ["make", "-n", "-W", "requirements.txt", "install"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert "pip install -q -r requirements.txt" in install.stdout
    assert "pip install -q --no-deps -e ." in install.stdout  # puts .venv/bin/finews in place

"""A real browser searches the archive served by a real ``datasette serve``.

Headless Chromium (Debian's ``chromium-headless-shell`` or ``chromium``,
driven by Playwright) opens the articles table of the test archive
(``tests/searchdata.py``), types 央行 in the search box, submits, and must see
exactly the five articles containing 央行 (not 中央。行业, not a title ending in
央 followed by a summary starting with 行). Screenshot:
``build/artifacts/search.png``. Without a Chromium binary the test fails: CI
installs one.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.searchdata import ROOT, archive_dir, codes, serve_args

DATASETTE = Path(sys.executable).with_name("datasette")
CHROMIUM_CANDIDATES = ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = ROOT / "build" / "artifacts" / "search.png"
CENTRAL_BANK = codes("A01", "A06", "A08", "A10", "A17")


def chromium() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    pytest.fail(
        "no Chromium binary (looked for " + ", ".join(CHROMIUM_CANDIDATES) + "): "
        "apt-get install chromium-headless-shell (or chromium)"
    )


def free_port() -> int:
    """A port free right now (datasette cannot be told to pick one: -p 0 is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url + "/-/versions.json", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """``datasette serve`` of the test archive, as `make serve` runs it; its URL."""
    directory = archive_dir(tmp_path / "archive")
    log_path = tmp_path / "datasette.log"
    for _attempt in range(3):  # another process may take the port in between
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    str(DATASETTE),
                    "serve",
                    str(directory),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    *serve_args(),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            if wait_until_up(url, proc):
                yield url
                return
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    pytest.fail("datasette serve did not come up:\n" + log_path.read_text(errors="replace"))


def test_search_box_in_a_browser(server: str) -> None:
    executable = chromium()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page.goto(server + "/finews/articles", wait_until="load")
            page.fill("input#_search", "央行")
            with page.expect_navigation(wait_until="load"):
                page.press("input#_search", "Enter")
            assert "_search=" in page.url
            # Each headline links to its article's page (archive/templates/).
            links = page.locator("table.finews-list tbody td.finews-title a")
            found = [
                (links.nth(i).get_attribute("href") or "").rsplit("/", 1)[-1]
                for i in range(links.count())
            ]
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            assert sorted(found) == sorted(CENTRAL_BANK)
            assert page.input_value("input#_search") == "央行"

            # The ranked canned query: highlights are real <mark> elements.
            page.goto(server + "/finews/search?q=降息", wait_until="load")
            marks = page.locator("table.rows-and-columns mark").all_inner_texts()
            assert marks and set(marks) == {"降息"}
            rows = page.locator("table.rows-and-columns tbody td.col-info_code a").all_inner_texts()
            assert sorted(r.strip() for r in rows) == sorted(codes("A02", "A05", "A17"))
        finally:
            browser.close()

"""The one place where ``FINEWS_*`` settings are read and checked.

``render_on`` is not a setting of its own: the browser route is on when
:class:`crawler.browser.addon.RenderAddon` set scrapy-playwright up, i.e. when
Scrapy's ``PLAYWRIGHT_LAUNCH_OPTIONS`` hold the ``executable_path`` of the
Chromium it checked (it sets nothing when none starts, or under
``FINEWS_RENDER=never``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

# Annotations only: reading a config needs no Scrapy.
if TYPE_CHECKING:
    from scrapy.settings import BaseSettings


#: ``FINEWS_RENDER``: never render, render when the fast route failed, render first.
RENDER_MODES = ("never", "auto", "always")
#: ``FINEWS_IMAGES``: pictures fetched and kept in the archive, or left as upstream links.
IMAGE_MODES = ("archive", "link")


class ConfigError(ValueError):
    """A FINEWS_* setting has a value finews cannot use."""


def parse_column_ids(value: object, name: str) -> list[int]:
    """Eastmoney column ids from ``value``: a list/tuple, or a comma list such
    as ``"351, 353"`` (blanks and empty parts skipped). ``name`` says where the
    value came from (``FINEWS_COLUMNS``, the columns spider's ``-a columns``);
    a part that is not a whole number, or no id at all, is a
    :class:`ConfigError` naming it."""
    if isinstance(value, (list, tuple)):
        parts = [str(v) for v in value]
    else:
        parts = [p for p in str(value).replace(" ", "").split(",") if p]
    try:
        ids = [int(p) for p in parts]
    except ValueError:
        raise ConfigError(f"{name} must be a comma list of column ids, got {value!r}") from None
    if not ids:
        raise ConfigError(f"{name} is empty")
    return ids


def rebuild_overrides(temp_db_name: str) -> dict[str, str]:
    """The settings ``scrapy rebuild`` runs its spider under: the temporary
    database (FINEWS_DB_NAME), and no browser (FINEWS_RENDER=never: offline,
    so no Chromium to probe)."""
    return {"FINEWS_DB_NAME": temp_db_name, "FINEWS_RENDER": "never"}


def _db_name(name: str) -> str:
    if "/" in name or name in (".", ".."):
        raise ConfigError(f"FINEWS_DB_NAME must be a file name in the archive, got {name!r}")
    return name


#: The typed FINEWS_* settings: a value that is not of its kind is a ConfigError
#: naming the setting, what it got and what it accepts (not a ValueError traceback).
_INTS = """
FINEWS_PAGE_SIZE FINEWS_MAX_PAGES FINEWS_FAILURE_MAX_TRIES FINEWS_DB_BATCH
FINEWS_POSTS_KEEP_DAYS FINEWS_WORKERS FINEWS_GC_THRESHOLD FINEWS_BACKOFF_RECOVER
FINEWS_RENDER_RECYCLE_PAGES FINEWS_BLOCKED_STOP_AFTER FINEWS_REBUILD_BACKUPS
FINEWS_IMAGE_MAX_BYTES FINEWS_WRITER_WINDOW
"""
_FLOATS = """
FINEWS_FAILURE_RETRY_HOURS FINEWS_MIN_COVERAGE FINEWS_REFRESH_HOURS FINEWS_REFRESH_EVERY
FINEWS_MAX_FAILED_SHARE FINEWS_BACKOFF_BASE FINEWS_BACKOFF_MAX FINEWS_MAX_RUN_MINUTES
FINEWS_BACKFILL_MAX_RUN_MINUTES FINEWS_LOCK_QUIET_MINUTES FINEWS_PROGRESS_SECONDS
FINEWS_DB_COMMIT_SECONDS FINEWS_IMAGE_TIMEOUT FINEWS_HOST_INTERVAL FINEWS_REDIS_LEASE_SECONDS
FINEWS_REDIS_RETRY_SECONDS
"""
_BOOLS = """
FINEWS_INCREMENTAL FINEWS_QUIET FINEWS_OFFLINE
"""
TYPED_SETTINGS: dict[str, str] = {
    **dict.fromkeys(_INTS.split(), "int"),
    **dict.fromkeys(_FLOATS.split(), "float"),
    **dict.fromkeys(_BOOLS.split(), "bool"),
}
_ACCEPTS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "True/False, true/false or 1/0",
}


#: The ``finews`` command's options (crawler/cli.py) and the settings they set.
CLI_SETTINGS = {
    "archive": "FINEWS_ARCHIVE_DIR",
    "columns": "FINEWS_COLUMNS",
    "pages": "FINEWS_MAX_PAGES",
    "quiet": "FINEWS_QUIET",
    "offline": "FINEWS_OFFLINE",
}


def check_types(settings: BaseSettings) -> None:
    """Raise a one-line ConfigError for the first typed setting that does not parse."""
    for name, kind in TYPED_SETTINGS.items():
        value = settings.get(name)
        if value is None or value == "":
            continue
        # Out-of-range numbers are clamped where they are read (below), as before.
        read = {"int": settings.getint, "float": settings.getfloat, "bool": settings.getbool}
        try:
            read[kind](name)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be {_ACCEPTS[kind]}, got {value!r}") from None


def parse_fast_columns(value: object, name: str) -> list[int]:
    """7×24 feed column ids (``FINEWS_FAST_COLUMNS``, the fastnews spider's
    ``-a columns``): like :func:`parse_column_ids`, each one of 100..131."""
    ids = list(dict.fromkeys(parse_column_ids(value, name)))
    if bad := [i for i in ids if not 100 <= i <= 131]:
        raise ConfigError(f"{name}: feed columns are 100..131, got {bad}")
    return ids


@dataclass(frozen=True)
class FinewsConfig:
    archive_dir: Path
    upstream: str  # "" or "scheme://host:port"
    columns: list[int]
    page_size: int
    max_pages: int
    site_url: str
    share_url: str
    body_source: str
    incremental: bool
    failure_retry_hours: float
    failure_max_tries: int
    db_batch: int
    min_coverage: float
    refresh_hours: float
    log_file_level: str
    render: str  # "never" | "auto" | "always"
    render_on: bool  # a Chromium was checked and scrapy-playwright set up (see above)
    quiet: bool
    posts_keep_days: int
    refresh_every: float
    max_failed_share: float
    workers: int  # worker processes for the pipelines' heavy work (crawler.workers)
    gc_threshold: int = 50_000  # crawler.gctune; 0 = Python's defaults
    # Backoff (crawler.middlewares.backoff.BackoffMiddleware): FINEWS_BACKOFF_*, FINEWS_BLOCK_MARKERS.
    backoff_base: float = 2.0
    backoff_max: float = 120.0
    backoff_recover: int = 20
    block_markers: tuple[str, ...] = ()
    # The browser route (crawler.browser): FINEWS_CHROMIUM ("" = found),
    # FINEWS_RENDER_RECYCLE_PAGES (a new browser context every N pages, 0 = never).
    chromium: str = ""
    render_recycle_pages: int = 100
    # The archive kept whole (docs/faults.md): rows committed at least every
    # FINEWS_DB_COMMIT_SECONDS; FINEWS_REBUILD_BACKUPS database backups kept.
    db_commit_seconds: float = 2.0
    rebuild_backups: int = 5
    # FINEWS_DB_NAME: the database file in the archive (`scrapy rebuild` builds
    # into a temporary one and swaps it in).
    db_name: str = "finews.db"
    # Run budget and stops (crawler.extensions.budget, crawler.stopping, crawler.commands.crawl).
    max_run_minutes: float = 4.0
    backfill_max_run_minutes: float = 0.0
    blocked_stop_after: int = 6
    lock_quiet_minutes: float = 30.0
    progress_seconds: float = 5.0  # crawler.extensions.progress
    offline: bool = False  # an offline command (rebuild, import, check): no browser probe
    # The 7×24 feed (crawler/spiders/fastnews.py): FINEWS_FAST_COLUMNS.
    fast_columns: tuple[int, ...] = (102,)
    # Archived pictures (pipelines/images.py): FINEWS_IMAGES ("archive" | "link"),
    # FINEWS_IMAGE_MAX_BYTES, FINEWS_IMAGE_TIMEOUT (seconds).
    images: str = "archive"
    image_max_bytes: int = 5 * 1024 * 1024
    image_timeout: float = 20.0
    # Distributed crawls (crawler.distributed): FINEWS_REDIS_URL, FINEWS_REDIS_PREFIX,
    # FINEWS_REDIS_LEASE_SECONDS, FINEWS_HOST_INTERVAL, FINEWS_EGRESS,
    # FINEWS_REDIS_RETRY_SECONDS, FINEWS_WRITER_WINDOW.
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "finews"
    lease_seconds: float = 60.0
    host_interval: float = 1.0
    egress: str = "default"
    redis_retry_seconds: float = 120.0
    writer_window: int = 200

    @property
    def db_path(self) -> Path:
        return self.archive_dir / self.db_name

    @property
    def live_db_path(self) -> Path:
        """The archive's database, whatever FINEWS_DB_NAME a rebuild writes to."""
        return self.archive_dir / "finews.db"

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> FinewsConfig:
        check_types(settings)
        upstream = (settings.get("FINEWS_UPSTREAM") or "").strip().rstrip("/")
        if upstream:
            parts = urlsplit(upstream)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ConfigError(
                    f"FINEWS_UPSTREAM must be an origin like http://127.0.0.1:8765, got {upstream!r}"
                )
        body_source = settings.get("FINEWS_BODY_SOURCE", "page")
        if body_source not in ("page", "choice"):
            raise ConfigError(f"FINEWS_BODY_SOURCE must be 'page' or 'choice', got {body_source!r}")
        share_url = settings.get("FINEWS_SHARE_URL")
        if "{info_code}" not in share_url:
            raise ConfigError("FINEWS_SHARE_URL must contain {info_code}")
        render = str(settings.get("FINEWS_RENDER") or "auto").strip().lower()
        if render not in RENDER_MODES:
            raise ConfigError(f"FINEWS_RENDER must be never, auto or always, got {render!r}")
        images = str(settings.get("FINEWS_IMAGES") or "archive").strip().lower()
        if images not in IMAGE_MODES:
            raise ConfigError(f"FINEWS_IMAGES must be archive or link, got {images!r}")
        page_size = settings.getint("FINEWS_PAGE_SIZE", 50)
        if not 1 <= page_size <= 200:
            raise ConfigError(f"FINEWS_PAGE_SIZE must be 1..200, got {page_size}")
        return cls(
            archive_dir=Path(settings.get("FINEWS_ARCHIVE_DIR") or "archive"),
            upstream=upstream,
            columns=parse_column_ids(settings.get("FINEWS_COLUMNS"), "FINEWS_COLUMNS"),
            page_size=page_size,
            max_pages=settings.getint("FINEWS_MAX_PAGES", 0),
            site_url=(settings.get("FINEWS_SITE_URL") or "").rstrip("/"),
            share_url=share_url,
            body_source=body_source,
            incremental=settings.getbool("FINEWS_INCREMENTAL", True),
            failure_retry_hours=settings.getfloat("FINEWS_FAILURE_RETRY_HOURS", 6.0),
            failure_max_tries=max(1, settings.getint("FINEWS_FAILURE_MAX_TRIES", 3)),
            db_batch=max(1, settings.getint("FINEWS_DB_BATCH", 100)),
            min_coverage=settings.getfloat("FINEWS_MIN_COVERAGE", 0.99),
            refresh_hours=settings.getfloat("FINEWS_REFRESH_HOURS", 48.0),
            render=render,
            render_on=render != "never"
            and bool(settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS").get("executable_path")),
            log_file_level=str(settings.get("FINEWS_LOG_FILE_LEVEL") or "INFO").upper(),
            quiet=settings.getbool("FINEWS_QUIET", False),
            posts_keep_days=max(0, settings.getint("FINEWS_POSTS_KEEP_DAYS", 0)),
            refresh_every=settings.getfloat("FINEWS_REFRESH_EVERY", 6.0),
            max_failed_share=settings.getfloat("FINEWS_MAX_FAILED_SHARE", 0.2),
            workers=max(0, settings.getint("FINEWS_WORKERS", 1)),
            gc_threshold=max(0, settings.getint("FINEWS_GC_THRESHOLD", 50_000)),
            backoff_base=max(0.01, settings.getfloat("FINEWS_BACKOFF_BASE", 2.0)),
            backoff_max=max(0.01, settings.getfloat("FINEWS_BACKOFF_MAX", 120.0)),
            backoff_recover=max(1, settings.getint("FINEWS_BACKOFF_RECOVER", 20)),
            block_markers=tuple(m for m in settings.getlist("FINEWS_BLOCK_MARKERS") if m.strip()),
            chromium=str(settings.get("FINEWS_CHROMIUM") or "").strip(),
            render_recycle_pages=max(0, settings.getint("FINEWS_RENDER_RECYCLE_PAGES", 100)),
            db_commit_seconds=max(0.1, settings.getfloat("FINEWS_DB_COMMIT_SECONDS", 2.0)),
            rebuild_backups=max(1, settings.getint("FINEWS_REBUILD_BACKUPS", 5)),
            db_name=_db_name(settings.get("FINEWS_DB_NAME") or "finews.db"),
            max_run_minutes=max(0.0, settings.getfloat("FINEWS_MAX_RUN_MINUTES", 4.0)),
            backfill_max_run_minutes=max(
                0.0, settings.getfloat("FINEWS_BACKFILL_MAX_RUN_MINUTES", 0.0)
            ),
            blocked_stop_after=max(0, settings.getint("FINEWS_BLOCKED_STOP_AFTER", 6)),
            lock_quiet_minutes=max(0.0, settings.getfloat("FINEWS_LOCK_QUIET_MINUTES", 30.0)),
            progress_seconds=max(0.0, settings.getfloat("FINEWS_PROGRESS_SECONDS", 5.0)),
            offline=settings.getbool("FINEWS_OFFLINE", False),
            fast_columns=tuple(
                parse_fast_columns(
                    settings.get("FINEWS_FAST_COLUMNS") or "102", "FINEWS_FAST_COLUMNS"
                )
            ),
            images=images,
            image_max_bytes=max(1, settings.getint("FINEWS_IMAGE_MAX_BYTES", 5 * 1024 * 1024)),
            image_timeout=max(0.1, settings.getfloat("FINEWS_IMAGE_TIMEOUT", 20.0)),
            redis_url=str(settings.get("FINEWS_REDIS_URL") or "redis://127.0.0.1:6379/0"),
            redis_prefix=str(settings.get("FINEWS_REDIS_PREFIX") or "finews"),
            lease_seconds=max(1.0, settings.getfloat("FINEWS_REDIS_LEASE_SECONDS", 60.0)),
            host_interval=max(0.0, settings.getfloat("FINEWS_HOST_INTERVAL", 1.0)),
            egress=str(settings.get("FINEWS_EGRESS") or "default"),
            redis_retry_seconds=max(0.0, settings.getfloat("FINEWS_REDIS_RETRY_SECONDS", 120.0)),
            writer_window=max(1, settings.getint("FINEWS_WRITER_WINDOW", 200)),
        )

    def share_url_for(self, info_code: str) -> str:
        return self.share_url.format(info_code=info_code)

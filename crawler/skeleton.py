"""The archive's committed skeleton (Jekyll config, layouts, pages, Datasette
metadata and plugin) and how an archive directory gets it and keeps it current.

An archive directory other than the repository's ``archive/`` gets a copy of
each skeleton file. Those copies are finews's code as much as the files
here (the Datasette ``search`` query, the plugin), so a newer finews must be
able to update them without overwriting what a user changed on purpose:

- ``.skeleton.json`` in the archive records the sha256 of every file as
  finews wrote it; a file still holding those bytes is untouched and is
  replaced by the current version;
- archives made before that record existed are recognised by
  ``EARLIER_VERSIONS`` (the sha256 of every earlier committed version);
- any other content is the user's: left alone, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

from crawler.files import atomic_write

logger = logging.getLogger(__name__)

SKELETON_DIR = Path(__file__).resolve().parent.parent / "archive"
MANIFEST = ".skeleton.json"
# Generated content never comes from the skeleton.
_GENERATED = {"_posts", "old_post", "raw", "logs", "_site", ".jekyll-cache", "category"}
# Written by crawler/sitepages.py (make site) and the images stage.
_GENERATED |= {"page", "day", "_finews_site.yml"}
# Files the archive directory gets at run time (the repository's archive/ is
# also the default archive): never part of the skeleton.
_RUNTIME = {"status.json", ".lock", ".browser-probe.json", ".jekyll-metadata", MANIFEST}

# sha256 of the earlier committed versions of skeleton files, from
# ``git log --format=%H -- archive/<file>`` and ``git show <commit>:archive/<file>``.
EARLIER_VERSIONS: dict[str, frozenset[str]] = {
    "_config.yml": frozenset({"614352a438e663e6498e87ef84620f72af974e2c6be3846d7d6cf49afb02c36a"}),
    "metadata.yml": frozenset(
        {
            "9b78256dce031870b1bccb762edf46bf06a3503cd543e034c17b08d2b0adf205",
            "cfda439fbcc591d448811519ce18cf60c286fbf776abdfe716848ad7fdf12e12",
            "edd5b5b07a0578d5a0946c8dffc8a7ec1866e6900e7dd14f8bf75ef4aa2d8673",
            "9815cd0016a1cfcc04a33c1a9127884157bd062799a10385c5a34ac834c52fac",
            "80dbdc89dd459192a569279df749f30518c4e573e5caf57fbdec560124ad9eb0",
            "9f7edae99bf7fcb7a17daea22870e7cee14f2a2281cc2152ef8d637900a4cb55",
            "1c6a407189a96b9927e0e6147a2b4139b8071a0509021efcccd203fd087f14c8",
            "68e4e6c56eb2672b8baeb2eab0e52544b3f49fd6e03df071140456e9df96e376",
            "64804aed830f1464efe3ca8ce800d35d0d4a21bfc4fd8162a4444f50dd741358",
            "ea98b570818a274b213a3d94722eb84868728d1b773161f93208f60afc6c3e53",
            "00a2cf8dceacaf99c3e5a64b75430a8fff7d921f3e94dea7c9eb2359da948e81",
            "e9dcbddea2f40557fe70f15d3c6d000e2ee8b4c53aef254fb66d24d971621bc4",
            "74aab8ff02d741165b3299e869abcdee449394cb79eabf4019ccae3389cc9608",
            "fabc3e3cf2ee95fefbae208696d25c7612d679f7354e6409f5cca1d76ad9061e",
            "f56b45adb99ebb94a2de380db38576f6939a65b17557ef147ff4653eb1c122ca",
            "8ef3e63d8683afe5ea6a79bb785339a56fd27e6f9728e949506a9cc6e0e84773",
            "95e07c5ca0aec022ee0c70b9e19ec146aca5c5e1e14ac4dbc0b72c89d6167b1f",
        }
    ),
    "index.html": frozenset({"066bd2726093986fe5b785772a2798737fc651caee79238bbf76e75d12ebf49e"}),
    "_layouts/category.html": frozenset(
        {"518bf4206d37743a6a5fd134d85e5c2f2a8814ca5774c165db412f297ddce61a"}
    ),
    "_layouts/post.html": frozenset(
        {"25436d91aa00e7fb10231b89bd68cef617214f7056caf843139dc1b4e72cbc14"}
    ),
    "assets/style.css": frozenset(
        {"46d3ed696d8ba1e5204727a6431a8d71163c2fd0a4707c240299a0f41c987ef0"}
    ),
    "plugins/finews_search.py": frozenset(
        {
            "e5d9e17e7599bff090c1fa044bc4fcbb15383d4b646bce67025a17da4e347edd",
            "5f340912fd1bc08f52416ec417f219047c4d4daf0e80123b9a7d36c3351dcc01",
            "ddf1c490645bac5fd225efe7d1013869ce5ff281f67519a83169fd0f4bc2aee8",
            "3f79a1791f78081c6bfabe45d9e1ee51caa045da949a0c794277408a31911a60",
            "c8808ec8dc42ea18b8940c5844b4c03c0c8080fd9e951360b58ab2794336c7d3",
            "c0b3cf1e218d43184b67c0b97a315b7301b2afea2354d2160824665ed0eac994",
            "20ce6b2387606d96b51876a8399e09d63863787ec5d91da042939a6cbe40ba93",
            "fd0e17e38d88fb4a6e94e0ef8b9ad5ba9cf2ea06bd4e81c565b0efa6a126418e",
            "025b279cc2719328c5ea10122a2d9847bffe516a388dc4dfecff6f4630f64f7e",
            "9ce5b8443879d589283fd87c56642801904a632928a3690596a2853cdff4233f",
        }
    ),
}

_warned: set[Path] = set()


def skeleton_files() -> list[Path]:
    """Skeleton files, relative to ``archive/``."""
    files = []
    for path in sorted(SKELETON_DIR.rglob("*")):
        rel = path.relative_to(SKELETON_DIR)
        if (
            path.is_file()
            and rel.parts[0] not in _GENERATED
            and rel.parts[:2] != ("assets", "img")  # archived pictures (pipelines/images.py)
            and rel.name not in _RUNTIME
            and not rel.name.startswith("finews.db")
            and "__pycache__" not in rel.parts
        ):
            files.append(rel)
    return files


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ensure_skeleton(archive_dir: Path) -> list[Path]:
    """Copy missing skeleton files into ``archive_dir`` and update untouched
    copies of earlier versions; returns what was written."""
    archive_dir.mkdir(parents=True, exist_ok=True)
    if archive_dir.resolve() == SKELETON_DIR:
        return []
    manifest_path = archive_dir / MANIFEST
    try:
        recorded: dict[str, str] = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not isinstance(recorded, dict):
            recorded = {}
    except (OSError, ValueError):
        recorded = {}
    manifest = dict(recorded)
    written = []
    for rel in skeleton_files():
        key = rel.as_posix()
        source = SKELETON_DIR / rel
        target = archive_dir / rel
        current = source.read_bytes()
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            written.append(rel)
            manifest[key] = _sha(current)
            continue
        have = _sha(target.read_bytes())
        if have == _sha(current):
            manifest[key] = have
        elif have == recorded.get(key) or have in EARLIER_VERSIONS.get(key, ()):
            atomic_write(target, current)
            written.append(rel)
            manifest[key] = _sha(current)
            logger.info("updated %s to this finews's version", target)
        elif target not in _warned:
            _warned.add(target)
            logger.warning(
                "%s differs from finews's %s and was changed by hand: not updated", target, source
            )
    if manifest != recorded:
        atomic_write(manifest_path, json.dumps(manifest, indent=1, sort_keys=True).encode())
    return written

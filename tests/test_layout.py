"""The house rules of the code base, checked (docs/architecture.md).

Small modules; pipelines as thin stages; one reader of the FINEWS_* settings;
no module importing another's private names or reaching into a module's
private attributes.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = sorted(
    p for top in ("crawler", "pipelines") for p in (ROOT / top).rglob("*.py") if p.is_file()
)
SETTING_NAME = re.compile(r"FINEWS_[A-Z0-9_]+")  # a setting's name (not a message naming one)
MAX_LINES = 300
#: Underscored names that are documented public API.
DOCUMENTED = {"os._exit", "sys._getframe"}
MAX_PIPELINE_LINES = 120
#: Where FINEWS_* names may be spelled in code: their defaults and their one reader.
SETTINGS_HOMES = {ROOT / "crawler" / "settings.py", ROOT / "crawler" / "config.py"}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_production_code_is_found() -> None:
    names = {_rel(p) for p in PRODUCTION}
    assert {"crawler/config.py", "pipelines/index.py", "crawler/workers.py"} <= names


@pytest.mark.parametrize("path", PRODUCTION, ids=_rel)
def test_modules_are_small(path: Path) -> None:
    limit = MAX_PIPELINE_LINES if path.parent.name == "pipelines" else MAX_LINES
    assert _lines(path) <= limit, f"{_rel(path)}: {_lines(path)} lines > {limit}"


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _settings_spelled(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    return [
        f"{_rel(path)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docs
        and SETTING_NAME.fullmatch(node.value)
    ]


def test_only_config_reads_finews_settings() -> None:
    """A FINEWS_* name as a string in code outside settings.py/config.py is a
    second reader of the settings (or a runtime channel through them); messages
    and docstrings that name a setting are not."""
    spelled = [s for p in PRODUCTION if p not in SETTINGS_HOMES for s in _settings_spelled(p)]
    assert not spelled, "\n".join(spelled)


def test_the_check_sees_a_setting_read(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('"""Reads FINEWS_X."""\nx = settings.get("FINEWS_X")\n', encoding="utf-8")
    assert len(_settings_spelled(sample)) == 1


def test_the_check_sees_a_private_reach(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom a import _b\nos._foo(0)\n", encoding="utf-8")
    assert len(_private_reaches(sample)) == 2


def _private_reaches(path: Path) -> list[str]:
    """``from x import _name`` and ``module._name`` where ``module`` was imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{_rel(path)}:{node.lineno}: imports {alias.name}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and f"{node.value.id}.{node.attr}" not in DOCUMENTED
        ):
            found.append(f"{_rel(path)}:{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_module_reaches_into_privates() -> None:
    reaches = [r for p in PRODUCTION for r in _private_reaches(p)]
    assert not reaches, "\n".join(reaches)


def test_pipelines_import_nothing_upward_of_them() -> None:
    """crawler/ never imports pipelines/ (data flows spider -> item -> pipelines)."""
    upward = []
    for path in PRODUCTION:
        if _rel(path).startswith("crawler/"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else []
                )
                upward += [
                    f"{_rel(path)}:{node.lineno}" for n in names if n.startswith("pipelines")
                ]
    assert not upward, "\n".join(upward)

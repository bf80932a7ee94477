"""The emulator is an independent model of the API: it imports nothing of sync outside itself."""

from __future__ import annotations

import ast
from pathlib import Path

import sync.timetrack.emulator

PACKAGE = "sync.timetrack.emulator"
PACKAGE_DIR = Path(sync.timetrack.emulator.__file__).parent


def imported_modules(source: str, package: str) -> list[str]:
    """Every module the imports in `source` name, relative ones resolved against `package`."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module or "")
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - (node.level - 1)]
            names.append(".".join([*base, *([node.module] if node.module else [])]))
    return names


def outside_sync_imports(source: str, package: str) -> list[str]:
    """The sync modules outside the emulator package that `source` imports."""
    return [
        name
        for name in imported_modules(source, package)
        if (name == "sync" or name.startswith("sync."))
        and not (name == PACKAGE or name.startswith(PACKAGE + "."))
    ]


def test_the_check_sees_absolute_and_relative_imports() -> None:
    source = (
        "import sync.model\n"
        "from sync.timetrack import client\n"
        "from ..errors import TimeTrackError\n"
        "from .store import UserStore\n"
        "from sync.timetrack.emulator.audit import Audit\n"
        "import starlette\n"
    )
    assert outside_sync_imports(source, PACKAGE) == [
        "sync.model",
        "sync.timetrack",
        "sync.timetrack.errors",
    ]


def test_the_emulator_imports_nothing_of_sync_outside_itself() -> None:
    modules = sorted(PACKAGE_DIR.rglob("*.py"))
    assert len(modules) > 5  # the package is where this test looks
    outside = {
        f"{path.relative_to(PACKAGE_DIR)}: {name}"
        for path in modules
        for name in outside_sync_imports(
            path.read_text(encoding="utf-8"),
            ".".join([PACKAGE, *path.parent.relative_to(PACKAGE_DIR).parts]),
        )
    }
    assert not outside, f"the emulator imports from the rest of sync: {sorted(outside)}"

"""The built wheel, installed apart from this checkout, carries what it needs at run time.

The wheel is built (not editable) from what deploy/Containerfile copies into its build stage,
and installed with `pip install --no-deps --target`, so the test venv's dependencies serve it
and nothing is downloaded; PYTHONPATH puts it ahead of the checkout. From an empty working
directory the sample CSV (demo) and the Alembic migrations (db upgrade) must then come from
inside the installed package.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sync.state import migrate
from tests.syncenv import make_env, person

REPO = Path(__file__).resolve().parents[2]
# `COPY a b ./` or `COPY sync ./sync` in the build stage (not `COPY --from=...`).
CONTAINER_COPY = re.compile(r"^COPY (?!--)(?P<sources>.+?) \./(?P<dest>\S*)$", re.MULTILINE)

pytestmark = pytest.mark.slow


def run(
    command: list[str], *, cwd: Path, site: Path | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TIMETRACK", "PYTHON"))}
    environ["NO_COLOR"] = "1"
    if site is not None:
        environ["PYTHONPATH"] = str(site)
    return subprocess.run(
        command,
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def copy_container_sources(stage: Path) -> Path:
    """Fill `stage` with only what deploy/Containerfile copies before `pip install`."""
    for copy in CONTAINER_COPY.finditer((REPO / "deploy" / "Containerfile").read_text()):
        sources = copy["sources"].split()
        assert copy["dest"] in ("", sources[0]), copy[0]  # each copied under its own name
        for source in sources:
            if (REPO / source).is_dir():
                ignore = shutil.ignore_patterns("__pycache__")
                shutil.copytree(REPO / source, stage / source, ignore=ignore)
            else:
                shutil.copy2(REPO / source, stage / source)
    return stage


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding only the installed wheel (its console script in bin/)."""
    sources = copy_container_sources(tmp_path_factory.mktemp("src"))
    dist, target = tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "--quiet"]
    built = run([*pip, "wheel", "--no-deps", str(sources), "-w", str(dist)], cwd=dist)
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("timetrack_sync-*.whl")
    installed = run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], cwd=dist)
    assert installed.returncode == 0, installed.stderr
    return target


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "cwd"
    folder.mkdir()
    return folder


def test_the_installed_package_is_imported_with_its_bundled_files(
    site: Path, empty_dir: Path
) -> None:
    probe = (
        "import sync, sync.demo, sync.resources as r; "
        "print(sync.__file__); print(sync.demo.sample_csv()); print(r.bundled('migrations'))"
    )
    found = run([sys.executable, "-c", probe], cwd=empty_dir, site=site)
    assert found.returncode == 0, found.stderr
    package, csv, migrations = (Path(line) for line in found.stdout.splitlines())
    assert package == site / "sync" / "__init__.py"
    assert csv == site / "sync" / "_examples" / "people.csv"
    assert migrations == site / "sync" / "_migrations"


def test_demo_runs_from_an_empty_directory(site: Path, empty_dir: Path) -> None:
    demo = run([str(site / "bin" / "timetrack-sync"), "demo"], cwd=empty_dir, site=site)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert list(empty_dir.iterdir()) == []


def test_db_upgrade_brings_a_new_sqlite_file_to_head(
    site: Path, empty_dir: Path, tmp_path: Path
) -> None:
    env = make_env(tmp_path, "http://127.0.0.1:9", [person(1)])
    assert not env.db.exists()
    command = [str(site / "bin" / "timetrack-sync"), "--config", str(env.config), "db", "upgrade"]
    upgraded = run(command, cwd=empty_dir, site=site)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert "newest schema" in upgraded.stdout
    with sqlite3.connect(env.db) as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (migrate.head_revision(),)
        ]
    assert list(empty_dir.iterdir()) == []

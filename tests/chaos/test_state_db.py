"""The state database in trouble: read-only filesystem, disk full, deleted, written by the future.

Each case is what an admin meets on a real host, made with real means (a tmpfs mounted
read-only or too small, rm, a newer schema stamp). Each must end in a clear message that names
the file and the fix, with the documented exit code and no traceback, and never with a write to
TimeTrack that has no journal row.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sync.timetrack.emulator import RunningEmulator, serve_in_thread
from tests.chaos.harness import (
    ChaosState,
    assert_no_duplicates,
    chaos_options,
    check_writes_match_journal,
    cli,
    journal,
)
from tests.conftest import require_service
from tests.syncenv import SyncEnv, make_env, person, write_csv


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with serve_in_thread(ChaosState(chaos_options())) as running:
        yield running


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted on `where` (needs root with CAP_SYS_ADMIN); unmounted after."""
    where.mkdir()
    done = _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where))
    require_service(done.returncode == 0, f"mount -t tmpfs ({done.stderr.strip()})")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=False)


def remount(where: Path, options: str) -> None:
    done = _mount("-o", f"remount,{options}", str(where))
    assert done.returncode == 0, done.stderr


def state_in(env: SyncEnv, folder: Path) -> SyncEnv:
    """The same setup with its state DB in `folder`."""
    db = folder / "state.db"
    env.config.write_text(env.config.read_text().replace(f"sqlite:///{env.db}", f"sqlite:///{db}"))
    return dataclasses.replace(env, db=db)


def assert_explained(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 1 with a message (no traceback) holding every word; returns the message."""
    text = result.stdout + result.stderr
    assert result.returncode == 1, text[-2000:]
    assert "Traceback" not in text and "internal error" not in text, text[-3000:]
    for word in words:
        assert word in text, f"{word!r} not in:\n{text[-2000:]}"
    return text


def test_read_only_filesystem_stops_the_run_before_any_write(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(5)])
    with tmpfs(tmp_path / "ro", "1m") as folder:
        env = state_in(env, folder)
        assert cli(env, "sync").returncode == 0
        write_csv(env.csv, [person(n) for n in range(8)])
        remount(folder, "ro")
        writes = len(emu.state.writes)
        result = cli(env, "sync")
        text = assert_explained(result, str(env.db), "Read-only file system", "writable")
        assert len(emu.state.writes) == writes
        print(f"\nread-only: exit {result.returncode}: {text.strip()}")
        remount(folder, "rw")
        assert cli(env, "sync").returncode == 0
        assert_no_duplicates(emu.state.users(), 8)


def test_disk_full_mid_apply_is_explained_and_every_write_keeps_its_row(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(5)])
    with tmpfs(tmp_path / "full", "8m") as folder:
        env = state_in(env, folder)
        assert cli(env, "sync").returncode == 0
        used = shutil.disk_usage(folder).used
        remount(folder, f"size={used + 512 * 1024}")  # room for some journal rows
        write_csv(env.csv, [person(n) for n in range(400)])
        result = cli(env, "sync", "--output", "json")
        assert_explained(result, str(env.db), "full", "free disk space")
        writes = list(emu.state.writes)
        doc = json.loads(result.stdout)
        print(f"\ndisk full: {len(writes) - 5} creates made, exit 1: {doc['error']}")
        assert 5 < len(writes) < 400, "the disk should fill in the middle of the apply"
        # The run reports what took effect, not what it had planned.
        done = [r for r in journal(env.db) if r.run_id == doc["run_id"] and r.status == "done"]
        assert doc["summary"]["create"] == len(done) < len(writes) - 5 + 1
        assert doc["status"] == "failed"

        remount(folder, "size=8m")  # the admin frees space
        rows_before = {r.id for r in journal(env.db)}
        assert {r.username for r in journal(env.db)} >= {w.username for w in writes}
        again = cli(env, "sync")
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
        rows = journal(env.db)
    assert_no_duplicates(emu.state.users(), 400)
    assert not [r for r in rows if r.status == "pending"]
    full_run = [r for r in rows if r.id in rows_before and r.run_id > 1]
    check_writes_match_journal(writes[5:], full_run, context="the run that filled the disk")
    check_writes_match_journal(
        emu.state.writes[len(writes) :],
        [r for r in rows if r.id not in rows_before],
        context="the run after space was freed",
    )


def test_deleted_state_db_starts_fresh_and_adopts_instead_of_duplicating(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(50)])
    assert cli(env, "sync").returncode == 0
    for leftover in env.dir.glob("state.db*"):
        leftover.unlink()
    write_csv(env.csv, [person(n) for n in range(51)])  # and one joiner
    writes = len(emu.state.writes)
    result = cli(env, "sync", "--output", "json")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert_no_duplicates(emu.state.users(), 51)
    new = emu.state.writes[writes:]
    assert [(w.method, w.username) for w in new] == [("POST", "user50")]
    actions = sorted((r.action, r.status) for r in journal(env.db))
    assert actions == [("adopt", "done")] * 50 + [("create", "done")]
    check_writes_match_journal(new, journal(env.db))


def test_state_db_from_a_newer_version_is_refused_untouched(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(3)])
    assert cli(env, "sync").returncode == 0
    con = sqlite3.connect(env.db)
    with con:
        con.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    con.close()
    before = env.db.read_bytes()
    write_csv(env.csv, [person(n) for n in range(4)])
    writes = len(emu.state.writes)
    for command in (["sync"], ["status"], ["db", "upgrade"]):
        result = cli(env, *command)
        text = assert_explained(result, str(env.db), "9999_from_the_future", "upgrade timetrack")
    assert len(emu.state.writes) == writes
    assert env.db.read_bytes() == before
    print(f"\nfuture DB: exit 1: {text.strip()}")

"""The installed `timetrack-sync` command as an admin runs it: a subprocess, exit codes, output."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.state.lock import RunLock
from sync.timetrack.emulator import EmulatorOptions, EmulatorState, RunningEmulator, serve_in_thread
from tests.syncenv import API_KEY, API_SECRET, SyncEnv, make_env, person, write_csv

CLI = str(Path(sys.executable).parent / "timetrack-sync")


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    state = EmulatorState(EmulatorOptions(api_key=API_KEY, api_secret=API_SECRET))
    with serve_in_thread(state) as running:
        yield running


def cli(env: SyncEnv | None, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = [CLI]
    if env is not None:
        command += ["--config", str(env.config)]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIMETRACK")}
    environ["NO_COLOR"] = "1"
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environ,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_dry_run_then_sync_then_dry_run_again(tmp_path: Path, emu: RunningEmulator) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(12)])
    preview = cli(env, "sync", "--dry-run", "--detailed-exitcode", "--output", "json")
    assert preview.returncode == 4, preview.stderr
    doc = json.loads(preview.stdout)
    assert doc["dry_run"] is True
    assert doc["summary"]["create"] == 12
    assert {op["action"] for op in doc["operations"]} == {"create"}
    assert emu.state.users() == []

    applied = cli(env, "sync")
    assert applied.returncode == 0, applied.stderr
    assert len(emu.state.users()) == 12

    writes = len(emu.state.writes)
    again = cli(env, "sync", "--dry-run", "--detailed-exitcode", "--output", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["summary"]["unchanged"] == 12
    assert len(emu.state.writes) == writes


def test_text_dry_run_reads_like_a_change_plan(tmp_path: Path, emu: RunningEmulator) -> None:
    env = make_env(tmp_path, emu.url, [person(1), person(2)])
    result = cli(env, "sync", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would create" in result.stdout
    assert "user1" in result.stdout and "user2" in result.stdout
    assert "\x1b[" not in result.stdout  # plain when piped


def test_header_only_csv_exits_3_and_deletes_nobody(tmp_path: Path, emu: RunningEmulator) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(8)])
    assert cli(env, "sync").returncode == 0
    write_csv(env.csv, [])
    result = cli(env, "sync", "--allow-mass-delete")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "min_source_records" in result.stdout + result.stderr
    assert len(emu.state.users()) == 8


def test_config_typo_exits_2_naming_the_key_path(tmp_path: Path, emu: RunningEmulator) -> None:
    env = make_env(tmp_path, emu.url, [person(1)], policy="delete: true\nmax_delets: 3")
    result = cli(env, "sync", "--dry-run")
    assert result.returncode == 2
    assert "jobs[0].policy.max_delets" in result.stderr
    assert "max_deletes" in result.stderr  # the suggestion
    assert "Traceback" not in result.stderr


def test_second_run_while_one_holds_the_lock_exits_1(tmp_path: Path, emu: RunningEmulator) -> None:
    env = make_env(tmp_path, emu.url, [person(1)])
    with RunLock(env.state_url):
        result = cli(env, "sync")
    assert result.returncode == 1
    assert "another run is in progress" in result.stderr
    assert f"pid {os.getpid()}" in result.stderr
    assert emu.state.users() == []


def test_wrong_api_secret_is_explained_without_the_secret(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = make_env(tmp_path, emu.url, [person(1)])
    env.secret_file.write_text("wrong-secret-value-123\n")
    result = cli(env, "sync")
    assert result.returncode == 1
    assert "401" in result.stderr or "401" in result.stdout
    assert "api_secret" in (result.stderr + result.stdout)
    assert "wrong-secret-value-123" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_missing_csv_names_the_file_and_deletes_nobody(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = make_env(tmp_path, emu.url, [person(1)])
    assert cli(env, "sync").returncode == 0
    env.csv.unlink()
    result = cli(env, "sync")
    assert result.returncode == 1
    assert "people.csv" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(emu.state.users()) == 1


def test_no_api_secret_in_output_logs_or_state(tmp_path: Path, emu: RunningEmulator) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(6)])
    outputs = [
        cli(env, "--log-level", "debug", "sync", "--dry-run", "--output", "json"),
        cli(env, "--log-level", "debug", "sync"),
        cli(env, "--log-level", "debug", "status"),
        cli(env, "--log-level", "debug", "audit"),
    ]
    assert [o.returncode for o in outputs] == [0, 0, 0, 0], [o.stderr for o in outputs]
    texts = [o.stdout + o.stderr for o in outputs]
    con = sqlite3.connect(env.db)
    dump = "\n".join(con.iterdump())
    con.close()
    for haystack in [*texts, dump]:
        assert API_SECRET not in haystack
    assert "http_request" in outputs[1].stderr  # debug logs were really there to search


def test_status_and_audit_show_the_runs(tmp_path: Path, emu: RunningEmulator) -> None:
    env = make_env(tmp_path, emu.url, [person(1)])
    assert cli(env, "sync").returncode == 0
    status = cli(env, "status")
    assert status.returncode == 0 and "succeeded" in status.stdout
    audit = cli(env, "audit", "--user", "USER1")
    assert audit.returncode == 0 and "create" in audit.stdout and "user1" in audit.stdout


def test_demo_runs_end_to_end() -> None:
    result = cli(None, "demo", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "would create" in result.stdout
    assert "Second sync" in result.stdout
    # Two leavers: the one who tracked time is locked, retained and queued; the other deleted.
    assert "would lock" in result.stdout
    assert "refused 1" in result.stdout and "delete 1" in result.stdout
    assert "Leavers still enabled in TimeTrack" in result.stdout

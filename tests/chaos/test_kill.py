"""kill -9 of a real `timetrack-sync sync` in the middle of a 1,000-user apply, 20 times.

Each kill lands after a seeded random number of writes TimeTrack applied (polled, not slept
for). One clean run after it must converge: no duplicate, no pending row, every write TimeTrack
audited has its done journal row, and the killed run is recorded as failed.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.timetrack.emulator import RunningEmulator, serve_in_thread
from tests.chaos.harness import (
    CLI,
    ChaosState,
    assert_no_duplicates,
    chaos_options,
    check_writes_match_journal,
    cli,
    cli_environ,
    journal,
    run_statuses,
    wait_idle,
)
from tests.syncenv import SyncEnv, make_env, person, write_csv

PEOPLE = 1000
KILLS = 20
SEED = 20260601
# What each cycle asks of the apply: 1,000 creates, updates or deletes.
CYCLE = ["create", *["update"] * 5, "delete"]
TIMETRACK = "  concurrency: 8\n"
POLICY = "delete: true"


@pytest.fixture
def slow_api() -> Iterator[RunningEmulator]:
    state = ChaosState(chaos_options(latency_ms=5, jitter_ms=15))
    with serve_in_thread(state) as running:
        yield running


def people(kind: str, cycle: int) -> list[dict[str, str]]:
    """The HR export that makes the next apply 1,000 operations of `kind`."""
    if kind == "delete":
        return [person(n, status="terminated", last_name=f"C{cycle}-{n}") for n in range(PEOPLE)]
    return [person(n, last_name=f"C{cycle}-{n}") for n in range(PEOPLE)]


def kill_after_writes(env: SyncEnv, emu: RunningEmulator, k: int) -> tuple[int, float]:
    """Start `sync`, SIGKILL it once TimeTrack applied k writes; returns (writes seen, seconds)."""
    base = len(emu.state.writes)
    started = time.monotonic()
    with (env.dir / "killed.log").open("w") as log:
        proc = subprocess.Popen(
            [CLI, "--config", str(env.config), "sync", "--allow-mass-delete"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=cli_environ(),
        )
        try:
            deadline = started + 60
            while len(emu.state.writes) - base < k:
                assert proc.poll() is None, f"sync ended before {k} writes: {proc.returncode}"
                assert time.monotonic() < deadline, "no progress towards the kill moment"
                time.sleep(0.001)
            proc.send_signal(signal.SIGKILL)
            seen = len(emu.state.writes) - base
        finally:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    return seen, time.monotonic() - started


def expected_users(emu: RunningEmulator, kind: str, cycle: int) -> None:
    users = emu.state.users()
    if kind == "delete":
        assert users == [], f"{len(users)} users left after the leavers' run"
        return
    assert_no_duplicates(users, PEOPLE)
    wrong = [u["username"] for u in users if u["lastName"] != f"C{cycle}-{u['firstName'][5:]}"]
    assert not wrong, f"users not brought up to date: {wrong[:10]}"


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_kill_9_at_20_random_moments_then_one_run_converges(
    tmp_path: Path, slow_api: RunningEmulator
) -> None:
    emu = slow_api
    rng = random.Random(SEED)
    env = make_env(tmp_path, emu.url, people("create", 0), policy=POLICY, extra_timetrack=TIMETRACK)
    figures: Counter[str] = Counter()
    moments: list[tuple[int, int, float]] = []
    began = time.monotonic()
    for cycle in range(KILLS):
        kind = CYCLE[cycle % len(CYCLE)]
        write_csv(env.csv, people(kind, cycle))
        rows_before = {r.id for r in journal(env.db)} if env.db.exists() else set()
        k = rng.randint(1, PEOPLE - 1)
        writes_before = len(emu.state.writes)
        seen, seconds = kill_after_writes(env, emu, k)
        moments.append((k, seen, round(seconds, 1)))
        wait_idle(emu)  # requests the dead process had sent may still land
        killed_writes = emu.state.writes[writes_before:]
        killed_rows = [r for r in journal(env.db) if r.id not in rows_before]
        killed_run = killed_rows[0].run_id
        figures["pending_at_kill"] += sum(r.status == "pending" for r in killed_rows)
        figures["writes_before_kill"] += len(killed_writes)
        figures[f"killed during {kind}"] += 1

        after = len(emu.state.writes)
        clean = cli(env, "sync", "--allow-mass-delete")
        assert clean.returncode == 0, clean.stdout[-2000:] + clean.stderr[-2000:]
        rows = journal(env.db)
        assert not [r for r in rows if r.status == "pending"], f"pending rows after cycle {cycle}"
        check_writes_match_journal(
            killed_writes,
            [r for r in rows if r.run_id == killed_run],
            context=f"killed run, cycle {cycle}, k={k}, seen {seen}",
        )
        check_writes_match_journal(
            emu.state.writes[after:],
            [r for r in rows if r.run_id > killed_run],
            context=f"run after the kill, cycle {cycle}",
        )
        expected_users(emu, kind, cycle)
        status = dict(run_statuses(env.db))
        assert status[killed_run] == "failed", status[killed_run]
        figures["kills_survived"] += 1
    stale = [r for r in journal(env.db) if r.error and "outcome unknown" in r.error]
    print(
        f"\nkills survived: {figures['kills_survived']} in {time.monotonic() - began:.0f} s"
        f"\nfigures: {dict(figures)}\nkills (k, writes seen, s): {moments}"
        f"\nrows settled as not taken effect: {len(stale)}"
        f"\nwrites audited: {len(emu.state.writes)}, journal rows: {len(journal(env.db))}"
    )

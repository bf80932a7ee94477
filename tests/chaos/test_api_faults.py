"""The CLI against a TimeTrack that fails: 5xx (before and after the write), 429, stalls, drops.

A job must converge within three runs, with no duplicate and a journal that matches the writes
TimeTrack audited: every write has its done row, and no failed row stands for a write.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
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
    retry_reasons,
    wait_idle,
)
from tests.syncenv import SyncEnv, make_env, person, write_csv

PEOPLE = 300
FAULTS = {
    "fail_rate": 0.1,  # 500 before the request had any effect
    "fail_after_write_rate": 0.1,  # the write took effect, then 500
    "rate_limit_rate": 0.1,  # 429 with Retry-After: 1
    "retry_after": "1",
    "drop_rate": 0.05,  # connection closed mid-answer (half before, half after the effect)
    "latency_ms": 1.0,
    "jitter_ms": 4.0,
}
STALL_RATE = 0.03  # 2 s stalls against a 1 s client timeout: read timeouts
TIMETRACK = "  timeout_seconds: 1\n  max_retries: 3\n  concurrency: 8\n"
POLICY = "delete: true\nmax_deletes: 100\nmax_delete_percent: 20"


@pytest.fixture
def faulty() -> Iterator[RunningEmulator]:
    state = ChaosState(chaos_options(seed=6), stall_rate=STALL_RATE, stall_seed=6)
    with serve_in_thread(state) as running:
        yield running


def converge(env: SyncEnv, emu: RunningEmulator, figures: Counter[str]) -> int:
    """Run `sync` (faults on) until a run succeeds, at most 3 times; then check every journal.

    The check waits for convergence: a write whose outcome stayed unknown keeps its row pending
    until the next run settles it (sync.recovery), so its run is judged once that happened.
    """
    slices = []
    for attempt in range(1, 4):
        rows_before = {r.id for r in journal(env.db)} if env.db.exists() else set()
        writes_before = len(emu.state.writes)
        started = time.monotonic()
        result = cli(env, "--log-format", "json", "--log-level", "info", "sync", "--output", "json")
        figures["seconds"] += round(time.monotonic() - started)
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        assert result.returncode in (0, 1), result.stdout[-2000:] + result.stderr[-2000:]
        wait_idle(emu)  # a stalled request still sleeping may yet write
        doc = json.loads(result.stdout)
        figures["runs"] += 1
        figures["failed_operations"] += len(doc.get("failed", []))
        figures["outcome_unknown"] += result.stderr.count('"operation_outcome_unknown"')
        figures.update(f"retry {k}" for k in retry_reasons(result.stderr).elements())
        run_ids = {r.run_id for r in journal(env.db) if r.id not in rows_before}
        slices.append((attempt, run_ids, emu.state.writes[writes_before:]))
        if result.returncode == 0:
            break
    else:
        raise AssertionError(f"no run succeeded in 3 runs: {doc.get('failed')}")
    rows = journal(env.db)
    for number, run_ids, writes in slices:
        figures["writes"] += len(writes)
        mine = [r for r in rows if r.run_id in run_ids]
        check_writes_match_journal(writes, mine, context=f"run {number}")
    return attempt


def assert_converged(env: SyncEnv, emu: RunningEmulator, people: int) -> None:
    """With the faults off: no duplicate, nothing pending, and nothing left to do."""
    emu.state.set_options(
        fail_rate=0, fail_after_write_rate=0, rate_limit_rate=0, drop_rate=0, latency_ms=0
    )
    assert isinstance(emu.state, ChaosState)
    stall_rate, emu.state.stall_rate = emu.state.stall_rate, 0.0
    try:
        assert_no_duplicates(emu.state.users(), people)
        assert not [r for r in journal(env.db) if r.status == "pending"]
        check = cli(env, "sync", "--dry-run", "--detailed-exitcode")
        assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
    finally:
        emu.state.stall_rate = stall_rate
        emu.state.set_options(**FAULTS)


@pytest.mark.slow
def test_faulty_api_converges_without_duplicates_and_journals_every_write(
    tmp_path: Path, faulty: RunningEmulator
) -> None:
    emu = faulty
    emu.state.set_options(**FAULTS)
    rows = [person(n) for n in range(PEOPLE)]
    env = make_env(tmp_path, emu.url, rows, policy=POLICY, extra_timetrack=TIMETRACK)
    figures: Counter[str] = Counter()

    runs_to_create = converge(env, emu, figures)
    assert_converged(env, emu, PEOPLE)
    assert len([w for w in emu.state.writes if w.method == "POST"]) == PEOPLE

    # Movers, leavers and joiners: updates, deletes and creates under the same faults.
    for n in range(0, PEOPLE, 2):
        rows[n] = person(n, last_name=f"Moved{n}")
    for n in range(1, 40, 2):
        rows[n] = person(n, status="terminated")
    rows += [person(n) for n in range(PEOPLE, PEOPLE + 20)]
    write_csv(env.csv, rows)
    runs_to_change = converge(env, emu, figures)
    assert_converged(env, emu, PEOPLE)  # 20 left, 20 joined
    users = {u["personalNumber"]: u for u in emu.state.users()}
    assert users["E-00000"]["lastName"] == "Moved0"
    assert "E-00001" not in users and "E-00310" in users

    ops = Counter((r.action, r.status) for r in journal(env.db))
    print(
        f"\nfaults injected: {dict(emu.state.faults)}"
        f"\nruns to converge: creates {runs_to_create}, changes {runs_to_change}"
        f"\nfigures: {dict(figures)}\njournal: {dict(ops)}"
    )

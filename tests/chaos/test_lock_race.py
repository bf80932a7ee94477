"""Two `timetrack-sync sync` started at the same moment, 50 times: exactly one runs.

Both processes import the CLI first, then wait for a barrier file, so they reach the run lock
within milliseconds of each other; each run lasts well over 300 ms (six requests at 80 ms of
latency, one at a time), so the two always overlap and the lock alone decides.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from sync.timetrack.emulator import RunningEmulator, serve_in_thread
from tests.chaos.harness import (
    ChaosState,
    assert_no_duplicates,
    chaos_options,
    cli_environ,
    run_statuses,
)
from tests.syncenv import SyncEnv, make_env, person, write_csv

PAIRS = 50
PEOPLE = 5
LOCK_MESSAGE = "another run is in progress"

# Imports the CLI (the slow part of a start), says so, waits for the barrier, then runs it.
WRAPPER = textwrap.dedent(
    """\
    import os, sys, time
    from sync.cli import main
    barrier, ready = sys.argv[1], sys.argv[2]
    open(ready, "w").close()
    while not os.path.exists(barrier):
        time.sleep(0.0005)
    sys.argv = ["timetrack-sync", *sys.argv[3:]]
    main()
    """
)


@pytest.fixture
def slow_api() -> Iterator[RunningEmulator]:
    with serve_in_thread(ChaosState(chaos_options(latency_ms=80))) as running:
        yield running


class Pair:
    """Two CLI processes that import, then wait at one barrier file."""

    def __init__(self, env: SyncEnv, number: int) -> None:
        self.barrier = env.dir / f"go-{number}"
        self.ready = [env.dir / f"ready-{number}-{side}" for side in "ab"]
        wrapper = env.dir / "at_barrier.py"
        self.procs = [
            subprocess.Popen(
                [sys.executable, wrapper, self.barrier, flag, "--config", env.config, "sync"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                env=cli_environ(),
            )
            for flag in self.ready
        ]

    def release(self) -> None:
        """Wait until both are at the barrier, then let them go at once."""
        deadline = time.monotonic() + 30
        while not all(flag.exists() for flag in self.ready):
            assert all(p.poll() is None for p in self.procs), "a wrapper died before the barrier"
            assert time.monotonic() < deadline, "the wrappers never got ready"
            time.sleep(0.002)
        self.barrier.touch()

    def results(self) -> list[tuple[int, str, str]]:
        """(exit code, stdout, stderr) of both."""
        outputs = [p.communicate(timeout=60) for p in self.procs]
        return [(p.returncode, out, err) for p, (out, err) in zip(self.procs, outputs, strict=True)]


def run_seconds(db: Path) -> list[float]:
    """How long each recorded run took (the lock is held longer: from before it to after)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT started_at, finished_at FROM runs").fetchall()
    finally:
        con.close()
    return [
        (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
        for start, end in rows
    ]


@pytest.mark.slow
def test_two_runs_started_together_one_runs_the_other_exits_1(
    tmp_path: Path, slow_api: RunningEmulator
) -> None:
    emu = slow_api
    env = make_env(
        tmp_path,
        emu.url,
        [person(n) for n in range(PEOPLE)],
        extra_timetrack="  concurrency: 1\n",
    )
    (env.dir / "at_barrier.py").write_text(WRAPPER)
    outcomes: Counter[str] = Counter()
    slowest = 0.0
    began = time.monotonic()
    upcoming = Pair(env, 0)
    for pair in range(PAIRS):
        # Each pair has work to do: PEOPLE creates first, then PEOPLE updates.
        write_csv(env.csv, [person(n, last_name=f"P{pair}-{n}") for n in range(PEOPLE)])
        current = upcoming
        current.release()
        started = time.monotonic()
        if pair + 1 < PAIRS:
            upcoming = Pair(env, pair + 1)  # imports while this pair races
        results = current.results()
        codes = sorted(code for code, _out, _err in results)
        assert codes == [0, 1], f"pair {pair}: exit codes {codes}: {results}"
        _code, out, err = next(r for r in results if r[0] == 1)
        assert LOCK_MESSAGE in err and "Traceback" not in err, f"pair {pair}: {out}{err}"
        assert "lock file" in err and str(env.db) in err
        winner_out = next(r for r in results if r[0] == 0)[1]
        assert "Status: succeeded" in winner_out, winner_out
        outcomes["one ran, one refused"] += 1
        slowest = max(slowest, time.monotonic() - started)

    statuses = Counter(status for _id, status in run_statuses(env.db))
    assert statuses == {"succeeded": PAIRS}, statuses
    held = run_seconds(env.db)
    assert min(held) >= 0.3, f"a run too short to be sure both overlapped: {min(held):.3f} s"
    assert_no_duplicates(emu.state.users(), PEOPLE)
    assert {u["lastName"] for u in emu.state.users()} == {f"P{PAIRS - 1}-{n}" for n in range(5)}
    print(
        f"\nlock race: {dict(outcomes)} of {PAIRS} pairs in {time.monotonic() - began:.0f} s"
        f" (slowest pair from the barrier: {slowest:.2f} s; runs held the lock"
        f" {min(held):.2f}-{max(held):.2f} s)"
    )

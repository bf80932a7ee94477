"""Shared pieces of the chaos tests: a fault-counting emulator, the CLI, journal-vs-writes checks.

Everything talks to 127.0.0.1 only: the emulator runs in the test process (serve_in_thread) and
the CLI runs as a subprocess pointed at it.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.recovery import UNCONFIRMED_LOCK
from sync.timetrack.emulator import EmulatorOptions, EmulatorState, RunningEmulator, WriteRecord
from sync.timetrack.emulator.faults import FaultPlan
from tests.syncenv import API_KEY, API_SECRET, SyncEnv

CLI = str(Path(sys.executable).parent / "timetrack-sync")


class ChaosState(EmulatorState):
    """The emulator's state, counting every fault its dice draw, plus seeded stalls.

    A stall replaces a request's latency with `stall_seconds` for a seeded `stall_rate` share
    of requests (the emulator's own latency/jitter switches delay every request alike).
    """

    def __init__(
        self,
        options: EmulatorOptions,
        *,
        stall_rate: float = 0.0,
        stall_seconds: float = 2.0,
        stall_seed: int = 0,
    ) -> None:
        super().__init__(options)
        self.stall_rate = stall_rate
        self.stall_seconds = stall_seconds
        self.faults: Counter[str] = Counter()
        self._stall_rng = random.Random(stall_seed)
        self._count_lock = threading.Lock()

    def draw_faults(self, method: str) -> FaultPlan:
        plan = super().draw_faults(method)
        with self._count_lock:
            stall = self._stall_rng.random() < self.stall_rate
            if plan.before:
                self.faults[f"{plan.before}_before"] += 1
            if plan.after:
                self.faults[f"{plan.after}_after_{'write' if method != 'GET' else 'read'}"] += 1
            if stall:
                self.faults["stall"] += 1
        if stall:
            return FaultPlan(self.stall_seconds, before=plan.before, after=plan.after)
        return plan


def chaos_options(**options: Any) -> EmulatorOptions:
    """Emulator options with the test credentials."""
    return EmulatorOptions(api_key=API_KEY, api_secret=API_SECRET, **options)


def cli_environ() -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIMETRACK")}
    environ["NO_COLOR"] = "1"
    return environ


def cli(env: SyncEnv, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """`timetrack-sync --config <env> ARGS` as a subprocess, to its end."""
    return subprocess.run(
        [CLI, "--config", str(env.config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_environ(),
        stdin=subprocess.DEVNULL,
        check=False,
    )


def wait_idle(emu: RunningEmulator, timeout: float = 10.0) -> None:
    """Wait until the emulator handles no request (a stalled one may still be sleeping)."""
    deadline = time.monotonic() + timeout
    while emu.busy:
        if time.monotonic() > deadline:
            raise AssertionError("the emulator is still busy with requests")
        time.sleep(0.02)


@dataclass(frozen=True)
class Row:
    """One journal row, as the state database holds it."""

    id: int
    run_id: int
    action: str
    username: str
    tt_id: str | None
    status: str
    error: str | None


def journal(db: Path) -> list[Row]:
    """Every journal row, oldest first (read straight from the SQLite file)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT id, run_id, action, username, tt_id, status, error FROM operations ORDER BY id"
        ).fetchall()
    finally:
        con.close()
    return [Row(*row) for row in rows]


def run_statuses(db: Path) -> list[tuple[int, str]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT id, status FROM runs ORDER BY id").fetchall()
    finally:
        con.close()


_METHOD = {"create": "POST", "update": "PUT", "lock": "PUT", "delete": "DELETE"}


def check_writes_match_journal(
    writes: Iterable[WriteRecord], rows: Iterable[Row], *, context: str = ""
) -> None:
    """Every API write of a run has a done journal row of that run, and failed rows have none.

    `writes` are the emulator's audit records made while the run's rows were journaled. A create
    is one POST (a retry after an unknown outcome is settled by a username lookup, never a second
    POST); an update, lock or delete may be sent again after an unknown outcome, so one done row may
    stand for several PUTs of the same user, never for none. A lock whose outcome was unknown is
    journaled failed (it cannot be confirmed) and may have its PUT.
    """
    writes = list(writes)
    rows = list(rows)
    by_method: dict[str, Counter[int]] = {m: Counter() for m in _METHOD.values()}
    for w in writes:
        by_method[w.method][w.user_id] += 1
    done = {a: [r for r in rows if r.action == a and r.status == "done"] for a in _METHOD}
    unconfirmed = {int(r.tt_id or 0) for r in rows if r.error == UNCONFIRMED_LOCK}
    failed = [r for r in rows if r.status == "failed" and r.action in _METHOD]
    failed = [r for r in failed if r.error != UNCONFIRMED_LOCK]
    by_method["PUT"] = Counter({u: n for u, n in by_method["PUT"].items() if u not in unconfirmed})
    where = f" ({context})" if context else ""

    posts = by_method["POST"]
    twice = {uid: n for uid, n in posts.items() if n > 1}
    assert not twice, f"users created more than once{where}: {twice}"
    created_ids = Counter(int(r.tt_id or 0) for r in done["create"])
    assert created_ids == posts, (
        f"POST writes and done create rows differ{where}: "
        f"writes without row {sorted(set(posts) - set(created_ids))}, "
        f"rows without write {sorted(set(created_ids) - set(posts))}"
    )
    for method in ("PUT", "DELETE"):
        actions = [a for a, m in _METHOD.items() if m == method]
        for action in actions:
            action_ids = {int(r.tt_id or 0) for r in done[action]}
            assert len(action_ids) == len(done[action]), (
                f"two done {action} rows for one user{where}"
            )
        ids = {int(r.tt_id or 0) for a in actions for r in done[a]}
        orphans = sorted(set(by_method[method]) - ids)
        assert set(by_method[method]) == ids, (
            f"{method} writes and done {'/'.join(actions)} rows differ{where}: "
            f"writes without row {orphans} (their rows: "
            f"{[r for r in rows if int(r.tt_id or 0) in orphans]}), "
            f"rows without write {sorted(ids - set(by_method[method]))}"
        )
    written_names = {w.username.casefold() for w in writes if w.method == "POST"}
    for row in failed:
        if row.action == "create":
            hit = row.username.casefold() in written_names
        else:
            hit = int(row.tt_id or 0) in by_method[_METHOD[row.action]]
        assert not hit, f"failed {row.action} row {row.id} of {row.username} has a write{where}"


def assert_no_duplicates(users: list[Mapping[str, Any]], people: int) -> None:
    """Usernames unique (casefolded) and exactly one TimeTrack user per person."""
    names = Counter(str(u["username"]).casefold() for u in users)
    dupes = {n: c for n, c in names.items() if c > 1}
    assert not dupes, f"duplicate users: {dupes}"
    keys = Counter(str(u.get("personalNumber")) for u in users)
    assert not {k: c for k, c in keys.items() if c > 1}, "two users share a personalNumber"
    assert len(users) == people, f"{len(users)} users for {people} people"


def retry_reasons(stderr: str) -> Counter[str]:
    """Counts of the client's http_retry log events by reason (JSON logs on stderr)."""
    reasons: Counter[str] = Counter()
    for line in stderr.splitlines():
        if '"http_retry"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        reasons[str(event.get("reason"))] += 1
    return reasons

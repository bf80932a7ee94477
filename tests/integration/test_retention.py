"""Retention: runs and journal rows older than `state.retention_days` go, the rest stays.

Real runs over HTTP to the emulator with a real SQLite state DB, each given its time (`now=`),
as the daemon's runs over 14 months would be.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from sync.state.store import StateStore
from sync.state.tables import operations, runs
from sync.timetrack.emulator import RunningEmulator
from tests.syncenv import SyncEnv, make_env, person, run, write_csv

START = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def counts(env: SyncEnv) -> tuple[int, int]:
    with StateStore(env.state_url) as store, store.engine.connect() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(operations)).scalar_one(),
        )


def test_pruning_keeps_what_is_younger_links_and_the_plan(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = make_env(tmp_path, emu.url, [], policy="delete: false\nmax_delete_percent: 50")
    text = env.config.read_text().replace("state:\n", "state:\n  retention_days: 30\n")
    env.config.write_text(text)
    rows = [person(n) for n in range(6)]
    write_csv(env.csv, rows)
    assert run(env, now=START).summary()["create"] == 6
    rows[2]["last_name"] = "Changed"
    write_csv(env.csv, rows)
    assert run(env, now=START + 5 * DAY).summary()["update"] == 1
    rows[3]["status"] = "terminated"  # a leaver: locked, its link in state `locked`
    write_csv(env.csv, rows)
    assert run(env, now=START + 20 * DAY).summary()["lock"] == 1
    assert counts(env) == (3, 8)
    rows[4]["last_name"] = "Later"
    write_csv(env.csv, rows)
    with StateStore(env.state_url) as store:
        links = store.load_links("hr")
    planned = run(env, now=START + 40 * DAY, dry_run=True).plan

    with StateStore(env.state_url) as store:
        store.apply_retention(30, START + 40 * DAY)  # what is older than day 10 goes
        journal = store.operations(limit=100)
        assert [(op.action.value, op.created_at) for op in journal] == [("lock", START + 20 * DAY)]
        assert store.load_links("hr") == links
        assert links["e-00003"].offboarding.value == "locked"
        kept = [r.started_at for r in store.recent_runs(limit=10)]
    assert kept == [START + 40 * DAY, START + 20 * DAY]  # the dry run, the lock run (baseline)
    assert run(env, now=START + 40 * DAY, dry_run=True).plan == planned

    assert run(env, now=START + 51 * DAY).summary()["update"] == 1
    with StateStore(env.state_url) as store:  # the run pruned the lock's row (31 days old)
        assert [op.action.value for op in store.operations(limit=100)] == ["update"]
    assert counts(env) == (3, 1)  # the two dry runs of day 40 and this run; the lock run went

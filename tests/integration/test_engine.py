"""The engine end to end: real HTTP to the emulator, a real SQLite state DB, a real CSV."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from sync import executor as executor_module
from sync.config import load_config
from sync.engine import run_jobs
from sync.errors import StateError
from sync.logging import configure_logging
from sync.model import Action, Operation
from sync.report import RunOptions
from sync.state.store import STALE_RUN_ERROR, StateStore
from sync.timetrack.emulator import RunningEmulator
from tests.syncenv import (
    after_listing,
    journal,
    leave_pending,
    make_env,
    person,
    run,
    usernames,
    write_csv,
)


def test_first_run_creates_everyone_and_second_run_is_a_no_op(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(30)])
    first = run(env)
    assert (first.status, first.exit_code) == ("succeeded", 0)
    assert first.summary()["create"] == 30
    assert len(emu.state.users()) == 30
    writes_before = len(emu.state.writes)
    second = run(env)
    assert second.plan is not None and second.plan.is_empty
    assert second.summary()["unchanged"] == 30
    assert len(emu.state.writes) == writes_before
    assert second.requests == 1  # one list page, no writes


def test_dry_run_writes_nothing_and_reports_changes(tmp_path: Path, emu: RunningEmulator) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(5)])
    report = run(env, dry_run=True, detailed_exitcode=True)
    assert report.exit_code == 4
    assert report.summary()["create"] == 5
    assert emu.state.users() == []
    assert journal(env) == []


def test_existing_user_with_matching_key_is_adopted_and_updated(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    emu.state.add_user(
        username="user1",
        firstName="First1",
        lastName="Wrong",
        email="user1@example.com",
        personalNumber="E-00001",
    )
    env = make_env(tmp_path, emu.url, [person(1), person(2)])
    report = run(env)
    assert report.plan is not None
    actions = sorted((op.action.value, op.username) for op in report.plan.operations)
    assert actions == [("adopt", "user1"), ("create", "user2"), ("update", "user1")]
    adopted = next(u for u in emu.state.users() if u["username"] == "user1")
    assert adopted["lastName"] == "Last1"
    assert len(emu.state.users()) == 2


def test_unowned_and_protected_users_are_never_touched(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    emu.state.add_user(
        username="api-admin", firstName="API", lastName="Admin", email="api@example.com"
    )
    emu.state.add_user(
        username="outsider",
        firstName="Out",
        lastName="Sider",
        email="out@example.com",
        personalNumber="X-1",
    )
    env = make_env(
        tmp_path,
        emu.url,
        [person(1)],
        policy="delete: true\nmax_delete_percent: 100\nprotected: [api-admin]",
    )
    run(env)
    write_csv(env.csv, [person(1, status="terminated")])
    run(env)
    names = usernames(emu)
    assert names["api-admin"] == 1 and names["outsider"] == 1
    assert names["user1"] == 0


def test_leaver_is_deleted_only_after_grace_runs(tmp_path: Path, emu: RunningEmulator) -> None:
    rows = [person(n) for n in range(20)]
    env = make_env(tmp_path, emu.url, rows, policy="delete: true\ndelete_grace_runs: 2")
    run(env)
    rows[3] = person(3, status="terminated")
    write_csv(env.csv, rows)
    seen = []
    for _ in range(3):
        run(env)
        seen.append(usernames(emu)["user3"])
    assert seen == [1, 1, 0]


def test_mass_delete_is_guarded_but_creates_still_happen(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    rows = [person(n) for n in range(40)]
    env = make_env(tmp_path, emu.url, rows, policy="delete: true\nmax_deletes: 5")
    run(env)
    write_csv(env.csv, [*rows[:30], person(99)])
    guarded = run(env)
    assert (guarded.status, guarded.exit_code) == ("guarded", 3)
    assert len(emu.state.users()) == 41
    assert usernames(emu)["user99"] == 1
    forced = run(env, allow_mass_delete=True)
    assert forced.exit_code == 0
    assert len(emu.state.users()) == 31


def test_delete_percent_is_measured_against_the_jobs_owned_users(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    for n in range(200):  # TimeTrack users this job does not own
        emu.state.add_user(
            username=f"other{n}", firstName="Other", lastName=f"N{n}", email=f"o{n}@example.com"
        )
    rows = [person(n) for n in range(20)]
    env = make_env(tmp_path, emu.url, rows, policy="delete: true\nmax_delete_percent: 10")
    assert run(env).exit_code == 0
    write_csv(env.csv, rows[3:])  # 3 of the 20 owned users leave: 15%, but 1.4% of TimeTrack
    writes = len(emu.state.writes)
    report = run(env)
    assert (report.status, report.exit_code) == ("guarded", 3)
    assert report.plan is not None
    (verdict,) = (v for v in report.plan.guards if v.name == "max_delete_percent")
    assert verdict.tripped and "of 20 owned users" in verdict.message
    assert len(emu.state.writes) == writes
    assert len(emu.state.users()) == 220


def test_empty_source_aborts_before_planning_with_zero_deletes(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(10)])
    run(env)
    write_csv(env.csv, [])
    report = run(env, allow_mass_delete=True)
    assert (report.status, report.exit_code) == ("guarded", 3)
    assert report.plan is None
    assert len(emu.state.users()) == 10


def test_crashed_create_is_linked_not_duplicated(tmp_path: Path, emu: RunningEmulator) -> None:
    env = make_env(tmp_path, emu.url, [person(1)])
    # A run that crashed after POST took effect but before its result was journaled:
    op = Operation(
        Action.CREATE, key="e-00001", username="user1", changes={"username": (None, "user1")}
    )
    leave_pending(env, op)
    emu.state.add_user(
        username="user1",
        firstName="First1",
        lastName="Last1",
        email="user1@example.com",
        personalNumber="E-00001",
        language="en",
    )
    report = run(env)
    assert report.exit_code == 0
    assert usernames(emu)["user1"] == 1
    assert report.plan is not None and report.plan.of(Action.CREATE) == ()
    assert ("create", "user1", "done") in journal(env)
    assert all(status != "pending" for _a, _u, status in journal(env))


def test_one_rejected_create_fails_alone_and_the_run_is_partial(
    tmp_path: Path, emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(
        tmp_path, emu.url, [person(n) for n in range(5)], extra_timetrack="  max_retries: 0\n"
    )
    config = load_config(env.config)
    # Someone creates "user2" by hand after our snapshot was taken: the API refuses our create.
    after_listing(
        monkeypatch,
        lambda: emu.state.add_user(
            username="user2", firstName="X", lastName="Y", email="x@example.com"
        ),
    )
    report = run_jobs(config, list(config.jobs), RunOptions())[0]
    assert (report.status, report.exit_code) == ("partial", 1)
    assert report.applied is not None
    assert [f.operation.username for f in report.applied.failed] == ["user2"]
    assert report.applied.done["create"] == 4
    assert ("create", "user2", "failed") in journal(env)


def test_generated_passwords_of_creates_and_locks_reach_the_api_once_and_nowhere_else(
    tmp_path: Path, emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued: list[str] = []
    real_generate = executor_module.generate_password

    def recording_generate() -> str:
        issued.append(real_generate())
        return issued[-1]

    monkeypatch.setattr(executor_module, "generate_password", recording_generate)
    logs = io.StringIO()
    configure_logging("debug", "json", stream=logs)
    policy = "delete: true\nmax_delete_percent: 50"
    env = make_env(tmp_path, emu.url, [person(n) for n in range(5)], policy=policy)
    report = run(env)
    assert report.exit_code == 0 and len(issued) == 5
    for user in emu.state.users():
        assert any(emu.state.check_password(user["id"], p) for p in issued)
        assert "password" not in user
    # Two leavers with time entries: locked (a fresh password each), retained, still there.
    for user in emu.state.users():
        emu.state.set_time_entries(user["id"], 3)
    leaving = {1, 3}
    write_csv(
        env.csv, [person(n, status="terminated" if n in leaving else "active") for n in range(5)]
    )
    assert run(env).exit_code == 0 and len(issued) == 7
    leavers = [u for u in emu.state.users() if u["username"] in ("user1", "user3")]
    assert len(leavers) == 2
    assert all(any(emu.state.check_password(u["id"], p) for p in issued[5:]) for u in leavers)
    con = sqlite3.connect(env.db)
    dump = "\n".join(con.iterdump())
    con.close()
    wal = env.db.with_name(env.db.name + "-wal")
    raw = env.db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    for password in issued:
        assert password.encode() not in raw
        assert password not in dump
        assert password not in logs.getvalue()
        assert len(password) >= 20
    assert "operation_done" in logs.getvalue()


def test_write_applied_but_answered_500_is_journaled_done_in_the_same_run(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    rows = [person(n) for n in range(4)]
    env = make_env(tmp_path, emu.url, rows, extra_timetrack="  max_retries: 0\n")
    assert run(env).exit_code == 0
    write_csv(env.csv, [person(n, last_name=f"Moved{n}") for n in range(4)])
    emu.state.set_options(fail_after_write_rate=1.0)
    report = run(env)
    assert (report.status, report.exit_code) == ("succeeded", 0)
    assert report.applied is not None and report.applied.done["update"] == 4
    assert sorted(u["lastName"] for u in emu.state.users()) == [f"Moved{n}" for n in range(4)]
    updates = [status for action, _user, status in journal(env) if action == "update"]
    assert updates == ["done"] * 4


def test_mostly_invalid_export_blocks_every_change(tmp_path: Path, emu: RunningEmulator) -> None:
    rows = [person(n) for n in range(10)]
    env = make_env(tmp_path, emu.url, rows)
    run(env)
    mangled = [person(n, email=f"broken{n}") for n in range(6)] + [person(99), *rows[6:]]
    write_csv(env.csv, mangled)
    preview = run(env, dry_run=True)
    assert preview.exit_code == 3
    assert preview.plan is not None and preview.summary()["create"] == 1
    writes = len(emu.state.writes)
    report = run(env)
    assert (report.status, report.exit_code) == ("guarded", 3)
    assert len(emu.state.writes) == writes


def test_a_run_whose_end_cannot_be_recorded_still_reports_what_took_effect(
    tmp_path: Path, emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(3)])

    def disk_full(*_args: object, **_kwargs: object) -> None:
        raise StateError("state database: cannot record the end of a run: disk is full")

    with monkeypatch.context() as patched:
        patched.setattr(StateStore, "finish_run", disk_full)
        report = run(env)
    assert (report.status, report.exit_code) == ("failed", 1)
    assert report.error is not None and "disk is full" in str(report.error)
    assert report.summary()["create"] == 3 and len(emu.state.users()) == 3
    assert run(env).exit_code == 0
    with StateStore(f"sqlite:///{env.db}") as store:
        statuses = [(r.status, r.error) for r in reversed(store.recent_runs())]
    assert statuses == [("failed", STALE_RUN_ERROR), ("succeeded", None)]

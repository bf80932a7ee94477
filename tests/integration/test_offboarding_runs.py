"""Offboarding of leavers end to end: real HTTP to the emulator, a real SQLite state DB, a CSV.

Each test hires people in a run ten days before `NOW`, then passes every later run its time
(`now=`) and checks what an admin checks: TimeTrack's users, the emulator's write log, the
journal, the links' offboarding states and the run's outcome.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.model import Action, ConflictKind, Link, Offboarding, Operation, Policy, match_key
from sync.recovery import UNCONFIRMED_LOCK
from sync.report import RunReport
from sync.state.store import StateStore
from sync.timetrack.emulator import RunningEmulator
from tests.syncenv import (
    SyncEnv,
    before_deletes,
    before_updates,
    journal_rows,
    leave_pending,
    make_env,
    person,
    run,
    user_named,
    write_csv,
)

NOW = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HIRED = NOW - 10 * DAY
OLD_PASSWORD = "Old-Passw0rd-of-user1!"
REFUSAL = "User accounts cannot be deleted if they have recorded time entries."
PEOPLE = 4  # removing one of them stays within the source shrink guard (30%)

Writes = list[tuple[str, str]]


def source(
    env: SyncEnv, people: int = PEOPLE, *, left: tuple[int, ...] = (), removed: int = 0
) -> None:
    """Write the HR export: person 1 a manager, `left` terminated, `removed` not in it."""
    write_csv(
        env.csv,
        [
            person(
                n,
                role="manager" if n == 1 else "engineer",
                status="terminated" if n in left else "active",
            )
            for n in range(1, people + 1)
            if n != removed
        ],
    )


def hire(
    tmp_path: Path,
    emu: RunningEmulator,
    policy: str = "",
    *,
    people: int = PEOPLE,
    time_entries: int = 0,
) -> SyncEnv:
    """People created by a run at HIRED; user1 is also a TimeTrack admin with a known password."""
    env = make_env(tmp_path, emu.url, [], policy=f"max_delete_percent: 100\n{policy}")
    source(env, people)
    assert run(env, now=HIRED).status == "succeeded"
    user1 = user_named(emu, "user1")
    emu.state.update(user1["id"], password=OLD_PASSWORD, admin=True)
    emu.state.set_time_entries(user1["id"], time_entries)
    assert emu.state.check_password(user1["id"], OLD_PASSWORD)
    return env


def run_at(
    env: SyncEnv, emu: RunningEmulator, when: datetime, **options: bool
) -> tuple[RunReport, Writes]:
    """One run at `when`, and the (method, username) writes TimeTrack applied during it."""
    before = len(emu.state.writes)
    report = run(env, now=when, **options)
    return report, [(w.method, w.username) for w in emu.state.writes[before:]]


def succeeded(report: RunReport) -> None:
    assert (report.status, report.exit_code) == ("succeeded", 0), report.error


def link(env: SyncEnv, n: int = 1) -> Link | None:
    """The job's link of person `n`, or None."""
    with StateStore(env.state_url) as store:
        return store.load_links("hr").get(match_key("personalNumber", f"E-{n:05d}"))


def offboarding(env: SyncEnv, n: int = 1) -> Offboarding:
    found = link(env, n)
    assert found is not None, f"person {n} has no link"
    return found.offboarding


def outcomes(env: SyncEnv, run_id: int) -> list[tuple[str, str, str, int | None, str | None]]:
    """(action, username, status, http_status, error) of one run's journal rows, in order."""
    rows = [r for r in journal_rows(env) if r.run_id == run_id]
    return [(r.action, r.username, r.status, r.http_status, r.error) for r in reversed(rows)]


def deletes_sent(emu: RunningEmulator) -> int:
    """DELETE requests TimeTrack received, refused ones included (the write log has no refusals)."""
    return emu.state.request_count.get("DELETE", 0)


def assert_locked(emu: RunningEmulator) -> None:
    """user1 is still in TimeTrack and enabled, without its password, admin and team lead rights."""
    user = user_named(emu, "user1")
    assert (user["enabled"], user["admin"], user["teamLead"]) == (True, False, False)
    assert not emu.state.check_password(user["id"], OLD_PASSWORD)


@pytest.mark.parametrize("how", ["terminated", "removed"])
def test_a_leaver_is_locked_once_and_then_left_alone(
    tmp_path: Path, emu: RunningEmulator, how: str
) -> None:
    env = hire(tmp_path, emu)
    source(env, left=(1,) if how == "terminated" else (), removed=1 if how == "removed" else 0)
    report, writes = run_at(env, emu, NOW)
    succeeded(report)
    assert writes == [("PUT", "user1")]
    assert_locked(emu)
    [(action, username, status, http_status, error)] = outcomes(env, report.run_id)
    assert (action, username, status, http_status, error) == ("lock", "user1", "done", 200, None)
    locked = link(env)
    assert locked is not None and locked.offboarding is Offboarding.LOCKED
    assert locked.locked_at == NOW
    report, writes = run_at(env, emu, NOW + DAY)
    succeeded(report)
    assert writes == []
    assert offboarding(env) is Offboarding.LOCKED


def test_a_leaver_without_time_entries_is_locked_then_deleted_in_one_run(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = hire(tmp_path, emu, "delete: true")
    source(env, left=(1,))
    report, writes = run_at(env, emu, NOW)
    succeeded(report)
    assert writes == [("PUT", "user1"), ("DELETE", "user1")]
    assert [row[:3] for row in outcomes(env, report.run_id)] == [
        ("lock", "user1", "done"),
        ("delete", "user1", "done"),
    ]
    assert "user1" not in {u["username"] for u in emu.state.users()}
    assert link(env) is None


@pytest.mark.parametrize("status", [400, 409, 422])
def test_a_refused_delete_retains_the_locked_user_and_is_retried_after_30_days(
    tmp_path: Path, emu: RunningEmulator, status: int
) -> None:
    emu.state.set_options(delete_refused_status=status)
    env = hire(tmp_path, emu, "delete: true", time_entries=3)
    source(env, left=(1,))
    report, writes = run_at(env, emu, NOW)
    succeeded(report)
    assert writes == [("PUT", "user1")] and deletes_sent(emu) == 1
    assert outcomes(env, report.run_id) == [
        ("lock", "user1", "done", 200, None),
        ("delete", "user1", "refused", status, REFUSAL),
    ]
    retained = link(env)
    assert retained is not None and retained.offboarding is Offboarding.RETAINED
    assert (retained.locked_at, retained.delete_refused_at) == (NOW, NOW)
    assert retained.delete_refusal == REFUSAL
    assert_locked(emu)
    for later in (NOW + DAY, NOW + 29 * DAY):
        report, writes = run_at(env, emu, later)
        succeeded(report)
        assert writes == [] and deletes_sent(emu) == 1, later
    report, writes = run_at(env, emu, NOW + 30 * DAY)
    succeeded(report)
    assert writes == [] and deletes_sent(emu) == 2
    assert [row[:3] for row in outcomes(env, report.run_id)] == [("delete", "user1", "refused")]
    retried = link(env)
    assert retried is not None and retried.offboarding is Offboarding.RETAINED
    assert retried.delete_refused_at == NOW + 30 * DAY


def test_a_run_that_changes_nothing_reports_the_queue_the_state_db_holds(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = hire(tmp_path, emu, "delete: true", time_entries=3)
    source(env, left=(1,))
    succeeded(run_at(env, emu, NOW)[0])
    for options in ({}, {"dry_run": True}):
        report, writes = run_at(env, emu, NOW + DAY, **options)
        succeeded(report)
        assert writes == [] and report.plan is not None and report.plan.is_empty
        with StateStore(env.state_url) as store:
            held = store.offboarding_queue("hr", Policy(delete=True), NOW + DAY)
        assert report.offboarding_queue == held
        assert [e.username for e in held] == ["user1"]


def test_a_refused_delete_of_an_unlocked_leaver_is_followed_by_its_lock(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = hire(tmp_path, emu, "delete: true\nlock_leavers: false", time_entries=1)
    source(env, left=(1,))
    report, writes = run_at(env, emu, NOW)
    succeeded(report)
    assert writes == [("PUT", "user1")] and deletes_sent(emu) == 1
    assert [row[:3] for row in outcomes(env, report.run_id)] == [
        ("delete", "user1", "refused"),
        ("lock", "user1", "done"),
    ]
    retained = link(env)
    assert retained is not None and retained.offboarding is Offboarding.RETAINED
    assert retained.locked_at == NOW
    assert_locked(emu)


def test_a_soft_delete_leaves_the_user_disabled_and_untouched(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    emu.state.set_options(delete_mode="soft")
    env = hire(tmp_path, emu, "delete: true", time_entries=2)
    source(env, left=(1,))
    report, writes = run_at(env, emu, NOW)
    succeeded(report)
    assert writes == [("PUT", "user1"), ("DELETE", "user1")]
    assert [row[:3] for row in outcomes(env, report.run_id)] == [
        ("lock", "user1", "done"),
        ("delete", "user1", "done"),
    ]
    assert user_named(emu, "user1")["enabled"] is False
    assert link(env) is None  # the link ends with the delete
    report, writes = run_at(env, emu, NOW + DAY)
    succeeded(report)
    assert writes == []


@pytest.mark.parametrize(
    ("policy", "queued"), [("", Offboarding.LOCKED), ("delete: true", Offboarding.RETAINED)]
)
def test_a_user_an_admin_deactivated_is_never_written_again(
    tmp_path: Path, emu: RunningEmulator, policy: str, queued: Offboarding
) -> None:
    env = hire(tmp_path, emu, policy, time_entries=5)
    source(env, left=(1,))
    succeeded(run_at(env, emu, NOW)[0])
    assert offboarding(env) is queued
    # The TimeTrack admin works through the offboarding queue in the web UI.
    emu.state.set_enabled(user_named(emu, "user1")["id"], False)
    sent = deletes_sent(emu)
    for later in (NOW + DAY, NOW + 31 * DAY):
        report, writes = run_at(env, emu, later)
        succeeded(report)
        assert writes == [] and deletes_sent(emu) == sent, later
        assert offboarding(env) is Offboarding.DEACTIVATED
    source(env)  # the person comes back
    report, writes = run_at(env, emu, NOW + 32 * DAY)
    assert writes == []
    assert report.plan is not None
    assert [(c.kind, c.username) for c in report.plan.conflicts] == [
        (ConflictKind.DISABLED, "user1")
    ]
    assert offboarding(env) is Offboarding.DEACTIVATED


def test_a_rehired_person_gets_the_rights_back_on_the_same_user(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = hire(tmp_path, emu)
    user_id = user_named(emu, "user1")["id"]
    source(env, left=(1,))
    succeeded(run_at(env, emu, NOW)[0])
    source(env)
    report, writes = run_at(env, emu, NOW + 3 * DAY)
    succeeded(report)
    assert writes == [("PUT", "user1")]
    user = user_named(emu, "user1")
    assert (user["id"], user["admin"], user["teamLead"]) == (user_id, False, True)
    assert len(emu.state.users()) == PEOPLE
    [row] = [r for r in journal_rows(env) if r.run_id == report.run_id]
    assert (row.action, row.status) == ("update", "done")
    assert "password was reset" in row.reason
    back = link(env)
    assert back is not None and back.offboarding is Offboarding.ACTIVE
    assert back.locked_at is None


def test_a_leaver_grace_delays_the_lock_and_a_returning_person_is_left_alone(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = hire(tmp_path, emu, "leaver_grace: 2d")
    source(env, left=(1, 2))
    report, writes = run_at(env, emu, NOW)
    succeeded(report)
    assert writes == []
    assert (offboarding(env, 1), offboarding(env, 2)) == (Offboarding.LEAVING, Offboarding.LEAVING)
    source(env, left=(1,))  # person 2 is back within the grace
    report, writes = run_at(env, emu, NOW + DAY)
    succeeded(report)
    assert writes == []
    assert (offboarding(env, 1), offboarding(env, 2)) == (Offboarding.LEAVING, Offboarding.ACTIVE)
    report, writes = run_at(env, emu, NOW + 2 * DAY)
    succeeded(report)
    assert writes == [("PUT", "user1")]
    assert (offboarding(env, 1), offboarding(env, 2)) == (Offboarding.LOCKED, Offboarding.ACTIVE)
    assert run_at(env, emu, NOW + 10 * DAY)[1] == []


def test_delete_after_deletes_a_locked_leaver_when_it_has_passed(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = hire(tmp_path, emu, "delete: true\ndelete_after: 7d")
    source(env, left=(1,))
    assert run_at(env, emu, NOW)[1] == [("PUT", "user1")]
    assert run_at(env, emu, NOW + 7 * DAY - timedelta(minutes=1))[1] == []
    assert offboarding(env) is Offboarding.LOCKED
    report, writes = run_at(env, emu, NOW + 7 * DAY)
    succeeded(report)
    assert writes == [("DELETE", "user1")]
    assert link(env) is None


def test_the_delete_guards_count_locks(tmp_path: Path, emu: RunningEmulator) -> None:
    env = hire(tmp_path, emu, "max_deletes: 2", people=5)
    leavers = (1, 2, 3, 4, 5)
    write_csv(env.csv, [*(person(n, status="terminated") for n in leavers), person(9)])
    report, writes = run_at(env, emu, NOW)
    assert (report.status, report.exit_code) == ("guarded", 3)
    assert writes == [("POST", "user9")]
    assert report.plan is not None
    assert [g.name for g in report.plan.guards if g.tripped] == ["max_deletes"]
    assert {offboarding(env, n) for n in leavers} == {Offboarding.LEAVING}
    report, writes = run_at(env, emu, NOW, allow_mass_delete=True)
    succeeded(report)
    assert sorted(writes) == [("PUT", f"user{n}") for n in leavers]
    assert {offboarding(env, n) for n in leavers} == {Offboarding.LOCKED}


def test_a_401_during_the_deletes_fails_the_run(
    tmp_path: Path, emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = hire(tmp_path, emu, "delete: true")
    source(env, left=(1,))
    # The admin regenerates the API secret after the locks went out.
    before_deletes(monkeypatch, lambda _id: emu.state.set_options(api_secret="regenerated"))
    report, writes = run_at(env, emu, NOW)
    assert (report.status, report.exit_code) == ("partial", 1)
    assert writes == [("PUT", "user1")]
    assert [row[:4] for row in outcomes(env, report.run_id)] == [
        ("lock", "user1", "done", 200),
        ("delete", "user1", "failed", 401),
    ]
    assert offboarding(env) is Offboarding.LOCKED
    assert_locked(emu)


def test_a_404_on_delete_counts_as_done(
    tmp_path: Path, emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = hire(tmp_path, emu, "delete: true")
    source(env, left=(1,))
    # Someone deletes the user in the web UI while the run is on.
    before_deletes(monkeypatch, lambda user_id: emu.state.delete(int(user_id)))
    report, writes = run_at(env, emu, NOW)
    succeeded(report)
    assert writes == [("PUT", "user1")]
    assert [row[:4] for row in outcomes(env, report.run_id)] == [
        ("lock", "user1", "done", 200),
        ("delete", "user1", "done", 404),
    ]
    assert link(env) is None


def test_a_404_on_lock_counts_as_done_and_ends_the_link(
    tmp_path: Path, emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = hire(tmp_path, emu)
    source(env, left=(1,))
    # Someone deletes the leaver's user in the web UI while the run is on: no access either way.
    before_updates(monkeypatch, lambda user_id: emu.state.delete(int(user_id)))
    report, writes = run_at(env, emu, NOW)
    succeeded(report)
    assert writes == []
    assert [row[:4] for row in outcomes(env, report.run_id)] == [("lock", "user1", "done", 404)]
    assert link(env) is None
    assert "user1" not in {u["username"] for u in emu.state.users()}
    again, writes = run_at(env, emu, NOW + DAY)
    succeeded(again)
    assert writes == [] and outcomes(env, again.run_id) == []


def test_a_lock_a_killed_run_left_pending_is_sent_again(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = hire(tmp_path, emu)
    user1 = user_named(emu, "user1")
    # Rights a lock takes away are off already: the listing cannot tell whether it landed.
    emu.state.update(user1["id"], admin=False, teamLead=False)
    key = match_key("personalNumber", "E-00001")
    off = {"admin": (False, False), "teamLead": (False, False)}
    leave_pending(env, Operation(Action.LOCK, key, "user1", str(user1["id"]), off))
    source(env, left=(1,))
    report, writes = run_at(env, emu, NOW)
    assert writes == [("PUT", "user1")]
    assert not emu.state.check_password(user1["id"], OLD_PASSWORD)
    [unknown] = [r for r in journal_rows(env) if r.status == "failed"]
    assert (unknown.action, unknown.error) == ("lock", UNCONFIRMED_LOCK)
    assert outcomes(env, report.run_id) == [("lock", "user1", "done", 200, None)]
    assert offboarding(env) is Offboarding.LOCKED

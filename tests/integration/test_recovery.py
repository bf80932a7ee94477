"""Recovery of journal rows a killed run left `pending`, judged by what TimeTrack shows now.

Each test journals an operation `pending` as a run killed between its call and its result
would, then runs the engine once: the row must end as TimeTrack shows it, and the same run
must redo what did not take effect (real HTTP to the emulator, a real SQLite journal).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.model import Action, Operation
from sync.timetrack.emulator import RunningEmulator
from tests.syncenv import (
    journal,
    leave_pending,
    make_env,
    person,
    run,
    user_named,
    usernames,
    write_csv,
)


def test_pending_delete_of_a_user_still_enabled_fails_and_the_run_deletes_it(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    rows = [person(n) for n in range(20)]
    env = make_env(tmp_path, emu.url, rows, policy="delete: true\nlock_leavers: false")
    assert run(env).exit_code == 0
    leaver = user_named(emu, "user7")
    # Killed before the DELETE reached TimeTrack: user7 is still there, and enabled.
    leave_pending(
        env, Operation(Action.DELETE, key="e-00007", username="user7", tt_id=str(leaver["id"]))
    )
    write_csv(env.csv, [row for row in rows if row is not rows[7]])
    before = len(emu.state.writes)
    report = run(env)
    assert (report.status, report.exit_code) == ("succeeded", 0)
    # The link was kept, so the fresh plan deletes the user again.
    assert report.plan is not None
    assert [(op.username, op.tt_id) for op in report.plan.of(Action.DELETE)] == [
        ("user7", str(leaver["id"]))
    ]
    assert usernames(emu)["user7"] == 0
    assert [(w.method, w.user_id) for w in emu.state.writes[before:]] == [("DELETE", leaver["id"])]
    deletes = [(name, status) for action, name, status in journal(env) if action == "delete"]
    assert deletes == [("user7", "done"), ("user7", "failed")]  # newest first


@pytest.mark.parametrize("applied", [False, True], ids=["not-applied", "applied"])
def test_pending_update_is_judged_by_the_values_timetrack_shows(
    tmp_path: Path, emu: RunningEmulator, applied: bool
) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(5)])
    assert run(env).exit_code == 0
    user = user_named(emu, "user2")
    if applied:  # the PUT reached TimeTrack before the run was killed
        emu.state.update(user["id"], lastName="Moved2")
    leave_pending(
        env,
        Operation(
            Action.UPDATE,
            key="e-00002",
            username="user2",
            tt_id=str(user["id"]),
            changes={"lastName": ("Last2", "Moved2")},
        ),
    )
    write_csv(env.csv, [person(n, last_name="Moved2") if n == 2 else person(n) for n in range(5)])
    before = len(emu.state.writes)
    report = run(env)
    assert (report.status, report.exit_code) == ("succeeded", 0)
    assert user_named(emu, "user2")["lastName"] == "Moved2"
    puts = [(w.method, w.user_id) for w in emu.state.writes[before:]]
    updates = [(name, status) for action, name, status in journal(env) if action == "update"]
    if applied:
        assert puts == []
        assert updates == [("user2", "done")]
    else:
        assert puts == [("PUT", user["id"])]
        assert updates == [("user2", "done"), ("user2", "failed")]  # newest first

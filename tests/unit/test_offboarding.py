"""Leavers through their offboarding states: lock, delete, retain, deactivate, rehire (pure)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from sync.guards import apply_delete_guards
from sync.model import Action, ConflictKind, Link, Offboarding, Plan, Policy
from sync.offboarding import offboarding_queue
from tests.unit.test_planner import NOW, person, run, snap, tt_user

ANNA = person("1001", "anna", admin=True, teamLead=True)
LEFT = dataclasses.replace(ANNA, active=False)
USER = tt_user("5", ANNA)


def link(**values: Any) -> dict[str, Link]:
    """ANNA's link to user 5, in the state given."""
    return {"1001": Link("1001", "5", "anna", "created", **values)}


def actions(result: Plan) -> list[tuple[Action, str | None]]:
    """(action, TimeTrack id) of each operation."""
    return [(op.action, op.tt_id) for op in result.operations]


def states(result: Plan) -> list[tuple[str, Offboarding]]:
    """(key, new state) of each offboarding change without a write."""
    return [(c.key, c.state) for c in result.offboarding]


def test_default_policy_locks_a_leaver_at_once_and_keeps_the_user() -> None:
    result = run([LEFT], snap(USER), link())
    (lock,) = result.operations
    assert (lock.action, lock.tt_id) == (Action.LOCK, "5")
    assert dict(lock.changes) == {"admin": (True, False), "teamLead": (True, False)}
    assert "password" not in lock.payload()
    assert "new random password" in lock.reason
    assert states(result) == [("1001", Offboarding.LEAVING)]


def test_a_locked_leaver_is_never_locked_again() -> None:
    for state in (Offboarding.LOCKED, Offboarding.RETAINED):
        links = link(offboarding=state, missing_runs=3, locked_at=NOW - timedelta(days=1))
        result = run([LEFT], snap(USER), links)
        assert result.operations == ()
        assert result.offboarding == ()


def test_leaver_grace_is_time_since_the_first_run_that_saw_the_person_leave() -> None:
    policy = Policy(leaver_grace=timedelta(days=2))
    first = run([LEFT], snap(USER), link(), policy)
    assert first.operations == ()
    assert states(first) == [("1001", Offboarding.LEAVING)]
    assert "grace until 2026-12-03 12:00 UTC" in first.offboarding[0].note
    waiting = link(
        offboarding=Offboarding.LEAVING, missing_runs=5, missing_since=NOW - timedelta(days=1)
    )
    assert run([LEFT], snap(USER), waiting, policy).operations == ()
    over = link(
        offboarding=Offboarding.LEAVING, missing_runs=5, missing_since=NOW - timedelta(days=2)
    )
    assert actions(run([LEFT], snap(USER), over, policy)) == [(Action.LOCK, "5")]


def test_both_graces_must_be_over() -> None:
    policy = Policy(leaver_grace=timedelta(hours=1), delete_grace_runs=3)
    long_ago = NOW - timedelta(days=9)
    few_runs = link(offboarding=Offboarding.LEAVING, missing_runs=1, missing_since=long_ago)
    assert run([LEFT], snap(USER), few_runs, policy).operations == ()
    recent = link(offboarding=Offboarding.LEAVING, missing_runs=7, missing_since=NOW)
    assert run([LEFT], snap(USER), recent, policy).operations == ()
    both = link(offboarding=Offboarding.LEAVING, missing_runs=3, missing_since=long_ago)
    assert actions(run([LEFT], snap(USER), both, policy)) == [(Action.LOCK, "5")]


def test_a_person_back_during_the_grace_is_active_again_with_nothing_done() -> None:
    waiting = link(offboarding=Offboarding.LEAVING, missing_runs=1, missing_since=NOW)
    result = run([ANNA], snap(USER), waiting, Policy(leaver_grace=timedelta(days=2)))
    assert result.operations == ()
    assert states(result) == [("1001", Offboarding.ACTIVE)]
    assert "nothing was done" in result.offboarding[0].note


def test_delete_follows_the_lock_in_the_same_run_by_default() -> None:
    result = run([LEFT], snap(USER), link(), Policy(delete=True))
    assert actions(result) == [(Action.LOCK, "5"), (Action.DELETE, "5")]
    assert result.of(Action.DELETE)[0].fallback is None  # locked already by then


def test_delete_after_counts_from_the_lock() -> None:
    policy = Policy(delete=True, delete_after=timedelta(days=7))
    assert actions(run([LEFT], snap(USER), link(), policy)) == [(Action.LOCK, "5")]
    for days, expected in ((6, []), (7, [(Action.DELETE, "5")])):
        locked = link(
            offboarding=Offboarding.LOCKED, missing_runs=2, locked_at=NOW - timedelta(days=days)
        )
        assert actions(run([LEFT], snap(USER), locked, policy)) == expected


def test_a_user_enabled_again_after_its_deactivation_is_locked_anew_and_waits_again() -> None:
    """The earlier lock's time no longer counts: the new lock starts delete_after again."""
    policy = Policy(delete=True, delete_after=timedelta(days=7))
    enabled_again = link(
        offboarding=Offboarding.DEACTIVATED, missing_runs=9, locked_at=NOW - timedelta(days=8)
    )
    assert actions(run([LEFT], snap(USER), enabled_again, policy)) == [(Action.LOCK, "5")]


def test_a_refused_delete_waits_for_delete_retry_after() -> None:
    policy = Policy(delete=True)
    for days, expected in ((29, []), (30, [(Action.DELETE, "5")])):
        retained = link(
            offboarding=Offboarding.RETAINED,
            missing_runs=9,
            locked_at=NOW - timedelta(days=40),
            delete_refused_at=NOW - timedelta(days=days),
            delete_refusal="User accounts cannot be deleted if they have recorded time entries",
        )
        result = run([LEFT], snap(USER), retained, policy)
        assert actions(result) == expected
        assert all("retrying the delete" in op.reason for op in result.operations)


def test_without_locks_a_delete_carries_the_lock_for_when_timetrack_refuses() -> None:
    result = run([LEFT], snap(USER), link(), Policy(delete=True, lock_leavers=False))
    (delete,) = result.operations
    assert delete.action is Action.DELETE
    assert delete.fallback is not None and delete.fallback.action is Action.LOCK
    assert delete.fallback.tt_id == "5"


def test_a_user_timetrack_lists_as_disabled_is_deactivated_and_left_alone() -> None:
    disabled = tt_user("5", ANNA, enabled=False)
    for state in (Offboarding.ACTIVE, Offboarding.LOCKED, Offboarding.RETAINED):
        result = run([LEFT], snap(disabled), link(offboarding=state), Policy(delete=True))
        assert result.operations == ()
        assert states(result) == [("1001", Offboarding.DEACTIVATED)]
    done = run([LEFT], snap(disabled), link(offboarding=Offboarding.DEACTIVATED))
    assert (done.operations, done.offboarding) == ((), ())


def test_rehire_of_a_locked_user_restores_it_in_place_and_says_to_reset_the_password() -> None:
    locked_user = tt_user("5", ANNA, admin=False, teamLead=False)
    for state in (Offboarding.LOCKED, Offboarding.RETAINED):
        links = link(offboarding=state, locked_at=NOW - timedelta(days=3))
        result = run([ANNA], snap(locked_user), links)
        (update,) = result.operations
        assert (update.action, update.tt_id) == (Action.UPDATE, "5")
        assert dict(update.changes) == {"admin": (False, True), "teamLead": (False, True)}
        assert "password was reset" in update.reason and "password reset" in update.reason
        assert states(result) == [("1001", Offboarding.ACTIVE)]


def test_rehire_of_a_deactivated_user_stays_a_conflict() -> None:
    disabled = tt_user("5", ANNA, enabled=False)
    result = run([ANNA], snap(disabled), link(offboarding=Offboarding.DEACTIVATED))
    assert result.operations == ()
    assert [c.kind for c in result.conflicts] == [ConflictKind.DISABLED]


def test_delete_guards_count_locks_and_drop_every_lock_and_delete() -> None:
    leavers = [person(str(n), f"user{n}", active=False) for n in range(30)]
    users = {str(n): tt_user(str(n), p) for n, p in enumerate(leavers)}
    links = {p.key: Link(p.key, str(n), p.username, "created") for n, p in enumerate(leavers)}
    joiner = person("99", "newbie")
    result = run([*leavers, joiner], users, links, Policy(delete=True))
    assert len(result.offboarded()) == 30
    guarded = apply_delete_guards(result, len(links), Policy(), allow_mass_delete=False)
    assert actions(guarded) == [(Action.CREATE, None)]
    assert any(v.tripped for v in guarded.guards)
    allowed = apply_delete_guards(result, len(links), Policy(), allow_mass_delete=True)
    assert len(allowed.of(Action.LOCK)) == len(allowed.of(Action.DELETE)) == 30


def test_offboarding_queue_lists_leavers_timetrack_still_shows_enabled() -> None:
    people = {n: person(str(n), f"user{n}") for n in range(5)}
    users = snap(
        *(tt_user(str(n), p) for n, p in people.items() if n != 3),
        tt_user("3", people[3], enabled=False),
    )
    since = NOW - timedelta(days=4)
    links = [
        Link("0", "0", "user0", "created"),
        Link("1", "1", "user1", "created", offboarding=Offboarding.LOCKED, missing_since=since),
        Link(
            "2",
            "2",
            "user2",
            "created",
            offboarding=Offboarding.RETAINED,
            missing_since=since - timedelta(days=1),
            delete_refusal="has time entries",
        ),
        Link("3", "3", "user3", "created", offboarding=Offboarding.LOCKED),
        Link("4", "4", "user4", "created", offboarding=Offboarding.LEAVING, missing_since=NOW),
    ]
    in_grace = offboarding_queue(links, users, Policy(leaver_grace=timedelta(days=1)), NOW)
    assert [(e.username, e.state, e.refusal) for e in in_grace] == [
        ("user2", Offboarding.RETAINED, "has time entries"),
        ("user1", Offboarding.LOCKED, None),
    ]
    assert in_grace[0].name == "User2 Doe"
    unlocked = offboarding_queue(links, users, Policy(lock_leavers=False), NOW)
    assert [e.username for e in unlocked] == ["user2", "user1", "user4"]

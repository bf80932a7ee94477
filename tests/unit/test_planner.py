"""Unit tests for sync.planner: one test per rule of the plan."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from sync.model import (
    Action,
    ConflictKind,
    DesiredUser,
    Link,
    Offboarding,
    Operation,
    Plan,
    Policy,
    TimeTrackUser,
    match_key,
)
from sync.planner import plan

MATCH_ON = "personalNumber"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def person(
    number: str, username: str, *, active: bool = True, origin: str = "", **fields: Any
) -> DesiredUser:
    """A mapped source person matched on personalNumber."""
    values: dict[str, Any] = {
        "username": username,
        "firstName": username.capitalize(),
        "lastName": "Doe",
        "email": f"{username}@example.com",
        "personalNumber": number,
        "language": "de",
        "admin": False,
        "teamLead": False,
    }
    values.update(fields)
    key = match_key(MATCH_ON, values["personalNumber"])
    return DesiredUser(key, values, active, origin or f"people.csv:{number}")


def tt_user(
    user_id: str, who: DesiredUser, *, enabled: bool = True, **fields: Any
) -> TimeTrackUser:
    """A TimeTrack user looking exactly like a person, with some fields overridden."""
    values = {**who.fields, "id": user_id, "enabled": enabled, **fields}
    return TimeTrackUser(user_id, str(values["username"]), enabled, values)


def snap(*users: TimeTrackUser) -> dict[str, TimeTrackUser]:
    """A snapshot keyed by id."""
    return {u.id: u for u in users}


def owned(*pairs: tuple[str, str], missing_runs: int = 0) -> dict[str, Link]:
    """Links key -> tt id for this job."""
    return {key: Link(key, tt_id, "", "created", missing_runs=missing_runs) for key, tt_id in pairs}


def run(
    desired: Iterable[DesiredUser],
    snapshot: Mapping[str, TimeTrackUser] | None = None,
    links: Mapping[str, Link] | None = None,
    policy: Policy | None = None,
    *,
    match_on: str = MATCH_ON,
    other_owned: frozenset[str] = frozenset(),
) -> Plan:
    """plan() with empty defaults."""
    return plan(
        list(desired),
        snapshot or {},
        links or {},
        policy or Policy(),
        match_on=match_on,
        now=NOW,
        other_owned=other_owned,
    )


def only_op(result: Plan) -> Operation:
    """The single operation of a plan."""
    assert len(result.operations) == 1, result.operations
    return result.operations[0]


def kinds(result: Plan) -> list[tuple[str, ConflictKind]]:
    """(key, kind) of every conflict."""
    return [(c.key, c.kind) for c in result.conflicts]


# Deletes without the lock before them: the rules of who is deleted when (locks have their own
# tests in test_offboarding.py).
DELETING = Policy(delete=True, lock_leavers=False)
ANNA = person("1001", "anna")
BOB = person("1002", "bob")


# -- creates -----------------------------------------------------------------------------------


def test_new_person_is_created_with_every_mapped_field() -> None:
    op = only_op(run([ANNA]))
    assert op.action is Action.CREATE
    assert (op.key, op.username, op.tt_id) == ("1001", "anna", None)
    assert op.changes == {name: (None, value) for name, value in ANNA.fields.items()}


def test_create_never_carries_a_password_or_id() -> None:
    op = only_op(run([person("1001", "anna", password="hunter2", id="99")]))
    assert "password" not in op.changes
    assert "id" not in op.changes


def test_create_disabled_by_policy_is_skipped() -> None:
    result = run([ANNA], policy=Policy(create=False))
    assert result.operations == ()
    assert [(s.key, s.reason) for s in result.skipped] == [("1001", "create disabled by policy")]


def test_protected_username_is_never_created() -> None:
    result = run([person("1001", "API-Admin")], policy=Policy(protected=frozenset({"api-admin"})))
    assert result.operations == ()
    assert [s.reason for s in result.skipped] == ["protected user"]


def test_username_taken_by_user_with_other_key_is_conflict() -> None:
    other = tt_user("5", person("2000", "anna"))
    result = run([ANNA], snap(other))
    assert result.operations == ()
    assert kinds(result) == [("1001", ConflictKind.USERNAME_TAKEN)]
    assert "TimeTrack user id 5 with a different personalNumber" in result.conflicts[0].reason


def test_leaver_we_never_owned_is_ignored() -> None:
    result = run([person("1001", "anna", active=False)], snap(tt_user("5", ANNA)))
    assert result == Plan()


# -- owned users: updates ------------------------------------------------------------------------


def test_owned_unchanged_user_is_counted_unchanged() -> None:
    result = run([ANNA], snap(tt_user("5", ANNA)), owned(("1001", "5")))
    assert result.operations == ()
    assert result.unchanged == 1
    assert result.missing_keys == frozenset()


def test_update_only_carries_changed_managed_fields() -> None:
    user = tt_user("5", ANNA, lastName="Old", teamLead=True, department="Sales")
    op = only_op(run([ANNA], snap(user), owned(("1001", "5"))))
    assert op.action is Action.UPDATE
    assert (op.tt_id, op.username) == ("5", "anna")
    assert op.changes == {"lastName": ("Old", "Doe"), "teamLead": (True, False)}


def test_update_never_carries_username_enabled_or_password() -> None:
    wanted = person("1001", "anna", enabled=True, password="x", lastName="New")
    user = tt_user("5", ANNA, username="ANNA", enabled=True)
    op = only_op(run([wanted], snap(user), owned(("1001", "5"))))
    assert op.changes == {"lastName": ("Doe", "New")}


@pytest.mark.parametrize(
    ("field", "tt_value", "source_value"),
    [
        ("personalNumber", "007", "7"),
        ("personalNumber", 7, "007"),
        ("email", "Anna@Example.COM", "anna@example.com"),
        ("firstName", " Anna ", "Anna"),
        ("language", None, ""),
        ("admin", None, False),
        ("teamLead", 0, False),
    ],
)
def test_normalized_equal_values_are_no_change(
    field: str, tt_value: Any, source_value: Any
) -> None:
    wanted = person("1001", "anna", **{field: source_value})
    user = tt_user("5", wanted, **{field: tt_value})
    result = run([wanted], snap(user), owned((wanted.key, "5")))
    assert result.operations == ()
    assert result.unchanged == 1


def test_personal_number_007_equals_7() -> None:
    wanted = person("007", "anna")
    user = tt_user("5", wanted, personalNumber=7)
    assert wanted.key == "7"
    result = run([wanted], snap(user))
    assert [op.action for op in result.operations] == [Action.ADOPT]


def test_email_case_difference_is_no_change() -> None:
    user = tt_user("5", ANNA, email="ANNA@Example.com")
    result = run([ANNA], snap(user), owned(("1001", "5")))
    assert result.operations == ()
    assert result.unchanged == 1


def test_update_disabled_by_policy_counts_unchanged_and_records_nothing() -> None:
    user = tt_user("5", ANNA, lastName="Old")
    result = run([ANNA], snap(user), owned(("1001", "5")), Policy(update=False))
    assert (result.operations, result.skipped, result.unchanged) == ((), (), 1)


def test_username_case_difference_is_not_a_rename() -> None:
    user = tt_user("5", ANNA, username="Anna")
    result = run([ANNA], snap(user), owned(("1001", "5")))
    assert (result.operations, result.conflicts, result.unchanged) == ((), (), 1)


# -- owned users: renames and disabled -------------------------------------------------------------


def test_rename_is_conflict_unless_recreate() -> None:
    user = tt_user("5", ANNA, username="anna.old")
    conflicted = run([ANNA], snap(user), owned(("1001", "5")), DELETING)
    assert conflicted.operations == ()
    assert kinds(conflicted) == [("1001", ConflictKind.RENAME)]
    assert conflicted.conflicts[0].reason == "TimeTrack has username anna.old, source wants anna"

    recreate = Policy(delete=True, on_rename="recreate")
    recreated = run([ANNA], snap(user), owned(("1001", "5")), recreate)
    assert [(op.action, op.tt_id, op.username, op.recreate) for op in recreated.operations] == [
        (Action.CREATE, None, "anna", True),
        (Action.DELETE, "5", "anna.old", True),
    ]
    assert recreated.conflicts == ()
    assert recreated.missing_keys == frozenset()


def test_rename_recreate_needs_create_and_delete_policy() -> None:
    user = tt_user("5", ANNA, username="anna.old")
    for policy in (
        Policy(on_rename="recreate"),
        Policy(delete=True, create=False, on_rename="recreate"),
    ):
        result = run([ANNA], snap(user), owned(("1001", "5")), policy)
        assert result.operations == ()
        assert kinds(result) == [("1001", ConflictKind.RENAME)]
        assert "needs policy create and delete" in result.conflicts[0].reason


def test_rename_recreate_with_taken_username_is_conflict() -> None:
    user = tt_user("5", ANNA, username="anna.old")
    holder = tt_user("6", person("3000", "anna"))
    policy = Policy(delete=True, on_rename="recreate")
    result = run([ANNA], snap(user, holder), owned(("1001", "5")), policy)
    assert result.operations == ()
    assert kinds(result) == [("1001", ConflictKind.USERNAME_TAKEN)]


def test_disabled_owned_user_is_conflict() -> None:
    user = tt_user("5", ANNA, enabled=False, lastName="Old")
    result = run([ANNA], snap(user), owned(("1001", "5")), DELETING)
    assert result.operations == ()
    assert kinds(result) == [("1001", ConflictKind.DISABLED)]
    assert result.conflicts[0].reason == "disabled in TimeTrack; re-enable it there"
    assert result.unchanged == 0


def test_disabled_owned_user_is_recreated_with_recreate() -> None:
    user = tt_user("5", ANNA, enabled=False)
    policy = Policy(delete=True, on_rename="recreate")
    result = run([ANNA], snap(user), owned(("1001", "5")), policy)
    assert [(op.action, op.recreate) for op in result.operations] == [
        (Action.CREATE, True),
        (Action.DELETE, True),
    ]


def test_owned_disabled_leaver_is_deactivated_and_never_written_to() -> None:
    user = tt_user("5", ANNA, enabled=False)
    leaver = person("1001", "anna", active=False)
    result = run([leaver], snap(user), owned(("1001", "5")), Policy(delete=True))
    assert result.operations == ()
    assert [(c.key, c.state) for c in result.offboarding] == [("1001", Offboarding.DEACTIVATED)]


# -- deletes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing_runs", "deleted"), [(0, False), (1, False), (2, True), (5, True)]
)
def test_leaver_is_deleted_after_grace_runs(missing_runs: int, deleted: bool) -> None:
    leaver = person("1001", "anna", active=False)
    links = owned(("1001", "5"), missing_runs=missing_runs)
    policy = Policy(delete=True, delete_grace_runs=2, lock_leavers=False)
    result = run([leaver], snap(tt_user("5", ANNA)), links, policy)
    expected = [(Action.DELETE, "5", "left (inactive in source)")] if deleted else []
    assert [(op.action, op.tt_id, op.reason) for op in result.operations] == expected
    assert result.missing_keys == frozenset({"1001"})
    assert result.unchanged == 0


def test_leaver_is_deleted_at_once_without_grace() -> None:
    leaver = person("1001", "anna", active=False)
    op = only_op(run([leaver], snap(tt_user("5", ANNA)), owned(("1001", "5")), DELETING))
    assert (op.action, op.key, op.username, op.tt_id) == (Action.DELETE, "1001", "anna", "5")


def test_leaver_waits_when_delete_and_lock_are_off_but_is_missing() -> None:
    leaver = person("1001", "anna", active=False)
    links = owned(("1001", "5"), missing_runs=9)
    result = run([leaver], snap(tt_user("5", ANNA)), links, Policy(lock_leavers=False))
    assert result.operations == ()
    assert result.missing_keys == frozenset({"1001"})


def test_vanished_owned_user_is_deleted_as_no_longer_in_source() -> None:
    result = run(
        [BOB],
        snap(tt_user("5", ANNA), tt_user("6", BOB)),
        owned(("1001", "5"), ("1002", "6")),
        DELETING,
    )
    op = only_op(result)
    assert (op.action, op.key, op.tt_id, op.reason) == (
        Action.DELETE,
        "1001",
        "5",
        "no longer in source",
    )
    assert result.missing_keys == frozenset({"1001"})
    assert result.unchanged == 1


def test_present_active_owned_user_is_never_missing() -> None:
    user = tt_user("5", ANNA, username="renamed")
    result = run(
        [ANNA, BOB],
        snap(user, tt_user("6", BOB, lastName="X")),
        owned(("1001", "5"), ("1002", "6")),
    )
    assert result.missing_keys == frozenset()


def test_stale_link_is_reported_and_person_created_again() -> None:
    result = run([ANNA], {}, owned(("1001", "5")), DELETING)
    assert result.stale_keys == frozenset({"1001"})
    assert [op.action for op in result.operations] == [Action.CREATE]
    assert result.missing_keys == frozenset()


def test_stale_link_is_readopted_when_the_user_reappears_under_another_id() -> None:
    result = run([ANNA], snap(tt_user("9", ANNA)), owned(("1001", "5")))
    assert result.stale_keys == frozenset({"1001"})
    assert [(op.action, op.tt_id) for op in result.operations] == [(Action.ADOPT, "9")]


def test_person_skipped_for_bad_data_is_neither_deleted_nor_missing() -> None:
    # The mapping skipped ANNA's record (say, a broken email) but kept her key: she is still
    # employed, so her owned user must survive until HR fixes the record.
    result = plan(
        [],
        snap(tt_user("7", ANNA)),
        owned((ANNA.key, "7")),
        DELETING,
        match_on=MATCH_ON,
        now=NOW,
        held_keys=frozenset({ANNA.key}),
    )
    assert result.operations == ()
    assert result.missing_keys == frozenset()


def test_key_shared_with_an_invalid_record_is_a_duplicate_key_conflict() -> None:
    result = plan(
        [ANNA],
        snap(tt_user("7", ANNA)),
        owned((ANNA.key, "7")),
        DELETING,
        match_on=MATCH_ON,
        now=NOW,
        held_keys=frozenset({ANNA.key}),
    )
    assert result.operations == ()
    assert kinds(result) == [(ANNA.key, ConflictKind.DUPLICATE_KEY)]
    assert "invalid source record" in result.conflicts[0].reason


def test_stale_link_of_vanished_person_is_reported() -> None:
    result = run([], {}, owned(("1001", "5")), DELETING)
    assert result.stale_keys == frozenset({"1001"})
    assert (result.operations, result.missing_keys) == ((), frozenset())


def test_stale_link_of_unowned_leaver_is_reported_and_nothing_else() -> None:
    leaver = person("1001", "anna", active=False)
    result = run([leaver], {}, owned(("1001", "5")), DELETING)
    assert result.stale_keys == frozenset({"1001"})
    assert (result.operations, result.missing_keys) == ((), frozenset())


# -- conflicts in the source ---------------------------------------------------------------------


def test_duplicate_key_leaves_both_people_out() -> None:
    twin = person("1001", "anna2", origin="people.csv:9")
    result = run([ANNA, twin, BOB])
    assert kinds(result) == [("1001", ConflictKind.DUPLICATE_KEY)] * 2
    assert {c.username for c in result.conflicts} == {"anna", "anna2"}
    assert "people.csv:1001, people.csv:9" in result.conflicts[0].reason
    assert [(op.action, op.key) for op in result.operations] == [(Action.CREATE, "1002")]


def test_duplicate_username_leaves_both_people_out() -> None:
    result = run([ANNA, person("1003", "ANNA"), BOB])
    assert kinds(result) == [
        ("1001", ConflictKind.DUPLICATE_USERNAME),
        ("1003", ConflictKind.DUPLICATE_USERNAME),
    ]
    assert [op.key for op in result.operations] == ["1002"]


def test_duplicate_username_counts_leavers_too() -> None:
    result = run([person("1001", "anna", active=False), person("1003", "anna")])
    assert [kind for _key, kind in kinds(result)] == [ConflictKind.DUPLICATE_USERNAME] * 2
    assert result.operations == ()


def test_duplicate_key_group_is_not_also_a_username_conflict() -> None:
    result = run([ANNA, person("1001", "bob"), BOB])
    assert kinds(result) == [("1001", ConflictKind.DUPLICATE_KEY)] * 2
    assert [(op.action, op.key) for op in result.operations] == [(Action.CREATE, "1002")]


def test_conflicted_person_is_not_deleted() -> None:
    leaver = person("1001", "anna", active=False)
    twin = person("1001", "anna2", active=False)
    links = owned(("1001", "5"), missing_runs=3)
    result = run([leaver, twin], snap(tt_user("5", ANNA)), links, DELETING)
    assert result.operations == ()
    assert result.missing_keys == frozenset()
    assert result.stale_keys == frozenset()
    assert len(result.conflicts) == 2


def test_conflicted_person_with_stale_link_is_not_stale() -> None:
    result = run([ANNA, person("1001", "x")], {}, owned(("1001", "5")))
    assert result.stale_keys == frozenset()


# -- protected users ------------------------------------------------------------------------------


PROTECTED = Policy(delete=True, protected=frozenset({"anna"}))


@pytest.mark.parametrize(
    ("desired", "user"),
    [
        ([person("1001", "anna", lastName="New")], tt_user("5", ANNA)),
        ([person("1001", "anna", active=False)], tt_user("5", ANNA)),
        ([person("1001", "bob")], tt_user("5", ANNA)),
        ([person("1001", "Anna", enabled=False)], tt_user("5", ANNA, enabled=False)),
        ([], tt_user("5", ANNA)),
    ],
    ids=["changed", "leaver", "renamed", "disabled", "vanished"],
)
def test_protected_user_is_never_updated_or_deleted(
    desired: list[DesiredUser], user: TimeTrackUser
) -> None:
    policy = Policy(delete=True, on_rename="recreate", protected=frozenset({"anna"}))
    result = run(desired, snap(user), owned(("1001", "5")), policy)
    assert result.operations == ()
    assert [(s.key, s.reason) for s in result.skipped] == [("1001", "protected user")]


def test_protected_by_source_username_is_skipped() -> None:
    user = tt_user("5", ANNA, username="anna.old")
    policy = Policy(delete=True, on_rename="recreate", protected=frozenset({"anna"}))
    result = run([ANNA], snap(user), owned(("1001", "5")), policy)
    assert result.operations == ()
    assert [s.reason for s in result.skipped] == ["protected user"]


def test_protected_unowned_user_is_not_adopted() -> None:
    user = tt_user("5", person("1001", "Anna"), lastName="Old")
    result = run([person("1001", "bob")], snap(user), policy=PROTECTED)
    assert result.operations == ()
    assert [s.reason for s in result.skipped] == ["protected user"]


# -- unowned users: adoption ----------------------------------------------------------------------


def test_unowned_user_with_matching_key_is_adopted_with_update() -> None:
    user = tt_user("5", ANNA, username="Anna", lastName="Old", personalNumber="001001")
    result = run([ANNA], snap(user))
    assert [(op.action, op.tt_id, op.username) for op in result.operations] == [
        (Action.ADOPT, "5", "Anna"),
        (Action.UPDATE, "5", "Anna"),
    ]
    assert result.operations[0].changes == {}
    assert result.operations[1].changes == {"lastName": ("Old", "Doe")}
    assert result.unchanged == 0


def test_unowned_user_with_same_fields_is_adopted_without_update() -> None:
    result = run([ANNA], snap(tt_user("5", ANNA, lastName="Old")), policy=Policy(update=False))
    assert [op.action for op in result.operations] == [Action.ADOPT]


def test_adopt_existing_off_is_a_not_adopted_conflict() -> None:
    result = run([ANNA], snap(tt_user("5", ANNA)), policy=Policy(adopt_existing=False))
    assert result.operations == ()
    assert kinds(result) == [("1001", ConflictKind.NOT_ADOPTED)]
    assert "set adopt_existing: true" in result.conflicts[0].reason


def test_user_owned_by_another_job_is_never_adopted() -> None:
    result = run([ANNA], snap(tt_user("5", ANNA)), other_owned=frozenset({"5"}))
    assert result.operations == ()
    assert kinds(result) == [("1001", ConflictKind.OWNED_ELSEWHERE)]


def test_unowned_disabled_user_is_conflict() -> None:
    result = run([ANNA], snap(tt_user("5", ANNA, enabled=False)))
    assert result.operations == ()
    assert kinds(result) == [("1001", ConflictKind.DISABLED)]


def test_unowned_user_with_other_username_is_rename_conflict_even_with_recreate() -> None:
    user = tt_user("5", ANNA, username="anna.m")
    policy = Policy(delete=True, on_rename="recreate")
    result = run([ANNA], snap(user), policy=policy)
    assert result.operations == ()
    assert kinds(result) == [("1001", ConflictKind.RENAME)]


def test_several_timetrack_users_with_the_key_is_conflict() -> None:
    users = snap(tt_user("5", ANNA), tt_user("6", ANNA, username="anna2", personalNumber="01001"))
    result = run([ANNA], users)
    assert result.operations == ()
    assert kinds(result) == [("1001", ConflictKind.DUPLICATE_KEY)]
    assert result.conflicts[0].reason.startswith("2 TimeTrack users match")


def test_matching_user_linked_to_another_key_is_conflict() -> None:
    # TimeTrack user 5 was re-numbered behind our back: it still belongs to key 1002.
    user = tt_user("5", BOB, personalNumber="1001")
    result = run([ANNA], snap(user), owned(("1002", "5")))
    assert kinds(result)[0] == ("1001", ConflictKind.DUPLICATE_KEY)
    assert "links it to key 1002" in result.conflicts[0].reason
    assert not [op for op in result.operations if op.key == "1001"]


def test_timetrack_users_without_key_never_match() -> None:
    nobody = tt_user("5", person("", "x"), personalNumber=None)
    result = run([person("", "anna")], snap(nobody))
    assert [op.action for op in result.operations] == [Action.CREATE]


# -- match_on variants -----------------------------------------------------------------------------


def test_match_on_username_matches_casefolded() -> None:
    wanted = DesiredUser(
        match_key("username", "Anna"), dict(ANNA.fields, username="Anna"), True, "x"
    )
    user = tt_user("5", ANNA, username="ANNA", personalNumber="other")
    result = run([wanted], snap(user), match_on="username")
    assert [(op.action, op.tt_id) for op in result.operations] == [
        (Action.ADOPT, "5"),
        (Action.UPDATE, "5"),
    ]


def test_match_on_email_ignores_case() -> None:
    wanted = DesiredUser(match_key("email", "Anna@Example.com"), ANNA.fields, True, "x")
    user = tt_user("5", ANNA, email="ANNA@example.COM")
    result = run([wanted], snap(user), match_on="email")
    assert [op.action for op in result.operations] == [Action.ADOPT]


# -- order ------------------------------------------------------------------------------------


def test_operations_are_ordered_adopt_create_update_delete_then_key() -> None:
    desired = [
        person("4", "dora", active=False),
        person("3", "carl", lastName="New"),
        person("2", "bert"),
        person("1", "anna"),
        person("0", "otto"),
    ]
    users = snap(
        tt_user("10", desired[0]),
        tt_user("11", person("3", "carl")),
        tt_user("12", desired[4]),
        tt_user("13", person("9", "zed")),
    )
    links = owned(("4", "10"), ("3", "11"), ("9", "13"))
    result = run(reversed(desired), users, links, DELETING)
    assert [(op.action, op.key) for op in result.operations] == [
        (Action.ADOPT, "0"),
        (Action.CREATE, "1"),
        (Action.CREATE, "2"),
        (Action.UPDATE, "3"),
        (Action.DELETE, "4"),
        (Action.DELETE, "9"),
    ]


def test_conflicts_and_skipped_are_sorted() -> None:
    desired = [
        person("3", "x"),
        person("3", "y"),
        person("1", "z"),
        person("1", "w"),
        person("2", "api"),
    ]
    result = run(desired, policy=Policy(protected=frozenset({"api"}), create=False))
    assert [c.key for c in result.conflicts] == ["1", "1", "3", "3"]
    assert [c.username for c in result.conflicts] == ["w", "z", "x", "y"]
    assert [s.origin for s in result.skipped] == ["people.csv:2"]

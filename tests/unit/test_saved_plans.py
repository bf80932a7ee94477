"""Saved plans: the file round-trips, bad files are named, stale operations are found (pure)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.config.durations import describe_duration
from sync.errors import UsageError
from sync.model import Action, GuardVerdict, Link, Offboarding, OffboardingChange, Operation
from sync.model import TimeTrackUser as User
from sync.plans.checks import stale_operations
from sync.plans.document import PlannedOperation, SavedPlan, read_plan, request_of, write_plan

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FIELDS = {"firstName": "Ann", "lastName": "Lee", "email": "ann@example.com", "admin": False}
ANN = User("7", "ann", True, FIELDS)


def link(key: str = "k1", tt_id: str = "7") -> Link:
    return Link(key=key, tt_id=tt_id, username="ann", origin="created")


def update_ann() -> PlannedOperation:
    op = Operation(Action.UPDATE, "k1", "ann", "7", {"lastName": ("Lee", "Lee-Smith")})
    return PlannedOperation(op, ANN, "hash-1")


def create(username: str = "bob", key: str = "k2", *, recreate: bool = False) -> PlannedOperation:
    op = Operation(Action.CREATE, key, username, None, {"username": (None, username)}, "", recreate)
    return PlannedOperation(op, None, "hash-2")


def saved(*operations: PlannedOperation) -> SavedPlan:
    return SavedPlan("p1", "hr", NOW, "sha256:c", "sha256:s", operations)


def test_a_plan_survives_the_file_whole(tmp_path: Path) -> None:
    lock = Operation(Action.LOCK, "k3", "cy", "9", {"admin": (True, False)}, "left")
    delete = Operation(Action.DELETE, "k3", "cy", "9", reason="left", fallback=lock)
    plan = SavedPlan(
        "p1",
        "hr",
        NOW,
        "sha256:c",
        "sha256:s",
        (update_ann(), create(), PlannedOperation(delete, User("9", "cy", True, {}), None)),
        offboarding=(OffboardingChange("k4", "di", Offboarding.LEAVING, "grace until Friday"),),
        missing_keys=frozenset({"k3", "k4"}),
        stale_keys=frozenset({"k5"}),
        guards=(GuardVerdict("max_deletes", True, False, "1 user, more than 0"),),
    )
    path = tmp_path / "plan.json"
    write_plan(plan, path)
    assert read_plan(path) == plan
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no scratch file left


def test_each_operation_names_the_request_it_will_make() -> None:
    assert request_of(update_ann().operation) == {
        "method": "PUT",
        "path": "users/7",
        "fields": {"lastName": "Lee-Smith"},
    }
    made = request_of(create().operation)
    assert made is not None and made["method"] == "POST" and made["generated"] == ["password"]
    assert "password" not in made["fields"]
    adopt = Operation(Action.ADOPT, "k1", "ann", "7")
    assert request_of(adopt) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not json", "is not a plan file: not JSON"),
        ('{"format": "something else"}', 'is not a plan file (no "format"'),
        ('{"format": "timetrack-sync plan", "version": 9}', "of format version 9"),
        ('{"format": "timetrack-sync plan", "version": 1, "job": "hr"}', "was it edited?"),
    ],
)
def test_a_file_that_is_not_a_plan_says_what_is_wrong(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(text)
    with pytest.raises(UsageError, match="plan") as caught:
        read_plan(path)
    assert expected in str(caught.value) and str(path) in str(caught.value)


def test_an_edited_operation_is_refused_not_guessed(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    write_plan(saved(update_ann()), path)
    doc = json.loads(path.read_text())
    doc["operations"][0]["action"] = "promote"
    path.write_text(json.dumps(doc))
    with pytest.raises(UsageError, match="was it edited"):
        read_plan(path)


def test_nothing_is_stale_while_timetrack_looks_as_planned() -> None:
    plan = saved(update_ann(), create())
    assert stale_operations(plan, {"7": ANN}, {"k1": link()}) == []


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ({}, "TimeTrack user 7 is gone"),
        ({"7": User("7", "ann", False, FIELDS)}, "enabled True -> False"),
        ({"7": User("7", "ann", True, {**FIELDS, "email": "x@y.z"})}, "email 'ann@example.com'"),
        ({"7": User("7", "ann2", True, FIELDS)}, "username 'ann' -> 'ann2'"),
    ],
)
def test_a_change_to_the_planned_user_makes_its_operation_stale(
    now: dict[str, User], expected: str
) -> None:
    [problem] = stale_operations(saved(update_ann()), now, {"k1": link()})
    assert problem.startswith("update user ann (key k1)") and expected in problem


def test_a_field_timetrack_lists_differently_but_means_the_same_is_not_a_change() -> None:
    same = User("7", "ANN", True, {**FIELDS, "email": " Ann@Example.com", "admin": None})
    assert stale_operations(saved(update_ann()), {"7": same}, {"k1": link()}) == []


def test_a_link_that_changed_makes_the_operation_stale() -> None:
    [problem] = stale_operations(saved(update_ann()), {"7": ANN}, {"k1": link(tt_id="8")})
    assert "its link changed" in problem


def test_a_create_is_stale_when_its_username_was_taken_or_its_person_linked() -> None:
    bob = User("12", "Bob", True, {})
    [taken] = stale_operations(saved(create()), {"12": bob}, {})
    assert "username 'bob' is now taken by TimeTrack user 12" in taken
    [linked] = stale_operations(saved(create()), {}, {"k2": link("k2", "12")})
    assert "now linked to TimeTrack user 12" in linked


def test_a_planned_delete_frees_its_username_for_the_recreate_of_the_same_plan() -> None:
    delete = Operation(Action.DELETE, "k1", "ann", "7", recreate=True)
    plan = saved(PlannedOperation(delete, ANN, None), create("ann", "k1", recreate=True))
    assert stale_operations(plan, {"7": ANN}, {"k1": link()}) == []


def test_an_adopt_is_stale_once_someone_else_linked_the_person() -> None:
    adopt = PlannedOperation(Operation(Action.ADOPT, "k1", "ann", "7"), ANN, "h")
    assert stale_operations(saved(adopt), {"7": ANN}, {}) == []
    [problem] = stale_operations(saved(adopt), {"7": ANN}, {"k1": link()})
    assert "now linked" in problem


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(hours=24), "1d"),
        (timedelta(days=1, hours=2, minutes=3), "1d 2h"),
        (timedelta(minutes=90), "1h 30m"),
    ],
)
def test_durations_read_the_way_the_config_writes_them(span: timedelta, text: str) -> None:
    assert describe_duration(span) == text


def test_the_create_of_a_person_whose_user_an_admin_deleted_is_not_stale() -> None:
    # The link of a user deleted in TimeTrack goes with the run: the plan creates the person anew.
    plan = dataclasses.replace(saved(create("ann", "k1")), stale_keys=frozenset({"k1"}))
    assert stale_operations(plan, {}, {"k1": link()}) == []
    [problem] = stale_operations(plan, {"7": ANN}, {"k1": link()})  # the user came back
    assert "now linked to TimeTrack user 7" in problem

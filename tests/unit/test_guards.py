"""Unit tests for sync.guards: source-size guards and mass-delete guards."""

from __future__ import annotations

import pytest

from sync.guards import apply_delete_guards, check_invalid_share, check_source
from sync.model import Action, GuardVerdict, Operation, Plan, Policy


def by_name(verdicts: tuple[GuardVerdict, ...]) -> dict[str, GuardVerdict]:
    """Verdicts keyed by guard name."""
    return {v.name: v for v in verdicts}


# -- source guards ---------------------------------------------------------------------------------


def test_source_below_min_records_trips_and_names_the_config_key() -> None:
    verdict = by_name(check_source(0, None, Policy()))["min_source_records"]
    assert verdict.tripped
    assert not verdict.overridden
    assert verdict.message == (
        "source returned 0 records, fewer than jobs[].policy.min_source_records = 1"
    )


def test_source_at_min_records_passes() -> None:
    verdict = by_name(check_source(5, None, Policy(min_source_records=5)))["min_source_records"]
    assert not verdict.tripped


def test_source_shrink_over_limit_trips_with_figures() -> None:
    verdict = by_name(check_source(60, 100, Policy()))["max_source_shrink_percent"]
    assert verdict.tripped
    assert not verdict.overridden
    assert "60 records, 40.0% fewer than the 100" in verdict.message
    assert "jobs[].policy.max_source_shrink_percent = 30" in verdict.message


@pytest.mark.parametrize(
    ("count", "tripped"), [(70, False), (69, True), (100, False), (500, False)]
)
def test_source_shrink_limit_boundary(count: int, tripped: bool) -> None:
    verdict = by_name(check_source(count, 100, Policy()))["max_source_shrink_percent"]
    assert verdict.tripped is tripped


@pytest.mark.parametrize("last_count", [None, 0])
def test_source_shrink_without_earlier_count_passes(last_count: int | None) -> None:
    verdicts = check_source(1, last_count, Policy())
    assert [v.name for v in verdicts] == ["min_source_records", "max_source_shrink_percent"]
    assert not any(v.tripped for v in verdicts)


def test_source_guards_are_never_overridden() -> None:
    verdicts = check_source(0, 1000, Policy())
    assert all(v.tripped and not v.overridden for v in verdicts)


# -- delete guards ---------------------------------------------------------------------------------


def op(action: Action, key: str, *, recreate: bool = False) -> Operation:
    """An operation on user `key`."""
    tt_id = None if action is Action.CREATE else f"id{key}"
    return Operation(action, key, f"user{key}", tt_id, recreate=recreate)


def deletes(count: int) -> list[Operation]:
    """`count` plain deletes."""
    return [op(Action.DELETE, f"d{i}") for i in range(count)]


KEEP = [op(Action.ADOPT, "a"), op(Action.CREATE, "c"), op(Action.UPDATE, "u")]


def test_delete_guards_within_limits_keep_plan_and_report_untripped() -> None:
    plan = Plan(operations=(*KEEP, *deletes(2)))
    guarded = apply_delete_guards(plan, 100, Policy(), allow_mass_delete=False)
    assert guarded.operations == plan.operations
    assert [(v.name, v.tripped, v.overridden) for v in guarded.guards] == [
        ("max_deletes", False, False),
        ("max_delete_percent", False, False),
    ]


def test_max_deletes_drops_every_delete_but_keeps_creates_and_updates() -> None:
    plan = Plan(operations=(*KEEP, *deletes(3)))
    guarded = apply_delete_guards(
        plan, 10, Policy(max_deletes=2, max_delete_percent=100), allow_mass_delete=False
    )
    assert guarded.operations == tuple(KEEP)
    verdicts = by_name(guarded.guards)
    assert verdicts["max_deletes"].tripped
    assert not verdicts["max_deletes"].overridden
    assert (
        "3 users to lock or delete, more than jobs[].policy.max_deletes = 2"
        in verdicts["max_deletes"].message
    )
    assert "--allow-mass-delete" in verdicts["max_deletes"].message
    assert not verdicts["max_delete_percent"].tripped


def test_exactly_max_deletes_passes() -> None:
    plan = Plan(operations=tuple(deletes(2)))
    guarded = apply_delete_guards(
        plan, 10, Policy(max_deletes=2, max_delete_percent=100), allow_mass_delete=False
    )
    assert guarded.operations == plan.operations


def test_max_delete_percent_trips_on_share_of_owned_users() -> None:
    plan = Plan(operations=tuple(deletes(3)))
    guarded = apply_delete_guards(
        plan, 20, Policy(max_deletes=100, max_delete_percent=10), allow_mass_delete=False
    )
    assert guarded.operations == ()
    verdict = by_name(guarded.guards)["max_delete_percent"]
    assert verdict.tripped
    assert "3 users to lock or delete of 20 owned users (15.0%)" in verdict.message
    assert "jobs[].policy.max_delete_percent = 10" in verdict.message


def test_exactly_max_delete_percent_passes() -> None:
    plan = Plan(operations=tuple(deletes(2)))
    guarded = apply_delete_guards(plan, 20, Policy(max_delete_percent=10), allow_mass_delete=False)
    assert guarded.operations == plan.operations


def test_delete_percent_does_not_trip_without_owned_users() -> None:
    guarded = apply_delete_guards(Plan(), 0, Policy(), allow_mass_delete=False)
    assert not any(v.tripped for v in guarded.guards)


def test_allow_mass_delete_keeps_deletes_and_marks_verdicts_overridden() -> None:
    plan = Plan(operations=(*KEEP, *deletes(30)))
    guarded = apply_delete_guards(plan, 40, Policy(), allow_mass_delete=True)
    assert guarded.operations == plan.operations
    assert all(v.tripped and v.overridden for v in guarded.guards)
    assert all("allowed by --allow-mass-delete" in v.message for v in guarded.guards)


def test_mass_delete_guard_drops_the_create_half_of_recreate_pairs() -> None:
    pair = [op(Action.CREATE, "r", recreate=True), op(Action.DELETE, "r", recreate=True)]
    plan = Plan(operations=(*KEEP, *pair, *deletes(1)))
    guarded = apply_delete_guards(plan, 100, Policy(max_deletes=1), allow_mass_delete=False)
    assert guarded.operations == tuple(KEEP)


def test_recreate_deletes_count_towards_the_limits() -> None:
    pair = [op(Action.CREATE, "r", recreate=True), op(Action.DELETE, "r", recreate=True)]
    plan = Plan(operations=(*pair, *deletes(1)))
    guarded = apply_delete_guards(plan, 100, Policy(max_deletes=1), allow_mass_delete=False)
    assert by_name(guarded.guards)["max_deletes"].message.startswith("2 users to lock or delete")


def test_delete_guards_keep_earlier_verdicts_and_the_rest_of_the_plan() -> None:
    earlier = GuardVerdict("min_source_records", False, False, "ok")
    plan = Plan(
        operations=tuple(deletes(1)), unchanged=7, missing_keys=frozenset({"d0"}), guards=(earlier,)
    )
    guarded = apply_delete_guards(plan, 100, Policy(max_deletes=0), allow_mass_delete=False)
    assert guarded.guards[0] == earlier
    assert len(guarded.guards) == 3
    assert (guarded.unchanged, guarded.missing_keys) == (7, frozenset({"d0"}))


def test_invalid_share_over_the_limit_trips() -> None:
    verdict = check_invalid_share(100, 51, Policy(max_invalid_percent=50))
    assert verdict.tripped and not verdict.overridden
    assert "51 of 100 records (51.0%) are invalid" in verdict.message
    assert "max_invalid_percent" in verdict.message


def test_invalid_share_at_the_limit_passes() -> None:
    assert not check_invalid_share(100, 50, Policy(max_invalid_percent=50)).tripped
    assert not check_invalid_share(0, 0, Policy()).tripped

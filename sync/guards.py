"""Safety verdicts: a source that looks broken, and plans that would delete too many users.

Pure functions. `check_source` runs before planning and can never be overridden (the engine
raises `GuardError` when any verdict is tripped). `check_invalid_share` judges the mapped
records: when too many are invalid the plan is still shown, but no change of it is made.
`apply_delete_guards` runs on a finished plan and counts the distinct users it would lock or
delete (a broken export must not lock everyone any more than delete them): when a limit trips,
every lock and delete (and the create half of every rename-recreate pair, whose delete is
dropped with the rest) leaves the plan unless `--allow-mass-delete` is given. Untripped
verdicts are returned too, so the output can show every guard that ran.
"""

from __future__ import annotations

import dataclasses

from sync.model import OFFBOARDING_ACTIONS, Action, GuardVerdict, Operation, Plan, Policy

_OVERRIDE_HINT = (
    "no user is locked or deleted in this run; --allow-mass-delete lifts this limit, or approve"
    " exactly these changes with `plan --out` and `apply --allow-mass-delete`"
)
_OVERRIDDEN = "allowed by --allow-mass-delete"
DELETE_GUARDS = frozenset({"max_deletes", "max_delete_percent"})  # what the flag lifts


def _num(value: float) -> str:
    """A figure for a message: 10.0 -> "10", 12.5 -> "12.5"."""
    return f"{value:g}"


def check_source(
    record_count: int, last_count: int | None, policy: Policy
) -> tuple[GuardVerdict, ...]:
    """Verdicts on the size of the source read (every record counted, leavers included)."""
    return (_min_records(record_count, policy), _shrink(record_count, last_count, policy))


def check_invalid_share(record_count: int, invalid_count: int, policy: Policy) -> GuardVerdict:
    """Verdict on the share of records the mapping skipped as invalid (blocks the whole run)."""
    limit = policy.max_invalid_percent
    setting = f"jobs[].policy.max_invalid_percent = {_num(limit)}"
    share = invalid_count * 100 / record_count if record_count else 0.0
    figures = f"{invalid_count} of {record_count} records ({share:.1f}%) are invalid"
    if share > limit:
        message = f"{figures}, more than {setting}; no change is made in this run"
        return GuardVerdict("max_invalid_percent", True, False, message)
    return GuardVerdict("max_invalid_percent", False, False, f"{figures} ({setting})")


def _min_records(record_count: int, policy: Policy) -> GuardVerdict:
    minimum = policy.min_source_records
    setting = f"jobs[].policy.min_source_records = {minimum}"
    if record_count < minimum:
        message = f"source returned {record_count} records, fewer than {setting}"
        return GuardVerdict("min_source_records", True, False, message)
    return GuardVerdict(
        "min_source_records", False, False, f"source returned {record_count} records ({setting})"
    )


def _shrink(record_count: int, last_count: int | None, policy: Policy) -> GuardVerdict:
    limit = policy.max_source_shrink_percent
    setting = f"jobs[].policy.max_source_shrink_percent = {_num(limit)}"
    if not last_count:
        message = f"no earlier successful run with records to compare with ({setting})"
        return GuardVerdict("max_source_shrink_percent", False, False, message)
    shrink = max(0.0, (last_count - record_count) * 100 / last_count)
    figures = (
        f"source returned {record_count} records, {shrink:.1f}% fewer than the"
        f" {last_count} of the last successful run"
    )
    if record_count < last_count * (1 - limit / 100):
        return GuardVerdict(
            "max_source_shrink_percent", True, False, f"{figures}; more than {setting}"
        )
    return GuardVerdict("max_source_shrink_percent", False, False, f"{figures} ({setting})")


def apply_delete_guards(
    plan: Plan, owned_count: int, policy: Policy, *, allow_mass_delete: bool
) -> Plan:
    """Check the delete limits; drop locks and deletes when one trips and is not overridden."""
    deletes = len(plan.offboarded())
    verdicts = (
        _max_deletes(deletes, policy, allow_mass_delete),
        _max_delete_percent(deletes, owned_count, policy, allow_mass_delete),
    )
    operations = plan.operations
    if any(v.tripped for v in verdicts) and not allow_mass_delete:
        operations = tuple(op for op in operations if not _dropped_by_guard(op))
    return dataclasses.replace(plan, operations=operations, guards=plan.guards + verdicts)


def _dropped_by_guard(op: Operation) -> bool:
    # The create half of a recreate would clash with the username its dropped delete keeps.
    return op.action in OFFBOARDING_ACTIONS or (op.action is Action.CREATE and op.recreate)


def _verdict(name: str, tripped: bool, allow: bool, message: str) -> GuardVerdict:
    if tripped:
        message += f"; {_OVERRIDDEN}" if allow else f"; {_OVERRIDE_HINT}"
    return GuardVerdict(name, tripped, tripped and allow, message)


def _max_deletes(deletes: int, policy: Policy, allow: bool) -> GuardVerdict:
    setting = f"jobs[].policy.max_deletes = {policy.max_deletes}"
    tripped = deletes > policy.max_deletes
    relation = "more than" if tripped else "within"
    return _verdict(
        "max_deletes",
        tripped,
        allow,
        f"{deletes} users to lock or delete, {relation} {setting}",
    )


def _max_delete_percent(
    deletes: int, owned_count: int, policy: Policy, allow: bool
) -> GuardVerdict:
    setting = f"jobs[].policy.max_delete_percent = {_num(policy.max_delete_percent)}"
    if owned_count <= 0:
        message = f"{deletes} users to lock or delete, no owned users to compare with ({setting})"
        return _verdict("max_delete_percent", False, allow, message)
    share = deletes * 100 / owned_count
    tripped = share > policy.max_delete_percent
    relation = "more than" if tripped else "within"
    message = (
        f"{deletes} users to lock or delete of {owned_count} owned users ({share:.1f}%),"
        f" {relation} {setting}"
    )
    return _verdict("max_delete_percent", tripped, allow, message)


def held_by_delete_guards(plan: Plan) -> bool:
    """Whether a delete limit tripped without --allow-mass-delete (its locks and deletes wait)."""
    return any(v.tripped and not v.overridden and v.name in DELETE_GUARDS for v in plan.guards)

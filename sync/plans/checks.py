"""What `apply` checks before it writes: the config, the plan's age, and TimeTrack as it is now.

Pure functions over the saved plan, the config and the fresh snapshot. An operation is stale
when the user it touches changed since the plan (a managed field, `enabled`, gone), when its
link changed, or, for a create, when the person got linked or its username got taken: then
nothing of the plan is applied, because a reviewer approved the plan as a whole.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sync.config import AppConfig, JobConfig
from sync.config.durations import describe_duration
from sync.errors import PlanError
from sync.model import (
    MANAGED_FIELDS,
    Action,
    DesiredUser,
    Link,
    Skipped,
    TimeTrackUser,
    normalize_field,
)
from sync.plans.document import PlannedOperation, SavedPlan

_NEW_PLAN = "make a new plan with `timetrack-sync plan --out FILE`, review it, and apply that"


def config_hash(config: AppConfig, job: JobConfig) -> str:
    """A fingerprint of what decides a job's plan: its section and the `timetrack` section."""
    # Secrets dump as "**********": rotating one does not make a plan stale.
    decisive = {
        "timetrack": config.timetrack.model_dump(mode="json"),
        "job": job.model_dump(mode="json"),
    }
    return _sha256(decisive)


def source_fingerprint(desired: Iterable[DesiredUser], skipped: Iterable[Skipped]) -> str:
    """A fingerprint of the records a plan was made from (mapped, and skipped with why)."""
    # In the order of their text: a key the source holds twice sorts too.
    records = sorted(_json([d.key, d.fields, d.active, d.origin]) for d in desired)
    left_out = sorted(_json([s.origin, s.key, s.reason]) for s in skipped)
    return _sha256({"desired": records, "skipped": left_out})


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _sha256(value: Any) -> str:
    return "sha256:" + hashlib.sha256(_json(value).encode()).hexdigest()


def check_applicable(
    saved: SavedPlan, config: AppConfig, job: JobConfig, max_age: timedelta, now: datetime
) -> None:
    """Refuse a plan made from another config, or older than `max_age`."""
    if saved.config_hash != config_hash(config, job):
        raise PlanError(
            f"the config changed since plan {saved.plan_id} was made (the `timetrack` section or"
            f" job {job.name!r}'s); nothing was applied",
            hint=_NEW_PLAN,
        )
    age = now - saved.created_at
    if age > max_age:
        raise PlanError(
            f"plan {saved.plan_id} was made {describe_duration(age)} ago, at"
            f" {saved.created_at.isoformat(timespec='seconds')}; plans older than"
            f" jobs[].policy.plan_max_age = {describe_duration(max_age)} are refused",
            hint=_NEW_PLAN,
        )


def applied_before(saved: SavedPlan, applied_at: datetime, run_id: int) -> PlanError:
    """The error for a second `apply` of one plan."""
    return PlanError(
        f"plan {saved.plan_id} was already applied, by run {run_id} at"
        f" {applied_at.isoformat(timespec='seconds')}; a plan is applied at most once",
        hint=f"see `timetrack-sync audit --run {run_id}`; for further changes, {_NEW_PLAN}",
    )


def stale_operations(
    saved: SavedPlan, snapshot: Mapping[str, TimeTrackUser], links: Mapping[str, Link]
) -> list[str]:
    """Why each planned operation no longer fits TimeTrack as listed now (empty: none)."""
    # A planned delete frees its username for the create of the same plan (a recreate).
    deleting = {p.operation.tt_id for p in saved.operations if p.operation.action is Action.DELETE}
    by_username = {
        user.username.casefold(): user for user in snapshot.values() if user.id not in deleting
    }
    stale = []
    for planned in saved.operations:
        if planned.operation.action is Action.CREATE:
            problem = _create_problem(planned, by_username, _live_links(saved, snapshot, links))
        else:
            problem = _change_problem(planned, snapshot, links)
        if problem:
            stale.append(f"{planned.operation.describe()}: {problem}")
    return stale


def stale_error(saved: SavedPlan, stale: list[str]) -> PlanError:
    """The error for a plan some of whose operations are stale."""
    listed = "; ".join(stale[:20]) + (f"; and {len(stale) - 20} more" if len(stale) > 20 else "")
    return PlanError(
        f"{len(stale)} of the {len(saved.operations)} operations of plan {saved.plan_id} no"
        f" longer fit TimeTrack, so nothing was applied: {listed}",
        hint=_NEW_PLAN,
    )


def _live_links(
    saved: SavedPlan, snapshot: Mapping[str, TimeTrackUser], links: Mapping[str, Link]
) -> Mapping[str, Link]:
    """The links but those the plan drops: stale ones (their user gone) whose user is still gone."""
    return {
        key: link
        for key, link in links.items()
        if key not in saved.stale_keys or link.tt_id in snapshot
    }


def _create_problem(
    planned: PlannedOperation, by_username: Mapping[str, TimeTrackUser], links: Mapping[str, Link]
) -> str | None:
    op = planned.operation
    link = links.get(op.key)
    if link is not None and not op.recreate:
        return f"the person is now linked to TimeTrack user {link.tt_id}"
    taken = by_username.get(op.username.casefold())
    if taken is not None:
        return f"username {op.username!r} is now taken by TimeTrack user {taken.id}"
    return None


def _change_problem(
    planned: PlannedOperation, snapshot: Mapping[str, TimeTrackUser], links: Mapping[str, Link]
) -> str | None:
    op = planned.operation
    link = links.get(op.key)
    if op.action is Action.ADOPT:
        if link is not None:
            return f"the person is now linked to TimeTrack user {link.tt_id}"
    elif link is None or link.tt_id != op.tt_id:
        return "the job no longer owns this user as planned (its link changed)"
    now = snapshot.get(op.tt_id or "")
    if now is None:
        return f"TimeTrack user {op.tt_id} is gone"
    if planned.against is None:
        return None
    changed = _changed_fields(planned.against, now)
    if changed:
        return "changed in TimeTrack since the plan: " + ", ".join(changed)
    return None


def _changed_fields(then: TimeTrackUser, now: TimeTrackUser) -> list[str]:
    changed = []
    if then.enabled != now.enabled:
        changed.append(f"enabled {then.enabled} -> {now.enabled}")
    for name in MANAGED_FIELDS:
        before = then.username if name == "username" else then.get(name)
        after = now.username if name == "username" else now.get(name)
        if normalize_field(name, before) != normalize_field(name, after):
            changed.append(f"{name} {before!r} -> {after!r}")
    return changed

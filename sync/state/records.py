"""Rows of the state database as plain values: runs and journaled operations."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping

from sync.model import Action, Link, Offboarding, Operation, TimeTrackUser
from sync.report import RunStatus
from sync.state.tables import links


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run of a job, as recorded."""

    id: int
    job: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    summary: Mapping[str, int] = field(default_factory=dict)
    failed: int = 0  # operations that failed
    source_records: int | None = None
    error: str | None = None
    pid: int = 0
    host: str = ""

    @property
    def duration_seconds(self) -> float | None:
        """Wall time of the run, or None while it runs."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class OperationRecord:
    """One journaled operation: what was (to be) done, and how it ended."""

    id: int
    run_id: int
    job: str
    action: Action
    match_key: str
    username: str
    tt_id: str | None
    changes: Mapping[str, tuple[Any, Any]]  # field -> (old, new); never a password
    reason: str
    status: str  # pending | done | failed | refused
    http_status: int | None
    error: str | None
    attempts: int
    created_at: datetime
    finished_at: datetime | None

    def to_operation(self) -> Operation:
        """The operation as the executor planned it (to resolve a pending one after a crash)."""
        return Operation(
            action=self.action,
            key=self.match_key,
            username=self.username,
            tt_id=self.tt_id,
            changes=dict(self.changes),
            reason=self.reason,
        )


# One encoder for every row: json.dumps() with options builds a new one per call (slow at 100k).
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def without_password(values: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping minus any key named password (defensive: never stored, whatever is passed)."""
    if any(len(k) == 8 and k.casefold() == "password" for k in values):
        return {k: v for k, v in values.items() if k.casefold() != "password"}
    return dict(values)


def dumps(value: Any) -> str:
    """JSON text for a column."""
    return _ENCODER.encode(value)


def changes_json(changes: Mapping[str, tuple[Any, Any]]) -> str:
    """JSON {field: [old, new]} of an operation's changes, without a password."""
    return dumps({k: [old, new] for k, (old, new) in without_password(changes).items()})


def user_row(user: TimeTrackUser) -> dict[str, Any]:
    """The `tt_users` row of a TimeTrack user, without `fetched_at`."""
    return {
        "id": user.id,
        "username": user.username,
        "username_cf": user.username.casefold(),
        "enabled": bool(user.enabled),
        "data": dumps(without_password(user.fields)),
    }


def run_record(row: RowMapping) -> RunRecord:
    """A `runs` row as a RunRecord."""
    return RunRecord(
        id=row["id"],
        job=row["job"],
        dry_run=bool(row["dry_run"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        status=row["status"],
        summary=json.loads(row["summary"]) if row["summary"] else {},
        failed=row["failed"],
        source_records=row["source_records"],
        error=row["error"],
        pid=row["pid"],
        host=row["host"],
    )


def operation_record(row: RowMapping) -> OperationRecord:
    """An `operations` row as an OperationRecord."""
    changes = {k: (v[0], v[1]) for k, v in json.loads(row["changes"]).items()}
    return OperationRecord(
        id=row["id"],
        run_id=row["run_id"],
        job=row["job"],
        action=Action(row["action"]),
        match_key=row["match_key"],
        username=row["username"],
        tt_id=row["tt_id"],
        changes=changes,
        reason=row["reason"],
        status=row["status"],
        http_status=row["http_status"],
        error=row["error"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
    )


# The `links` columns a Link is made of, in the order of its fields (what load_links selects:
# not the bookkeeping columns, whose datetimes cost more to read than the rest of the row).
LINK_COLUMNS = tuple(links.c[f.name] for f in fields(Link))


def link_record(row: Sequence[Any]) -> Link:
    """A row of LINK_COLUMNS as a Link."""
    key, tt_id, username, origin, desired_hash, runs, since, state, locked, refused, why = row
    return Link(
        key=key,
        tt_id=tt_id,
        username=username,
        origin=origin,
        desired_hash=desired_hash,
        missing_runs=runs,
        missing_since=since,
        offboarding=Offboarding(state),
        locked_at=locked,
        delete_refused_at=refused,
        delete_refusal=why,
    )

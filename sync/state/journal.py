"""The journal's rows: operations written ahead as `pending`, and how each one ended.

An outcome is a value (`Done`, `Failed`, `Refused`), so that the executor can record the
outcomes of several finished calls in one transaction; each still changes its operation row
together with its link and snapshot rows. The statements are built once and executed with
bound rows (a journal of 100,000 operations is the bulk path).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from sync.model import Action, Offboarding, Operation, TimeTrackUser
from sync.state.apply import apply_done, set_offboarding
from sync.state.records import changes_json
from sync.state.tables import operations

ERROR_MAX = 2000  # characters of an error message kept in the journal

_INSERT = sa.insert(operations).returning(operations.c.id)
# The columns to set come from each row's keys; `op_id` names the row.
_FINISH = sa.update(operations).where(operations.c.id == sa.bindparam("op_id"))


@dataclass(frozen=True, slots=True)
class Done:
    """An operation that took effect, with what it changes in links and the snapshot."""

    op_id: int
    job: str
    op: Operation
    user: TimeTrackUser | None  # the created user (required for a create)
    http_status: int | None
    attempts: int
    desired_hash: str | None


@dataclass(frozen=True, slots=True)
class Failed:
    """An operation that did not take effect."""

    op_id: int
    http_status: int | None
    error: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Refused:
    """A delete TimeTrack refused: its user is retained (locked, queued for the admin)."""

    op_id: int
    job: str
    op: Operation
    http_status: int
    error: str


Outcome = Done | Failed | Refused


def insert_pending(
    conn: sa.Connection, run_id: int, job: str, ops: Iterable[Operation], now: datetime
) -> list[int]:
    """Insert `pending` rows for `ops`, in order; returns their ids."""
    ids = []
    for op in ops:
        row = {
            "run_id": run_id,
            "job": job,
            "action": op.action.value,
            "match_key": op.key,
            "username": op.username,
            "username_cf": op.username.casefold(),
            "tt_id": op.tt_id,
            "changes": changes_json(op.changes),
            "reason": op.reason,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
        }
        ids.append(int(conn.execute(_INSERT, row).scalar_one()))
    return ids


def record(conn: sa.Connection, outcome: Outcome, now: datetime) -> bool:
    """Finish the operation row of `outcome` and apply its change; False if there is no row."""
    values: dict[str, Any] = {"op_id": outcome.op_id, "finished_at": now}
    if isinstance(outcome, Done):
        user = outcome.user
        if outcome.op.action is Action.CREATE and user is None:
            raise ValueError("a finished create needs the created user")
        tt_id = user.id if user is not None else outcome.op.tt_id
        values.update(status="done", http_status=outcome.http_status, tt_id=tt_id)
        values.update(attempts=outcome.attempts)
    elif isinstance(outcome, Failed):
        values.update(status="failed", http_status=outcome.http_status, attempts=outcome.attempts)
        values.update(error=outcome.error[:ERROR_MAX])
    else:
        values.update(status="refused", http_status=outcome.http_status, attempts=1)
        values.update(error=outcome.error[:ERROR_MAX])
    if conn.execute(_FINISH, values).rowcount != 1:
        return False
    if isinstance(outcome, Done):
        op, user, desired = outcome.op, outcome.user, outcome.desired_hash
        if op.action is Action.LOCK and outcome.http_status == 404:
            op = dataclasses.replace(op, action=Action.DELETE)  # gone: unlinked as by a delete
        apply_done(conn, outcome.job, op, user=user, desired_hash=desired, now=now)
    elif isinstance(outcome, Refused):
        set_offboarding(
            conn,
            outcome.job,
            outcome.op.key,
            Offboarding.RETAINED,
            now,
            delete_refused_at=now,
            delete_refusal=outcome.error[:ERROR_MAX],
        )
    return True

"""Resolves journal rows left `pending`: by a run that crashed between a call and its result, or
by a write the API never answered clearly (it may have taken effect; see sync.executor).

It runs at the start of the next real run, after the snapshot was refreshed, so it judges each
operation by what TimeTrack shows now: a create whose username exists took effect (it is linked,
so the run never creates a duplicate); a delete whose user is gone took effect; an update took
effect when the user carries its new values. Anything else is marked failed, and the fresh plan
redoes it.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from sync.model import Action, Operation, TimeTrackUser, normalize_field
from sync.state.store import OperationRecord, StateStore

log = structlog.get_logger(__name__)

INTERRUPTED = (
    "outcome unknown (the process ended or the API gave no clear answer); "
    "the next run found it had not taken effect"
)


def resolve_pending(store: StateStore, snapshot: Mapping[str, TimeTrackUser]) -> int:
    """Settle every pending journal row against the fresh snapshot; return how many."""
    pending = store.pending_operations()
    if not pending:
        return 0
    by_username = {user.username.casefold(): user for user in snapshot.values()}
    for record in pending:
        op = _operation_of(record)
        took_effect, user = _judge(op, snapshot, by_username)
        if took_effect:
            store.journal_done(
                record.id,
                record.job,
                op,
                user=user,
                http_status=None,
                attempts=0,
                desired_hash=None,
            )
        else:
            store.journal_failed(record.id, http_status=None, error=INTERRUPTED, attempts=0)
        log.warning(
            "pending_operation_resolved",
            op_id=record.id,
            action=op.action.value,
            username=op.username,
            took_effect=took_effect,
        )
    return len(pending)


def _operation_of(record: OperationRecord) -> Operation:
    changes = {name: (pair[0], pair[1]) for name, pair in (record.changes or {}).items()}
    return Operation(
        action=Action(record.action),
        key=record.match_key,
        username=record.username,
        tt_id=record.tt_id,
        changes=changes,
    )


def _judge(
    op: Operation,
    snapshot: Mapping[str, TimeTrackUser],
    by_username: Mapping[str, TimeTrackUser],
) -> tuple[bool, TimeTrackUser | None]:
    if op.action is Action.CREATE:
        user = by_username.get(op.username.casefold())
        return user is not None, user
    current = snapshot.get(op.tt_id or "")
    if op.action is Action.DELETE:
        return current is None or not current.enabled, None
    if op.action is Action.ADOPT:
        return current is not None, None
    if current is None:
        return False, None
    applied = all(
        normalize_field(name, current.get(name)) == normalize_field(name, new)
        for name, (_old, new) in op.changes.items()
    )
    return applied, None

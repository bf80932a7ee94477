"""Resolves journal rows left `pending`: by a run that crashed between a call and its result, or
by a write the API never answered clearly (it may have taken effect; see sync.executor).

The executor settles the writes it got no clear answer for at the end of its run, by looking
those users up (`look_up` + `settle`); what it cannot settle then (TimeTrack unreachable) and
what a crash left behind is settled by `resolve_pending`. That runs at the start of the next
real run, after the snapshot was refreshed, so it judges each
operation by what TimeTrack shows now: a create whose username exists took effect (it is linked,
so the run never creates a duplicate); a delete whose user is gone took effect; an update took
effect when the user carries its new values. A lock is never confirmed: its new password is not
listed, and its other values are what most users have anyway, so it is marked failed (it may
have taken effect) and the fresh plan locks again. Anything else is marked failed, and the
fresh plan redoes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import structlog

from sync.model import Action, Operation, TimeTrackUser, normalize_field
from sync.state.store import OperationRecord, StateStore
from sync.timetrack.client import TimeTrackClient

log = structlog.get_logger(__name__)

INTERRUPTED = (
    "outcome unknown (the process ended or the API gave no clear answer); "
    "the next run found it had not taken effect"
)
UNCONFIRMED_LOCK = (
    "outcome unknown (the process ended or the API gave no clear answer); a lock cannot be "
    "confirmed (TimeTrack does not list passwords), so the user is locked again"
)


def resolve_pending(store: StateStore, snapshot: Mapping[str, TimeTrackUser]) -> int:
    """Settle every pending journal row against the fresh snapshot; return how many."""
    pending = store.pending_operations()
    by_username = _by_username(snapshot)
    for record in pending:
        settle(store, record.id, record.job, _operation_of(record), snapshot, by_username)
    return len(pending)


def settle(
    store: StateStore,
    op_id: int,
    job: str,
    op: Operation,
    current: Mapping[str, TimeTrackUser],
    by_username: Mapping[str, TimeTrackUser] | None = None,
) -> bool:
    """Mark one pending operation done or failed by what TimeTrack shows; True if done."""
    index = by_username if by_username is not None else _by_username(current)
    took_effect, user = _judge(op, current, index)
    if took_effect:
        store.journal_done(
            op_id, job, op, user=user, http_status=None, attempts=0, desired_hash=None
        )
    else:
        error = UNCONFIRMED_LOCK if op.action is Action.LOCK else INTERRUPTED
        store.journal_failed(op_id, http_status=None, error=error, attempts=0)
    log.warning(
        "pending_operation_resolved",
        op_id=op_id,
        action=op.action.value,
        username=op.username,
        took_effect=took_effect,
    )
    return took_effect


def look_up(client: TimeTrackClient, ops: Iterable[Operation]) -> dict[str, TimeTrackUser]:
    """What TimeTrack shows now for the users some operations touched (by id or username)."""
    found: dict[str, TimeTrackUser] = {}
    for op in ops:
        user: TimeTrackUser | None
        if op.action is Action.CREATE:
            user = client.find_user(op.username)
        else:
            # Only TimeTrack's own 404 says the user is gone (a proxy's page says nothing).
            user = client.confirm_user(op.tt_id or "")
        if user is not None:
            found[user.id] = user
    return found


def _by_username(users: Mapping[str, TimeTrackUser]) -> dict[str, TimeTrackUser]:
    return {user.username.casefold(): user for user in users.values()}


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
    if current is None or op.action is Action.LOCK:
        return False, None
    applied = all(
        normalize_field(name, current.get(name)) == normalize_field(name, new)
        for name, (_old, new) in op.changes.items()
    )
    return applied, None

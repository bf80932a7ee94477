"""What a finished operation changes in `links` and the snapshot (in the journal's transaction).

The statements of the bulk path (a create's link and snapshot row, an update's) are built once
and executed with bound rows: building and caching a statement per operation cost more than
running it.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from sync.model import Action, Offboarding, Operation, TimeTrackUser
from sync.state.records import dumps, user_row, without_password
from sync.state.tables import UTCDateTime, links, tt_users

# A link's columns that start over when a key is (re)linked: the replaced link's offboarding
# belonged to the old user.
_FRESH_LINK: dict[str, Any] = {
    "missing_runs": 0,
    "missing_since": None,
    "offboarding": Offboarding.ACTIVE.value,
    "offboarding_at": None,
    "locked_at": None,
    "delete_refused_at": None,
    "delete_refusal": None,
}
_UPSERTS = {
    "links": (
        ("job", "key"),
        ("tt_id", "username", "origin", "desired_hash", *_FRESH_LINK, "updated_at"),
    ),
    "tt_users": (("id",), ("username", "username_cf", "enabled", "data", "fetched_at")),
}
_TABLES = {"links": links, "tt_users": tt_users}
_SET_LINK_STATE = sa.update(links).where(
    links.c.job == sa.bindparam("b_job"), links.c.key == sa.bindparam("b_key")
)
_USER_DATA = sa.select(tt_users.c.data).where(tt_users.c.id == sa.bindparam("b_id"))
_SET_USER_DATA = sa.update(tt_users).where(tt_users.c.id == sa.bindparam("b_id"))


def _insert(dialect: str, table: sa.Table) -> Any:
    """The dialect's INSERT, which has ON CONFLICT."""
    # Imported here, so that a run on SQLite never loads the PostgreSQL dialect (~20 ms).
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


@functools.cache
def _upsert(dialect: str, table: str) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE of `table`, for rows bound at execution."""
    keys, columns = _UPSERTS[table]
    target = _TABLES[table]
    stmt = _insert(dialect, target)
    set_ = {c: stmt.excluded[c] for c in columns}
    return stmt.on_conflict_do_update(index_elements=[target.c[k] for k in keys], set_=set_)


def apply_done(
    conn: sa.Connection,
    job: str,
    op: Operation,
    *,
    user: TimeTrackUser | None,
    desired_hash: str | None,
    now: datetime,
) -> None:
    """Apply a done operation: create/adopt link it, update merges, delete unlinks."""
    if op.action is Action.CREATE:
        if user is None:
            raise ValueError("a finished create needs the created user")
        upsert_link(
            conn,
            job,
            op.key,
            tt_id=user.id,
            username=user.username,
            origin="created",
            desired_hash=desired_hash,
            now=now,
        )
        upsert_snapshot_user(conn, user, now)
    elif op.action is Action.ADOPT:
        upsert_link(
            conn,
            job,
            op.key,
            tt_id=str(op.tt_id),
            username=op.username,
            origin="adopted",
            desired_hash=desired_hash,
            now=now,
        )
    elif op.action is Action.UPDATE:
        apply_update(conn, job, op, desired_hash=desired_hash, now=now)
    elif op.action is Action.LOCK:
        # The desired state is unchanged: a rehire's update compares fields, not this hash.
        apply_update(conn, job, op, desired_hash=None, now=now)
        # A refused delete's fallback lock keeps the user `retained`.
        retained = links.c.offboarding == Offboarding.RETAINED.value
        state = sa.case((retained, links.c.offboarding), else_=Offboarding.LOCKED.value)
        set_offboarding(conn, job, op.key, state, now, locked_at=now)
    else:
        # Only the link that still points at the deleted id (see upsert_link).
        conn.execute(
            sa.delete(links).where(
                links.c.job == job, links.c.key == op.key, links.c.tt_id == op.tt_id
            )
        )
        conn.execute(sa.delete(tt_users).where(tt_users.c.id == op.tt_id))


def upsert_snapshot_user(conn: sa.Connection, user: TimeTrackUser, now: datetime) -> None:
    """Insert or replace one user of the snapshot."""
    conn.execute(_upsert(conn.dialect.name, "tt_users"), {**user_row(user), "fetched_at": now})


def upsert_link(
    conn: sa.Connection,
    job: str,
    key: str,
    *,
    tt_id: str,
    username: str,
    origin: str,
    desired_hash: str | None,
    now: datetime,
) -> None:
    """Link a key to a TimeTrack id, replacing an older link of the same key."""
    # An upsert, not an insert: with `on_rename: recreate` the new user is created (and linked)
    # before the old one is deleted; that delete then removes the link only if it still points
    # at the old id. The new user starts active (else a lock it never had would spare it when
    # the person leaves).
    row = {
        "job": job,
        "key": key,
        "tt_id": tt_id,
        "username": username,
        "origin": origin,
        "desired_hash": desired_hash,
        "created_at": now,
        "updated_at": now,
        **_FRESH_LINK,
    }
    conn.execute(_upsert(conn.dialect.name, "links"), row)


def apply_update(
    conn: sa.Connection, job: str, op: Operation, *, desired_hash: str | None, now: datetime
) -> None:
    """Record the applied desired state on the link and merge the new values into the snapshot."""
    values: dict[str, Any] = {"b_job": job, "b_key": op.key, "updated_at": now}
    if desired_hash is not None:
        values["desired_hash"] = desired_hash
    conn.execute(_SET_LINK_STATE, values)
    data = conn.execute(_USER_DATA, {"b_id": op.tt_id}).scalar_one_or_none()
    if data is not None:
        merged = {**json.loads(data), **without_password(op.payload())}
        conn.execute(_SET_USER_DATA, {"b_id": op.tt_id, "data": dumps(merged)})


def set_offboarding(
    conn: sa.Connection,
    job: str,
    key: str,
    state: Offboarding | sa.ColumnElement[str],
    now: datetime,
    **values: Any,
) -> None:
    """Move a link to an offboarding state (with the state's own columns, e.g. `locked_at`)."""
    if state is Offboarding.ACTIVE:
        values.update(locked_at=None, delete_refused_at=None, delete_refusal=None)
    conn.execute(
        sa.update(links)
        .where(links.c.job == job, links.c.key == key)
        .values(offboarding=state, offboarding_at=now, updated_at=now, **values)
    )


def count_missing(
    conn: sa.Connection,
    job: str,
    missing: frozenset[str],
    stale: frozenset[str],
    now: datetime,
    scope: frozenset[str] | None = None,
) -> None:
    """Count another missing run for `missing`, reset the returned ones, drop `stale` links.

    With `scope`, only keys in it are returned ones (the run was about those people only).
    """
    bump = (
        sa.update(links)
        .where(links.c.job == sa.bindparam("b_job"), links.c.key == sa.bindparam("b_key"))
        .values(
            missing_runs=links.c.missing_runs + 1,
            missing_since=sa.case(
                (links.c.missing_runs == 0, sa.bindparam("b_now", type_=UTCDateTime())),
                else_=links.c.missing_since,
            ),
        )
    )
    reset = (
        sa.update(links)
        .where(links.c.job == sa.bindparam("b_job"), links.c.key == sa.bindparam("b_key"))
        .values(missing_runs=0, missing_since=None)
    )
    drop = sa.delete(links).where(
        links.c.job == sa.bindparam("b_job"),
        links.c.key == sa.bindparam("b_key"),
        links.c.tt_id.not_in(sa.select(tt_users.c.id)),
    )
    counting = conn.execute(
        sa.select(links.c.key).where(links.c.job == job, links.c.missing_runs > 0)
    ).scalars()
    counted = set(counting) if scope is None else set(counting) & scope
    returned = sorted(counted - missing)
    for statement, keys, extra in (
        (bump, sorted(missing), {"b_now": now}),
        (reset, returned, {}),
        (drop, sorted(stale), {}),
    ):
        if keys:
            conn.execute(statement, [{"b_job": job, "b_key": k, **extra} for k in keys])

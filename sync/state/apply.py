"""What a finished operation changes in `links` and the snapshot (in the journal's transaction)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from sync.model import Action, Operation, TimeTrackUser
from sync.state.records import dumps, user_row, without_password
from sync.state.tables import links, tt_users


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


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
    stmt = _insert(conn, tt_users).values({**user_row(user), "fetched_at": now})
    columns = ("username", "username_cf", "enabled", "data", "fetched_at")
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[tt_users.c.id], set_={c: stmt.excluded[c] for c in columns}
        )
    )


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
    # at the old id.
    stmt = _insert(conn, links).values(
        job=job,
        key=key,
        tt_id=tt_id,
        username=username,
        origin=origin,
        desired_hash=desired_hash,
        missing_runs=0,
        missing_since=None,
        created_at=now,
        updated_at=now,
    )
    columns = ("tt_id", "username", "origin", "desired_hash", "missing_runs", "missing_since")
    set_ = {c: stmt.excluded[c] for c in (*columns, "updated_at")}
    conn.execute(stmt.on_conflict_do_update(index_elements=[links.c.job, links.c.key], set_=set_))


def apply_update(
    conn: sa.Connection, job: str, op: Operation, *, desired_hash: str | None, now: datetime
) -> None:
    """Record the applied desired state on the link and merge the new values into the snapshot."""
    values: dict[str, Any] = {"updated_at": now}
    if desired_hash is not None:
        values["desired_hash"] = desired_hash
    conn.execute(sa.update(links).where(links.c.job == job, links.c.key == op.key).values(values))
    data = conn.execute(
        sa.select(tt_users.c.data).where(tt_users.c.id == op.tt_id)
    ).scalar_one_or_none()
    if data is not None:
        merged = {**json.loads(data), **without_password(op.payload())}
        conn.execute(
            sa.update(tt_users).where(tt_users.c.id == op.tt_id).values(data=dumps(merged))
        )

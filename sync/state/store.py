"""StateStore: the queries on the state database (snapshot, links, runs, journal).

Every method runs in its own transaction; the journal methods change the operation row and
the links/snapshot rows together, so a crash never leaves one without the other (the `_many`
and `outcomes` forms do that for several operations in one transaction: sync.state.journal).
Safe to use from several threads (each call takes its own pooled connection).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import sqlalchemy as sa
import structlog

from sync.errors import StateError
from sync.model import (
    Link,
    OffboardingChange,
    Operation,
    Policy,
    TimeTrackUser,
)
from sync.offboarding import QueueEntry, offboarding_queue
from sync.report import RunStatus
from sync.state import db, migrate
from sync.state.apply import count_missing, set_offboarding
from sync.state.history import History
from sync.state.journal import ERROR_MAX, Done, Failed, Outcome, Refused, insert_pending, record
from sync.state.notices import NoticeLog
from sync.state.records import (
    LINK_COLUMNS,
    OperationRecord,
    RunRecord,
    dumps,
    link_record,
    operation_record,
    user_row,
)
from sync.state.tables import (
    UTCDateTime,
    bind_once,
    links,
    operations,
    runs,
    tt_users,
)

__all__ = ["STALE_RUN_ERROR", "OperationRecord", "RunRecord", "StateStore"]

log = structlog.get_logger(__name__)

_CHUNK = 10_000  # rows per executemany batch: bounds memory for 100,000-user snapshots
STALE_RUN_ERROR = "interrupted (process ended before the run finished)"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, _CHUNK)):
        yield chunk


def _copy_rows(conn: sa.Connection, table: sa.Table, rows: Iterable[dict[str, Any]]) -> None:
    """PostgreSQL: COPY the rows in (several times faster than executemany at 100,000 rows)."""
    names = [column.name for column in table.columns]
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[name] for name in names])
    finally:
        cursor.close()


class StateStore(History, NoticeLog):
    """The state database of timetrack-sync (SQLite file or PostgreSQL)."""

    def __init__(
        self,
        url: str,
        *,
        auto_migrate: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._engine = db.create_state_engine(url)
        self._where = db.describe(self._engine.url)
        self._is_sqlite = self._engine.dialect.name == "sqlite"
        self._now = clock or _utcnow
        try:
            migrate.ensure_current(self._engine, auto_migrate=auto_migrate)
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def location(self) -> str:
        """The database for messages: the SQLite file, or the URL without its password."""
        return self._where

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine (for diagnostics and tests)."""
        return self._engine

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self, action: str) -> Iterator[sa.Connection]:
        with (
            db.db_errors(self._where, action, is_sqlite=self._is_sqlite),
            self._engine.connect().execution_options(**{db.WRITE: True}) as conn,
            conn.begin(),
        ):
            yield conn

    @contextmanager
    def _read(self, action: str) -> Iterator[sa.Connection]:
        with (
            db.db_errors(self._where, action, is_sqlite=self._is_sqlite),
            self._engine.connect() as conn,
            conn.begin(),
        ):
            yield conn

    # -- runs -------------------------------------------------------------------------------

    def start_run(self, job: str, *, dry_run: bool) -> int:
        """Record a run as `running`; returns its id."""
        row = {
            "job": job,
            "dry_run": dry_run,
            "started_at": self._now(),
            "status": RunStatus.RUNNING,
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        with self._write("record the start of a run") as conn:
            result = conn.execute(sa.insert(runs).values(row).returning(runs.c.id))
            return int(result.scalar_one())

    def finish_run(
        self,
        run_id: int,
        *,
        status: RunStatus,
        summary: Mapping[str, int],
        source_records: int | None,
        error: str | None,
    ) -> None:
        """Record how a run ended: status, counts (a `failed` count included), source size."""
        if status is RunStatus.RUNNING:
            raise ValueError("a finished run needs a final status, not running")
        values = {
            "finished_at": self._now(),
            "status": status,
            "summary": dumps(dict(summary)),
            "failed": int(summary.get("failed", 0)),
            "source_records": source_records,
            "error": error[:ERROR_MAX] if error else None,
        }
        with self._write("record the end of a run") as conn:
            result = conn.execute(sa.update(runs).where(runs.c.id == run_id).values(values))
            if result.rowcount != 1:
                raise StateError(f"state database {self._where} has no run {run_id}")

    def fail_stale_runs(self) -> int:
        """Mark runs left `running` by a crashed process as failed (call with the lock held)."""
        with self._write("close interrupted runs") as conn:
            result = conn.execute(
                sa.update(runs)
                .where(runs.c.status == RunStatus.RUNNING)
                .values(status=RunStatus.FAILED, finished_at=self._now(), error=STALE_RUN_ERROR)
            )
        if result.rowcount:
            log.warning("state_stale_runs_failed", count=result.rowcount)
        return int(result.rowcount)

    # -- snapshot ---------------------------------------------------------------------------

    def replace_snapshot(self, users: Iterable[TimeTrackUser], fetched_at: datetime) -> None:
        """Replace the whole snapshot with `users`, in one transaction."""
        # The bulk path hands driver-ready rows straight to the DBAPI's executemany: every
        # column is str or bool, and fetched_at (the same for all rows) is converted once.
        # SQLAlchemy's per-row parameter processing would double the time at 100,000 users.
        dialect = self._engine.dialect
        fetched = bind_once(UTCDateTime(), fetched_at, dialect)
        rows: dict[str, dict[str, Any]] = {}
        for user in users:  # by id: the last listing of a user wins
            rows[user.id] = {**user_row(user), "fetched_at": fetched}
        with self._write("store the TimeTrack snapshot") as conn:
            conn.execute(sa.delete(tt_users))
            if dialect.name == "postgresql":
                _copy_rows(conn, tt_users, rows.values())
                return
            compiled = sa.insert(tt_users).compile(dialect=dialect)
            order = compiled.positiontup or []
            for chunk in _chunks(rows.values()):
                params = [tuple(r[k] for k in order) for r in chunk] if order else chunk
                conn.exec_driver_sql(str(compiled), params)

    def load_snapshot(self) -> dict[str, TimeTrackUser]:
        """The snapshot: TimeTrack id -> user, every field as listed (unknown ones included)."""
        query = sa.select(tt_users.c.id, tt_users.c.username, tt_users.c.enabled, tt_users.c.data)
        with self._read("read the TimeTrack snapshot") as conn:
            rows = conn.execute(query).all()
        return {
            tt_id: TimeTrackUser(tt_id, username, bool(enabled), json.loads(data))
            for tt_id, username, enabled, data in rows
        }

    # -- links ------------------------------------------------------------------------------

    def load_links(self, job: str) -> dict[str, Link]:
        """What the job owns: match key -> link."""
        query = sa.select(*LINK_COLUMNS).where(links.c.job == job)
        with self._read("read links") as conn:
            rows = conn.execute(query).all()
        return {link.key: link for link in map(link_record, rows)}

    def offboarding_queue(self, job: str, policy: Policy, now: datetime) -> list[QueueEntry]:
        """The job's leavers TimeTrack still lists as enabled, as of the stored snapshot."""
        return offboarding_queue(self.load_links(job).values(), self.load_snapshot(), policy, now)

    def owned_by_other_jobs(self, job: str) -> frozenset[str]:
        """TimeTrack ids that other jobs own (this job must not adopt or touch them)."""
        query = sa.select(links.c.tt_id).where(links.c.job != job).distinct()
        with self._read("read links") as conn:
            return frozenset(conn.execute(query).scalars().all())

    def record_missing(
        self,
        job: str,
        missing_keys: frozenset[str],
        stale_keys: frozenset[str],
        *,
        scope: frozenset[str] | None = None,
    ) -> None:
        """Count another missing run for `missing_keys`, reset the others, drop `stale_keys`.

        A stale key's link is dropped only while its user is missing from the snapshot: a
        create of the same run may already have linked the key to a new user. With `scope`
        (a run for some people only), the keys outside it are left as they are.
        """
        with self._write("record missing people") as conn:
            count_missing(conn, job, missing_keys, stale_keys, self._now(), scope)

    # -- journal ----------------------------------------------------------------------------

    def journal_pending(self, run_id: int, job: str, op: Operation) -> int:
        """Write-ahead: record an operation as `pending` before its API call; returns its id."""
        return self.journal_pending_many(run_id, job, [op])[0]

    def journal_pending_many(self, run_id: int, job: str, ops: Sequence[Operation]) -> list[int]:
        """Write-ahead for several operations at once, before any of their calls; their ids."""
        if not ops:
            return []
        with self._write("journal operations") as conn:
            return insert_pending(conn, run_id, job, ops, self._now())

    def journal_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        """Record how operations ended, each with its links/snapshot change, in one transaction."""
        if not outcomes:
            return
        now = self._now()
        with self._write("journal finished operations") as conn:
            for outcome in outcomes:
                if not record(conn, outcome, now):
                    raise StateError(
                        f"state database {self._where} has no operation {outcome.op_id}"
                    )

    def journal_done(
        self,
        op_id: int,
        job: str,
        op: Operation,
        *,
        user: TimeTrackUser | None,
        http_status: int | None,
        attempts: int,
        desired_hash: str | None,
    ) -> None:
        """Mark an operation done and apply it to links and snapshot, in one transaction."""
        self.journal_outcomes([Done(op_id, job, op, user, http_status, attempts, desired_hash)])

    def journal_failed(
        self, op_id: int, *, http_status: int | None, error: str, attempts: int
    ) -> None:
        """Mark an operation failed with the HTTP status and the error message."""
        self.journal_outcomes([Failed(op_id, http_status, error, attempts)])

    def journal_refused(
        self, op_id: int, job: str, op: Operation, *, http_status: int, error: str
    ) -> None:
        """Mark a delete TimeTrack refused, and retain its user (locked, queued), at once."""
        self.journal_outcomes([Refused(op_id, job, op, http_status, error)])

    def record_offboarding(self, job: str, changes: Iterable[OffboardingChange]) -> None:
        """Record the offboarding states a plan changes without a write of their own."""
        now = self._now()
        with self._write("record offboarding states") as conn:
            for change in changes:
                set_offboarding(conn, job, change.key, change.state, now)

    def pending_operations(self) -> list[OperationRecord]:
        """Operations of any run left `pending` by a crash, oldest first."""
        query = sa.select(operations).where(operations.c.status == "pending")
        with self._read("read pending operations") as conn:
            rows = conn.execute(query.order_by(operations.c.id)).mappings().all()
        return [operation_record(row) for row in rows]

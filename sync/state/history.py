"""The store's history: runs, the journal as an audit log, applied plans, and their retention.

A part of `StateStore` (its methods, in their own module): reads for `status`, `audit`,
`explain` and the guards' baseline, the at-most-once record of applied plans, and the pruning
of old runs and operations (`state.retention_days`). Links, the snapshot and the offboarding
states are never pruned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
import structlog

from sync.errors import StateError
from sync.report import RunStatus
from sync.state.records import OperationRecord, RunRecord, operation_record, run_record
from sync.state.tables import applied_plans, operations, runs

# Statuses whose source count is a trusted baseline for the shrink guard. Not `guarded` or
# `failed`: a run stopped by a guard may have read a broken source.
_BASELINE_STATUSES = (RunStatus.SUCCEEDED, RunStatus.PARTIAL)
log = structlog.get_logger(__name__)

EXPORT_BATCH = 1_000  # rows read per query of an export: memory stays flat


class History:
    """Runs, journal and applied plans (mixed into StateStore, which provides the I/O)."""

    if TYPE_CHECKING:
        _now: Callable[[], datetime]

        def _read(self, action: str) -> AbstractContextManager[sa.Connection]: ...

        def _write(self, action: str) -> AbstractContextManager[sa.Connection]: ...

    def applied_plan(self, plan_id: str) -> tuple[datetime, int] | None:
        """When a saved plan was applied, and by which run (None: never)."""
        with self._read("read the applied plans") as conn:
            return _applied(conn, plan_id)

    def claim_plan(self, plan_id: str, job: str, run_id: int) -> tuple[datetime, int] | None:
        """Record that run `run_id` applies a saved plan; if one did before: when, and which."""
        with self._write("record the saved plan as applied") as conn:
            earlier = _applied(conn, plan_id)
            if earlier is None:
                row = {"plan_id": plan_id, "job": job, "run_id": run_id, "applied_at": self._now()}
                conn.execute(sa.insert(applied_plans).values(row))
            return earlier

    def last_successful_source_count(self, job: str) -> int | None:
        """Source size of the job's last real run that succeeded (or partly): the baseline."""
        query = (
            sa.select(runs.c.source_records)
            .where(
                runs.c.job == job,
                runs.c.dry_run.is_(False),
                runs.c.status.in_(_BASELINE_STATUSES),
                runs.c.source_records.is_not(None),
            )
            .order_by(runs.c.id.desc())
            .limit(1)
        )
        with self._read("read the last run") as conn:
            value = conn.execute(query).scalar_one_or_none()
        return None if value is None else int(value)

    def recent_runs(self, *, job: str | None = None, limit: int = 20) -> list[RunRecord]:
        """The newest runs first, of one job or all."""
        query = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
        if job is not None:
            query = query.where(runs.c.job == job)
        with self._read("read recent runs") as conn:
            rows = conn.execute(query).mappings().all()
        return [run_record(row) for row in rows]

    def operations(
        self,
        *,
        username: str | None = None,
        run_id: int | None = None,
        since: datetime | None = None,
        limit: int = 200,
    ) -> list[OperationRecord]:
        """The audit log, newest first; username matches case-insensitively."""
        query = _journal_query(username, run_id, since)
        query = query.order_by(operations.c.created_at.desc(), operations.c.id.desc()).limit(limit)
        with self._read("read the journal") as conn:
            rows = conn.execute(query).mappings().all()
        return [operation_record(row) for row in rows]

    def iter_operations(
        self,
        *,
        username: str | None = None,
        run_id: int | None = None,
        since: datetime | None = None,
    ) -> Iterator[OperationRecord]:
        """The audit log, oldest first, read in batches (a million rows in flat memory)."""
        after = 0
        while True:
            query = _journal_query(username, run_id, since).where(operations.c.id > after)
            query = query.order_by(operations.c.id).limit(EXPORT_BATCH)
            with self._read("read the journal") as conn:
                rows = conn.execute(query).mappings().all()
            yield from map(operation_record, rows)
            if len(rows) < EXPORT_BATCH:
                return
            after = rows[-1]["id"]

    def prune_history(self, before: datetime) -> tuple[int, int]:
        """Delete operations and runs older than `before`, in small transactions.

        An operation's age is that of its outcome (a row settled today is kept). Kept whatever
        their age: pending operations, running runs, each job's newest run and
        its shrink-guard baseline, runs that applied a saved plan, and every link, snapshot row
        and offboarding state. Returns (runs, operations) deleted.
        """
        deleted_ops = self._prune(
            sa.select(operations.c.id).where(
                operations.c.created_at < before,  # the index narrows it; then the outcome:
                sa.or_(operations.c.finished_at.is_(None), operations.c.finished_at < before),
                operations.c.status != "pending",
            ),
            operations,
        )
        newest = sa.select(sa.func.max(runs.c.id)).group_by(runs.c.job)
        baseline = (
            sa.select(sa.func.max(runs.c.id))
            .where(
                runs.c.dry_run.is_(False),
                runs.c.status.in_(_BASELINE_STATUSES),
                runs.c.source_records.is_not(None),
            )
            .group_by(runs.c.job)
        )
        old_runs = sa.select(runs.c.id).where(
            runs.c.started_at < before,
            runs.c.status != RunStatus.RUNNING,
            runs.c.id.not_in(newest),
            runs.c.id.not_in(baseline),
            runs.c.id.not_in(sa.select(operations.c.run_id)),
            runs.c.id.not_in(sa.select(applied_plans.c.run_id)),
        )
        return self._prune(old_runs, runs), deleted_ops

    def apply_retention(self, days: int, now: datetime) -> None:
        """Prune what is older than `days` (state.retention_days); a failure is only logged."""
        try:
            pruned_runs, pruned_ops = self.prune_history(now - timedelta(days=days))
        except StateError as exc:  # the run itself is done and recorded: keep its outcome
            log.warning("history_prune_failed", error=str(exc))
            return
        if pruned_runs or pruned_ops:
            log.info("history_pruned", runs=pruned_runs, operations=pruned_ops, days=days)

    def _prune(self, ids: sa.Select[tuple[int]], table: sa.Table) -> int:
        """Delete the rows `ids` selects, a batch per transaction; how many."""
        total = 0
        while True:
            with self._write(f"prune old {table.name}") as conn:
                batch = list(conn.execute(ids.limit(EXPORT_BATCH)).scalars())
                if batch:
                    conn.execute(sa.delete(table).where(table.c.id.in_(batch)))
            total += len(batch)
            if len(batch) < EXPORT_BATCH:
                return total


def _applied(conn: sa.Connection, plan_id: str) -> tuple[datetime, int] | None:
    query = sa.select(applied_plans.c.applied_at, applied_plans.c.run_id)
    row = conn.execute(query.where(applied_plans.c.plan_id == plan_id)).first()
    return (row[0], int(row[1])) if row is not None else None


def _journal_query(
    username: str | None, run_id: int | None, since: datetime | None
) -> sa.Select[tuple[object, ...]]:
    query = sa.select(operations)
    if username is not None:
        query = query.where(operations.c.username_cf == username.casefold())
    if run_id is not None:
        query = query.where(operations.c.run_id == run_id)
    if since is not None:
        query = query.where(operations.c.created_at >= since)
    return query

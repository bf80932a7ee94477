"""Renders what commands show: run reports (JSON document or change plan), runs and the journal."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sync.export import spreadsheet_safe, utc_stamp
from sync.guards import held_by_delete_guards
from sync.model import Action, Operation, Plan
from sync.offboarding import QueueEntry
from sync.report import FailedOperation, RunReport
from sync.state.records import OperationRecord, RunRecord

if TYPE_CHECKING:
    from sync.executor import ProgressCallback

_VERB = {
    Action.CREATE: ("create", "would create"),
    Action.ADOPT: ("adopt", "would adopt"),
    Action.UPDATE: ("update", "would update"),
    Action.LOCK: ("lock", "would lock"),
    Action.DELETE: ("delete", "would delete"),
}
# Conflicts and skipped records listed in text output (a broken export can skip millions,
# and a table that long takes minutes to render); --output json lists every one.
MAX_LISTED = 100
_STYLE = {
    Action.CREATE: "green",
    Action.ADOPT: "cyan",
    Action.UPDATE: "yellow",
    Action.LOCK: "magenta",
    Action.DELETE: "red",
}


def report_document(report: RunReport) -> dict[str, Any]:
    """The JSON document of one job's run (the CLI contract; never a password)."""
    the_plan = report.plan or Plan()
    queue = report.offboarding_queue
    doc: dict[str, Any] = {
        "job": report.job,
        "run_id": report.run_id,
        "dry_run": report.dry_run,
        "status": report.status,
        "exit_code": report.exit_code,
        "summary": report.summary(),
        "operations": [_operation_doc(op) for op in the_plan.operations],
        "conflicts": [
            {"kind": c.kind.value, "key": c.key, "username": c.username, "reason": c.reason}
            for c in the_plan.conflicts
        ],
        "skipped": [
            {"origin": s.origin, "key": s.key, "reason": s.reason} for s in the_plan.skipped
        ],
        "offboarding": [
            {"key": c.key, "username": c.username, "state": c.state.value, "note": c.note}
            for c in the_plan.offboarding
        ],
        "guards": [
            {"name": g.name, "tripped": g.tripped, "overridden": g.overridden, "message": g.message}
            for g in the_plan.guards
        ],
        "source_records": report.source_records,
        "offboarding_queue": None if queue is None else len(queue),
        "duration_seconds": report.duration_seconds,
        "error": str(report.error) if report.error else None,
    }
    if report.applied is not None:
        doc["failed"] = [_failure_doc(f) for f in report.applied.failed]
        doc["refused"] = [_failure_doc(f) for f in report.applied.refused]
    if report.saved_plan is not None:
        doc["plan_id"] = report.saved_plan.plan_id
    if report.notices_failed:
        doc["notices_failed"] = report.notices_failed
    return doc


def _failure_doc(failure: FailedOperation) -> dict[str, Any]:
    return {
        **_operation_doc(failure.operation),
        "error": failure.error,
        "http_status": failure.http_status,
    }


def _operation_doc(op: Operation) -> dict[str, Any]:
    return {
        "action": op.action.value,
        "key": op.key,
        "username": op.username,
        "id": op.tt_id,
        "changes": {name: [old, new] for name, (old, new) in op.changes.items()},
        "reason": op.reason or None,
    }


def print_json(reports: list[RunReport], console: Console) -> None:
    """One JSON document per job, or a JSON array of them when several jobs ran."""
    docs = [report_document(r) for r in reports]
    payload: Any = docs[0] if len(docs) == 1 else docs
    console.file.write(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")


def print_text(report: RunReport, console: Console, *, max_rows: int | None = None) -> None:
    """A change plan people can read: operations, conflicts, skipped, guards, outcome."""
    the_plan = report.plan or Plan()
    mode = "dry run" if report.dry_run else "run"
    console.print(f"[bold]Job {report.job}[/bold] ({mode} #{report.run_id})")
    if report.plan is None:
        text = (
            f"[red]error:[/red] {escape(str(report.error))}" if report.error else "nothing planned"
        )
        console.print(text, highlight=False, soft_wrap=True)
        return
    if the_plan.operations:
        console.print(_operations_table(the_plan, report.dry_run, max_rows))
    else:
        console.print("No changes: TimeTrack matches the source.")
    _print_left_out(the_plan, console)
    for g in the_plan.guards:
        if g.tripped:
            console.print(f"[bold red]guard {g.name}[/bold red]: {escape(g.message)}")
    if report.saved_plan is None and held_by_delete_guards(the_plan):
        console.print(
            f"To approve exactly these changes: timetrack-sync plan --job {report.job} --out"
            " plan.json, review plan.json, then timetrack-sync apply plan.json --allow-mass-delete",
            highlight=False,
            soft_wrap=True,
        )
    _print_outcome(report, console)


def _print_left_out(the_plan: Plan, console: Console) -> None:
    """Conflicts, offboarding changes without a write, and skipped records."""
    if the_plan.conflicts:
        table = Table("conflict", "key", "username", "reason", title="Conflicts (left out)")
        for c in the_plan.conflicts[:MAX_LISTED]:
            table.add_row(c.kind.value, escape(c.key), escape(c.username), escape(c.reason))
        console.print(_capped(table, len(the_plan.conflicts), "conflicts"))
    # A leaver this run locks or deletes shows in the changes; the rest wait, or are done.
    written = {op.key for op in the_plan.operations}
    changes = [c for c in the_plan.offboarding if c.key not in written]
    if changes:
        table = Table("state", "username", "key", "why", title="Offboarding (no write)")
        for change in changes[:MAX_LISTED]:
            table.add_row(
                change.state.value, escape(change.username), escape(change.key), escape(change.note)
            )
        console.print(_capped(table, len(changes), "offboarding changes"))
    if the_plan.skipped:
        table = Table("record", "key", "reason", title="Skipped")
        for s in the_plan.skipped[:MAX_LISTED]:
            table.add_row(escape(s.origin), escape(s.key or ""), escape(s.reason))
        console.print(_capped(table, len(the_plan.skipped), "skipped records"))


def _capped(table: Table, total: int, what: str) -> Table:
    if total > MAX_LISTED:
        table.caption = f"... and {total - MAX_LISTED} more {what} (--output json lists every one)"
    return table


def _operations_table(the_plan: Plan, dry_run: bool, max_rows: int | None) -> Table:
    """The operations; with `max_rows`, at most that many of each action."""
    table = Table("action", "username", "key", "id", "details", title="Changes")
    hidden: dict[str, int] = {}
    for action in Action:
        ops = the_plan.of(action)
        shown = ops[:max_rows] if max_rows else ops
        if len(ops) > len(shown):
            hidden[action.value] = len(ops) - len(shown)
        for op in shown:
            verb = _VERB[op.action][1 if dry_run else 0]
            table.add_row(
                f"[{_STYLE[op.action]}]{verb}[/]",
                escape(op.username),
                escape(op.key),
                escape(op.tt_id or ""),
                escape(_details(op)),
            )
    if hidden:
        more = ", ".join(f"{n} more {action}s" for action, n in hidden.items())
        table.caption = f"... and {more} (--output json lists every one)"
    return table


def _details(op: Operation) -> str:
    if op.action is Action.UPDATE:
        changes = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in op.changes.items())
        return f"{changes} [{op.reason}]" if op.reason else changes
    return op.reason


def _print_outcome(report: RunReport, console: Console) -> None:
    counts = report.summary()
    shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    console.print(f"Summary: {shown or 'nothing to do'}")
    if report.applied is not None:
        for failure in report.applied.failed:
            console.print(
                f"[red]failed[/red] {escape(failure.operation.describe())}: "
                f"{escape(failure.error)}",
                highlight=False,
            )
        for refusal in report.applied.refused:
            console.print(
                f"[yellow]retained[/yellow] {escape(refusal.operation.username)}: TimeTrack "
                f"refused the delete ({refusal.http_status}: {escape(refusal.error)}); the user "
                "stays locked and queued for its admin (timetrack-sync offboarding)",
                highlight=False,
            )
        if report.applied.aborted:
            console.print(f"[red]stopped early:[/red] {escape(report.applied.aborted)}")
    if report.offboarding_queue:
        console.print(
            f"Offboarding queue: {_users(len(report.offboarding_queue))} left but still enabled "
            "in TimeTrack, for its admin to deactivate (timetrack-sync offboarding lists them)",
            highlight=False,
        )
    if report.error:
        console.print(
            f"[red]error:[/red] {escape(str(report.error))}", highlight=False, soft_wrap=True
        )
    console.print(f"Status: {report.status} (exit {report.exit_code})")


def print_runs(runs: Sequence[RunRecord], console: Console) -> None:
    """The recent runs of `status`: when, how, what they did, how they ended."""
    if not runs:
        console.print("No runs recorded yet.")
        return
    table = Table("run", "job", "mode", "started", "status", "counts", "error")
    for r in runs:
        counts = ", ".join(f"{k} {v}" for k, v in (r.summary or {}).items() if v)
        table.add_row(
            str(r.id),
            r.job,
            "dry run" if r.dry_run else "run",
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.status,
            counts,
            escape((r.error or "")[:80]),
        )
    console.print(table)


def status_document(
    runs: Sequence[RunRecord], queues: Mapping[str, Sequence[QueueEntry]]
) -> dict[str, Any]:
    """`status --output json`: the recent runs, newest first, and each job's queue size."""
    return {
        "runs": [
            {
                "id": r.id,
                "job": r.job,
                "dry_run": r.dry_run,
                "started_at": utc_stamp(r.started_at),
                "finished_at": utc_stamp(r.finished_at) or None,
                "duration_seconds": r.duration_seconds,
                "status": str(r.status),
                "summary": dict(r.summary or {}),
                "failed": r.failed,
                "source_records": r.source_records,
                "error": r.error,
                "host": r.host,
                "pid": r.pid,
            }
            for r in runs
        ],
        "offboarding_queue": {job: len(entries) for job, entries in queues.items()},
    }


def print_journal(rows: Sequence[OperationRecord], console: Console) -> None:
    """The journal rows of `audit`: who changed which user, when, how, with what outcome."""
    if not rows:
        console.print("No journal rows match.")
        return
    table = Table("time", "run", "job", "action", "username", "id", "status", "changes")
    for o in rows:
        changes = "; ".join(f"{k}: {v[0]!r} -> {v[1]!r}" for k, v in (o.changes or {}).items())
        detail = changes if o.status != "failed" else f"{changes} ({o.error})"
        table.add_row(
            o.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            str(o.run_id),
            o.job,
            o.action,
            escape(o.username),
            escape(o.tt_id or ""),
            o.status,
            escape(detail),
        )
    console.print(table)


QUEUE_COLUMNS = (
    "job",
    "username",
    "name",
    "id",
    "key",
    "state",
    "left_since",
    "locked_at",
    "refusal",
)


def _queue_rows(queues: Mapping[str, Sequence[QueueEntry]]) -> list[dict[str, str]]:
    return [
        {
            "job": job,
            "username": e.username,
            "name": e.name,
            "id": e.tt_id,
            "key": e.key,
            "state": e.state.value,
            "left_since": utc_stamp(e.left_since),
            "locked_at": utc_stamp(e.locked_at),
            "refusal": e.refusal or "",
        }
        for job, entries in queues.items()
        for e in entries
    ]


def print_queue(queues: Mapping[str, Sequence[QueueEntry]], console: Console, fmt: str) -> None:
    """The offboarding queue per job, as a table, JSON or CSV (for the TimeTrack admin)."""
    rows = _queue_rows(queues)
    if fmt == "json":
        console.file.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(console.file, QUEUE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
    elif not rows:
        console.print("Offboarding queue is empty: no leaver is still enabled in TimeTrack.")
    else:
        table = Table("username", "name", "state", "left", "TimeTrack said", title=_QUEUE_TITLE)
        for row in rows:
            cells = (row["username"], row["name"], row["state"], row["left_since"][:10])
            table.add_row(*(escape(c) for c in (*cells, row["refusal"])))
        console.print(table)
        console.print(
            f"{_users(len(rows))}: deactivate each in TimeTrack's web UI (untick Enabled) to "
            "end their access and free the seat; the next sync records them as deactivated. "
            "--output csv or json has every column.",
            highlight=False,
        )


_QUEUE_TITLE = "Leavers still enabled in TimeTrack"


def _users(count: int) -> str:
    return f"{count} user" if count == 1 else f"{count} users"


def progress_bars(console: Console | None) -> Callable[[int], ProgressCallback | None] | None:
    """A progress bar per apply of 10 operations or more, on a terminal only (else None)."""
    if console is None or not console.is_terminal:
        return None
    from rich.progress import Progress  # only on a terminal

    def factory(total: int) -> ProgressCallback | None:
        if total < 10:
            return None
        progress = Progress(console=console, transient=True)
        progress.start()
        task = progress.add_task("applying", total=total)
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            progress.update(task, advance=n)
            if done[0] >= total:
                progress.stop()

        return tick

    return factory

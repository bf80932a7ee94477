"""Renders what commands show: run reports (JSON document or change plan), runs and the journal."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sync.model import Action, Operation, Plan
from sync.report import RunReport
from sync.state.records import OperationRecord, RunRecord

_VERB = {
    Action.CREATE: ("create", "would create"),
    Action.ADOPT: ("adopt", "would adopt"),
    Action.UPDATE: ("update", "would update"),
    Action.DELETE: ("delete", "would delete"),
}
# Conflicts and skipped records listed in text output (a broken export can skip millions,
# and a table that long takes minutes to render); --output json lists every one.
MAX_LISTED = 100
_STYLE = {
    Action.CREATE: "green",
    Action.ADOPT: "cyan",
    Action.UPDATE: "yellow",
    Action.DELETE: "red",
}


def report_document(report: RunReport) -> dict[str, Any]:
    """The JSON document of one job's run (the CLI contract; never a password)."""
    the_plan = report.plan or Plan()
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
        "guards": [
            {"name": g.name, "tripped": g.tripped, "overridden": g.overridden, "message": g.message}
            for g in the_plan.guards
        ],
        "source_records": report.source_records,
        "duration_seconds": report.duration_seconds,
        "error": str(report.error) if report.error else None,
    }
    if report.applied is not None:
        doc["failed"] = [
            {**_operation_doc(f.operation), "error": f.error, "http_status": f.http_status}
            for f in report.applied.failed
        ]
    return doc


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
    if the_plan.conflicts:
        table = Table("conflict", "key", "username", "reason", title="Conflicts (left out)")
        for c in the_plan.conflicts[:MAX_LISTED]:
            table.add_row(c.kind.value, escape(c.key), escape(c.username), escape(c.reason))
        console.print(_capped(table, len(the_plan.conflicts), "conflicts"))
    if the_plan.skipped:
        table = Table("record", "key", "reason", title="Skipped")
        for s in the_plan.skipped[:MAX_LISTED]:
            table.add_row(escape(s.origin), escape(s.key or ""), escape(s.reason))
        console.print(_capped(table, len(the_plan.skipped), "skipped records"))
    for g in the_plan.guards:
        if g.tripped:
            console.print(f"[bold red]guard {g.name}[/bold red]: {escape(g.message)}")
    _print_outcome(report, console)


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
        return "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in op.changes.items())
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
        if report.applied.aborted:
            console.print(f"[red]stopped early:[/red] {escape(report.applied.aborted)}")
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

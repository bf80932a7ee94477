"""Exports for other tools: the journal as CSV or JSON, streamed, and cells safe for spreadsheets.

`audit --output csv|json` writes one row per operation: its run, time, job, action, match key,
username, TimeTrack id, the old and new value of each managed field it changed, its outcome,
HTTP status and TimeTrack's message. Rows are written as they are read (the store reads the
journal in batches), so a million rows take as little memory as ten.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TextIO

from sync.model import MANAGED_FIELDS
from sync.state.records import OperationRecord

AUDIT_COLUMNS: tuple[str, ...] = (
    "run_id",
    "time",
    "finished_at",
    "job",
    "action",
    "key",
    "username",
    "id",
    "outcome",
    "http_status",
    "message",
    "attempts",
    "reason",
    *(f"{name}_{side}" for name in MANAGED_FIELDS for side in ("old", "new")),
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula (OWASP's CSV injection rule)."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def utc_stamp(moment: datetime | None) -> str:
    """An ISO 8601 UTC time to the second, or "" for none."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def audit_document(record: OperationRecord) -> dict[str, Any]:
    """One journal row as a JSON object; `changes` maps each field to its old and new value."""
    return {
        "run_id": record.run_id,
        "time": utc_stamp(record.created_at),
        "finished_at": utc_stamp(record.finished_at),
        "job": record.job,
        "action": record.action.value,
        "key": record.match_key,
        "username": record.username,
        "id": record.tt_id,
        "outcome": record.status,
        "http_status": record.http_status,
        "message": record.error,
        "attempts": record.attempts,
        "reason": record.reason,
        "changes": {k: {"old": old, "new": new} for k, (old, new) in record.changes.items()},
    }


def audit_csv_row(record: OperationRecord) -> list[str]:
    """One journal row as the cells of a CSV line (each spreadsheet-safe)."""
    doc = audit_document(record)
    changes = doc.pop("changes")
    for name in MANAGED_FIELDS:
        change = changes.get(name, {})
        doc[f"{name}_old"], doc[f"{name}_new"] = change.get("old"), change.get("new")
    return [spreadsheet_safe(_text(doc[column])) for column in AUDIT_COLUMNS]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_audit(records: Iterable[OperationRecord], out: TextIO, fmt: str) -> int:
    """Write the rows as CSV (a header, then a line each) or a JSON array; how many."""
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(AUDIT_COLUMNS)
        for record in records:
            writer.writerow(audit_csv_row(record))
            count += 1
        return count
    out.write("[")
    for record in records:
        out.write(("," if count else "") + "\n" + json.dumps(audit_document(record)))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count

"""Renders `explain WHO`: text for people, JSON for scripts."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sync.explain import Explanation
from sync.guards import DELETE_GUARDS

if TYPE_CHECKING:
    from rich.console import Console


def explanation_document(e: Explanation) -> dict[str, Any]:
    """The explanation as one JSON object."""
    return {
        "who": e.who,
        "job": e.job,
        "match_on": e.match_on,
        "found": e.found,
        "match_keys": sorted(e.keys),
        "source_records": [
            {
                "origin": r.origin,
                "key": r.key,
                "active": r.active,
                "skipped": r.skipped,
                "fields": [
                    {"field": f.name, "expression": f.expression, "value": f.value}
                    for f in r.fields
                ],
            }
            for r in e.records
        ],
        "timetrack_users": [
            {
                "id": m.user.id,
                "username": m.user.username,
                "enabled": m.user.enabled,
                "why": list(m.why),
            }
            for m in e.users
        ],
        "decisions": e.decisions,
        "guards": [
            {"name": g.name, "tripped": g.tripped, "overridden": g.overridden, "message": g.message}
            for g in e.guards
        ],
        "journal": [
            {
                "run_id": row.run_id,
                "time": row.created_at.isoformat(),
                "action": row.action.value,
                "status": row.status,
                "http_status": row.http_status,
                "changes": {k: [old, new] for k, (old, new) in row.changes.items()},
                "error": row.error,
            }
            for row in e.journal
        ],
    }


def print_explanation(e: Explanation, console: Console, fmt: str) -> None:
    """Print the explanation as text or JSON."""
    if fmt == "json":
        console.file.write(json.dumps(explanation_document(e), indent=2, default=str) + "\n")
        return
    console.print(f"Explain {e.who!r} (job {e.job}, match_on {e.match_on})", highlight=False)
    sections = [
        ("1. Source", _source(e) or ["no record of the source is this person"]),
        ("2. TimeTrack", _timetrack(e) or ["no TimeTrack user matches"]),
        ("3. Decision", e.decisions),
        ("4. Guards", _guards(e)),
        ("5. Journal (newest first)", _journal(e) or ["nothing journaled for this person"]),
    ]
    for title, lines in sections:
        console.print(title, style="bold", highlight=False)
        for line in lines:
            console.print(f"   {line}", highlight=False, markup=False)


def _source(e: Explanation) -> list[str]:
    lines = []
    for record in e.records:
        state = "skipped" if record.skipped else ("active" if record.active else "leaver")
        lines.append(f"{record.origin}: key {record.key}, {state}")
        if record.skipped:
            lines.append(f"  why: {record.skipped}")
        lines += [f"  {f.name} = {f.value!r}  <- {f.expression}" for f in record.fields]
    return lines


def _timetrack(e: Explanation) -> list[str]:
    lines = []
    for match in e.users:
        state = "enabled" if match.user.enabled else "disabled"
        lines.append(f"user {match.user.id} {match.user.username!r} ({state})")
        lines += [f"  {why}" for why in match.why]
    return lines


def _guards(e: Explanation) -> list[str]:
    lines = [
        f"{g.name}: {'TRIPPED' if g.tripped and not g.overridden else 'ok'}: {g.message}"
        for g in e.guards
    ]
    if any(g.tripped and g.name not in DELETE_GUARDS for g in e.guards):
        lines.append("a source guard tripped: a run now makes no change at all")
    return lines


def _journal(e: Explanation) -> list[str]:
    lines = []
    for row in e.journal:
        changes = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in row.changes.items())
        outcome = row.status + (f" ({row.http_status})" if row.http_status else "")
        when = f"{row.created_at:%Y-%m-%d %H:%M:%S}"
        lines.append(
            f"{when} run {row.run_id}: {row.action.value} {outcome}"
            + (f": {changes}" if changes else "")
        )
    return lines

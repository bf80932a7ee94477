"""What a notice says: subject, plain text, HTML, and the webhook payloads (pure).

A notice tells an admin what they need without opening a terminal: the job, the status and
exit code, the counts, the guard's verdict, the first errors with TimeTrack's messages, and
the command to look closer. It is built from the run's report only, so it holds no secret:
never the API secret, an SMTP or bind password, or a generated password.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

from sync.notify.events import Due
from sync.report import RunReport

FIRST_ERRORS = 5
LISTED = 20
_HEADLINE = {
    "failed": "failed",
    "guarded": "guarded",
    "recovered": "recovered",
    "conflicts": "new conflicts",
    "offboarding": "leavers still enabled",
    "every_run": "run report",
    "test": "test notice",
}


@dataclass(frozen=True, slots=True)
class Notice:
    """One message, in every form a target may want."""

    event: str
    job: str
    subject: str
    lines: tuple[str, ...]
    document: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The plain-text body."""
        return "\n".join(self.lines) + "\n"

    @property
    def html(self) -> str:
        """The HTML body: the same lines, escaped."""
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.lines)
        return f"<html><body><h3>{html.escape(self.subject)}</h3><ul>{items}</ul></body></html>"

    def payload(self, fmt: str) -> dict[str, Any]:
        """The webhook body: our JSON, or Slack's or Teams' incoming-webhook message."""
        if fmt == "slack":
            return {"text": f"*{self.subject}*\n" + "\n".join(self.lines)}
        if fmt == "teams":
            return {
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": self.subject,
                "title": self.subject,
                "text": "<br>".join(html.escape(line) for line in self.lines),
            }
        return {"subject": self.subject, "text": self.text, **self.document}

    def body(self, fmt: str) -> bytes:
        """The webhook body as the bytes sent (and signed)."""
        return json.dumps(self.payload(fmt), ensure_ascii=False, sort_keys=True).encode()


def notice_for(report: RunReport, due: Due) -> Notice:
    """The notice of one due event about one run."""
    summary = report.summary()
    counts = ", ".join(f"{k} {v}" for k, v in summary.items() if v) or "nothing to do"
    errors = _errors(report)
    subject = f"[timetrack-sync] {report.job}: {_detail(report, due, errors, counts)}"
    lines = [
        f"Job: {report.job}, run {report.run_id}",
        f"Status: {report.status} (exit {int(report.exit_code)})",
        f"Counts: {counts}",
    ]
    plan = report.plan
    lines += [f"Guard {g.name}: {g.message}" for g in (plan.guards if plan else ()) if g.tripped]
    lines += [f"Error: {e}" for e in errors]
    lines += [f"Conflict {c.username} (key {c.key}): {c.reason}" for c in due.conflicts[:LISTED]]
    for entry in due.leavers[:LISTED]:
        since = f"{entry.left_since:%Y-%m-%d}" if entry.left_since else "?"
        lines.append(f"Leaver {entry.username} ({entry.name}), left {since}, {entry.state.value}")
    lines += _look_closer(report, due)
    document = {
        "source": "timetrack-sync",
        "event": due.event,
        "job": report.job,
        "run_id": report.run_id,
        "status": str(report.status),
        "exit_code": int(report.exit_code),
        "summary": summary,
        "errors": errors,
        "guards": [g.message for g in (plan.guards if plan else ()) if g.tripped],
        "conflicts": [
            {"key": c.key, "username": c.username, "reason": c.reason} for c in due.conflicts
        ],
        "leavers": [
            {"key": e.key, "username": e.username, "state": e.state.value} for e in due.leavers
        ],
    }
    return Notice(due.event, report.job, subject, tuple(lines), document)


def test_notice(target_name: str) -> Notice:
    """What `notify test` sends."""
    lines = (
        f"This is a test notice from timetrack-sync to {target_name}.",
        "If you can read it, this target works: runs that fail, are guarded or recover will"
        " be reported here.",
    )
    return Notice(
        "test",
        "-",
        "[timetrack-sync] test notice",
        lines,
        {"source": "timetrack-sync", "event": "test"},
    )


def _errors(report: RunReport) -> list[str]:
    errors = []
    if report.error is not None:
        errors.append(str(report.error).splitlines()[0])
    if report.applied is not None:
        errors += [
            f"{f.operation.describe()}: {f.error}" for f in report.applied.failed[:FIRST_ERRORS]
        ]
    return errors[:FIRST_ERRORS]


def _detail(report: RunReport, due: Due, errors: list[str], counts: str) -> str:
    """The subject's parenthesis: what happened, in a few words."""
    headline = _HEADLINE.get(due.event, due.event)
    if due.event == "guarded":
        return f"{headline} ({_guard_summary(report, errors)})"
    if due.event in ("conflicts", "offboarding"):
        return f"{len(due.conflicts) + len(due.leavers)} {headline}"
    if due.event == "failed":
        return f"{headline} (exit {int(report.exit_code)}: {errors[0] if errors else counts})"
    if due.event == "every_run":
        return f"{report.status} ({counts}; {len(errors)} errors)"
    return f"{headline} (run {report.run_id} {report.status})"


def _guard_summary(report: RunReport, errors: list[str]) -> str:
    """The tripped guard's verdict up to its first `;`, or the source guard's error."""
    tripped = [g for g in (report.plan.guards if report.plan else ()) if g.tripped]
    if tripped:
        return f"{tripped[0].name}: {tripped[0].message.split(';')[0]}"
    return errors[0].split(";")[0] if errors else "a guard tripped"


def _look_closer(report: RunReport, due: Due) -> list[str]:
    commands = [f"timetrack-sync status --job {report.job}"]
    if report.applied is not None or report.error is not None:
        commands.append(f"timetrack-sync audit --run {report.run_id}")
    if due.conflicts:
        commands.append(f"timetrack-sync explain {due.conflicts[0].username} --job {report.job}")
    if due.leavers:
        commands.append(f"timetrack-sync offboarding --job {report.job}")
    if due.event == "guarded":
        commands.append(f"timetrack-sync plan --job {report.job} --out plan.json")
    return ["Look closer: " + "; ".join(commands)]

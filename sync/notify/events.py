"""Which notices a finished run owes a target, given what the target was told before (pure).

No alert storms: a job that fails every 15 minutes sends one `failed`, then nothing until it
recovers or `repeat_after` has passed (a reminder); `recovered` goes only to a target that was
told of the failure; a conflict, or a leaver waiting longer than `offboarding_after`, is told
once, and forgotten once it is over (a conflict that comes back is new again). Only real runs
notify; dry runs and previews never do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sync.config.notify import EmailTarget, WebhookTarget
from sync.model import Conflict
from sync.offboarding import QueueEntry
from sync.report import RunReport, RunStatus

STATUS = "status"  # the topic holding the job status a target was last told


@dataclass(frozen=True, slots=True)
class Due:
    """One notice to send, and what to record once it is delivered."""

    event: str
    record: Mapping[str, str]  # topic -> detail
    conflicts: tuple[Conflict, ...] = ()
    leavers: tuple[QueueEntry, ...] = ()


@dataclass(slots=True)
class Decision:
    """The notices a run owes one target, and the topics that are over."""

    due: list[Due] = field(default_factory=list)
    forget: set[str] = field(default_factory=set)


def run_status(report: RunReport) -> str:
    """`failed`, `guarded` or `ok`: what a target is told about a run."""
    if report.status in (RunStatus.FAILED, RunStatus.PARTIAL):
        return "failed"
    return "guarded" if report.status is RunStatus.GUARDED else "ok"


def decide(
    report: RunReport,
    target: EmailTarget | WebhookTarget,
    sent: Mapping[str, tuple[str, datetime]],
    now: datetime,
) -> Decision:
    """The notices `report` owes `target`, who was told `sent` (topic -> (detail, when))."""
    decision = Decision()
    if report.dry_run:
        return decision
    status = run_status(report)
    told, told_at = sent.get(STATUS, ("ok", None))
    repeat = told_at is None or now - told_at >= target.repeat_after
    if status != "ok" and status in target.on and (status != told or repeat):
        decision.due.append(Due(status, {STATUS: status}))
    elif status == "ok" and told != "ok":
        if "recovered" in target.on:
            decision.due.append(Due("recovered", {STATUS: "ok"}))
        else:
            decision.forget.add(STATUS)
    if "conflicts" in target.on and report.plan is not None:
        current = {f"conflict:{c.key}": c for c in report.plan.conflicts}
        new = {t: c for t, c in current.items() if t not in sent}
        if new:
            record = {t: c.reason for t, c in new.items()}
            decision.due.append(Due("conflicts", record, conflicts=tuple(new.values())))
        decision.forget |= _over(sent, "conflict:", current)
    if "offboarding" in target.on and report.offboarding_queue is not None:
        waiting = {
            f"offboarding:{e.key}": e
            for e in report.offboarding_queue
            if e.left_since is not None and now - e.left_since >= target.offboarding_after
        }
        new_leavers = {t: e for t, e in waiting.items() if t not in sent}
        if new_leavers:
            record = {t: e.state.value for t, e in new_leavers.items()}
            leavers = tuple(new_leavers.values())
            decision.due.append(Due("offboarding", record, leavers=leavers))
        decision.forget |= _over(sent, "offboarding:", waiting)
    if "every_run" in target.on:
        decision.due.append(Due("every_run", {}))
    return decision


def _over(sent: Mapping[str, object], prefix: str, current: Mapping[str, object]) -> set[str]:
    return {t for t in sent if t.startswith(prefix) and t not in current}

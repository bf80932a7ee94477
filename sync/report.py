"""What a run returns: its options, its status (which knows its exit code) and its report.

Kept apart from the engine so that output, metrics and the daemon read a report without
importing everything a run needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sync.errors import ExitCode, GuardError, SyncError
from sync.model import Action, Operation, Plan
from sync.offboarding import QueueEntry
from sync.plans.document import SavedPlan


class RunStatus(StrEnum):
    """How a run ended, as recorded in the state DB's `runs.status`."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # some operations failed or an error stopped the apply
    FAILED = "failed"  # nothing was applied: an error ended the run before or during planning
    GUARDED = "guarded"  # a safety guard held changes back

    @property
    def exit_code(self) -> ExitCode:
        """The exit code this status gives when no error says otherwise."""
        return _STATUS_EXIT[self]

    @property
    def is_failure(self) -> bool:
        """Whether the run failed (health checks and alerts); a guarded run did its job."""
        return self in (RunStatus.FAILED, RunStatus.PARTIAL)

    @classmethod
    def for_error(cls, error: SyncError) -> RunStatus:
        """The status of a run that `error` ended."""
        return cls.GUARDED if isinstance(error, GuardError) else cls.FAILED


_STATUS_EXIT = {
    RunStatus.RUNNING: ExitCode.OK,
    RunStatus.SUCCEEDED: ExitCode.OK,
    RunStatus.PARTIAL: ExitCode.FAILED,
    RunStatus.FAILED: ExitCode.FAILED,
    RunStatus.GUARDED: ExitCode.GUARDED,
}


@dataclass(frozen=True, slots=True)
class FailedOperation:
    """An operation that did not take effect, and why."""

    operation: Operation
    error: str
    http_status: int | None


@dataclass(slots=True)
class ApplyResult:
    """What the executor did: counts of done operations and every failure."""

    done: dict[str, int] = field(default_factory=lambda: {a.value: 0 for a in Action})
    failed: list[FailedOperation] = field(default_factory=list)
    refused: list[FailedOperation] = field(default_factory=list)  # deletes: users retained
    aborted: str | None = None  # set when an error stopped further operations

    @property
    def done_total(self) -> int:
        """Number of operations that took effect."""
        return sum(self.done.values())


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How a run is asked to behave (from the command line)."""

    dry_run: bool = False
    offline: bool = False
    allow_mass_delete: bool = False
    detailed_exitcode: bool = False
    save_plan: bool = False  # `plan --out`: a dry run whose report carries the plan to save
    only: tuple[str, ...] = ()  # `sync --only`: plan and apply for these people only


@dataclass(slots=True)
class RunReport:
    """The outcome of one job's run, for output, status and metrics."""

    job: str
    run_id: int
    dry_run: bool
    status: RunStatus = RunStatus.RUNNING
    exit_code: ExitCode = ExitCode.OK
    plan: Plan | None = None
    applied: ApplyResult | None = None
    source_records: int | None = None
    error: SyncError | None = None
    duration_seconds: float = 0.0
    requests: int = 0
    # Leavers TimeTrack still lists as enabled after the run (None: the run ended before).
    offboarding_queue: list[QueueEntry] | None = None
    saved_plan: SavedPlan | None = None  # `plan --out`: what to write (every operation)
    notices_failed: int = 0  # notifications that could not be delivered after the run

    def end(self, status: RunStatus, exit_code: ExitCode | None = None) -> None:
        """Set how the run ended; the exit code is the status's unless given."""
        self.status = status
        self.exit_code = status.exit_code if exit_code is None else exit_code

    def end_with_error(self, error: SyncError) -> None:
        """End the run with the status and exit code of the error that stopped it."""
        self.error = error
        self.end(RunStatus.for_error(error), error.exit_code)

    def summary(self) -> dict[str, int]:
        """Counts per action (planned, or done in a real run), plus failures."""
        counts = self.plan.summary() if self.plan else {}
        if self.applied is not None:
            counts.update(self.applied.done)
            counts["refused"] = len(self.applied.refused)
            counts["failed"] = len(self.applied.failed)
        return counts

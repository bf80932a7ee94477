"""One run of one job: read source -> refresh snapshot -> plan -> guard -> apply -> record.

The caller opens the run (`sync.runtime.open_run`: store, run lock, client) for the whole
command, so that no two runs of one state database overlap. An error a user can cause ends the
run with its record written and is kept in the report for the CLI to explain; nothing here
decides what to change (that is the planner's job) or prints (that is the CLI's).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import structlog

from sync.config import AppConfig, JobConfig
from sync.desired import DesiredRead, read_desired
from sync.errors import ExitCode, GuardError, StateError, SyncError, UsageError
from sync.executor import Executor, ProgressCallback
from sync.guards import apply_delete_guards, check_invalid_share, check_source
from sync.listing import trusted_listing
from sync.model import DesiredUser, Link, Plan, Policy, Skipped, TimeTrackUser
from sync.offboarding import QueueEntry, offboarding_queue
from sync.planner import plan as make_plan
from sync.recovery import resolve_pending
from sync.report import ApplyResult, RunOptions, RunReport, RunStatus
from sync.runtime import open_run
from sync.state.store import StateStore
from sync.timetrack.client import TimeTrackClient

log = structlog.get_logger(__name__)


ProgressFactory = Callable[[int], ProgressCallback | None]


def run_job(
    config: AppConfig,
    job: JobConfig,
    store: StateStore,
    options: RunOptions,
    *,
    client: TimeTrackClient | None,
    progress: ProgressFactory | None = None,
    stop: threading.Event | None = None,
    now: datetime | None = None,
) -> RunReport:
    """Run one job once and record it; never raises for errors a user can cause.

    Setting `stop` (the daemon's shutdown) stops sending further operations; those in flight
    finish and are journaled. `now` is the run's time for graces and delays (default: the
    clock when the run starts).
    """
    now = now or datetime.now(UTC)
    if options.offline and not options.dry_run:
        raise UsageError("--offline only works with --dry-run", hint="add --dry-run")
    started = time.monotonic()
    run_id = store.start_run(job.name, dry_run=options.dry_run)
    report = RunReport(job=job.name, run_id=run_id, dry_run=options.dry_run)
    requests_before = client.stats.snapshot()["requests"] if client else 0
    with structlog.contextvars.bound_contextvars(run_id=run_id, job=job.name):
        log.info("sync_started", dry_run=options.dry_run, source=job.source.type)
        try:
            _JobRun(config, job, store, options, client, report, now, progress, stop).execute()
        except SyncError as exc:
            report.end_with_error(exc)
            log.error("sync_error", error=str(exc), exit_code=exc.exit_code)
        report.duration_seconds = round(time.monotonic() - started, 3)
        if client is not None:
            report.requests = client.stats.snapshot()["requests"] - requests_before
        _record_end(store, report)
        log.info(
            "sync_finished",
            status=report.status,
            exit_code=report.exit_code,
            dry_run=options.dry_run,
            duration_s=report.duration_seconds,
            source_records=report.source_records,
            requests=report.requests,
            **report.summary(),
        )
    return report


def _record_end(store: StateStore, report: RunReport) -> None:
    """Record how the run ended; a database that cannot take it leaves the report intact."""
    try:
        store.finish_run(
            report.run_id,
            status=report.status,
            summary=report.summary(),
            source_records=report.source_records,
            error=str(report.error) if report.error else None,
        )
    except StateError as exc:
        # A full disk, say: the report still tells what took effect, and the next run closes
        # the record left `running` as interrupted.
        log.error("run_end_not_recorded", error=str(exc))
        if report.error is None:
            report.end_with_error(exc)


@dataclass
class _JobRun:
    """The steps of one run, sharing its inputs; `run_job` records the outcome."""

    config: AppConfig
    job: JobConfig
    store: StateStore
    options: RunOptions
    client: TimeTrackClient | None
    report: RunReport
    now: datetime
    progress: ProgressFactory | None = None
    stop: threading.Event | None = None
    # The links and snapshot the plan was made from (the state, while nothing was written).
    read_state: tuple[Mapping[str, Link], Mapping[str, TimeTrackUser]] | None = None

    def execute(self) -> None:
        """Read, plan, guard and (unless dry) apply."""
        policy = self.job.policy.to_policy()
        read = self._read_source(policy)
        invalid = check_invalid_share(read.records, len(read.skipped), policy)
        the_plan = self._plan(read.desired, read.skipped, policy)
        the_plan = replace(the_plan, guards=(invalid, *the_plan.guards))
        self.report.plan = the_plan
        guarded = any(v.tripped and not v.overridden for v in the_plan.guards)
        if self.options.dry_run:
            self.report.end(*_dry_run_outcome(the_plan, guarded, self.options))
            self.report.offboarding_queue = self._queue(policy, changed=False)
            return
        if invalid.tripped:
            log.error("sync_blocked", guard=invalid.name, reason=invalid.message)
            self.report.end(RunStatus.GUARDED)
            return
        self._apply(the_plan, read.desired)
        assert self.report.applied is not None
        self.report.end(_real_run_status(self.report.applied, guarded))
        changed = not the_plan.is_empty or bool(
            the_plan.offboarding or the_plan.missing_keys or the_plan.stale_keys
        )
        self.report.offboarding_queue = self._queue(policy, changed=changed)

    def _queue(self, policy: Policy, *, changed: bool) -> list[QueueEntry]:
        """The leavers still enabled after the run; from what it read, if it changed nothing."""
        if changed or self.read_state is None:
            return self.store.offboarding_queue(self.job.name, policy, self.now)
        links, snapshot = self.read_state
        return offboarding_queue(links.values(), snapshot, policy, self.now)

    def _read_source(self, policy: Policy) -> DesiredRead:
        """The whole source, mapped, or an error; the source guards before anything is planned."""
        # One clock for the run: mapping sees its UTC date as `today`, the graces its time.
        read = read_desired(self.job, today=self.now.date())
        self.report.source_records = read.records
        log.info("source_read", source=read.source, records=read.records)
        last = self.store.last_successful_source_count(self.job.name)
        tripped = [v for v in check_source(read.records, last, policy) if v.tripped]
        if tripped:
            raise GuardError(
                "; ".join(v.message for v in tripped),
                hint="check the source; these limits cannot be overridden by a flag",
            )
        return read

    def _plan(self, desired: list[DesiredUser], skipped: list[Skipped], policy: Policy) -> Plan:
        """Refresh the snapshot (absences confirmed), settle the journal, plan and guard."""
        links = self.store.load_links(self.job.name)
        if self.client is not None and not self.options.offline:
            users = trusted_listing(self.client, self.store, links.values())
            self.store.replace_snapshot(users, fetched_at=datetime.now(UTC))
            log.info("snapshot_refreshed", users=len(users))
        snapshot = self.store.load_snapshot()
        if not self.options.dry_run and resolve_pending(self.store, snapshot):
            links = self.store.load_links(self.job.name)  # a settled create links its user
        self.read_state = (links, snapshot)
        the_plan = make_plan(
            desired,
            snapshot,
            links,
            policy,
            match_on=self.job.match_on,
            now=self.now,
            other_owned=self.store.owned_by_other_jobs(self.job.name),
            held_keys=frozenset(s.key for s in skipped if s.key),
        )
        ordered = sorted(skipped, key=lambda s: (s.origin, s.key or ""))
        the_plan = replace(the_plan, skipped=(*the_plan.skipped, *ordered))
        return apply_delete_guards(
            the_plan, len(links), policy, allow_mass_delete=self.options.allow_mass_delete
        )

    def _apply(self, the_plan: Plan, desired: list[DesiredUser]) -> None:
        """Make the plan's calls through the executor, then age the missing links."""
        assert self.client is not None
        executor = Executor(
            self.client,
            self.store,
            run_id=self.report.run_id,
            job=self.job.name,
            desired={d.key: d for d in desired},
            concurrency=self.config.timetrack.concurrency,
            progress=self.progress(len(the_plan.operations)) if self.progress else None,
            stop=self.stop,
        )
        # State changes without a write first: the writes' outcomes then move them on.
        self.store.record_offboarding(self.job.name, the_plan.offboarding)
        try:
            executor.apply(the_plan)
        finally:
            # What took effect, also when an error (a full disk, say) ended the apply early:
            # the run record must not count the plan's operations as done.
            self.report.applied = executor.result
        self.store.record_missing(self.job.name, the_plan.missing_keys, the_plan.stale_keys)


def _dry_run_outcome(
    the_plan: Plan, guarded: bool, options: RunOptions
) -> tuple[RunStatus, ExitCode]:
    if guarded:
        return RunStatus.GUARDED, ExitCode.GUARDED
    if options.detailed_exitcode and not the_plan.is_empty:
        return RunStatus.SUCCEEDED, ExitCode.CHANGES
    return RunStatus.SUCCEEDED, ExitCode.OK


def _real_run_status(applied: ApplyResult, guarded: bool) -> RunStatus:
    if applied.failed or applied.aborted:
        return RunStatus.PARTIAL
    return RunStatus.GUARDED if guarded else RunStatus.SUCCEEDED


def run_jobs(
    config: AppConfig,
    jobs: Sequence[JobConfig],
    options: RunOptions,
    *,
    progress: ProgressFactory | None = None,
    now: datetime | None = None,
) -> list[RunReport]:
    """Run jobs one after another under one run lock and one client.

    `now` is the runs' time (default: the clock): what the planner compares with, and what the
    store records (`missing_since`, `locked_at`, `delete_refused_at`...), so that a later run
    given a later `now` measures its graces and delays from the same timeline.
    """
    names = [job.name for job in jobs]
    with open_run(config, names, offline=options.offline, now=now) as opened:
        return [
            run_job(
                config,
                job,
                opened.store,
                options,
                client=opened.client,
                progress=progress,
                now=now,
            )
            for job in jobs
        ]

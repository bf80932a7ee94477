"""One run of one job: read source -> refresh snapshot -> plan -> guard -> apply -> record.

The caller opens the run (`sync.runtime.open_run`: store, run lock, client) for the whole
command, so that no two runs of one state database overlap. An error a user can cause ends the
run with its record written and is kept in the report for the CLI to explain; nothing here
decides what to change (that is the planner's job) or prints (that is the CLI's).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import structlog

from sync.config import AppConfig, JobConfig
from sync.desired import DesiredRead, read_desired
from sync.errors import ExitCode, GuardError, StateError, SyncError, UsageError
from sync.executor import Executor, ProgressCallback, desired_hash
from sync.guards import apply_delete_guards, check_invalid_share, check_source
from sync.listing import trusted_listing
from sync.model import Link, Plan, Policy, TimeTrackUser
from sync.offboarding import QueueEntry, offboarding_queue
from sync.planner import plan as make_plan
from sync.plans.checks import (
    applied_before,
    check_applicable,
    config_hash,
    source_fingerprint,
    stale_error,
    stale_operations,
)
from sync.plans.document import PlannedOperation, SavedPlan
from sync.recovery import resolve_pending
from sync.report import ApplyResult, RunOptions, RunReport, RunStatus
from sync.runtime import open_run
from sync.scope import people_named, scoped
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
    saved: SavedPlan | None = None,
) -> RunReport:
    """Run one job once and record it; never raises for errors a user can cause.

    Setting `stop` (the daemon's shutdown) stops sending further operations; those in flight
    finish and are journaled. `now` is the run's time for graces and delays (default: the
    clock when the run starts). With `saved`, the run applies that plan instead of reading
    the source.
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
            steps = _JobRun(config, job, store, options, client, report, now, progress, stop)
            if saved is None:
                steps.execute()
            else:
                steps.execute_saved(saved)
        except SyncError as exc:
            report.end_with_error(exc)
            log.error("sync_error", error=str(exc), exit_code=exc.exit_code)
        report.duration_seconds = round(time.monotonic() - started, 3)
        if client is not None:
            report.requests = client.stats.snapshot()["requests"] - requests_before
        _record_end(store, report)
        if not options.dry_run:
            store.apply_retention(config.state.retention_days, now)
            if config.notify:
                from sync.notify.run import notify_run  # smtplib and friends: only when set

                report.notices_failed = notify_run(config, store, report, now)
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
    scope: frozenset[str] | None = None  # `--only`: the match keys the run is about

    def execute(self) -> None:
        """Read, plan, guard and (unless dry) apply."""
        policy = self.job.policy.to_policy()
        read = self._read_source(policy)
        invalid = check_invalid_share(read.records, len(read.skipped), policy)
        unguarded = self._plan(read, policy)
        if self.options.only:
            unguarded = self._only(unguarded, read)
        the_plan = self._guarded(unguarded, policy, self.options.allow_mass_delete)
        the_plan = replace(the_plan, guards=(invalid, *the_plan.guards))
        self.report.plan = the_plan
        guarded = any(v.tripped and not v.overridden for v in the_plan.guards)
        if self.options.save_plan:
            # A plan to review shows (and saves) what the delete guards hold back, too:
            # `apply --allow-mass-delete` approves exactly those operations.
            self.report.plan = replace(unguarded, guards=the_plan.guards)
            if not invalid.tripped:
                self.report.saved_plan = self._saved(self.report.plan, read)
        if self.options.dry_run:
            self.report.end(*_dry_run_outcome(the_plan, guarded, self.options))
            self.report.offboarding_queue = self._queue(policy, changed=False)
            return
        if invalid.tripped:
            log.error("sync_blocked", guard=invalid.name, reason=invalid.message)
            self.report.end(RunStatus.GUARDED)
            return
        desired = {d.key: d for d in read.desired}
        self._apply(
            the_plan,
            {
                op.key: desired_hash(desired[op.key].fields)
                for op in the_plan.operations
                if op.key in desired
            },
        )
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

    def _plan(self, read: DesiredRead, policy: Policy) -> Plan:
        """Refresh the snapshot (absences confirmed), settle the journal and plan."""
        links, snapshot = self._refresh()
        return plan_job(self.job, read, snapshot, links, self.store, policy=policy, now=self.now)

    def _only(self, the_plan: Plan, read: DesiredRead) -> Plan:
        """The plan for the people of --only (a name that matches nobody is an error)."""
        assert self.read_state is not None
        links, snapshot = self.read_state
        people = people_named(
            self.options.only, self.job.name, self.job.match_on, read.desired, snapshot, links
        )
        self.scope = people.keys
        return scoped(the_plan, people, read.desired)

    def _refresh(self) -> tuple[Mapping[str, Link], Mapping[str, TimeTrackUser]]:
        """The job's links and the snapshot, refreshed from TimeTrack unless offline."""
        links = self.store.load_links(self.job.name)
        if self.client is not None and not self.options.offline:
            users = trusted_listing(self.client, self.store, links.values())
            self.store.replace_snapshot(users, fetched_at=datetime.now(UTC))
            log.info("snapshot_refreshed", users=len(users))
        snapshot = self.store.load_snapshot()
        if not self.options.dry_run and resolve_pending(self.store, snapshot):
            links = self.store.load_links(self.job.name)  # a settled create links its user
        self.read_state = (links, snapshot)
        return links, snapshot

    def _guarded(self, the_plan: Plan, policy: Policy, allow_mass_delete: bool) -> Plan:
        """The plan with the delete guards' verdicts (and without what they hold back)."""
        assert self.read_state is not None
        owned = len(self.read_state[0])
        return apply_delete_guards(the_plan, owned, policy, allow_mass_delete=allow_mass_delete)

    def _saved(self, the_plan: Plan, read: DesiredRead) -> SavedPlan:
        """The plan to write for review, with what each operation was planned against."""
        assert self.read_state is not None
        snapshot = self.read_state[1]
        desired = {d.key: d for d in read.desired}
        return SavedPlan(
            plan_id=uuid.uuid4().hex,
            job=self.job.name,
            created_at=self.now,
            config_hash=config_hash(self.config, self.job),
            source_fingerprint=source_fingerprint(read.desired, read.skipped),
            operations=tuple(
                PlannedOperation(
                    op,
                    snapshot.get(op.tt_id) if op.tt_id else None,
                    desired_hash(desired[op.key].fields) if op.key in desired else None,
                )
                for op in the_plan.operations
            ),
            offboarding=the_plan.offboarding,
            missing_keys=the_plan.missing_keys,
            stale_keys=the_plan.stale_keys,
            guards=the_plan.guards,
        )

    def execute_saved(self, saved: SavedPlan) -> None:
        """Apply exactly a saved plan, once, if TimeTrack still looks as it was planned on."""
        policy = self.job.policy.to_policy()
        check_applicable(saved, self.config, self.job, policy.plan_max_age, self.now)
        earlier = self.store.applied_plan(saved.plan_id)
        if earlier is not None:
            raise applied_before(saved, *earlier)
        links, snapshot = self._refresh()
        stale = stale_operations(saved, snapshot, links)
        if stale:
            raise stale_error(saved, stale)
        the_plan = self._guarded(saved.plan(), policy, self.options.allow_mass_delete)
        self.report.plan = the_plan
        if len(the_plan.operations) < len(saved.operations):
            # Approval is of the whole plan: none of it is applied without the flag.
            self.report.plan = replace(saved.plan(), guards=the_plan.guards)
            log.error("apply_guarded", plan_id=saved.plan_id)
            self.report.end(RunStatus.GUARDED)
            return
        earlier = self.store.claim_plan(saved.plan_id, self.job.name, self.report.run_id)
        if earlier is not None:  # another run got there between the check and now
            raise applied_before(saved, *earlier)
        self._apply(the_plan, saved.desired_hashes())
        assert self.report.applied is not None
        self.report.end(_real_run_status(self.report.applied, guarded=False))
        self.report.offboarding_queue = self._queue(policy, changed=True)

    def _apply(self, the_plan: Plan, desired_hashes: Mapping[str, str]) -> None:
        """Make the plan's calls through the executor, then age the missing links."""
        assert self.client is not None
        executor = Executor(
            self.client,
            self.store,
            run_id=self.report.run_id,
            job=self.job.name,
            desired_hashes=desired_hashes,
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
        self.store.record_missing(
            self.job.name, the_plan.missing_keys, the_plan.stale_keys, scope=self.scope
        )


def plan_job(
    job: JobConfig,
    read: DesiredRead,
    snapshot: Mapping[str, TimeTrackUser],
    links: Mapping[str, Link],
    store: StateStore,
    *,
    policy: Policy,
    now: datetime,
) -> Plan:
    """The plan for a job's source read against TimeTrack and the job's links, before guards."""
    the_plan = make_plan(
        read.desired,
        snapshot,
        links,
        policy,
        match_on=job.match_on,
        now=now,
        other_owned=store.owned_by_other_jobs(job.name),
        held_keys=frozenset(s.key for s in read.skipped if s.key),
    )
    ordered = sorted(read.skipped, key=lambda s: (s.origin, s.key or ""))
    return replace(the_plan, skipped=(*the_plan.skipped, *ordered))


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
    saved: SavedPlan | None = None,
) -> list[RunReport]:
    """Run jobs one after another under one run lock and one client (with `saved`: apply it).

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
                saved=saved,
            )
            for job in jobs
        ]

"""One run of one job: read source -> refresh snapshot -> plan -> guard -> apply -> record.

The caller holds the run lock (sync.state.lock.RunLock) for the whole command, so that no two
runs of one state database overlap. Errors a user can cause end the run with its record written
and are raised again for the CLI to explain; nothing here decides what to change (that is the
planner's job) or prints (that is the CLI's).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from dataclasses import dataclass, replace

import structlog

from sync.config import AppConfig, JobConfig
from sync.errors import GuardError, SyncError, UsageError
from sync.executor import ApplyResult, Executor, ProgressCallback
from sync.guards import apply_delete_guards, check_source
from sync.mapping import Mapper
from sync.model import DesiredUser, Plan, Skipped
from sync.planner import plan as make_plan
from sync.recovery import resolve_pending
from sync.logging import register_secret
from sync.sources import build_source
from sync.state.lock import RunLock
from sync.state.store import StateStore
from sync.timetrack.client import TimeTrackClient

log = structlog.get_logger(__name__)

# Exit codes of the CLI contract.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_GUARDED, EXIT_CHANGES = 0, 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How a run is asked to behave (from the command line)."""

    dry_run: bool = False
    offline: bool = False
    allow_mass_delete: bool = False
    detailed_exitcode: bool = False


@dataclass(slots=True)
class RunReport:
    """The outcome of one job's run, for output, status and metrics."""

    job: str
    run_id: int
    dry_run: bool
    status: str = "running"
    exit_code: int = EXIT_OK
    plan: Plan | None = None
    applied: ApplyResult | None = None
    source_records: int | None = None
    error: SyncError | None = None
    duration_seconds: float = 0.0
    requests: int = 0

    def summary(self) -> dict[str, int]:
        """Counts per action (planned, or done in a real run), plus failures."""
        counts = self.plan.summary() if self.plan else {}
        if self.applied is not None:
            counts.update(self.applied.done)
            counts["failed"] = len(self.applied.failed)
        return counts


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
) -> RunReport:
    """Run one job once and record it; never raises for errors a user can cause.

    Setting `stop` (the daemon's shutdown) stops sending further operations; those in flight
    finish and are journaled.
    """
    if options.offline and not options.dry_run:
        raise UsageError("--offline only works with --dry-run", hint="add --dry-run")
    started = time.monotonic()
    run_id = store.start_run(job.name, dry_run=options.dry_run)
    report = RunReport(job=job.name, run_id=run_id, dry_run=options.dry_run)
    requests_before = client.stats.snapshot()["requests"] if client else 0
    with structlog.contextvars.bound_contextvars(run_id=run_id, job=job.name):
        log.info("sync_started", dry_run=options.dry_run, source=job.source.type)
        try:
            _run(config, job, store, options, client, report, progress, stop)
        except SyncError as exc:
            report.error = exc
            report.status = "guarded" if isinstance(exc, GuardError) else "failed"
            report.exit_code = exc.exit_code
            log.error("sync_error", error=str(exc), exit_code=exc.exit_code)
        report.duration_seconds = round(time.monotonic() - started, 3)
        if client is not None:
            report.requests = client.stats.snapshot()["requests"] - requests_before
        store.finish_run(
            run_id,
            status=report.status,
            summary=report.summary(),
            source_records=report.source_records,
            error=str(report.error) if report.error else None,
        )
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


def _run(
    config: AppConfig,
    job: JobConfig,
    store: StateStore,
    options: RunOptions,
    client: TimeTrackClient | None,
    report: RunReport,
    progress: ProgressFactory | None,
    stop: threading.Event | None = None,
) -> None:
    mapper = Mapper(job.mapping, job.active_expression(), job.match_on)
    source = build_source(job.source, mapper.referenced_names())
    people = list(source.read())
    report.source_records = len(people)
    log.info("source_read", source=source.describe(), records=len(people))
    policy = job.policy.to_policy()
    tripped = [v for v in check_source(len(people), _last_count(store, job), policy) if v.tripped]
    if tripped:
        raise GuardError("; ".join(v.message for v in tripped),
                         hint="check the source; these limits cannot be overridden by a flag")
    desired, skipped = mapper.map_all(people)
    if client is not None and not options.offline:
        users = client.list_users()
        store.replace_snapshot(users, fetched_at=_utcnow())
        log.info("snapshot_refreshed", users=len(users))
    snapshot = store.load_snapshot()
    if not options.dry_run:
        resolve_pending(store, snapshot)
    links = store.load_links(job.name)
    the_plan = make_plan(
        desired, snapshot, links, policy,
        match_on=job.match_on, other_owned=store.owned_by_other_jobs(job.name),
    )
    the_plan = replace(the_plan, skipped=(*the_plan.skipped, *_sorted(skipped)))
    the_plan = apply_delete_guards(
        the_plan, len(links), policy, allow_mass_delete=options.allow_mass_delete
    )
    report.plan = the_plan
    guarded = any(v.tripped and not v.overridden for v in the_plan.guards)
    if options.dry_run:
        report.status = "guarded" if guarded else "succeeded"
        report.exit_code = _dry_run_exit(the_plan, guarded, options)
        return
    assert client is not None
    executor = Executor(
        client, store, run_id=report.run_id, job=job.name,
        desired=_by_key(desired), concurrency=config.timetrack.concurrency,
        progress=progress(len(the_plan.operations)) if progress else None, stop=stop,
    )
    report.applied = executor.apply(the_plan)
    store.record_missing(job.name, the_plan.missing_keys, the_plan.stale_keys)
    report.status, report.exit_code = _real_run_status(report.applied, guarded)


def _last_count(store: StateStore, job: JobConfig) -> int | None:
    return store.last_successful_source_count(job.name)


def _sorted(skipped: list[Skipped]) -> list[Skipped]:
    return sorted(skipped, key=lambda s: (s.origin, s.key or ""))


def _by_key(desired: list[DesiredUser]) -> dict[str, DesiredUser]:
    return {d.key: d for d in desired}


def _dry_run_exit(the_plan: Plan, guarded: bool, options: RunOptions) -> int:
    if guarded:
        return EXIT_GUARDED
    if options.detailed_exitcode and not the_plan.is_empty:
        return EXIT_CHANGES
    return EXIT_OK


def _real_run_status(applied: ApplyResult, guarded: bool) -> tuple[str, int]:
    if applied.failed or applied.aborted:
        return "partial", EXIT_FAILED
    if guarded:
        return "guarded", EXIT_GUARDED
    return "succeeded", EXIT_OK


def combine_exit_codes(codes: list[int]) -> int:
    """One exit code for several jobs: the most severe (2, 1, 3, 4, 0 in that order)."""
    for code in (EXIT_USAGE, EXIT_FAILED, EXIT_GUARDED, EXIT_CHANGES):
        if code in codes:
            return code
    return EXIT_OK


def _utcnow() -> datetime:
    return datetime.now(UTC)


def open_client(config: AppConfig) -> TimeTrackClient:
    """A client with the API secret read now (the admin may have rotated it)."""
    settings = config.timetrack.client_settings()
    register_secret(settings.api_secret)
    return TimeTrackClient(settings)


def run_jobs(
    config: AppConfig,
    jobs: Sequence[JobConfig],
    options: RunOptions,
    *,
    progress: ProgressFactory | None = None,
) -> list[RunReport]:
    """Run jobs one after another under one run lock and one client."""
    store = StateStore(config.state.url, auto_migrate=config.state.auto_migrate)
    try:
        with RunLock(config.state.url):
            store.fail_stale_runs()
            client = None if options.offline else open_client(config)
            try:
                return [
                    run_job(config, job, store, options, client=client, progress=progress)
                    for job in jobs
                ]
            finally:
                if client is not None:
                    client.close()
    finally:
        store.close()

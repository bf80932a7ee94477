"""`timetrack-sync daemon`: each job on its schedule or interval until SIGTERM.

APScheduler 3 fires the jobs (coalesced, one instance each, a misfire grace of one period) into a
single worker thread, so the daemon's own jobs run one after another. Every run takes the state
database's run lock, as cron and shell runs do; a run that finds it taken is skipped and logged,
never queued. SIGTERM/SIGINT stop scheduling, let the operations in flight finish and be
journaled, and exit 0; SIGHUP reloads the config, keeping the old one when the new one is bad.
systemd hears READY, STATUS, WATCHDOG and STOPPING through sd_notify; outside systemd these are
no-ops. `metrics.listen` turns on /metrics and /healthz.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor as SchedulerPool
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import disable_created_metrics

from sync.config import AppConfig, JobConfig
from sync.engine import run_job
from sync.errors import ConfigError, ExitCode, LockHeldError, SyncError
from sync.logging import configure_logging
from sync.metrics import Health, Metrics, MetricsServer
from sync.report import RunOptions, RunReport, RunStatus
from sync.runtime import open_run, open_store
from sync.sdnotify import Notifier, Watchdog, watchdog_seconds

log = structlog.get_logger(__name__)

# How long SIGTERM waits for the run in flight (systemd's TimeoutStopSec defaults to 90 s).
STOP_TIMEOUT_SECONDS = 60.0
_LOOP_TICK_SECONDS = 1.0
_HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@dataclass(frozen=True)
class Schedule:
    """How the daemon fires one job."""

    job: str
    trigger: CronTrigger | IntervalTrigger
    period: float  # seconds between runs (for cron: the longest gap among the next ten)
    run_on_start: bool


def job_schedule(job: JobConfig) -> Schedule | None:
    """The job's trigger, or None for a job without schedule or interval (cron-only)."""
    jitter, run_on_start = job.jitter_seconds or None, job.run_on_start
    seconds = job.interval_seconds()
    if seconds is not None:
        trigger = IntervalTrigger(seconds=seconds, jitter=jitter)
        return Schedule(job.name, trigger, seconds, run_on_start)
    if job.schedule is None:
        return None
    minute, hour, day, month, day_of_week = job.schedule.split()
    cron = CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week, jitter=jitter
    )
    return Schedule(job.name, cron, _cron_period(cron), run_on_start)


def _cron_period(trigger: CronTrigger) -> float:
    fire: datetime | None = trigger.get_next_fire_time(None, datetime.now(UTC))
    gaps: list[float] = []
    for _ in range(10):
        if fire is None:
            break
        after: datetime | None = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if after is not None:
            gaps.append((after - fire).total_seconds())
        fire = after
    return max(gaps, default=86400.0)


def schedules(config: AppConfig) -> list[Schedule]:
    """Every scheduled job; ConfigError when none is (the daemon would have nothing to do)."""
    found = [s for s in (job_schedule(job) for job in config.jobs) if s is not None]
    if not found:
        raise ConfigError(
            f"{config.path}: no job has a schedule or an interval; the daemon has nothing to do",
            hint='add `interval: 15m` or `schedule: "*/15 * * * *"` to a job, or run '
            "`timetrack-sync sync` from cron or a timer instead",
        )
    return found


class Daemon:
    """The scheduler, the signals, sd_notify and the metrics endpoint around the engine."""

    def __init__(
        self,
        config: AppConfig,
        *,
        reload: Callable[[], AppConfig],
        log_overrides: tuple[str | None, str | None] = (None, None),
        notifier: Notifier | None = None,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
    ) -> None:
        self._config = config
        self._load = reload
        self._log_overrides = log_overrides
        self._notifier = notifier or Notifier()
        self._stop_timeout = stop_timeout
        self._stop = threading.Event()
        self._busy = threading.Lock()  # held while a run is in flight
        self._heartbeat = time.monotonic()
        # `*_created` series only repeat what Prometheus records itself (the library is untyped).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.metrics = Metrics()
        self.health = Health()
        self._scheduler = BackgroundScheduler(executors={"default": SchedulerPool(1)})
        self._server: MetricsServer | None = None

    # -- the main thread --------------------------------------------------------------------

    def run(self) -> ExitCode:
        """Serve until SIGTERM/SIGINT; the exit code (0 unless the stop timed out)."""
        with _signal_pipe() as wakeup:
            _check_state(self._config)
            self._schedule(schedules(self._config), first=True)
            if self._config.metrics.listen:
                self._server = MetricsServer(self._config.metrics.listen, self.metrics, self.health)
                self._server.start()
            watchdog = self._watchdog()
            self._scheduler.start()
            log.info(
                "daemon_started",
                pid=os.getpid(),
                jobs=self._job_names(),
                metrics=self._config.metrics.listen,
                watchdog=watchdog is not None,
            )
            self._notifier.ready(status=f"waiting for runs of {', '.join(self._job_names())}")
            if watchdog is not None:
                watchdog.start()
            reason = "error"
            try:
                reason = self._loop(wakeup)
            finally:
                code = self._shutdown(reason)
                if watchdog is not None:
                    watchdog.stop()
        return code

    def _loop(self, wakeup: int) -> str:
        while True:
            ready, _, _ = select.select([wakeup], [], [], _LOOP_TICK_SECONDS)
            self._heartbeat = time.monotonic()
            if not ready:
                continue
            with suppress(BlockingIOError):
                for signum in os.read(wakeup, 64):
                    if signum == signal.SIGHUP:
                        self.reload()
                    elif signum in (signal.SIGTERM, signal.SIGINT):
                        return signal.Signals(signum).name

    def reload(self) -> None:
        """Load and validate the config again; keep the running one when the new one is bad."""
        self._notifier.reloading()
        try:
            config = self._load()
            found = schedules(config)
            _check_state(config)
        except SyncError as exc:
            log.error("config_reload_failed", error=str(exc), keeping=str(self._config.path))
            self._notifier.ready(status="config reload FAILED; still running the previous config")
            return
        level, fmt = self._log_overrides
        configure_logging(level or config.logging.level, fmt or config.logging.format)
        if config.metrics.listen != self._config.metrics.listen:
            log.warning(
                "metrics_listen_not_reloaded",
                listen=self._config.metrics.listen,
                hint="restart the service to move the metrics endpoint",
            )
        self._config = config
        self._schedule(found, first=False)
        log.info("config_reloaded", path=str(config.path), jobs=self._job_names())
        self._notifier.ready(status=f"config reloaded; jobs {', '.join(self._job_names())}")

    def _schedule(self, found: list[Schedule], *, first: bool) -> None:
        self._scheduler.remove_all_jobs()
        for item in found:
            extra: dict[str, Any] = {}
            if first and item.run_on_start:
                extra["next_run_time"] = datetime.now(UTC)
            self._scheduler.add_job(
                self._run_job,
                item.trigger,
                args=[item.job],
                id=item.job,
                name=item.job,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=max(1, int(item.period)),
                replace_existing=True,
                **extra,
            )
        scheduled = {item.job for item in found}
        for job in self._config.jobs:
            if job.name not in scheduled:
                log.info(
                    "job_not_scheduled",
                    job=job.name,
                    reason="no schedule or interval; it runs only with `sync`",
                )
        self.health.configure({item.job: item.period for item in found})

    def _shutdown(self, reason: str) -> ExitCode:
        self._notifier.stopping()
        log.info("daemon_stopping", reason=reason, timeout_s=self._stop_timeout)
        self._stop.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        finished = self._busy.acquire(timeout=self._stop_timeout)
        if self._server is not None:
            self._server.stop()
        if not finished:
            log.error(
                "daemon_stop_timeout",
                timeout_s=self._stop_timeout,
                hint="the next run resolves any operation left pending",
            )
            return ExitCode.FAILED
        log.info("daemon_stopped")
        self._notifier.close()
        return ExitCode.OK

    def _watchdog(self) -> Watchdog | None:
        timeout = watchdog_seconds()
        if timeout is None or not self._notifier.enabled:
            return None

        def alive() -> bool:
            return time.monotonic() - self._heartbeat < max(timeout, 2 * _LOOP_TICK_SECONDS)

        return Watchdog(self._notifier, timeout, alive)

    def _job_names(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()]

    # -- the scheduler's worker thread ------------------------------------------------------

    def _run_job(self, name: str) -> None:
        """One scheduled run of `name`; never raises (the scheduler thread must survive)."""
        with self._busy:
            if self._stop.is_set():
                return
            config = self._config  # a reload mid-run applies from the next run on
            try:
                job = config.job(name)
            except ConfigError:
                return  # removed by a reload after this run was queued
            with structlog.contextvars.bound_contextvars(job=name):
                self._execute(config, job)

    def _execute(self, config: AppConfig, job: JobConfig) -> None:
        started = time.monotonic()
        try:
            report, stats = self._locked_run(config, job)
        except LockHeldError as exc:
            log.warning("run_skipped", reason=exc.message)
            self.metrics.record_outcome(job.name, "skipped", 0.0)
            self._notifier.status(f"{job.name}: skipped at {_clock()}: another run holds the lock")
            return
        except Exception as exc:  # a failed run must not end the daemon
            text = str(exc) if isinstance(exc, SyncError) else f"{type(exc).__name__}: {exc}"
            log.error("run_failed", error=text, exc_info=not isinstance(exc, SyncError))
            self.metrics.record_outcome(job.name, RunStatus.FAILED, time.monotonic() - started)
            self.health.record(job.name, ok=False, reason=text)
            self._notifier.status(f"{job.name}: failed at {_clock()}: {text.splitlines()[0]}")
            return
        self.metrics.record_run(report, stats)
        reason = str(report.error) if report.error else f"status {report.status}"
        self.health.record(job.name, ok=not report.status.is_failure, reason=reason)
        self._notifier.status(_status_line(report))

    def _locked_run(self, config: AppConfig, job: JobConfig) -> tuple[RunReport, dict[str, Any]]:
        with open_run(config, [job.name]) as opened:
            assert opened.client is not None
            report = run_job(
                config, job, opened.store, RunOptions(), client=opened.client, stop=self._stop
            )
        return report, opened.client.stats.snapshot()


def _check_state(config: AppConfig) -> None:
    """Open (and migrate) the state database once: READY=1 only when it works."""
    with open_store(config):
        pass


def _status_line(report: RunReport) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in report.summary().items() if v)
    return (
        f"{report.job}: {report.status} at {_clock()} in {report.duration_seconds:.1f}s"
        f" ({counts or 'no changes'})"
    )


def _clock() -> str:
    return datetime.now(UTC).strftime("%H:%M:%SZ")


@contextmanager
def _signal_pipe() -> Iterator[int]:
    """Signals become bytes on a pipe that the main loop selects on (no work in handlers)."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    previous = {sig: signal.signal(sig, _ignore) for sig in _HANDLED_SIGNALS}
    old_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    try:
        yield read_fd
    finally:
        signal.set_wakeup_fd(old_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(read_fd)
        os.close(write_fd)


def _ignore(_signum: int, _frame: object) -> None:
    """The real work happens in the main loop, woken by the signal's byte on the pipe."""


def run_daemon(
    config: AppConfig,
    *,
    reload: Callable[[], AppConfig],
    log_overrides: tuple[str | None, str | None] = (None, None),
) -> ExitCode:
    """Run the daemon until SIGTERM; the exit code."""
    code = Daemon(config, reload=reload, log_overrides=log_overrides).run()
    if code is not ExitCode.OK:
        # A run still hangs in a worker thread that the interpreter would wait for at exit.
        logging.shutdown()
        os._exit(code)
    return code

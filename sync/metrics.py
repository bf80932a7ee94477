"""The daemon's Prometheus metrics, its health verdict, and the tiny HTTP server for both.

Metrics live in their own CollectorRegistry (not the process-wide default) so that tests and a
reloaded daemon never see stale collectors. `/healthz` answers 200 while the last run of each
scheduled job is younger than twice its period and did not fail, 503 with the reasons otherwise.
The server binds exactly `metrics.listen` and is off unless that key is set. The sync job's
label is `sync_job`, because Prometheus reserves `job` for the scrape job of the target.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from sync import __version__
from sync.errors import SyncError
from sync.logging import redact_text
from sync.report import RunReport, RunStatus

log = structlog.get_logger(__name__)

PREFIX = "timetrack_sync"
# Runs take from a second (no changes) to an hour (a first sync of 100,000 users).
DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class Metrics:
    """Every metric the daemon exports, in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs = Counter(
            f"{PREFIX}_runs",
            "Runs by job and status (skipped: lock held)",
            ["sync_job", "status"],
            registry=r,
        )
        self.operations = Counter(
            f"{PREFIX}_operations",
            "Write operations by action and outcome",
            ["sync_job", "action", "outcome"],
            registry=r,
        )
        self.last_success = Gauge(
            f"{PREFIX}_last_success_timestamp_seconds",
            "End of the last successful run (Unix time)",
            ["sync_job"],
            registry=r,
        )
        self.last_run = Gauge(
            f"{PREFIX}_last_run_timestamp_seconds",
            "End of the last run, whatever its outcome (Unix time)",
            ["sync_job"],
            registry=r,
        )
        self.duration = Histogram(
            f"{PREFIX}_run_duration_seconds",
            "Duration of runs",
            ["sync_job"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.api_requests = Counter(
            f"{PREFIX}_api_requests",
            "TimeTrack API requests by HTTP status (error: no answer)",
            ["status"],
            registry=r,
        )
        self.api_retries = Counter(f"{PREFIX}_api_retries", "TimeTrack API retries", registry=r)
        self.api_rate_limited = Counter(
            f"{PREFIX}_api_rate_limited", "TimeTrack API answers 429 Too Many Requests", registry=r
        )
        self.api_request_rate = Gauge(
            f"{PREFIX}_api_request_rate",
            "The client's request pace at the end of the last run (requests/s; 0: no pace set)",
            registry=r,
        )
        self.guard_trips = Counter(
            f"{PREFIX}_guard_trips",
            "Safety guards tripped, by guard",
            ["sync_job", "guard"],
            registry=r,
        )
        self.source_records = Gauge(
            f"{PREFIX}_source_records",
            "Records the source returned in the last run",
            ["sync_job"],
            registry=r,
        )
        self.conflicts = Gauge(
            f"{PREFIX}_conflicts", "Conflicts in the last run's plan", ["sync_job"], registry=r
        )
        self.skipped_records = Gauge(
            f"{PREFIX}_skipped_records",
            "Source records skipped as invalid in the last run",
            ["sync_job"],
            registry=r,
        )
        self.offboarding_pending = Gauge(
            f"{PREFIX}_offboarding_pending",
            "Leavers TimeTrack still lists as enabled (locked or retained): for its admin",
            ["sync_job"],
            registry=r,
        )
        self.offboarding_oldest = Gauge(
            f"{PREFIX}_offboarding_oldest_seconds",
            "Time since the person of the oldest offboarding queue entry left (0: queue empty)",
            ["sync_job"],
            registry=r,
        )
        self.notifications_failed = Counter(
            f"{PREFIX}_notifications_failed",
            "Notifications (email, webhook) that could not be delivered; sent again next run",
            ["sync_job"],
            registry=r,
        )
        info = Gauge(f"{PREFIX}_build_info", "Version of timetrack-sync", ["version"], registry=r)
        info.labels(version=__version__).set(1)

    def record_run(self, report: RunReport, client_stats: Mapping[str, Any] | None) -> None:
        """Count one finished run and the API traffic of its client."""
        job, now = report.job, time.time()
        self.runs.labels(sync_job=job, status=report.status).inc()
        self.notifications_failed.labels(sync_job=job).inc(report.notices_failed)
        self.duration.labels(sync_job=job).observe(report.duration_seconds)
        self.last_run.labels(sync_job=job).set(now)
        if not report.status.is_failure:  # guarded is healthy: alerts use guard_trips
            self.last_success.labels(sync_job=job).set(now)
        if report.source_records is not None:
            self.source_records.labels(sync_job=job).set(report.source_records)
        self._record_plan(report)
        self._record_queue(report, now)
        if report.applied is not None:
            for action, count in report.applied.done.items():
                self.operations.labels(sync_job=job, action=action, outcome="done").inc(count)
            for outcome, ops in (
                ("failed", report.applied.failed),
                ("refused", report.applied.refused),
            ):
                for failed in ops:
                    action = failed.operation.action.value
                    self.operations.labels(sync_job=job, action=action, outcome=outcome).inc()
        if client_stats is not None:
            self.record_client(client_stats)

    def _record_plan(self, report: RunReport) -> None:
        job = report.job
        if report.plan is None:
            if report.status is RunStatus.GUARDED:  # the source guards stop a run before planning
                self.guard_trips.labels(sync_job=job, guard="source").inc()
            return
        self.conflicts.labels(sync_job=job).set(len(report.plan.conflicts))
        self.skipped_records.labels(sync_job=job).set(len(report.plan.skipped))
        for verdict in report.plan.guards:
            if verdict.tripped and not verdict.overridden:
                self.guard_trips.labels(sync_job=job, guard=verdict.name).inc()

    def _record_queue(self, report: RunReport, now: float) -> None:
        queue = report.offboarding_queue
        if queue is None:
            return
        self.offboarding_pending.labels(sync_job=report.job).set(len(queue))
        left = [e.left_since.timestamp() for e in queue if e.left_since is not None]
        oldest = max(0.0, now - min(left)) if left else 0.0
        self.offboarding_oldest.labels(sync_job=report.job).set(oldest)

    def record_client(self, stats: Mapping[str, Any]) -> None:
        """Add one client's counters (a fresh client per run, so its totals are this run's)."""
        for status, count in dict(stats.get("by_status", {})).items():
            self.api_requests.labels(status=str(status)).inc(count)
        if stats.get("transport_errors"):
            self.api_requests.labels(status="error").inc(stats["transport_errors"])
        self.api_retries.inc(stats.get("retries", 0))
        self.api_rate_limited.inc(stats.get("rate_limited", 0))
        self.api_request_rate.set(stats.get("rate_per_second", 0.0))

    def record_outcome(self, job: str, status: str, duration: float) -> None:
        """Count a run that ended before the engine could report it (skipped, or no state DB)."""
        self.runs.labels(sync_job=job, status=status).inc()
        if status != "skipped":
            self.duration.labels(sync_job=job).observe(duration)
            self.last_run.labels(sync_job=job).set(time.time())

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


@dataclass
class _JobHealth:
    period: float
    finished_at: float | None = None
    failed: bool = False
    reason: str = ""


class Health:
    """Tracks each scheduled job's last run; `check()` is the /healthz verdict."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._started = clock()
        self._jobs: dict[str, _JobHealth] = {}
        self._lock = threading.Lock()

    def configure(self, periods: Mapping[str, float]) -> None:
        """Set the scheduled jobs and their periods (seconds), keeping what is known of them."""
        with self._lock:
            old = self._jobs
            self._jobs = {
                name: _JobHealth(period, *_known(old.get(name))) for name, period in periods.items()
            }

    def record(self, job: str, *, ok: bool, reason: str = "") -> None:
        """Note a finished run of `job` (ok: it did not fail)."""
        with self._lock:
            state = self._jobs.setdefault(job, _JobHealth(period=float("inf")))
            state.finished_at, state.failed, state.reason = self._clock(), not ok, reason

    def check(self) -> tuple[bool, list[str]]:
        """(healthy, one line per job)."""
        now, lines, healthy = self._clock(), [], True
        with self._lock:
            for name, state in sorted(self._jobs.items()):
                ok, text = _verdict(state, now, self._started)
                healthy &= ok
                lines.append(f"job {name}: {text}")
        return healthy, lines


def _known(state: _JobHealth | None) -> tuple[float | None, bool, str]:
    if state is None:
        return None, False, ""
    return state.finished_at, state.failed, state.reason


def _verdict(state: _JobHealth, now: float, started: float) -> tuple[bool, str]:
    limit = 2 * state.period
    if state.finished_at is None:
        waited = now - started
        if waited <= limit:
            return True, f"ok (no run yet, {waited:.0f}s since start)"
        return False, f"no run finished in the {waited:.0f}s since start (limit {limit:.0f}s)"
    age = now - state.finished_at
    if state.failed:
        return False, f"last run failed {age:.0f}s ago: {redact_text(state.reason)}"
    if age > limit:
        return False, f"last run finished {age:.0f}s ago, more than 2 x {state.period:.0f}s"
    return True, f"ok (last run {age:.0f}s ago)"


class MetricsServer:
    """/metrics and /healthz over HTTP/1.0 from a background thread."""

    def __init__(self, listen: str, metrics: Metrics, health: Health) -> None:
        host, port = parse_listen(listen)
        handler = _handler(metrics, health)
        server_class = _V6Server if ":" in host else ThreadingHTTPServer
        try:
            self._server = server_class((host, port), handler)
        except OSError as exc:
            raise SyncError(
                f"metrics.listen: cannot listen on {listen}: {exc.strerror}",
                hint="pick a free port, or remove metrics.listen to turn the endpoint off",
            ) from None
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.25},
            name="metrics-http",
            daemon=True,
        )

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def parse_listen(listen: str) -> tuple[str, int]:
    """'127.0.0.1:9464' or '[::1]:9464' -> (host, port)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def _handler(metrics: Metrics, health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = f"timetrack-sync/{__version__}"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, metrics.render(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                healthy, lines = health.check()
                body = "\n".join(["ok" if healthy else "unhealthy", *lines]) + "\n"
                self._send(200 if healthy else 503, body.encode(), "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found: try /metrics or /healthz\n", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("metrics_http_request", client=self.client_address[0], line=format % args)

    return Handler

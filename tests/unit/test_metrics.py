"""Metrics from run reports, the /healthz verdict, and the HTTP endpoint serving both."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sync.errors import ExitCode, SourceError, SyncError
from sync.metrics import Health, Metrics, MetricsServer, parse_listen
from sync.model import Action, Conflict, ConflictKind, GuardVerdict, Offboarding, Operation, Plan
from sync.offboarding import QueueEntry
from sync.report import ApplyResult, FailedOperation, RunReport, RunStatus


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    value = metrics.registry.get_sample_value(name, labels)
    return value


def succeeded_report() -> RunReport:
    create = Operation(Action.CREATE, "E-1", "ada")
    update = Operation(Action.UPDATE, "E-2", "bob", tt_id="2")
    plan = Plan(
        operations=(create, update),
        conflicts=(Conflict(ConflictKind.RENAME, "E-3", "cy", "username changed"),),
        guards=(GuardVerdict("max_deletes", True, False, "too many deletes"),),
    )
    applied = ApplyResult()
    applied.done["create"] = 1
    applied.failed.append(FailedOperation(update, "422 rejected", 422))
    return RunReport(
        job="hr",
        run_id=1,
        dry_run=False,
        status=RunStatus.PARTIAL,
        exit_code=ExitCode.FAILED,
        plan=plan,
        applied=applied,
        source_records=40,
        duration_seconds=2.0,
    )


def test_a_run_is_counted_by_status_operations_by_outcome_and_api_by_status() -> None:
    metrics = Metrics()
    stats = {
        "requests": 9,
        "retries": 2,
        "rate_limited": 1,
        "transport_errors": 1,
        "by_status": {200: 5, 201: 1, 429: 1, 422: 1},
        "rate_per_second": 133.3,
    }
    metrics.record_run(succeeded_report(), stats)
    assert sample(metrics, "timetrack_sync_runs_total", sync_job="hr", status="partial") == 1
    assert (
        sample(
            metrics,
            "timetrack_sync_operations_total",
            sync_job="hr",
            action="create",
            outcome="done",
        )
        == 1
    )
    assert (
        sample(
            metrics,
            "timetrack_sync_operations_total",
            sync_job="hr",
            action="update",
            outcome="failed",
        )
        == 1
    )
    assert sample(metrics, "timetrack_sync_api_requests_total", status="200") == 5
    assert sample(metrics, "timetrack_sync_api_requests_total", status="error") == 1
    assert sample(metrics, "timetrack_sync_api_retries_total") == 2
    assert sample(metrics, "timetrack_sync_api_rate_limited_total") == 1
    assert sample(metrics, "timetrack_sync_api_request_rate") == 133.3
    assert (
        sample(metrics, "timetrack_sync_guard_trips_total", sync_job="hr", guard="max_deletes") == 1
    )
    assert sample(metrics, "timetrack_sync_source_records", sync_job="hr") == 40
    assert sample(metrics, "timetrack_sync_conflicts", sync_job="hr") == 1
    assert sample(metrics, "timetrack_sync_run_duration_seconds_count", sync_job="hr") == 1
    # a partial run is not a success
    assert sample(metrics, "timetrack_sync_last_success_timestamp_seconds", sync_job="hr") is None


def test_a_source_guard_counts_as_a_guard_trip_and_a_success() -> None:
    metrics = Metrics()
    report = RunReport(
        job="hr", run_id=2, dry_run=False, status=RunStatus.GUARDED, exit_code=ExitCode.GUARDED
    )
    metrics.record_run(report, None)
    assert sample(metrics, "timetrack_sync_guard_trips_total", sync_job="hr", guard="source") == 1
    assert sample(metrics, "timetrack_sync_last_success_timestamp_seconds", sync_job="hr")


def test_offboarding_queue_size_and_the_age_of_its_oldest_entry_are_exported() -> None:
    now = datetime.now(UTC)
    entries = [
        QueueEntry(
            "1", "ada", "Ada L", "1", Offboarding.RETAINED, now - timedelta(days=5), now, "x"
        ),
        QueueEntry(
            "2", "bob", "Bob M", "2", Offboarding.LOCKED, now - timedelta(days=1), now, None
        ),
    ]
    metrics = Metrics()
    report = RunReport(job="hr", run_id=3, dry_run=False, status=RunStatus.SUCCEEDED)
    report.offboarding_queue = entries
    metrics.record_run(report, None)
    assert sample(metrics, "timetrack_sync_offboarding_pending", sync_job="hr") == 2
    oldest = sample(metrics, "timetrack_sync_offboarding_oldest_seconds", sync_job="hr")
    assert oldest is not None and 5 * 86400 <= oldest < 5 * 86400 + 60
    report.offboarding_queue = []
    metrics.record_run(report, None)
    assert sample(metrics, "timetrack_sync_offboarding_pending", sync_job="hr") == 0
    assert sample(metrics, "timetrack_sync_offboarding_oldest_seconds", sync_job="hr") == 0


def test_skipped_runs_are_counted_without_a_duration() -> None:
    metrics = Metrics()
    metrics.record_outcome("hr", "skipped", 0.0)
    assert sample(metrics, "timetrack_sync_runs_total", sync_job="hr", status="skipped") == 1
    assert sample(metrics, "timetrack_sync_run_duration_seconds_count", sync_job="hr") is None


def test_health_is_ok_before_the_first_run_until_twice_the_period_has_passed() -> None:
    clock = FakeClock()
    health = Health(clock)
    health.configure({"hr": 60.0})
    assert health.check()[0]
    clock.now += 121
    healthy, lines = health.check()
    assert not healthy
    assert "no run finished" in lines[0]


def test_health_fails_with_the_reason_after_a_failed_run_and_recovers() -> None:
    clock = FakeClock()
    health = Health(clock)
    health.configure({"hr": 60.0, "ldap": 3600.0})
    health.record("hr", ok=True)
    assert health.check()[0]
    health.record("hr", ok=False, reason=str(SourceError("people.csv: no such file")))
    healthy, lines = health.check()
    assert not healthy
    assert lines == [
        "job hr: last run failed 0s ago: people.csv: no such file",
        "job ldap: ok (no run yet, 0s since start)",
    ]
    health.record("hr", ok=True)
    assert health.check()[0]


def test_health_fails_when_the_last_run_is_older_than_twice_the_period() -> None:
    clock = FakeClock()
    health = Health(clock)
    health.configure({"hr": 60.0})
    health.record("hr", ok=True)
    clock.now += 119
    assert health.check()[0]
    clock.now += 2
    healthy, lines = health.check()
    assert not healthy and "more than 2 x 60s" in lines[0]


def test_reconfiguring_keeps_what_is_known_and_drops_removed_jobs() -> None:
    clock = FakeClock()
    health = Health(clock)
    health.configure({"hr": 60.0, "old": 60.0})
    health.record("hr", ok=False, reason="boom")
    health.configure({"hr": 30.0})
    healthy, lines = health.check()
    assert not healthy and len(lines) == 1 and "boom" in lines[0]


@pytest.fixture
def server() -> Iterator[tuple[MetricsServer, Metrics, Health]]:
    metrics, health = Metrics(), Health()
    running = MetricsServer("127.0.0.1:0", metrics, health)
    running.start()
    yield running, metrics, health
    running.stop()


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def test_endpoint_serves_metrics_and_health(server: tuple[MetricsServer, Metrics, Health]) -> None:
    running, metrics, health = server
    health.configure({"hr": 60.0})
    metrics.record_run(succeeded_report(), None)
    status, text = get(running.port, "/metrics")
    assert status == 200
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"timetrack_sync_runs", "timetrack_sync_run_duration_seconds"} <= names
    assert get(running.port, "/healthz") == (200, "ok\njob hr: ok (no run yet, 0s since start)\n")
    health.record("hr", ok=False, reason="API down")
    status, body = get(running.port, "/healthz")
    assert status == 503 and body.startswith("unhealthy\n") and "API down" in body
    assert get(running.port, "/")[0] == 404


def test_a_busy_listen_address_is_reported_with_the_key() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SyncError, match=r"metrics.listen: cannot listen on 127.0.0.1:\d+"):
            MetricsServer(f"127.0.0.1:{port}", Metrics(), Health())


def test_listen_addresses_parse_with_ipv6_brackets() -> None:
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("[::1]:9464") == ("::1", 9464)

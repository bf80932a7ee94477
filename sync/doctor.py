"""`timetrack-sync doctor`: read-only checks of the state DB, sources, API and notify targets."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from rich.console import Console
from rich.markup import escape

from sync.config import AppConfig, JobConfig
from sync.config.notify import EmailTarget, WebhookTarget
from sync.desired import read_desired
from sync.errors import ExitCode, SyncError
from sync.runtime import open_client, open_store

PROBE_USERNAME = "timetrack-sync-doctor-probe"


def _check(console: Console, label: str, action: Callable[[], str]) -> bool:
    started = time.monotonic()
    try:
        detail = action()
    except SyncError as exc:
        console.print(f"[red]FAIL[/red] {label}: {escape(str(exc))}", highlight=False)
        return False
    elapsed = time.monotonic() - started
    console.print(
        f"[green]ok[/green]   {label}: {escape(detail)} ({elapsed:.2f} s)", highlight=False
    )
    return True


def _state(config: AppConfig) -> str:
    with open_store(config) as store:
        runs = store.recent_runs(limit=1)
    last = f"last run #{runs[0].id} {runs[0].status}" if runs else "no runs yet"
    return f"{config.state.url.split('://', 1)[0]} opened, {last}"


def _source(job: JobConfig) -> str:
    read = read_desired(job, today=datetime.now(UTC).date())
    leavers = sum(1 for d in read.desired if not d.active)
    text = (
        f"{read.source}: {read.records} records, {len(read.desired) - leavers} active, "
        f"{leavers} leavers, {len(read.skipped)} skipped"
    )
    if read.skipped:
        first = read.skipped[0]
        text += f" (first: {first.origin}: {first.reason})"
    return text


def _api(config: AppConfig) -> str:
    with open_client(config) as client:
        client.find_user(PROBE_USERNAME)
    return f"{config.timetrack.url} answered an authenticated read"


def run_doctor(config: AppConfig, console: Console) -> ExitCode:
    """Run every check and print one line each; 0 when all pass, 1 otherwise."""
    console.print(
        f"[green]ok[/green]   config: {escape(str(config.path))} ({len(config.jobs)} jobs)"
    )
    results = [_check(console, "state database", lambda: _state(config))]
    for job in config.jobs:
        results.append(_check(console, f"job {job.name} source", partial(_source, job)))
    results.append(_check(console, "TimeTrack API", lambda: _api(config)))
    for index, target in enumerate(config.notify):
        results.append(_check(console, f"notify[{index}]", partial(_notify, target, index)))
    return ExitCode.OK if all(results) else ExitCode.FAILED


def _notify(target: EmailTarget | WebhookTarget, index: int) -> str:
    from sync.notify.deliver import DeliveryError, probe  # smtplib: only when targets are set

    try:
        return probe(target, f"notify[{index}]")
    except DeliveryError as exc:
        raise SyncError(str(exc), hint="check the target's host, port and login") from None

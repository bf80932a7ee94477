"""`timetrack-sync doctor`: read-only checks of the state DB, each source and the API."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from rich.console import Console
from rich.markup import escape

from sync.config import AppConfig, JobConfig
from sync.engine import open_client
from sync.errors import SyncError
from sync.mapping import Mapper
from sync.sources import build_source
from sync.state.store import StateStore

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
    store = StateStore(config.state.url, auto_migrate=config.state.auto_migrate)
    try:
        runs = store.recent_runs(limit=1)
    finally:
        store.close()
    last = f"last run #{runs[0].id} {runs[0].status}" if runs else "no runs yet"
    return f"{config.state.url.split('://', 1)[0]} opened, {last}"


def _source(job: JobConfig) -> str:
    mapper = Mapper(job.mapping, job.active_expression(), job.match_on)
    source = build_source(job.source, mapper.referenced_names())
    people = list(source.read())
    desired, skipped = mapper.map_all(people)
    leavers = sum(1 for d in desired if not d.active)
    text = (
        f"{source.describe()}: {len(people)} records, {len(desired) - leavers} active, "
        f"{leavers} leavers, {len(skipped)} skipped"
    )
    if skipped:
        text += f" (first: {skipped[0].origin}: {skipped[0].reason})"
    return text


def _api(config: AppConfig) -> str:
    with open_client(config) as client:
        client.find_user(PROBE_USERNAME)
    return f"{config.timetrack.url} answered an authenticated read"


def run_doctor(config: AppConfig, console: Console) -> int:
    """Run every check and print one line each; 0 when all pass, 1 otherwise."""
    console.print(
        f"[green]ok[/green]   config: {escape(str(config.path))} ({len(config.jobs)} jobs)"
    )
    results = [_check(console, "state database", lambda: _state(config))]
    for job in config.jobs:
        results.append(_check(console, f"job {job.name} source", partial(_source, job)))
    results.append(_check(console, "TimeTrack API", lambda: _api(config)))
    return 0 if all(results) else 1

"""The resources of a command, opened one way everywhere: the state store, the run lock, the client.

`sync`, the daemon, `status`, `audit`, `doctor` and the demo all come through here, so that
they open the state database (and migrate it) and take the run lock in the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sync.config import AppConfig
from sync.logging import register_secret
from sync.state.lock import RunLock
from sync.state.store import StateStore
from sync.timetrack.client import TimeTrackClient


@contextmanager
def open_store(config: AppConfig, *, now: datetime | None = None) -> Iterator[StateStore]:
    """The state database of `config`, upgraded (or checked) to the current schema.

    With `now`, every time the store records is `now` (a run at a given time); else the clock's.
    """
    clock = None if now is None else (lambda: now)
    with StateStore(config.state.url, auto_migrate=config.state.auto_migrate, clock=clock) as store:
        yield store


def open_client(config: AppConfig) -> TimeTrackClient:
    """A client with the API secret read now (the admin may have rotated it)."""
    settings = config.timetrack.client_settings()
    register_secret(settings.api_secret)
    return TimeTrackClient(settings)


@dataclass(frozen=True, slots=True)
class OpenRun:
    """What a run works with while it holds the run lock."""

    store: StateStore
    client: TimeTrackClient | None  # None: an offline dry run, which never calls TimeTrack


@contextmanager
def open_run(
    config: AppConfig,
    jobs: Sequence[str],
    *,
    offline: bool = False,
    now: datetime | None = None,
) -> Iterator[OpenRun]:
    """Store, run lock and client for runs of `jobs`; LockHeldError when another run is on."""
    with open_store(config, now=now) as store, RunLock(config.state.url, job=", ".join(jobs)):
        store.fail_stale_runs()  # under the lock: a `running` row now is a dead process's
        client = None if offline else open_client(config)
        try:
            yield OpenRun(store, client)
        finally:
            if client is not None:
                client.close()

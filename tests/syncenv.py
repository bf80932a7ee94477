"""Builds a complete sync setup for tests (a CSV, a secret file, a config file, a state DB), runs
the engine on it and reads back what an admin would check: TimeTrack's users and the journal.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sync.config import load_config
from sync.engine import ProgressFactory, run_jobs
from sync.model import Operation, TimeTrackUser
from sync.report import RunOptions, RunReport
from sync.state.store import OperationRecord, StateStore
from sync.timetrack.client import TimeTrackClient, WriteResult
from sync.timetrack.emulator import RunningEmulator

API_KEY = "test-key-4711"
API_SECRET = "s3cr3t-TEST-value-0xDEADBEEF"

HEADER = ("employee_id", "first_name", "last_name", "email", "role", "status", "language")

MAPPING_YAML = """\
    mapping:
      username: "{{ email.split('@')[0] | lower }}"
      firstName: "{{ first_name }}"
      lastName: "{{ last_name }}"
      email: "{{ email | lower }}"
      personalNumber: "{{ employee_id }}"
      language: "{{ language | default('de', true) }}"
      admin: false
      teamLead: "{{ role == 'manager' }}"
    active: "{{ status == 'active' }}"
"""


def person(n: int, **overrides: str) -> dict[str, str]:
    """One HR row with predictable values."""
    row = {
        "employee_id": f"E-{n:05d}",
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        "email": f"user{n}@example.com",
        "role": "engineer",
        "status": "active",
        "language": "en",
    }
    row.update(overrides)
    return row


def tt_user(n: int) -> dict[str, Any]:
    """The TimeTrack user `person(n)` maps to, field for field (adopted without an update)."""
    return {
        "username": f"user{n}",
        "firstName": f"First{n}",
        "lastName": f"Last{n}",
        "email": f"user{n}@example.com",
        "personalNumber": f"E-{n:05d}",
        "language": "en",
        "admin": False,
        "teamLead": False,
    }


def write_csv(path: Path, rows: Iterable[Mapping[str, str]]) -> None:
    """Write an HR export with the standard header."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)


@dataclass
class SyncEnv:
    """Paths of one test setup."""

    dir: Path
    csv: Path
    config: Path
    db: Path
    secret_file: Path

    @property
    def state_url(self) -> str:
        """SQLAlchemy URL of the state DB."""
        return f"sqlite:///{self.db}"


def make_env(
    tmp: Path,
    url: str,
    rows: Iterable[Mapping[str, str]],
    *,
    policy: str = "delete: true",
    extra_timetrack: str = "",
) -> SyncEnv:
    """Write CSV, secret and config for one job `hr` matching on personalNumber."""
    secret_file = tmp / "api_secret"
    secret_file.write_text(API_SECRET + "\n")
    secret_file.chmod(0o600)
    csv_path = tmp / "people.csv"
    write_csv(csv_path, rows)
    db = tmp / "state.db"
    policy_lines = "".join(f"      {line}\n" for line in policy.splitlines())
    config = tmp / "config.yaml"
    config.write_text(
        f"""\
timetrack:
  url: {url}
  api_key: {API_KEY}
  api_secret_file: {secret_file}
  requests_per_second: 0
{extra_timetrack}state:
  url: sqlite:///{db}
jobs:
  - name: hr
    source:
      type: csv
      path: people.csv
    match_on: personalNumber
{MAPPING_YAML}    policy:
{policy_lines}"""
    )
    config.chmod(0o600)
    return SyncEnv(dir=tmp, csv=csv_path, config=config, db=db, secret_file=secret_file)


def run(
    env: SyncEnv,
    *,
    progress: ProgressFactory | None = None,
    now: datetime | None = None,
    **options: bool,
) -> RunReport:
    """One real run of the env's job through the engine (its own store, client and lock).

    `now` is the run's time (default: the clock).
    """
    config = load_config(env.config)
    jobs = list(config.jobs)
    return run_jobs(config, jobs, RunOptions(**options), progress=progress, now=now)[0]


def usernames(emu: RunningEmulator) -> Counter[str]:
    """How many TimeTrack users hold each (casefolded) username."""
    return Counter(u["username"].casefold() for u in emu.state.users())


def user_named(emu: RunningEmulator, username: str) -> dict[str, Any]:
    """The one TimeTrack user with this username."""
    (user,) = (u for u in emu.state.users() if u["username"] == username)
    return user


def journal_rows(env: SyncEnv) -> list[OperationRecord]:
    """Every journal row of the env's state DB, newest first."""
    with StateStore(env.state_url) as store:
        return store.operations(limit=1_000_000)


def journal(env: SyncEnv) -> list[tuple[str, str, str]]:
    """(action, username, status) of every journal row, newest first."""
    return [(o.action, o.username, o.status) for o in journal_rows(env)]


def leave_pending(env: SyncEnv, *ops: Operation, job: str = "hr") -> None:
    """Journal operations `pending` in a run that never finished, as a killed run leaves them."""
    with StateStore(env.state_url) as store:
        run_id = store.start_run(job, dry_run=False)
        for op in ops:
            store.journal_pending(run_id, job, op)


def after_listing(monkeypatch: pytest.MonkeyPatch, action: Callable[[], object]) -> None:
    """Call `action` each time the engine has listed TimeTrack's users (before it plans)."""
    original = TimeTrackClient.list_users

    def list_then_act(self: TimeTrackClient) -> list[TimeTrackUser]:
        users = original(self)
        action()
        return users

    monkeypatch.setattr(TimeTrackClient, "list_users", list_then_act)


def before_deletes(monkeypatch: pytest.MonkeyPatch, action: Callable[[str], object]) -> None:
    """Call `action(user_id)` each time the engine is about to DELETE a TimeTrack user."""
    original = TimeTrackClient.delete_user

    def act_then_delete(self: TimeTrackClient, user_id: str) -> WriteResult:
        action(user_id)
        return original(self, user_id)

    monkeypatch.setattr(TimeTrackClient, "delete_user", act_then_delete)


def before_updates(monkeypatch: pytest.MonkeyPatch, action: Callable[[str], object]) -> None:
    """Call `action(user_id)` each time the engine is about to PUT a TimeTrack user."""
    original = TimeTrackClient.update_user

    def act_then_update(self: TimeTrackClient, user_id: str, fields: Any) -> WriteResult:
        action(user_id)
        return original(self, user_id, fields)

    monkeypatch.setattr(TimeTrackClient, "update_user", act_then_update)

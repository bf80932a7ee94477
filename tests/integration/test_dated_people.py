"""Dated leavers and joiners: the engine passes the run's date to the mapping as `today`."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, time
from pathlib import Path

from sync.config import load_config
from sync.engine import run_jobs
from sync.report import RunOptions, RunReport
from sync.timetrack.emulator import RunningEmulator
from tests.syncenv import HEADER, SyncEnv, make_env, person, usernames

ACTIVE = (
    "{{ today >= start_date | date('%d.%m.%Y') - days(7)"
    " and (not exit_date or today <= exit_date | date('%d.%m.%Y')) }}"
)


def dated_env(tmp: Path, url: str) -> SyncEnv:
    """Twenty staff, a leaver on 31.12.2026 and a joiner starting 08.01.2027."""
    env = make_env(tmp, url, [])
    config = env.config.read_text()
    env.config.write_text(config.replace("\"{{ status == 'active' }}\"", f'"{ACTIVE}"'))
    rows = [person(n, start_date="01.01.2020", exit_date="") for n in range(20)]
    rows.append(person(100, start_date="01.01.2020", exit_date="31.12.2026"))
    rows.append(person(200, start_date="08.01.2027", exit_date=""))
    with env.csv.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=(*HEADER, "start_date", "exit_date"))
        writer.writeheader()
        writer.writerows(rows)
    return env


def run_on(env: SyncEnv, today: date) -> RunReport:
    config = load_config(env.config)
    noon = datetime.combine(today, time(12), tzinfo=UTC)
    return run_jobs(config, list(config.jobs), RunOptions(), now=noon)[0]


def test_a_dated_leaver_leaves_after_the_exit_date_and_a_joiner_comes_a_week_early(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = dated_env(tmp_path, emu.url)

    first = run_on(env, date(2026, 12, 31))
    assert (first.status, first.summary()["create"]) == ("succeeded", 21)
    assert usernames(emu)["user100"] == 1  # still employed on the exit date
    assert usernames(emu)["user200"] == 0  # starts in more than 7 days

    second = run_on(env, date(2027, 1, 1))
    assert second.status == "succeeded"
    assert (second.summary()["create"], second.summary()["delete"]) == (1, 1)
    assert usernames(emu)["user100"] == 0  # a leaver the day after the exit date
    assert usernames(emu)["user200"] == 1  # 7 days before the start date

    third = run_on(env, date(2027, 1, 1))
    assert third.plan is not None and third.plan.is_empty

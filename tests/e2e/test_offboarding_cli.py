"""Leavers through the installed CLI: refused deletes succeed, the queue lists them, CSV parses."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.timetrack.emulator import RunningEmulator
from tests.e2e.test_cli import cli
from tests.emulator_fixtures import running_emulator
from tests.syncenv import API_KEY, API_SECRET, make_env, person, write_csv

PEOPLE = 12
LEAVERS = (3, 7)


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(api_key=API_KEY, api_secret=API_SECRET) as running:
        yield running


def test_refused_deletes_exit_0_queue_the_users_and_the_next_run_writes_nothing(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    rows = [person(n) for n in range(PEOPLE)]
    env = make_env(tmp_path, emu.url, rows, policy="delete: true\nmax_delete_percent: 50")
    assert cli(env, "sync").returncode == 0
    for user in emu.state.users():
        emu.state.set_time_entries(user["id"], 12)
    write_csv(env.csv, [r for n, r in enumerate(rows) if n not in LEAVERS])

    preview = cli(env, "sync", "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert preview.stdout.count("would lock") == 2 and preview.stdout.count("would delete") == 2

    before = len(emu.state.writes)
    applied = cli(env, "sync", "--output", "json")
    assert applied.returncode == 0, applied.stderr
    doc = json.loads(applied.stdout)
    assert (doc["status"], doc["exit_code"]) == ("succeeded", 0)
    assert (doc["summary"]["lock"], doc["summary"]["refused"], doc["failed"]) == (2, 2, [])
    assert {r["username"] for r in doc["refused"]} == {"user3", "user7"}
    assert doc["offboarding_queue"] == 2
    assert sorted(w.method for w in emu.state.writes[before:]) == ["PUT", "PUT"]
    assert len(emu.state.users()) == PEOPLE  # both kept

    queue = cli(env, "offboarding", "--output", "csv")
    assert queue.returncode == 0, queue.stderr
    entries = list(csv.DictReader(io.StringIO(queue.stdout)))
    assert sorted(e["username"] for e in entries) == ["user3", "user7"]
    assert {e["state"] for e in entries} == {"retained"}
    assert all("time entries" in e["refusal"] for e in entries)
    assert all(e["left_since"] and e["locked_at"] for e in entries)

    text = cli(env, "offboarding")
    assert text.returncode == 0 and "deactivate each in TimeTrack's web UI" in text.stdout
    status = cli(env, "status")
    assert status.returncode == 0 and "Offboarding queue: hr 2" in status.stdout

    again = len(emu.state.writes)
    rerun = cli(env, "sync")
    assert rerun.returncode == 0, rerun.stderr
    assert len(emu.state.writes) == again  # no lock twice, no delete before delete_retry_after


def test_queue_csv_neutralises_formulas_and_an_empty_queue_says_so(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    rows = [person(n) for n in range(4)]
    rows[1]["first_name"] = '=HYPERLINK("http://x")'
    env = make_env(tmp_path, emu.url, rows, policy="max_delete_percent: 50")
    assert cli(env, "sync").returncode == 0
    empty = cli(env, "offboarding")
    assert empty.returncode == 0 and "Offboarding queue is empty" in empty.stdout
    write_csv(env.csv, [rows[0], rows[2], rows[3]])
    assert cli(env, "sync").returncode == 0
    entries = list(csv.DictReader(io.StringIO(cli(env, "offboarding", "--output", "csv").stdout)))
    assert [(e["username"], e["state"]) for e in entries] == [("user1", "locked")]
    assert entries[0]["name"].startswith("'=HYPERLINK")
    bad = cli(env, "offboarding", "--output", "xml")
    assert bad.returncode == 2 and "--output must be text, json or csv" in bad.stderr

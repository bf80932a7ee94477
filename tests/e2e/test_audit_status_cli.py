"""`audit --output csv|json` and `status --output json` through the installed CLI."""

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
from tests.syncenv import API_KEY, API_SECRET, SyncEnv, make_env, person, write_csv


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(api_key=API_KEY, api_secret=API_SECRET) as running:
        yield running


def history(tmp: Path, emu: RunningEmulator) -> SyncEnv:
    """Two runs: 4 creates (one name a formula), then an update and a lock."""
    rows = [person(n) for n in range(4)]
    rows[1]["first_name"] = '=HYPERLINK("http://evil.example/","x")'
    env = make_env(tmp, emu.url, rows, policy="delete: false\nmax_delete_percent: 50")
    assert cli(env, "sync").returncode == 0
    rows[2]["last_name"] = "Married"
    rows[3]["status"] = "terminated"
    write_csv(env.csv, rows)
    assert cli(env, "sync").returncode == 0
    return env


def test_the_audit_exports_as_csv_one_row_per_operation_with_old_and_new_values(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = history(tmp_path, emu)
    done = cli(env, "audit", "--output", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [(r["run_id"], r["action"], r["username"]) for r in rows] == [
        ("1", "create", "user0"),
        ("1", "create", "user1"),
        ("1", "create", "user2"),
        ("1", "create", "user3"),
        ("2", "update", "user2"),
        ("2", "lock", "user3"),
    ]
    update = rows[4]
    assert (update["lastName_old"], update["lastName_new"]) == ("Last2", "Married")
    assert (update["outcome"], update["http_status"], update["key"]) == ("done", "200", "e-00002")
    assert update["firstName_old"] == update["firstName_new"] == ""  # not changed
    assert rows[1]["firstName_new"].startswith("'=HYPERLINK")  # a formula is only text
    assert (rows[5]["admin_new"], rows[5]["teamLead_new"]) == ("false", "false")
    cells = {cell for row in rows for cell in row.values()}
    for user in emu.state.users():  # no generated password (creates, the lock) in any cell
        assert not any(emu.state.check_password(user["id"], cell) for cell in cells)

    only = list(
        csv.DictReader(io.StringIO(cli(env, "audit", "--output", "csv", "--run", "2").stdout))
    )
    assert [r["action"] for r in only] == ["update", "lock"]


def test_the_audit_exports_as_json_and_status_as_json(tmp_path: Path, emu: RunningEmulator) -> None:
    env = history(tmp_path, emu)
    doc = json.loads(cli(env, "audit", "--output", "json", "--user", "USER2").stdout)
    assert [(d["action"], d["changes"].get("lastName")) for d in doc] == [
        ("create", {"old": None, "new": "Last2"}),
        ("update", {"old": "Last2", "new": "Married"}),
    ]
    assert json.loads(cli(env, "audit", "--output", "json", "--user", "nobody").stdout) == []

    status = cli(env, "status", "--output", "json")
    assert status.returncode == 0, status.stderr
    state = json.loads(status.stdout)
    assert [(r["id"], r["status"], r["dry_run"]) for r in state["runs"]] == [
        (2, "succeeded", False),
        (1, "succeeded", False),
    ]
    assert state["runs"][0]["summary"]["lock"] == 1 and state["runs"][1]["source_records"] == 4
    assert state["offboarding_queue"] == {"hr": 1}
    bad = cli(env, "audit", "--output", "xml")
    assert bad.returncode == 2 and "--output must be text, csv or json" in bad.stderr

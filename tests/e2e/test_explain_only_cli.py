"""`explain WHO` and `sync --only` through the installed CLI, against the emulator."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sync.state.store import StateStore
from sync.timetrack.emulator import RunningEmulator
from tests.e2e.test_cli import cli
from tests.emulator_fixtures import running_emulator
from tests.syncenv import (
    API_KEY,
    API_SECRET,
    SyncEnv,
    make_env,
    person,
    tt_user,
    user_named,
    write_csv,
)

ROWS = 6


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(api_key=API_KEY, api_secret=API_SECRET) as running:
        yield running


def synced(tmp: Path, emu: RunningEmulator, policy: str = "delete: false") -> SyncEnv:
    env = make_env(tmp, emu.url, [person(n) for n in range(ROWS)], policy=policy)
    assert cli(env, "sync").returncode == 0
    return env


def export(env: SyncEnv, **changes: dict[str, str]) -> None:
    """Write the export again with some people's columns changed."""
    rows = [person(n, **changes.get(f"p{n}", {})) for n in range(ROWS)]
    write_csv(env.csv, rows)


def created(tmp: Path, emu: RunningEmulator) -> SyncEnv:
    return make_env(tmp, emu.url, [person(n) for n in range(ROWS)])


def updated(tmp: Path, emu: RunningEmulator) -> SyncEnv:
    env = synced(tmp, emu)
    export(env, p3={"last_name": "Married"})
    return env


def adopted(tmp: Path, emu: RunningEmulator) -> SyncEnv:
    emu.state.add_user(**tt_user(3))
    return created(tmp, emu)


def in_grace(tmp: Path, emu: RunningEmulator) -> SyncEnv:
    env = synced(tmp, emu, policy="leaver_grace: 2d")
    export(env, p3={"status": "terminated"})
    return env


def locked(tmp: Path, emu: RunningEmulator) -> SyncEnv:
    env = synced(tmp, emu, policy="delete: false\nmax_delete_percent: 50")
    export(env, p3={"status": "terminated"})
    assert cli(env, "sync").returncode == 0
    assert user_named(emu, "user3")["admin"] is False
    return env


def conflicted(tmp: Path, emu: RunningEmulator) -> SyncEnv:
    emu.state.add_user(**{**tt_user(3), "personalNumber": "OTHER-1"})
    return created(tmp, emu)


def protected(tmp: Path, emu: RunningEmulator) -> SyncEnv:
    return make_env(tmp, emu.url, [person(n) for n in range(ROWS)], policy="protected: [user3]")


def skipped(tmp: Path, emu: RunningEmulator) -> SyncEnv:
    env = created(tmp, emu)
    export(env, p3={"email": "user3-at-example.com"})
    return env


CASES: dict[str, tuple[Callable[[Path, RunningEmulator], SyncEnv], str, str]] = {
    "created": (created, "user3", "create: create user user3 (key e-00003)"),
    "updated": (
        updated,
        "user3",
        "update: update user user3 (key e-00003): lastName: 'Last3' -> 'Married'",
    ),
    "adopted": (adopted, "e-00003", "adopt: adopt user user3 (key e-00003)"),
    "leaver in grace": (
        in_grace,
        "user3@example.com",
        "offboarding: leaving: left (inactive in source); grace until",
    ),
    "locked": (locked, "user3", "offboarding: locked since"),
    "conflicted": (conflicted, "user3", "conflict (username_taken):"),
    "protected": (protected, "user3", "skipped: protected user"),
    "skipped": (skipped, "e-00003", "skipped: invalid email 'user3-at-example.com'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_explain_names_the_rule_that_decides(
    tmp_path: Path, emu: RunningEmulator, case: str
) -> None:
    setup, who, decisive = CASES[case]
    env = setup(tmp_path, emu)
    writes = len(emu.state.writes)
    done = cli(env, "explain", who, "--output", "json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert any(line.startswith(decisive) for line in doc["decisions"]), doc["decisions"]
    assert len(emu.state.writes) == writes  # read-only
    text = cli(env, "explain", who)
    assert decisive in text.stdout and "3. Decision" in text.stdout


def test_explain_shows_the_record_its_mapping_the_match_and_the_journal(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = updated(tmp_path, emu)
    doc = json.loads(cli(env, "explain", "user3", "--output", "json").stdout)
    [record] = doc["source_records"]
    assert record["origin"] == "people.csv:5" and record["key"] == "e-00003"
    fields = {f["field"]: (f["expression"], f["value"]) for f in record["fields"]}
    assert fields["lastName"] == ("{{ last_name }}", "Married")
    [user] = doc["timetrack_users"]
    assert any("owned by this job for key e-00003" in why for why in user["why"])
    assert [(row["action"], row["status"]) for row in doc["journal"]] == [("create", "done")]


def test_explain_offline_reads_the_snapshot_and_unknown_people_are_a_usage_error(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = synced(tmp_path, emu)
    before = dict(emu.state.request_count)
    offline = cli(env, "explain", "user2", "--offline")
    assert offline.returncode == 0 and "unchanged: TimeTrack user" in offline.stdout
    assert dict(emu.state.request_count) == before
    unknown = cli(env, "explain", "nobody")
    assert unknown.returncode == 2
    assert "nothing matches 'nobody'" in unknown.stderr and "Traceback" not in unknown.stderr


def test_sync_only_touches_the_named_people(tmp_path: Path, emu: RunningEmulator) -> None:
    policy = "delete: true\ndelete_grace_runs: 3\nmax_delete_percent: 50"
    env = synced(tmp_path, emu, policy=policy)
    rows = [person(n) for n in range(ROWS)]
    write_csv(env.csv, [r for n, r in enumerate(rows) if n != 4])
    assert cli(env, "sync").returncode == 0  # person 4 is gone: one run counted
    rows[1]["last_name"] = "Moved"
    rows[2]["status"] = "terminated"
    write_csv(env.csv, [r for n, r in enumerate(rows) if n != 4] + [person(6), person(7)])
    before = len(emu.state.writes)
    done = cli(env, "sync", "--only", "user1, e-00006", "--output", "json")
    assert done.returncode == 0, done.stderr
    assert sorted((w.method, w.username) for w in emu.state.writes[before:]) == [
        ("POST", "user6"),
        ("PUT", "user1"),
    ]
    with StateStore(env.state_url) as store:
        links = store.load_links("hr")
    assert links["e-00004"].missing_runs == 1  # neither counted again nor reset
    assert links["e-00002"].missing_runs == 0  # the leaver it was not about waits
    rest = json.loads(cli(env, "sync", "--dry-run", "--output", "json").stdout)["summary"]
    assert (rest["create"], rest["update"]) == (1, 0)

    unknown = cli(env, "sync", "--only", "user1,nobody")
    assert unknown.returncode == 2 and "--only nobody: no record" in unknown.stderr

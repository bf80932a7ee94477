"""Review and approve through the installed CLI: `plan --out` then `apply`, against the emulator."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.timetrack.emulator import RunningEmulator
from tests.e2e.test_cli import cli
from tests.emulator_fixtures import running_emulator
from tests.syncenv import API_KEY, API_SECRET, SyncEnv, make_env, person, user_named, write_csv


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(api_key=API_KEY, api_secret=API_SECRET) as running:
        yield running


def planned(env: SyncEnv, *extra: str) -> Path:
    """Save a plan of the job and return its file."""
    path = env.dir / "plan.json"
    done = cli(env, "plan", "--out", str(path), *extra)
    assert done.returncode in (0, 3), done.stderr
    assert f"saved to {path}" in done.stdout + done.stderr
    return path


def test_apply_makes_exactly_the_planned_requests_and_not_a_joiner_added_since(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    rows = [person(n) for n in range(5)]
    env = make_env(tmp_path, emu.url, rows)
    assert cli(env, "sync").returncode == 0
    rows[1]["last_name"] = "Renamed"
    write_csv(env.csv, [*rows, person(5)])
    path = planned(env)
    doc = json.loads(path.read_text())
    requests = sorted((op["request"]["method"], op["username"]) for op in doc["operations"])
    assert requests == [("POST", "user5"), ("PUT", "user1")]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    write_csv(env.csv, [*rows, person(5), person(6)])  # a joiner after the plan
    before = len(emu.state.writes)
    applied = cli(env, "apply", str(path), "--output", "json")
    assert applied.returncode == 0, applied.stderr
    writes = emu.state.writes[before:]
    assert sorted((w.method, w.username) for w in writes) == [("POST", "user5"), ("PUT", "user1")]
    assert user_named(emu, "user1")["lastName"] == "Renamed"
    assert "user6" not in {u["username"] for u in emu.state.users()}
    assert json.loads(applied.stdout)["summary"]["create"] == 1


def test_an_admin_edit_since_the_plan_makes_it_stale_and_nothing_is_written(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    rows = [person(n) for n in range(4)]
    env = make_env(tmp_path, emu.url, rows)
    assert cli(env, "sync").returncode == 0
    rows[2]["last_name"] = "Changed"
    write_csv(env.csv, [*rows, person(4)])
    path = planned(env)
    emu.state.update(user_named(emu, "user2")["id"], email="edited@example.com")

    before = len(emu.state.writes)
    applied = cli(env, "apply", str(path))
    assert applied.returncode == 1
    assert "update user user2 (key e-00002)" in applied.stderr.casefold()
    assert "email 'user2@example.com' -> 'edited@example.com'" in applied.stderr
    assert "make a new plan" in applied.stderr
    assert len(emu.state.writes) == before  # not even the unrelated create


def test_a_plan_is_applied_once(tmp_path: Path, emu: RunningEmulator) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(3)])
    path = env.dir / "plan.json"
    made = cli(env, "plan", "--out", str(path), "--output", "json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["plan_id"] == json.loads(path.read_text())["plan_id"]
    assert cli(env, "apply", str(path)).returncode == 0
    before = len(emu.state.writes)
    again = cli(env, "apply", str(path))
    assert again.returncode == 1
    assert "was already applied, by run" in again.stderr
    assert len(emu.state.writes) == before


def test_a_guarded_plan_applied_with_the_flag_deletes_exactly_the_planned_users(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    rows = [person(n) for n in range(10)]
    env = make_env(tmp_path, emu.url, rows, policy="delete: true\nmax_deletes: 1")
    assert cli(env, "sync").returncode == 0
    write_csv(env.csv, rows[3:])  # three leavers: over max_deletes
    guarded = cli(env, "sync")
    assert guarded.returncode == 3
    assert "timetrack-sync plan --job hr --out plan.json" in guarded.stdout
    path = planned(env)
    doc = json.loads(path.read_text())
    assert sorted(op["username"] for op in doc["operations"] if op["action"] == "delete") == [
        "user0",
        "user1",
        "user2",
    ]
    write_csv(env.csv, rows[4:])  # one more left since the plan

    refused = cli(env, "apply", str(path))
    assert refused.returncode == 3
    assert len(emu.state.users()) == 10  # approval is of the whole plan: nothing without the flag
    applied = cli(env, "apply", str(path), "--allow-mass-delete")
    assert applied.returncode == 0, applied.stderr
    assert sorted(u["username"] for u in emu.state.users()) == [f"user{n}" for n in range(3, 10)]


def strings(value: object) -> Iterator[str]:
    """Every text in a JSON document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_the_plan_file_holds_no_password_or_secret(tmp_path: Path, emu: RunningEmulator) -> None:
    rows = [person(n) for n in range(3)]
    env = make_env(tmp_path, emu.url, rows, policy="delete: false\nmax_delete_percent: 50")
    assert cli(env, "sync").returncode == 0
    write_csv(env.csv, [rows[0], rows[1], person(3)])  # a create and a lock need passwords
    path = planned(env)
    texts = set(strings(json.loads(path.read_text())))
    assert cli(env, "apply", str(path)).returncode == 0
    created, locked = user_named(emu, "user3"), user_named(emu, "user2")
    assert locked["admin"] is False  # the lock was applied, with a new password
    for user in (created, locked):
        assert not any(emu.state.check_password(user["id"], text) for text in texts)
    assert API_SECRET not in path.read_text()


def test_a_plan_from_another_config_or_too_old_is_refused(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = make_env(tmp_path, emu.url, [person(0)], policy="plan_max_age: 1h")
    path = planned(env)
    doc = json.loads(path.read_text())
    doc["created_at"] = "2020-01-01T00:00:00+00:00"
    old = env.dir / "old.json"
    old.write_text(json.dumps(doc))
    refused = cli(env, "apply", str(old))
    assert refused.returncode == 1
    assert "plans older than jobs[].policy.plan_max_age = 1h are refused" in refused.stderr

    env.config.write_text(env.config.read_text().replace("plan_max_age: 1h", "plan_max_age: 2h"))
    changed = cli(env, "apply", str(path))
    assert changed.returncode == 1 and "the config changed since plan" in changed.stderr
    assert emu.state.users() == []


def test_a_file_that_is_not_a_plan_is_a_usage_error(tmp_path: Path, emu: RunningEmulator) -> None:
    env = make_env(tmp_path, emu.url, [person(0)])
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"hello": 1}')
    done = cli(env, "apply", str(bogus))
    assert done.returncode == 2
    assert "is not a plan file" in done.stderr and "Traceback" not in done.stderr

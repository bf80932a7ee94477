"""The executor through the engine: real HTTP to the emulator, a real SQLite journal.

What sync.executor promises: an authentication failure stops it sending, and so does the stop
event, with every operation sent journaled and none of those never sent; the deletes of
`on_rename: recreate` go first, then the creates and updates, then the other deletes; a write
whose answer was lost is looked up at the end of the apply and journaled as TimeTrack shows it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from sync.config import load_config
from sync.engine import ProgressFactory, run_job
from sync.errors import ExitCode
from sync.executor import ProgressCallback
from sync.report import RunOptions, RunReport
from sync.runtime import open_client
from sync.state.store import StateStore
from sync.timetrack.emulator import RunningEmulator
from tests.syncenv import (
    SyncEnv,
    after_listing,
    journal_rows,
    make_env,
    person,
    run,
    user_named,
    usernames,
    write_csv,
)

CONCURRENCY = 8
PEOPLE = 200


def env_for(tmp_path: Path, emu: RunningEmulator, people: int, **kwargs: str) -> SyncEnv:
    """A setup of `people` HR rows whose client sends CONCURRENCY requests at a time."""
    extra = f"  concurrency: {CONCURRENCY}\n" + kwargs.pop("extra_timetrack", "")
    rows = [person(n) for n in range(people)]
    return make_env(tmp_path, emu.url, rows, extra_timetrack=extra, **kwargs)


def when_finished(count: int, action: Callable[[], object]) -> ProgressFactory:
    """A progress factory that calls `action` once the apply has finished `count` operations."""
    finished = 0

    def factory(_total: int) -> ProgressCallback:
        def tick(step: int) -> None:
            nonlocal finished
            finished += step
            if finished == count:
                action()

        return tick

    return factory


def run_until_stopped(env: SyncEnv, stop: threading.Event, progress: ProgressFactory) -> RunReport:
    """One real run of the env's job with the daemon's stop event."""
    config = load_config(env.config)
    with StateStore(env.state_url) as store, open_client(config) as client:
        return run_job(
            config, config.jobs[0], store, RunOptions(), client=client, progress=progress, stop=stop
        )


def posts(emu: RunningEmulator) -> int:
    """POST requests TimeTrack received, refused ones included."""
    return emu.state.request_count.get("POST", 0)


def all_usernames(people: int) -> Counter[str]:
    return Counter(f"user{n}" for n in range(people))


def test_revoked_secret_stops_the_apply_after_the_requests_in_flight(
    tmp_path: Path, emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = env_for(tmp_path, emu, PEOPLE)
    # The admin regenerates the API secret just after the run listed the users.
    after_listing(monkeypatch, lambda: emu.state.set_options(api_secret="regenerated-secret"))
    report = run(env)
    assert (report.status, report.exit_code) == ("partial", ExitCode.FAILED)
    assert report.applied is not None and report.applied.aborted
    assert "401" in report.applied.aborted
    sent = posts(emu)
    assert 1 <= sent <= 2 * CONCURRENCY, f"{sent} POSTs sent with a refused secret"
    assert emu.state.users() == []
    rows = journal_rows(env)
    # One row per create sent, none for those never sent, none left pending.
    assert len(rows) == sent
    assert {(r.action, r.status, r.http_status) for r in rows} == {("create", "failed", 401)}


def test_stop_event_ends_the_apply_with_every_sent_operation_journaled(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = env_for(tmp_path, emu, PEOPLE)
    stop = threading.Event()
    stop_at = 10
    report = run_until_stopped(env, stop, when_finished(stop_at, stop.set))
    assert (report.status, report.exit_code) == ("partial", ExitCode.FAILED)
    assert report.applied is not None and report.applied.aborted
    created = len(emu.state.users())
    # What was in flight when the stop came finished; nothing was sent after it.
    assert stop_at <= created <= stop_at + 2 * CONCURRENCY
    assert posts(emu) == created
    rows = journal_rows(env)
    assert len(rows) == created
    assert {(r.action, r.status) for r in rows} == {("create", "done")}
    assert {r.tt_id for r in rows} == {str(u["id"]) for u in emu.state.users()}
    # The next run carries on where the stopped one ended.
    rest = run(env)
    assert (rest.status, rest.exit_code) == ("succeeded", ExitCode.OK)
    assert rest.summary()["create"] == PEOPLE - created
    assert usernames(emu) == all_usernames(PEOPLE)


def test_recreate_deletes_go_first_then_writes_then_locks_and_other_deletes_last(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    policy = "delete: true\nmax_delete_percent: 100\non_rename: recreate"
    env = env_for(tmp_path, emu, 10, policy=policy)
    assert run(env).exit_code == ExitCode.OK
    disabled = user_named(emu, "user3")
    emu.state.set_enabled(disabled["id"], False)  # an admin disables user3: recreate it
    rows = [person(n) for n in range(10) if n != 4]  # person 4 leaves
    rows[4] = person(5, last_name="Moved5")
    write_csv(env.csv, [*rows, person(20)])
    before = len(emu.state.writes)
    report = run(env)
    assert (report.status, report.exit_code) == ("succeeded", ExitCode.OK)
    order = [(w.method, w.username, w.user_id) for w in emu.state.writes[before:]]
    left = user_named(emu, "user3")
    assert order[0] == ("DELETE", "user3", disabled["id"])
    assert sorted(order[1:-2]) == [
        ("POST", "user20", user_named(emu, "user20")["id"]),
        ("POST", "user3", left["id"]),
        ("PUT", "user5", user_named(emu, "user5")["id"]),
    ]
    # The leaver is locked (a PUT) before its delete, and both come after every other write.
    assert [w[:2] for w in order[-2:]] == [("PUT", "user4"), ("DELETE", "user4")]
    assert left["enabled"] and left["id"] != disabled["id"]
    assert usernames(emu)["user4"] == 0
    assert user_named(emu, "user5")["lastName"] == "Moved5"


def test_writes_whose_answer_was_lost_are_journaled_as_timetrack_shows_them(
    tmp_path: Path, emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = 20
    env = env_for(tmp_path, emu, people, extra_timetrack="  max_retries: 0\n")
    # Every connection drops after the listing, half before TimeTrack acts, half after...
    after_listing(monkeypatch, lambda: emu.state.set_options(drop_rate=1.0))
    # ...and TimeTrack answers again once every create was sent, for the lookups at the end.
    heal = when_finished(people, lambda: emu.state.set_options(drop_rate=0.0))
    report = run(env, progress=heal)
    created = {str(u["id"]): u["username"] for u in emu.state.users()}
    rows = journal_rows(env)
    assert [r for r in rows if r.status == "pending"] == []
    assert {r.tt_id: r.username for r in rows if r.status == "done"} == created
    failed = {r.username for r in rows if r.status == "failed"}
    assert failed == set(all_usernames(people)) - set(created.values())
    assert created and failed, "the seeded drops land both before and after some writes"
    assert (report.status, report.exit_code) == ("partial", ExitCode.FAILED)
    assert report.applied is not None and report.applied.done["create"] == len(created)
    # The journal told the truth: the next run creates only the missing users, none twice.
    monkeypatch.undo()
    again = run(env)
    assert (again.status, again.exit_code) == ("succeeded", ExitCode.OK)
    assert again.summary()["create"] == len(failed)
    assert usernames(emu) == all_usernames(people)

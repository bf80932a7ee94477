"""The state database on SQLite, and the contract every state backend must keep.

`StateContract` holds the behaviour suite; `TestSqliteState` runs it on an SQLite file and
tests/integration/test_state_postgres.py runs it on a real PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from structlog.testing import capture_logs

from sync.errors import LockHeldError, StateError
from sync.model import Action, Offboarding, Operation, TimeTrackUser
from sync.report import RunStatus
from sync.state import RunLock, StateStore, history, migrate
from sync.state.journal import Done, Failed
from sync.state.store import STALE_RUN_ERROR
from sync.state.tables import links, metadata

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)

# Holds the run lock until a line arrives on stdin (or the process is killed).
HOLDER = """
import sys
from sync.state.lock import RunLock
with RunLock(sys.argv[1], job="hr"):
    print("LOCKED", flush=True)
    sys.stdin.readline()
"""

# Opens the store and says whether that imported Alembic.
OPEN_STORE = """
import sys
from sync.state import StateStore
with StateStore(sys.argv[1]) as store:
    store.recent_runs()
print("alembic" in sys.modules)
"""


class Clock:
    """A settable clock for the store (missing_since, audit `since`)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)


def user(user_id: str, username: str, **fields: object) -> TimeTrackUser:
    return TimeTrackUser(
        id=user_id,
        username=username,
        enabled=True,
        fields={"id": user_id, "username": username, "enabled": True, **fields},
    )


def create_op(key: str, username: str) -> Operation:
    return Operation(
        Action.CREATE,
        key,
        username,
        changes={"username": (None, username), "email": (None, f"{username}@example.com")},
        reason="new person",
    )


def wait_until(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Poll `check` until it is true or the deadline passes (for asynchronous server state)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def try_lock(url: str) -> bool:
    try:
        with RunLock(url):
            return True
    except LockHeldError:
        return False


class StateContract:
    """Behaviour every state backend must show; subclasses provide the `state_url` fixture."""

    @pytest.fixture
    def clock(self) -> Clock:
        return Clock()

    @pytest.fixture
    def store(self, state_url: str, clock: Clock) -> Iterator[StateStore]:
        with StateStore(state_url, clock=clock) as store:
            yield store

    def test_migration_creates_exactly_the_schema_of_tables_py(self, store: StateStore) -> None:
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
        assert migrate.current_revision(store.engine) == migrate.head_revision()

    def test_autogenerate_finds_no_pending_revision(self, store: StateStore) -> None:
        # What `make migration` compares (migrations/env.py's target_metadata): nothing to add.
        with store.engine.connect() as conn:
            command.check(migrate.alembic_config(conn))

    def test_a_current_schema_opens_without_importing_alembic(self, state_url: str) -> None:
        def opened_with_alembic() -> str:
            return subprocess.run(
                [sys.executable, "-c", OPEN_STORE, state_url],
                capture_output=True,
                text=True,
                check=True,
                cwd=REPO,
                timeout=60,
            ).stdout.splitlines()[-1]

        assert opened_with_alembic() == "True"  # the empty database: migrated
        assert opened_with_alembic() == "False"  # now current: only read

    def test_an_old_schema_is_upgraded_keeping_its_rows(self, state_url: str) -> None:
        engine = sa.create_engine(state_url)
        with engine.begin() as conn:
            command.upgrade(migrate.alembic_config(conn), "0001")
            conn.execute(
                sa.text(
                    "INSERT INTO links (job, key, tt_id, username, origin, missing_runs, "
                    "created_at, updated_at) VALUES ('hr', 'e-1', '7', 'ann', 'created', 0, "
                    ":t, :t)"
                ),
                {"t": T0},
            )
        engine.dispose()
        assert migrate.current_revision(state_url) == "0001"
        with StateStore(state_url) as store:
            link = store.load_links("hr")["e-1"]
        assert (link.tt_id, link.offboarding) == ("7", Offboarding.ACTIVE)
        assert migrate.current_revision(state_url) == migrate.head_revision()

    def test_reopening_a_migrated_database_keeps_its_data(self, state_url: str) -> None:
        with StateStore(state_url) as first:
            first.start_run("hr", dry_run=False)
        with StateStore(state_url) as second:
            assert [r.job for r in second.recent_runs()] == ["hr"]

    def test_journal_done_creates_link_and_snapshot_row(self, store: StateStore) -> None:
        run_id = store.start_run("hr", dry_run=False)
        op = create_op("1001", "jdoe")
        op_id = store.journal_pending(run_id, "hr", op)
        assert [p.id for p in store.pending_operations()] == [op_id]
        created = user("42", "jdoe", email="jdoe@example.com")
        store.journal_done(
            op_id, "hr", op, user=created, http_status=201, attempts=2, desired_hash="h1"
        )
        assert store.pending_operations() == []
        link = store.load_links("hr")["1001"]
        assert (link.tt_id, link.username, link.origin, link.desired_hash) == (
            "42",
            "jdoe",
            "created",
            "h1",
        )
        assert store.load_snapshot()["42"] == created
        (record,) = store.operations(run_id=run_id)
        assert (record.status, record.tt_id, record.http_status, record.attempts) == (
            "done",
            "42",
            201,
            2,
        )

    def test_journal_done_of_unknown_operation_changes_nothing(self, store: StateStore) -> None:
        op = create_op("1001", "jdoe")
        with pytest.raises(StateError, match="no operation 999"):
            store.journal_done(
                999,
                "hr",
                op,
                user=user("42", "jdoe"),
                http_status=201,
                attempts=1,
                desired_hash=None,
            )
        assert store.load_links("hr") == {}
        assert store.load_snapshot() == {}

    def test_failed_operation_is_journaled_and_links_nothing(self, store: StateStore) -> None:
        run_id = store.start_run("hr", dry_run=False)
        op_id = store.journal_pending(run_id, "hr", create_op("1001", "jdoe"))
        store.journal_failed(op_id, http_status=422, error="email is invalid", attempts=1)
        (record,) = store.operations(username="jdoe")
        assert (record.status, record.http_status, record.error) == (
            "failed",
            422,
            "email is invalid",
        )
        assert store.pending_operations() == []
        assert store.load_links("hr") == {}

    def test_a_group_of_outcomes_is_recorded_together_or_not_at_all(
        self, store: StateStore
    ) -> None:
        run_id = store.start_run("hr", dry_run=False)
        ops = [create_op(f"100{n}", f"user{n}") for n in range(3)]
        ids = store.journal_pending_many(run_id, "hr", ops)
        assert [p.id for p in store.pending_operations()] == ids
        assert [p.username for p in store.pending_operations()] == ["user0", "user1", "user2"]
        done = Done(ids[0], "hr", ops[0], user("40", "user0"), 201, 1, "h0")
        with pytest.raises(StateError, match="no operation 999"):
            store.journal_outcomes([done, Failed(999, 500, "boom", 1)])
        assert len(store.pending_operations()) == 3 and store.load_links("hr") == {}
        store.journal_outcomes(
            [
                done,
                Failed(ids[1], 422, "email is invalid", 1),
                Done(ids[2], "hr", ops[2], user("41", "user2"), 201, 2, None),
            ]
        )
        assert store.pending_operations() == []
        assert sorted(store.load_links("hr")) == ["1000", "1002"]
        assert sorted(store.load_snapshot()) == ["40", "41"]
        statuses = {r.username: (r.status, r.attempts) for r in store.operations(run_id=run_id)}
        assert statuses == {"user0": ("done", 1), "user1": ("failed", 1), "user2": ("done", 2)}
        assert store.journal_pending_many(run_id, "hr", []) == []

    def test_pending_operation_survives_a_crash(self, state_url: str) -> None:
        op = Operation(Action.UPDATE, "1001", "jdoe", "42", {"lastName": ("Doe", "Roe")}, "x")
        with StateStore(state_url) as crashed:
            run_id = crashed.start_run("hr", dry_run=False)
            crashed.journal_pending(run_id, "hr", op)
            # the process dies here: no journal_done, no finish_run
        with StateStore(state_url) as next_run:
            (pending,) = next_run.pending_operations()
            assert pending.run_id == run_id
            assert pending.to_operation() == op
            assert next_run.fail_stale_runs() == 1
            (run,) = next_run.recent_runs()
            assert (run.status, run.error) == ("failed", STALE_RUN_ERROR)

    def test_passwords_are_never_stored(self, store: StateStore) -> None:
        run_id = store.start_run("hr", dry_run=False)
        op = Operation(
            Action.CREATE,
            "1001",
            "jdoe",
            changes={"username": (None, "jdoe"), "password": (None, "s3cret-Pa55")},
        )
        op_id = store.journal_pending(run_id, "hr", op)
        store.journal_done(
            op_id,
            "hr",
            op,
            user=user("42", "jdoe", password="s3cret-Pa55"),
            http_status=201,
            attempts=1,
            desired_hash=None,
        )
        with store.engine.connect() as conn:
            dump = "\n".join(
                repr(row) for t in metadata.sorted_tables for row in conn.execute(sa.select(t))
            )
        assert "s3cret-Pa55" not in dump
        assert "password" not in store.operations()[0].changes

    def test_adopt_update_delete_keep_links_and_snapshot_in_step(self, store: StateStore) -> None:
        store.replace_snapshot([user("7", "amy", lastName="Old", color="blue")], T0)
        run_id = store.start_run("hr", dry_run=False)
        for op, desired in (
            (Operation(Action.ADOPT, "7001", "amy", "7"), "h1"),
            (Operation(Action.UPDATE, "7001", "amy", "7", {"lastName": ("Old", "New")}), "h2"),
        ):
            op_id = store.journal_pending(run_id, "hr", op)
            store.journal_done(
                op_id, "hr", op, user=None, http_status=200, attempts=1, desired_hash=desired
            )
        link = store.load_links("hr")["7001"]
        assert (link.tt_id, link.origin, link.desired_hash) == ("7", "adopted", "h2")
        fields = store.load_snapshot()["7"].fields
        assert (fields["lastName"], fields["color"]) == ("New", "blue")
        delete = Operation(Action.DELETE, "7001", "amy", "7")
        op_id = store.journal_pending(run_id, "hr", delete)
        store.journal_done(
            op_id, "hr", delete, user=None, http_status=204, attempts=1, desired_hash=None
        )
        assert store.load_links("hr") == {}
        assert store.load_snapshot() == {}

    def test_recreate_keeps_the_new_link_when_the_old_user_is_deleted(
        self, store: StateStore
    ) -> None:
        store.replace_snapshot([user("7", "amy")], T0)
        run_id = store.start_run("hr", dry_run=False)
        old = Operation(Action.ADOPT, "7001", "amy", "7")
        store.journal_done(
            store.journal_pending(run_id, "hr", old),
            "hr",
            old,
            user=None,
            http_status=200,
            attempts=1,
            desired_hash=None,
        )
        new = create_op("7001", "amy.new")  # create runs before the delete of the old user
        store.journal_done(
            store.journal_pending(run_id, "hr", new),
            "hr",
            new,
            user=user("8", "amy.new"),
            http_status=201,
            attempts=1,
            desired_hash="h",
        )
        gone = Operation(Action.DELETE, "7001", "amy", "7", recreate=True)
        store.journal_done(
            store.journal_pending(run_id, "hr", gone),
            "hr",
            gone,
            user=None,
            http_status=204,
            attempts=1,
            desired_hash=None,
        )
        link = store.load_links("hr")["7001"]
        assert (link.tt_id, link.origin) == ("8", "created")
        assert set(store.load_snapshot()) == {"8"}

    def test_a_new_user_linked_to_a_key_starts_active(self, store: StateStore) -> None:
        """The offboarding of a deleted user does not pass to the key's new user."""
        store.replace_snapshot([user("7", "amy")], T0)
        run_id = store.start_run("hr", dry_run=False)
        lock = Operation(Action.LOCK, "7001", "amy", "7", {"admin": (True, False)})
        refused = Operation(Action.DELETE, "7001", "amy", "7")
        for op in (Operation(Action.ADOPT, "7001", "amy", "7"), lock):
            store.journal_done(
                store.journal_pending(run_id, "hr", op),
                "hr",
                op,
                user=None,
                http_status=200,
                attempts=1,
                desired_hash=None,
            )
        store.journal_refused(
            store.journal_pending(run_id, "hr", refused),
            "hr",
            refused,
            http_status=400,
            error="User accounts cannot be deleted if they have recorded time entries.",
        )
        assert store.load_links("hr")["7001"].offboarding is Offboarding.RETAINED
        # An admin deletes user 7; the person is back and gets a new user.
        new = create_op("7001", "amy")
        store.journal_done(
            store.journal_pending(run_id, "hr", new),
            "hr",
            new,
            user=user("8", "amy"),
            http_status=201,
            attempts=1,
            desired_hash="h",
        )
        link = store.load_links("hr")["7001"]
        assert (link.tt_id, link.offboarding) == ("8", Offboarding.ACTIVE)
        assert (link.locked_at, link.delete_refused_at, link.delete_refusal) == (None, None, None)

    def _link(self, store: StateStore, job: str, key: str, tt_id: str) -> None:
        run_id = store.start_run(job, dry_run=False)
        op = Operation(Action.ADOPT, key, f"user{key}", tt_id)
        op_id = store.journal_pending(run_id, job, op)
        store.journal_done(
            op_id, job, op, user=None, http_status=200, attempts=1, desired_hash=None
        )

    def _missing_since(self, store: StateStore, key: str) -> datetime | None:
        with store.engine.connect() as conn:
            query = sa.select(links.c.missing_since).where(links.c.key == key)
            value: datetime | None = conn.execute(query).scalar_one()
            return value

    def test_record_missing_counts_resets_and_drops_stale(
        self, store: StateStore, clock: Clock
    ) -> None:
        for key in ("a", "b", "c"):
            self._link(store, "hr", key, f"id-{key}")
        self._link(store, "other", "a", "id-x")
        store.record_missing("hr", frozenset({"a", "b"}), frozenset())
        clock.advance(15)
        store.record_missing("hr", frozenset({"a"}), frozenset({"c"}))
        result = store.load_links("hr")
        assert {k: link.missing_runs for k, link in result.items()} == {"a": 2, "b": 0}
        assert self._missing_since(store, "b") is None
        with store.engine.connect() as conn:
            query = sa.select(links.c.missing_since).where(links.c.job == "hr", links.c.key == "a")
            assert conn.execute(query).scalar_one() == T0  # set when the count left zero
        assert store.load_links("other")["a"].missing_runs == 0

    def test_owned_by_other_jobs_lists_their_ids(self, store: StateStore) -> None:
        self._link(store, "hr", "a", "1")
        self._link(store, "ldap", "b", "2")
        assert store.owned_by_other_jobs("hr") == frozenset({"2"})

    def test_last_successful_source_count_ignores_dry_and_failed_runs(
        self, store: StateStore
    ) -> None:
        assert store.last_successful_source_count("hr") is None
        for dry, status, count in (
            (False, "succeeded", 100),
            (False, "partial", 110),
            (True, "succeeded", 5),
            (False, "failed", 3),
            (False, "guarded", 4),
        ):
            run_id = store.start_run("hr", dry_run=dry)
            store.finish_run(
                run_id, status=status, summary={"create": 1}, source_records=count, error=None
            )
        other = store.start_run("ldap", dry_run=False)
        store.finish_run(other, status="succeeded", summary={}, source_records=9, error=None)
        assert store.last_successful_source_count("hr") == 110

    def test_finished_run_is_recorded_with_aware_utc_times(
        self, store: StateStore, clock: Clock
    ) -> None:
        clock.now = datetime(2026, 11, 28, 10, 0, tzinfo=timezone(timedelta(hours=2)))
        run_id = store.start_run("hr", dry_run=True)
        clock.advance(3)
        summary = {"create": 2, "update": 1, "failed": 1}
        store.finish_run(run_id, status="partial", summary=summary, source_records=7, error="x")
        (run,) = store.recent_runs(job="hr")
        assert run.started_at == T0 and run.started_at.tzinfo is UTC
        assert run.duration_seconds == 180
        assert (run.status, dict(run.summary), run.failed, run.source_records, run.dry_run) == (
            "partial",
            summary,
            1,
            7,
            True,
        )
        assert (run.pid, run.error) == (os.getpid(), "x")
        assert store.recent_runs(job="ldap") == []
        with pytest.raises(StateError, match="no run 999"):
            store.finish_run(999, status="failed", summary={}, source_records=None, error=None)

    def test_replace_snapshot_round_trips_unknown_fields(self, store: StateStore) -> None:
        store.replace_snapshot([user("1", "old")], T0)
        odd = TimeTrackUser(
            id="2",
            username="Jürgen.Müller",
            enabled=False,
            fields={"id": "2", "customField": {"a": [1, None]}, "personalNumber": "007"},
        )
        store.replace_snapshot([odd, user("3", "amy")], T0)
        assert store.load_snapshot() == {"2": odd, "3": user("3", "amy")}

    def test_audit_filters_by_casefolded_username_run_and_time(
        self, store: StateStore, clock: Clock
    ) -> None:
        first = store.start_run("hr", dry_run=False)
        store.journal_pending(first, "hr", create_op("1", "Jürgen"))
        clock.advance(10)
        second = store.start_run("hr", dry_run=False)
        later = store.journal_pending(second, "hr", create_op("1", "jürgen"))
        store.journal_pending(second, "hr", create_op("2", "amy"))
        assert [r.username for r in store.operations(username="JÜRGEN")] == ["jürgen", "Jürgen"]
        assert [r.match_key for r in store.operations(run_id=second)] == ["2", "1"]
        assert len(store.operations(since=T0 + timedelta(minutes=5))) == 2
        assert [r.id for r in store.operations(username="jürgen", limit=1)] == [later]

    def test_the_export_reads_every_row_oldest_first_in_batches(
        self, store: StateStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(history, "EXPORT_BATCH", 7)
        run_id = store.start_run("hr", dry_run=False)
        ops = [create_op(str(n), f"user{n}") for n in range(30)]
        ids = store.journal_pending_many(run_id, "hr", ops)
        assert [r.id for r in store.iter_operations()] == ids
        assert [r.username for r in store.iter_operations(username="USER7")] == ["user7"]

    def test_pruning_deletes_only_old_finished_history(
        self, store: StateStore, clock: Clock
    ) -> None:
        old = store.start_run("hr", dry_run=False)
        done = store.journal_pending(old, "hr", create_op("1", "amy"))
        store.journal_done(
            done,
            "hr",
            create_op("1", "amy"),
            user=user("u1", "amy"),
            http_status=201,
            attempts=1,
            desired_hash=None,
        )
        store.finish_run(old, status=RunStatus.SUCCEEDED, summary={}, source_records=5, error=None)
        stuck = store.journal_pending(old, "hr", create_op("2", "bob"))  # pending: never pruned
        clock.advance(60 * 24 * 10)
        young = store.start_run("hr", dry_run=True)
        store.finish_run(
            young, status=RunStatus.SUCCEEDED, summary={}, source_records=5, error=None
        )
        assert store.prune_history(clock.now - timedelta(days=5)) == (0, 1)
        assert [r.id for r in store.operations()] == [stuck]
        assert set(store.load_links("hr")) == {"1"}
        # The old run stays: it holds a pending row, and it is the shrink guard's baseline.
        assert {r.id for r in store.recent_runs()} == {old, young}
        assert store.last_successful_source_count("hr") == 5

    def test_database_from_a_newer_version_is_refused_untouched(self, state_url: str) -> None:
        with StateStore(state_url) as store:
            store.start_run("hr", dry_run=False)
            with store.engine.begin() as conn:
                conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
        with pytest.raises(StateError, match=r"newer timetrack-sync \(revision 9999_future\)"):
            StateStore(state_url)
        with pytest.raises(StateError, match="newer timetrack-sync"):
            migrate.upgrade(state_url)
        assert migrate.current_revision(state_url) == "9999_future"

    def test_second_run_lock_in_another_process_names_its_pid(self, state_url: str) -> None:
        with subprocess.Popen(
            [sys.executable, "-c", HOLDER, state_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        ) as holder:
            assert holder.stdin is not None and holder.stdout is not None
            while holder.stdout.readline().strip() != "LOCKED":
                assert holder.poll() is None, "the lock holder exited early"
            with pytest.raises(LockHeldError, match=rf"in progress since .*pid {holder.pid} "):
                RunLock(state_url).acquire()
            holder.stdin.write("\n")
            holder.stdin.close()
            assert holder.wait(timeout=30) == 0
        assert try_lock(state_url)

    def test_run_lock_is_released_when_its_holder_is_killed(self, state_url: str) -> None:
        with subprocess.Popen(
            [sys.executable, "-c", HOLDER, state_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        ) as holder:
            assert holder.stdout is not None
            while holder.stdout.readline().strip() != "LOCKED":
                assert holder.poll() is None, "the lock holder exited early"
            assert not try_lock(state_url)
            holder.send_signal(signal.SIGKILL)
            assert holder.wait(timeout=30) == -signal.SIGKILL
        # PostgreSQL ends the dead client's session asynchronously: poll, do not sleep blindly.
        assert wait_until(lambda: try_lock(state_url))

    def test_run_lock_in_the_same_process_is_exclusive_too(self, state_url: str) -> None:
        with RunLock(state_url, job="hr") as lock:
            assert lock.held
            assert not try_lock(state_url)
        assert not lock.held
        assert try_lock(state_url)


class TestSqliteState(StateContract):
    @pytest.fixture
    def state_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'state.db'}"

    def test_new_database_file_is_private_whatever_the_umask(self, tmp_path: Path) -> None:
        old = os.umask(0)
        try:
            StateStore(f"sqlite:///{tmp_path / 'state.db'}").close()
            with RunLock(f"sqlite:///{tmp_path / 'state.db'}"):
                pass
        finally:
            os.umask(old)
        assert stat.S_IMODE((tmp_path / "state.db").stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "state.db.lock").stat().st_mode) == 0o600

    def test_group_readable_database_is_made_private(self, tmp_path: Path) -> None:
        path = tmp_path / "state.db"
        path.touch(mode=0o644)
        path.chmod(0o644)
        with capture_logs() as logs:
            StateStore(f"sqlite:///{path}").close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert {"event": "state_db_permissions_fixed", "path": str(path)}.items() <= logs[0].items()

    def test_every_connection_uses_wal_and_safe_pragmas(self, store: StateStore) -> None:
        with store.engine.connect() as conn:
            pragma = conn.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == 5000

    def test_missing_directory_is_named_with_the_fix(self, tmp_path: Path) -> None:
        path = tmp_path / "absent" / "state.db"
        with pytest.raises(StateError, match=f"directory {path.parent} does not exist") as info:
            StateStore(f"sqlite:///{path}")
        assert f"mkdir -p {path.parent}" in str(info.value)
        assert not path.parent.exists()

    def test_unwritable_location_names_the_file_and_os_reason(self) -> None:
        # /sys refuses new files even to root, unlike file modes.
        with pytest.raises(StateError, match=r"/sys/state\.db: Permission denied"):
            StateStore("sqlite:////sys/state.db")

    def test_read_only_database_names_the_file_and_the_fix(self, tmp_path: Path) -> None:
        path = tmp_path / "state.db"
        StateStore(f"sqlite:///{path}").close()
        with StateStore(f"sqlite:///file:{path}?mode=ro&uri=true") as read_only:
            assert read_only.recent_runs() == []
            with pytest.raises(StateError, match=rf"{path}: cannot .*readonly") as info:
                read_only.start_run("hr", dry_run=False)
        assert "writable" in str(info.value)

    def test_full_disk_names_the_file_and_the_fix(self, store: StateStore) -> None:
        @sa.event.listens_for(store.engine, "connect")
        def _cap(dbapi_connection: object, _record: object) -> None:
            # The database may not grow: SQLite reports it exactly like a full disk.
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA max_page_count = 1")
            cursor.close()

        store.engine.dispose()
        users = [user(str(i), f"user{i}", note="x" * 200) for i in range(2000)]
        with pytest.raises(StateError, match=r"state\.db: cannot store .*full") as info:
            store.replace_snapshot(users, T0)
        assert "free disk space" in str(info.value)
        assert "user1" not in str(info.value)  # never the rows

    def test_in_memory_database_is_refused(self) -> None:
        with pytest.raises(StateError, match="in-memory"):
            StateStore("sqlite://")


def test_the_migration_file_names_give_the_revisions_alembic_reads() -> None:
    # sync.state.migrate knows the revisions from the file names, so as not to import Alembic.
    script = ScriptDirectory.from_config(migrate.alembic_config())
    revisions = list(script.walk_revisions())
    assert {r.revision for r in revisions} == migrate.known_revisions()
    assert script.get_heads() == [migrate.head_revision()]
    for revision in revisions:
        assert revision.path is not None
        assert Path(revision.path).name.startswith(f"{revision.revision}_")

"""A Hypothesis state machine checks the sync against its own model of the rules.

Rules. HR hires, changes, terminates, rehires, removes and renames people (a rename is a new
username for the same personnel number, maybe someone else's or a protected one), enters a
bad email, lets several people go at once, puts a key in the export twice, and ships broken
exports (header only -> the source guard; zero bytes, truncated inside a quote, undecodable
-> SourceError). An admin edits, renames, disables, enables, deletes and creates users
directly in TimeTrack (not audited), and deactivates one (on the offboarding queue or any).
Users record time, so TimeTrack refuses to delete them (400, 409 or 422), unless its
delete is soft (it disables). Time passes between runs (0 to 72 hours). The real engine
(`run_job`, at the machine's time) syncs, dry or real, with or without --allow-mass-delete,
over HTTP to the emulator (one per module, reset per example) and a fresh SQLite state
database per example (on the same clock).

After every run (`RunCheck`, against the state before it and `sync_model`'s own reading of
the export): the source guards and SourceError stop the run with nothing written; the
conflicts the export causes are reported and every reported conflict has a cause; every
active person not left out (conflict, bad row, protected) owns a TimeTrack user equal to
the desired one, and a rehired one is `active` again in place; every owned leaver past its
grace is locked once (a PUT with a new password, admin and teamLead off; never again while
it stays locked or retained), deleted when its delete is due, retained (locked, by the
delete's fallback if need be) when TimeTrack refuses, `deactivated` and never written when
TimeTrack lists it disabled; the delete guards count the distinct users locked or deleted
and, when they trip, no lock and no delete happens; left-out people, unowned and protected
users are untouched; grace counters and offboarding states are right; a dry run writes
nothing; after a clean real run a second plan is empty but for people whose conflict that
run resolved. After every step: no `pending` journal row, one `done` journal row per write
TimeTrack audited and vice versa, one `refused` row per DELETE TimeTrack refused, no
password in the journal, the protected and the outsider user unchanged and never owned. No
run logs the API secret.

Policy: delete on, max_deletes 3, max_delete_percent 50, max_source_shrink_percent 50,
max_invalid_percent 50, protected api-admin (seeded in TimeTrack) and user8 (person 8's own
username), and one of two offboarding configurations (one test each, `CONFIGS`): "locking"
(locks at once, deletes a day after the lock, retries a refused delete after 3 days) and
"deleting" (no locks; a grace of one run and 12 hours, the delete 6 hours after it, retries
after a day). `make test` runs a short machine; with HYPOTHESIS_PROFILE=soak (`make soak`)
it runs 20 times as many, longer examples.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import structlog.testing
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from sync import executor
from sync.config import load_config
from sync.engine import run_job
from sync.model import Action, Link
from sync.plans.document import SavedPlan
from sync.report import RunOptions
from sync.state.store import OperationRecord, StateStore
from sync.timetrack.client import ClientSettings, TimeTrackClient
from sync.timetrack.emulator import EmulatorOptions, EmulatorState, RunningEmulator, serve_in_thread
from tests.property.run_check import Before, Limits, RunCheck, tally
from tests.property.sync_model import (
    BAD_EMAIL,
    BROKEN_MODES,
    OUTSIDER,
    PROTECTED,
    PROTECTED_NAMES,
    Offboard,
    Row,
    folded,
    render_csv,
)
from tests.syncenv import API_KEY, API_SECRET, make_env, person

PEOPLE = tuple(range(1, 9))  # personnel numbers HR may employ
LIMITS = Limits(max_deletes=3, max_delete_percent=50.0, shrink_percent=50.0, invalid_percent=50.0)
POLICY = f"""\
delete: true
max_deletes: {LIMITS.max_deletes}
max_delete_percent: {LIMITS.max_delete_percent:g}
{{offboard}}
max_source_shrink_percent: {LIMITS.shrink_percent:g}
max_invalid_percent: {LIMITS.invalid_percent:g}
protected: [{", ".join(sorted(PROTECTED_NAMES))}]"""
JOB = "hr"
# The two offboarding configurations, one test each. Where the grace counts runs it also
# counts time, so that a second plan at the same time never finds a grace just ended.
CONFIGS = {
    "locking": Offboard(
        grace_runs=0, lock=True, grace_hours=0, delete_after_hours=24, retry_after_hours=72
    ),
    "deleting": Offboard(
        grace_runs=1, lock=False, grace_hours=12, delete_after_hours=6, retry_after_hours=24
    ),
}
START = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
# How far the clock moves before a run: not at all, or by the configured delays (their sums
# land on the others, so each delay is met exactly as well as passed).
HOURS = (0, 0, 6, 12, 24, 72)
REFUSED_STATUSES = (400, 409, 422)
DELETE_MODES = ("hard", "hard", "soft")

_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
_SOAK = _PROFILE == "soak"
MACHINE_SETTINGS = settings(
    settings.get_profile(_PROFILE),
    max_examples=1000 if _SOAK else 50,
    stateful_step_count=50 if _SOAK else 35,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    # No explain phase: it replays a failure under coverage tracing, minutes at this size.
    phases=[p for p in Phase if p is not Phase.explain],
    print_blob=True,
)
# Finding a failure takes seconds, shrinking it up to Hypothesis's 5 minutes: leave room.
MACHINE_TIMEOUT = 7200 if _SOAK else 900

HR_VALUES: dict[str, tuple[str, ...]] = {
    "first_name": ("Ann", "Bob", "Zoë"),
    "last_name": ("Meier", "Smith", "O'Neil"),
    "language": ("en", "de", "fr", ""),
    "role": ("engineer", "manager"),
}
HR_CHANGES = (*sorted(HR_VALUES), "terminated", "active", "rename", "bad_email")
TT_VALUES: dict[str, tuple[Any, ...]] = {
    "firstName": ("Edited",),
    "lastName": ("Edited",),
    "email": ("edited@elsewhere.org",),
    "language": ("fr", "it"),
    "teamLead": (True, False),
    "personalNumber": ("", "E-00001", "E-00002", "E-00009"),
}
TT_CHANGES = (*sorted(TT_VALUES), "rename", "delete", "toggle_enabled")


def planned_calls(saved: SavedPlan) -> set[tuple[str, str]]:
    """The (method, username or id) of every request a saved plan may make."""
    calls = set()
    for planned in saved.operations:
        for op in (planned.operation, planned.operation.fallback):
            if op is None or op.action is Action.ADOPT:
                continue
            method = {Action.CREATE: "POST", Action.DELETE: "DELETE"}.get(op.action, "PUT")
            calls.add((method, op.username if method == "POST" else str(op.tt_id)))
    return calls


class SyncMachine(RuleBasedStateMachine):
    """HR and TimeTrack change; the engine syncs; nothing unsafe ever happens."""

    emulator: RunningEmulator  # set by the test (one emulator and one client per module)
    client: TimeTrackClient
    offboard: Offboard = CONFIGS["locking"]

    def __init__(self) -> None:
        super().__init__()
        self.now = START  # the run's time (and the state database's clock)
        self.locks: Counter[str] = Counter()  # locks per key in its current offboarding
        self.tmp = tempfile.TemporaryDirectory(prefix="sync-machine-")
        self.state: EmulatorState = self.emulator.state
        self.state.reset(EmulatorOptions(api_key=API_KEY, api_secret=API_SECRET))
        self.fixed = {
            PROTECTED: self.state.add_user(
                username=PROTECTED, firstName="API", lastName="Admin", email="api@example.com"
            ),
            OUTSIDER: self.state.add_user(
                username=OUTSIDER,
                firstName="Out",
                lastName="Sider",
                email="out@example.com",
                personalNumber="X-1",
            ),
        }
        env = make_env(
            Path(self.tmp.name),
            self.emulator.url,
            [],
            policy=POLICY.format(offboard=self.offboard.policy_lines()),
            extra_timetrack="  concurrency: 1\n",  # one write at a time: ids are repeatable
        )
        self.csv = env.csv
        self.config = load_config(env.config)
        self.job = self.config.job(JOB)
        self.store = StateStore(self.config.state.url, clock=lambda: self.now)
        self.recording = False  # every new TimeTrack user records time at once
        self.recorded: set[int] = set()  # the users `recording` gave time entries
        self.rows: dict[int, Row] = {}
        self.duplicates: list[Row] = []
        self.broken: str | None = None
        self.baseline: int | None = None  # source records of the last real run that succeeded

    def teardown(self) -> None:
        self.store.close()
        self.tmp.cleanup()

    # -- the HR export -----------------------------------------------------------------------

    def csv_rows(self) -> list[Row]:
        """The rows of the export, duplicates last."""
        return [self.rows[n] for n in sorted(self.rows)] + self.duplicates

    def export(self, broken: str | None = None) -> None:
        """HR writes the export (a new export is whole again unless `broken`)."""
        self.broken = broken
        self.csv.write_bytes(render_csv(self.csv_rows(), broken))

    def pick(self, data: st.DataObject, choices: list[Any]) -> Any:
        return data.draw(st.sampled_from(choices))

    @initialize(staff=st.sets(st.sampled_from(PEOPLE), min_size=3), recording=st.booleans())
    def hr_starts_with(self, staff: set[int], recording: bool = False) -> None:
        """HR's first export; with `recording`, everyone records time from their first day."""
        self.recording = recording
        for n in sorted(staff):
            self.rows[n] = person(n)
        self.export()

    @precondition(lambda self: len(self.rows) < len(PEOPLE))
    @rule(data=st.data())
    def hr_hires(self, data: st.DataObject) -> None:
        n = self.pick(data, sorted(set(PEOPLE) - set(self.rows)))
        self.rows[n] = person(n)
        self.export()

    @precondition(lambda self: self.rows)
    @rule(data=st.data(), change=st.sampled_from(HR_CHANGES))
    def hr_changes(self, data: st.DataObject, change: str) -> None:
        """A change to one person: a field, a leaver, a rejoiner, a rename, a bad email."""
        n = self.pick(data, sorted(self.rows))
        row = self.rows[n]
        if change in HR_VALUES:
            row[change] = self.pick(data, list(HR_VALUES[change]))
        elif change in ("terminated", "active"):
            row["status"] = change
        elif change == "rename":  # the same personnel number, another username
            other = f"user{self.pick(data, list(PEOPLE))}"  # maybe someone else's
            names = [f"user{n}.new", other, PROTECTED, OUTSIDER]
            row["email"] = f"{self.pick(data, names)}@example.com"
        else:
            row["email"] = BAD_EMAIL
        self.export()

    @precondition(lambda self: self.rows)
    @rule(data=st.data())
    def hr_removes(self, data: st.DataObject) -> None:
        del self.rows[self.pick(data, sorted(self.rows))]
        self.export()

    @precondition(lambda self: len(self.rows) >= 2)
    @rule(data=st.data(), remove=st.booleans())
    def hr_reorganises(self, data: st.DataObject, remove: bool) -> None:
        """Several people leave at once (terminated, or gone from the export)."""
        group = data.draw(st.sets(st.sampled_from(sorted(self.rows)), min_size=2))
        for n in sorted(group):
            if remove:
                del self.rows[n]
            else:
                self.rows[n]["status"] = "terminated"
        self.export()

    @precondition(lambda self: self.rows and len(self.duplicates) < 3)
    @rule(data=st.data(), other_name=st.booleans())
    def hr_duplicates_a_key(self, data: st.DataObject, other_name: bool) -> None:
        n = self.pick(data, sorted(self.rows))
        copy = {**self.rows[n], "first_name": f"Twin{len(self.duplicates)}"}
        if other_name:
            copy["email"] = f"twin{n}.{len(self.duplicates)}@example.com"
        self.duplicates.append(copy)
        self.export()

    @precondition(lambda self: self.duplicates)
    @rule()
    def hr_removes_duplicates(self) -> None:
        self.duplicates.clear()
        self.export()

    @rule(mode=st.sampled_from(BROKEN_MODES))
    def export_breaks(self, mode: str) -> None:
        self.export(broken=mode)

    @precondition(lambda self: self.broken is not None)
    @rule()
    def hr_exports_again(self) -> None:
        self.export()

    # -- TimeTrack behind our back (no API call, not audited) -------------------------------

    def others(self) -> list[dict[str, Any]]:
        """TimeTrack users someone may edit: all but the protected and the outsider."""
        users = [u for u in self.state.users() if u["username"] not in self.fixed]
        return sorted(users, key=lambda u: folded(u["username"]))

    def username_free(self, name: str) -> bool:
        return all(folded(u["username"]) != folded(name) for u in self.state.users())

    @precondition(lambda self: self.others())
    @rule(data=st.data(), change=st.sampled_from(TT_CHANGES))
    def tt_admin_changes(self, data: st.DataObject, change: str) -> None:
        """An admin edits a field, renames, deletes, disables or enables a user."""
        user = self.pick(data, self.others())
        if change in TT_VALUES:
            self.state.update(user["id"], **{change: self.pick(data, list(TT_VALUES[change]))})
        elif change == "rename":
            name = self.pick(data, [f"{user['username']}-tt"] + [f"user{m}" for m in PEOPLE])
            if self.username_free(name):
                self.state.update(user["id"], username=name)
        elif change == "delete":
            self.state.delete(user["id"])
        else:
            self.state.set_enabled(user["id"], not user["enabled"])

    @rule(n=st.sampled_from(PEOPLE), own_name=st.booleans())
    def tt_creates(self, n: int, own_name: bool) -> None:
        """An admin creates a user by hand for someone (adoptable only with the right name)."""
        name = f"user{n}" if own_name else f"manual{n}"
        if self.username_free(name):
            self.state.add_user(
                username=name,
                firstName="Manual",
                lastName=f"Last{n}",
                email=f"{name}@example.com",
                personalNumber=f"E-{n:05d}",
            )

    @precondition(lambda self: self.others())
    @rule(
        data=st.data(),
        everyone=st.booleans(),
        entries=st.sampled_from([1, 40, 0]),
        mode=st.sampled_from(DELETE_MODES),
    )
    def tt_refuses_deletes_with_time_entries(
        self, data: st.DataObject, everyone: bool, entries: int, mode: str
    ) -> None:
        """Users record time (or theirs is cleared), some or everyone: TimeTrack refuses to
        delete users with any, with the status it answers such deletes with (400, 409 or
        422); unless its delete only disables users (soft), which refuses nobody."""
        ids = [u["id"] for u in self.others()]
        if not everyone:
            ids = sorted(data.draw(st.sets(st.sampled_from(ids), min_size=1)))
        for user_id in ids:
            self.state.set_time_entries(user_id, entries)
        status = self.pick(data, list(REFUSED_STATUSES))
        self.state.set_options(delete_refused_status=status, delete_mode=mode)

    @precondition(lambda self: any(u["enabled"] for u in self.others()))
    @rule(data=st.data(), queued=st.booleans())
    def tt_admin_deactivates(self, data: st.DataObject, queued: bool) -> None:
        """An admin deactivates a user in the web UI: one the offboarding queue lists, or any."""
        enabled = [u for u in self.others() if u["enabled"]]
        leaving = {"leaving", "locked", "retained"}
        queue = {
            link.tt_id
            for link in self.store.load_links(JOB).values()
            if link.offboarding.value in leaving
        }
        listed = [u for u in enabled if str(u["id"]) in queue] if queued else []
        user = self.pick(data, listed or enabled)
        self.state.set_enabled(user["id"], False)

    # -- the sync ----------------------------------------------------------------------------

    @rule(hours=st.sampled_from(HOURS))
    def sync(self, hours: int) -> None:
        """Time passes (maybe none), and the sync runs."""
        self.now += timedelta(hours=hours)
        self.sync_and_plan_again(allow_mass_delete=False)

    @rule()
    def sync_allowing_mass_delete(self) -> None:
        self.sync_and_plan_again(allow_mass_delete=True)

    def sync_and_plan_again(self, *, allow_mass_delete: bool) -> None:
        """A real run; after a clean one, a dry run must find nothing left to do."""
        first = self.run(dry_run=False, allow_mass_delete=allow_mass_delete)
        for user in self.others() if self.recording else ():
            if user["id"] not in self.recorded:
                self.recorded.add(user["id"])
                self.state.set_time_entries(user["id"], 8)
        if first.report.status in ("succeeded", "partial"):
            self.baseline = first.report.source_records
        if first.report.status == "succeeded":
            # Plan again: nothing is left to do but what the first run made possible.
            first.second_plan(self.run(dry_run=True, allow_mass_delete=False).plan)

    @rule(allow_mass_delete=st.booleans(), hours=st.sampled_from(HOURS))
    def sync_dry_run(self, allow_mass_delete: bool, hours: int) -> None:
        self.now += timedelta(hours=hours)
        self.run(dry_run=True, allow_mass_delete=allow_mass_delete)

    @rule(
        data=st.data(),
        world=st.sampled_from(("unchanged", "hr", "timetrack")),
        allow_mass_delete=st.booleans(),
    )
    def plan_change_the_world_apply(
        self, data: st.DataObject, world: str, allow_mass_delete: bool
    ) -> None:
        """Save a plan, let HR or an admin change things, apply it: only planned calls go."""
        planning = RunOptions(dry_run=True, save_plan=True)
        planned = run_job(
            self.config, self.job, self.store, planning, client=self.client, now=self.now
        )
        saved = planned.saved_plan
        if saved is None:
            return
        if world == "hr" and len(self.rows) < len(PEOPLE):
            self.hr_hires(data)
        elif world == "timetrack" and self.others():
            self.tt_admin_changes(data, data.draw(st.sampled_from(TT_CHANGES)))
        calls = planned_calls(saved)
        before = len(self.state.writes)
        options = RunOptions(allow_mass_delete=allow_mass_delete)
        applied = run_job(
            self.config,
            self.job,
            self.store,
            options,
            client=self.client,
            now=self.now,
            saved=saved,
        )
        writes = self.state.writes[before:]
        for write in writes:
            target = write.username if write.method == "POST" else str(write.user_id)
            assert (write.method, target) in calls, f"{write} was not in the plan"
        if applied.status in ("failed", "guarded"):
            assert writes == [], f"a {applied.status} apply wrote {writes}"
        tally(f"apply {applied.status} after {world}")
        ops = [op for op in self.journal() if op.run_id == applied.run_id]
        self.count_locks(ops, self.store.load_links(JOB))
        again = len(self.state.writes)
        second = run_job(
            self.config,
            self.job,
            self.store,
            options,
            client=self.client,
            now=self.now,
            saved=saved,
        )
        if applied.status not in ("failed", "guarded"):
            assert second.status == "failed" and len(self.state.writes) == again

    def run(self, *, dry_run: bool, allow_mass_delete: bool) -> RunCheck:
        """One run of the real engine, checked against what was true before it."""
        users = self.state.users()
        before = Before(
            users={str(u["id"]): u for u in users},
            links=self.store.load_links(JOB),
            writes=len(self.state.writes),
            journal=len(self.journal()),
            time_entries={str(u["id"]): self.state.time_entries(u["id"]) for u in users},
            soft_delete=self.state.options.delete_mode == "soft",
            refused_status=self.state.options.delete_refused_status,
            now=self.now,
        )
        options = RunOptions(dry_run=dry_run, allow_mass_delete=allow_mass_delete)
        passwords: list[str] = []

        def generate_password() -> str:
            passwords.append(real_generate_password())
            return passwords[-1]

        real_generate_password = executor.generate_password
        with (
            structlog.testing.capture_logs() as logs,
            mock.patch.object(executor, "generate_password", generate_password),
        ):
            report = run_job(
                self.config, self.job, self.store, options, client=self.client, now=self.now
            )
        assert API_SECRET not in repr(logs), "the API secret was logged"
        check = RunCheck(
            report=report,
            before=before,
            rows=self.csv_rows(),
            broken=self.broken,
            baseline=self.baseline,
            rules=self.offboard,
            limits=LIMITS,
            allow_mass_delete=allow_mass_delete,
            users={str(u["id"]): u for u in self.state.users()},
            links=self.store.load_links(JOB),
            writes=self.state.writes[before.writes :],
            journal=self.journal(),
            fresh_password=lambda tt_id: any(
                self.state.check_password(int(tt_id), p) for p in passwords
            ),
        )
        check.all()
        self.one_lock_per_offboarding(check)
        tally(f"{'dry' if dry_run else 'real'} run {report.status}")
        if report.plan is not None:
            for action, count in report.plan.summary().items():
                if count:
                    tally(f"planned {action}")
        return check

    def journal(self) -> list[OperationRecord]:
        return self.store.operations(limit=1_000_000)

    def one_lock_per_offboarding(self, check: RunCheck) -> None:
        """A leaver is locked once while the person stays gone (what the admin sees)."""
        self.count_locks(check.run_ops, check.links)
        for conflict in check.plan.conflicts if check.report.plan else ():
            old = check.before.links.get(conflict.key)
            if old is not None and old.offboarding.value == "deactivated":
                tally(f"rehire of a deactivated user: {conflict.kind.value} conflict")

    def count_locks(self, ops: list[OperationRecord], links: Mapping[str, Link]) -> None:
        """Count a run's locks (never two in one offboarding); forget offboardings that ended."""
        for op in ops:
            if op.action is Action.LOCK:
                self.locks[op.match_key] += 1
                assert self.locks[op.match_key] == 1, f"{op.username} locked again"
        for key in list(self.locks):
            link = links.get(key)
            # Back (a rehire), deleted, or deactivated in TimeTrack: that offboarding ended
            # (an admin who enables the user again gets it locked again).
            if link is None or link.offboarding.value in ("active", "deactivated"):
                del self.locks[key]

    # -- after every step --------------------------------------------------------------------

    @invariant()
    def journal_has_no_pending_rows(self) -> None:
        assert self.store.pending_operations() == []

    @invariant()
    def every_write_has_one_journal_row_and_vice_versa(self) -> None:
        method = {
            Action.CREATE: "POST",
            Action.UPDATE: "PUT",
            Action.LOCK: "PUT",
            Action.DELETE: "DELETE",
        }
        journal = self.journal()
        # No faults in this world: a write is done, or a delete TimeTrack refused.
        refused = [op for op in journal if op.status == "refused"]
        assert all(op.action is Action.DELETE for op in refused), refused
        assert [op for op in journal if op.status not in ("done", "refused")] == []
        assert all("password" not in op.changes for op in journal)
        journaled = Counter(
            (method[op.action], op.tt_id)
            for op in journal
            if op.action is not Action.ADOPT and op.status == "done"
        )
        written = Counter((w.method, str(w.user_id)) for w in self.state.writes)
        assert journaled == written
        # A refused delete wrote nothing, but TimeTrack answered one DELETE request for it.
        deleted = sum(1 for w in self.state.writes if w.method == "DELETE")
        assert self.state.request_count.get("DELETE", 0) == deleted + len(refused)

    @invariant()
    def protected_and_unowned_users_never_change(self) -> None:
        for name, seeded in self.fixed.items():
            assert self.state.get(seeded["id"]) == seeded, f"{name} changed"
        owned = {link.tt_id for link in self.store.load_links(JOB).values()}
        assert not owned & {str(u["id"]) for u in self.fixed.values()}


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    state = EmulatorState(EmulatorOptions(api_key=API_KEY, api_secret=API_SECRET))
    with serve_in_thread(state) as running:
        yield running


@pytest.fixture(scope="module")
def client(emulator: RunningEmulator) -> Iterator[TimeTrackClient]:
    config = ClientSettings(
        url=emulator.url,
        api_key=API_KEY,
        api_secret=API_SECRET,
        concurrency=1,
        requests_per_second=0,
    )
    with TimeTrackClient(config) as shared:
        yield shared


def machine_class(config: str, emulator: RunningEmulator, client: TimeTrackClient) -> type:
    return type(
        f"SyncMachine{config.title()}",
        (SyncMachine,),
        {"emulator": emulator, "client": client, "offboard": CONFIGS[config]},
    )


@pytest.mark.timeout(MACHINE_TIMEOUT)
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_sync_state_machine(
    config: str, emulator: RunningEmulator, client: TimeTrackClient
) -> None:
    run_state_machine_as_test(machine_class(config, emulator, client), settings=MACHINE_SETTINGS)


def test_user_deleted_in_timetrack_is_recreated_and_stays_owned(
    emulator: RunningEmulator, client: TimeTrackClient
) -> None:
    """The machine's first find: the new user's link was dropped with the stale one."""
    machine = machine_class("locking", emulator, client)()
    try:
        machine.hr_starts_with(staff={1})
        machine.sync(hours=0)
        (user,) = machine.others()
        machine.state.delete(user["id"])
        machine.sync(hours=0)  # checks that user1 is recreated and owned, a second plan empty
        link = machine.store.load_links(JOB)["e-00001"]
        assert (link.origin, link.tt_id) == ("created", str(machine.others()[0]["id"]))
    finally:
        machine.teardown()

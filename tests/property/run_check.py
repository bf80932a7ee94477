"""The checks on one run of the sync state machine: what it did against what it had to do."""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from hypothesis import event
from hypothesis.errors import InvalidArgument

from sync.errors import GuardError, SourceError
from sync.model import Action, Link, Plan
from sync.report import RunReport
from sync.state.store import OperationRecord
from sync.timetrack.emulator import WriteRecord
from tests.property.sync_model import (
    PROTECTED_NAMES,
    UNREADABLE,
    Leaver,
    Offboard,
    Row,
    SourceView,
    UserDict,
    Wanted,
    conflict_cause,
    delete_guard_trips,
    expected_leavers,
    folded,
    matches_desired,
    source_view,
    user_key,
)


def tally(text: str) -> None:
    """Count an event for --hypothesis-show-statistics (outside a Hypothesis test: nothing)."""
    with contextlib.suppress(InvalidArgument):
        event(text)


@dataclass(frozen=True)
class Limits:
    """The job's limits as configured for the machine."""

    max_deletes: int
    max_delete_percent: float
    shrink_percent: float
    invalid_percent: float


@dataclass(frozen=True)
class Before:
    """What was true before a run."""

    users: Mapping[str, UserDict]  # TimeTrack id -> the emulator's user
    links: Mapping[str, Link]
    writes: int  # len(state.writes)
    journal: int  # journal rows
    time_entries: Mapping[str, int]  # TimeTrack id -> recorded time entries
    soft_delete: bool  # TimeTrack's delete only disables (and never refuses)
    refused_status: int  # TimeTrack's status for a delete it refuses
    now: datetime  # the run's time


@dataclass
class RunCheck:
    """One finished run with the states before and after it; `all()` asserts it was right."""

    report: RunReport
    before: Before
    rows: Sequence[Row]  # the export the run read
    broken: str | None
    baseline: int | None  # source records of the last real run that succeeded
    rules: Offboard
    limits: Limits
    allow_mass_delete: bool
    users: Mapping[str, UserDict]  # after the run
    links: Mapping[str, Link]
    writes: Sequence[WriteRecord]  # the writes TimeTrack applied during the run
    journal: Sequence[OperationRecord]  # the whole journal after the run
    # Whether a user's password is one the run generated (a lock or create sent it).
    fresh_password: Callable[[str], bool]
    view: SourceView = field(init=False)

    def __post_init__(self) -> None:
        self.view = source_view(self.rows)

    # -- derived -----------------------------------------------------------------------------

    @property
    def plan(self) -> Plan:
        assert self.report.plan is not None, "the run made no plan"
        return self.report.plan

    @cached_property
    def leavers(self) -> dict[str, Leaver]:
        """Key -> what this run owes the owned leaver (before the guards)."""
        return expected_leavers(
            self.view, self.before.links, self.before.users, self.rules, self.before.now
        )

    @cached_property
    def guarded(self) -> bool:
        """Whether a delete limit stops every lock and delete of this run."""
        offboarded = [k for k, leaver in self.leavers.items() if leaver.lock or leaver.delete]
        trips = delete_guard_trips(
            len(offboarded),
            len(self.before.links),
            self.limits.max_deletes,
            self.limits.max_delete_percent,
        )
        return trips and not self.allow_mass_delete

    @cached_property
    def locks(self) -> set[str]:
        """Keys this run must lock (the guards applied)."""
        return set() if self.guarded else {k for k, lv in self.leavers.items() if lv.lock}

    @cached_property
    def deletes(self) -> set[str]:
        """Keys whose delete this run must send (the guards applied)."""
        return set() if self.guarded else {k for k, lv in self.leavers.items() if lv.delete}

    @cached_property
    def refused(self) -> set[str]:
        """Keys whose delete TimeTrack refuses: a hard delete of a user with time entries."""
        if self.before.soft_delete:
            return set()
        return {k for k in self.deletes if self.before.time_entries[self.leavers[k].tt_id]}

    @cached_property
    def fallbacks(self) -> set[str]:
        """Refused keys locked by the delete's fallback: locked neither before nor by this run."""
        return {k for k in self.refused if not self.leavers[k].locked and k not in self.locks}

    @cached_property
    def blocked(self) -> bool:
        """Whether too many invalid records stop every change of this run."""
        share = self.view.invalid * 100 / self.view.records if self.view.records else 0.0
        return share > self.limits.invalid_percent

    @cached_property
    def conflicts(self) -> dict[str, set[str]]:
        """Key -> the kinds of conflict the plan reports for it."""
        kinds: dict[str, set[str]] = defaultdict(set)
        for conflict in self.plan.conflicts:
            kinds[conflict.key].add(conflict.kind.value)
        return kinds

    @cached_property
    def run_ops(self) -> list[OperationRecord]:
        return [op for op in self.journal if op.run_id == self.report.run_id]

    def protected(self, key: str) -> bool:
        """Whether a source person is skipped as protected: by the username it wants, by the
        username of its owned user, or (unowned) by the one user matching its key."""
        person = self.view.remaining.get(key)
        if person is None:
            return False
        names = {folded(person.username)}
        link = self.before.links.get(key)
        owned = self.before.users.get(link.tt_id) if link is not None else None
        if owned is not None:
            names.add(folded(owned["username"]))
        elif person.active:
            matches = [u for u in self.before.users.values() if user_key(u) == key]
            if len(matches) == 1:
                names.add(folded(matches[0]["username"]))
        return bool(names & PROTECTED_NAMES)

    def left_out(self, key: str) -> bool:
        """Conflicts, bad rows and protected people: nothing may happen to them."""
        return key in self.conflicts or key in self.view.held or self.protected(key)

    def synced(self, key: str) -> Wanted | None:
        """The active person of `key` the run must have brought TimeTrack in line with."""
        person = self.view.remaining.get(key)
        if person is None or not person.active or self.left_out(key):
            return None
        return person

    # -- the checks --------------------------------------------------------------------------

    def all(self) -> None:
        """Every check that applies to this run."""
        assert self.report.status != "running"
        if self.source_failed() or self.source_guarded():
            return
        self.conflicts_are_reported_and_explained()
        guarded = self.guarded or self.blocked
        expected = ("guarded", 3) if guarded else ("succeeded", 0)
        assert (self.report.status, self.report.exit_code) == expected, self.plan.guards
        self.plan_offboards_the_owed_leavers()
        if self.guarded:
            tally("delete guards tripped")
        if self.report.dry_run or self.blocked:
            self.nothing_written()
            assert self.report.applied is None
            return
        applied = self.report.applied
        assert applied is not None and applied.failed == [] and applied.aborted is None
        assert {f.operation.key for f in applied.refused} == self.refused
        self.offboarding_is_within_limits()
        self.disabled_users_are_not_written()
        self.left_out_people_are_not_touched()
        self.owned_users_are_as_desired()
        self.leavers_are_offboarded()
        self.links_are_coherent()
        self.unowned_users_are_untouched()

    def nothing_written(self) -> None:
        assert self.writes == [], f"wrote {self.writes}"
        assert len(self.journal) == self.before.journal
        assert self.links == self.before.links

    def source_failed(self) -> bool:
        """An unreadable export ends the run with exit 1 before anything is planned."""
        if self.broken not in UNREADABLE:
            return False
        assert (self.report.status, self.report.exit_code) == ("failed", 1)
        assert isinstance(self.report.error, SourceError), self.report.error
        assert self.report.plan is None
        self.nothing_written()
        return True

    def source_guarded(self) -> bool:
        """Too few records, or too many fewer than last time: exit 3, nothing planned."""
        records = 0 if self.broken == "header_only" else len(self.rows)
        assert self.report.source_records == records
        shrink = 1 - self.limits.shrink_percent / 100
        if records >= 1 and not (self.baseline and records < self.baseline * shrink):
            return False
        assert (self.report.status, self.report.exit_code) == ("guarded", 3)
        assert isinstance(self.report.error, GuardError), self.report.error
        assert self.report.plan is None
        self.nothing_written()
        return True

    def conflicts_are_reported_and_explained(self) -> None:
        for key in self.view.duplicate_keys:
            assert "duplicate_key" in self.conflicts[key], key
        for key in self.view.duplicate_usernames:
            assert "duplicate_username" in self.conflicts[key], key
        for c in self.plan.conflicts:
            assert conflict_cause(
                c.kind.value, c.key, self.view, self.before.links, self.before.users
            ), f"no cause for conflict {c}"
        for key, person in self.view.remaining.items():
            if self.protected(key) and key not in self.conflicts and person.active:
                assert any(s.key == key for s in self.plan.skipped), f"{key} not skipped"

    def plan_offboards_the_owed_leavers(self) -> None:
        """Exactly the owed locks and deletes are planned, a delete's fallback lock only
        where the user is locked neither before nor by this run."""
        assert {op.key for op in self.plan.of(Action.LOCK)} == self.locks
        deletes = self.plan.of(Action.DELETE)
        assert {op.key for op in deletes} == self.deletes
        for op in deletes:
            leaver = self.leavers[op.key]
            assert op.tt_id == leaver.tt_id
            unlocked = not leaver.locked and op.key not in self.locks
            assert (op.fallback is not None) == unlocked, op
            assert op.fallback is None or op.fallback.action is Action.LOCK

    def offboarding_is_within_limits(self) -> None:
        """Distinct users locked or deleted: within the limits (unless allowed), as owed."""
        locked = Counter(op.match_key for op in self.run_ops if op.action is Action.LOCK)
        assert all(n == 1 for n in locked.values()), f"locked twice in one run: {locked}"
        assert set(locked) == self.locks | self.fallbacks, (sorted(locked), self.leavers)
        sent = {op.match_key: op for op in self.run_ops if op.action is Action.DELETE}
        assert set(sent) == self.deletes
        assert {k for k, op in sent.items() if op.status == "refused"} == self.refused
        for key in self.refused:
            assert sent[key].http_status == self.before.refused_status, sent[key]
            assert "time entries" in str(sent[key].error), sent[key]
        offboarded = set(locked) | set(sent)
        if not self.allow_mass_delete:
            owned = len(self.before.links)
            assert len(offboarded) <= self.limits.max_deletes
            assert len(offboarded) * 100 <= self.limits.max_delete_percent * owned
        deleted = {str(w.user_id) for w in self.writes if w.method == "DELETE"}
        owed = {self.leavers[k].tt_id for k in self.deletes - self.refused}
        assert deleted == owed, f"deleted {sorted(deleted)}, expected {sorted(owed)}"

    def disabled_users_are_not_written(self) -> None:
        for write in self.writes:
            user = self.before.users.get(str(write.user_id))
            assert user is None or user["enabled"], f"{write} to a disabled user"

    def left_out_people_are_not_touched(self) -> None:
        for op in self.run_ops:
            assert not self.left_out(op.match_key), f"{op.action} of left-out {op.match_key}"

    def owned_users_are_as_desired(self) -> None:
        for key in self.view.remaining:
            person = self.synced(key)
            if person is None:
                continue
            link = self.links.get(key)
            assert link is not None, f"{key} ({person.username}) is not owned after the run"
            user = self.users.get(link.tt_id)
            assert user is not None, f"{key} is linked to a missing user"
            assert matches_desired(user, person) == [], (key, user, person)

    def leavers_are_offboarded(self) -> None:
        """Each owned leaver: deleted, retained, locked, deactivated or waiting, as owed."""
        now = self.before.now
        for key, leaver in self.leavers.items():
            old = self.before.links[key]
            user = self.users.get(leaver.tt_id)
            if key in self.deletes - self.refused:
                assert key not in self.links, f"{key} still linked after its delete"
                assert user is None or (self.before.soft_delete and not user["enabled"]), user
                tally("leaver deleted")
                continue
            link = self.links.get(key)
            assert link is not None and link.tt_id == old.tt_id, f"{key} unlinked or relinked"
            assert link.missing_runs == old.missing_runs + 1, key
            assert user is not None, f"{key}: its user is gone"
            locked_now = key in self.locks or key in self.fallbacks
            if locked_now:
                assert (user["admin"], user["teamLead"]) == (False, False), user
                assert self.fresh_password(leaver.tt_id), f"{key} locked without a new password"
                assert link.locked_at == now, link
            else:
                assert user == self.before.users[leaver.tt_id], f"{key} changed"
                assert link.locked_at == old.locked_at, link
            if leaver.deactivated:
                state = "deactivated"
            elif key in self.refused:
                state = "retained"
                assert link.delete_refused_at == now, link
                assert "time entries" in str(link.delete_refusal), link
                tally(f"delete refused ({self.before.refused_status})")
            elif locked_now:
                state = "retained" if old.offboarding.value == "retained" else "locked"
            else:
                state = "leaving" if old.offboarding.value == "active" else old.offboarding.value
            assert link.offboarding.value == state, (key, link, leaver)
            tally(f"leaver {state}{' (locked now)' if locked_now else ''}")

    def links_are_coherent(self) -> None:
        for key, link in self.links.items():
            old = self.before.links.get(key)
            if self.synced(key) is not None:
                assert link.missing_runs == 0
                assert (link.offboarding.value, link.locked_at) == ("active", None), link
                assert link.delete_refused_at is None, link
                if old is not None and old.offboarding.value != "active":
                    tally(f"rehired from {old.offboarding.value}")
                continue
            if key in self.leavers:
                continue  # leavers_are_offboarded
            assert old is not None and old.tt_id == link.tt_id, f"{key} relinked"
            assert (link.offboarding, link.locked_at) == (old.offboarding, old.locked_at), key
            if self.left_out(key):
                assert link.missing_runs == 0, key
                # A left-out key's link is kept as it is, even one whose user is gone.
                assert self.users.get(link.tt_id) == self.before.users.get(link.tt_id), key
                continue
            # A protected leaver, or gone from the source: kept as it is, counted missing.
            assert link.tt_id in self.users, f"link {key} points at a user that is gone"
            assert self.users[link.tt_id] == self.before.users[link.tt_id], f"{key} changed"
            assert link.missing_runs == old.missing_runs + 1, key

    def unowned_users_are_untouched(self) -> None:
        owned_before = {link.tt_id for link in self.before.links.values()}
        adopted = {op.tt_id for op in self.run_ops if op.action is Action.ADOPT}
        for tt_id in adopted:
            user = self.before.users[str(tt_id)]
            person = self.synced(user_key(user))
            assert tt_id not in owned_before and person is not None, f"adopted {user}"
            assert folded(user["username"]) == folded(person.username) and user["enabled"]
        for tt_id, user in self.before.users.items():
            if tt_id not in owned_before and tt_id not in adopted:
                assert self.users.get(tt_id) == user, f"unowned user {user} changed"
        linked = {link.tt_id for link in self.links.values()}
        assert set(self.users) - set(self.before.users) <= linked, "a created user is not owned"

    def second_plan(self, again: Plan) -> None:
        """After a clean real run a new plan (at the same time) is empty, except for people
        whose conflict a write of this run resolved (a deleted user freed their username, an
        update their personnel number).

        Nothing about leavers is left for it: the grace in runs never ends without the
        grace in time (which then starts with this run), a lock's delete waits
        `delete_after` (when it is due now it was sent now), a refused delete waits
        `delete_retry_after`, and every state change the run planned is recorded.
        """
        conflicted = set(self.conflicts)
        for op in again.operations:
            if self.writes and op.key in conflicted:
                tally(f"second plan: {op.action.value} of a person no longer in conflict")
                continue
            raise AssertionError(f"a second plan is not empty: {op.describe()}")
        for change in again.offboarding:
            assert self.writes and change.key in conflicted, f"second plan: {change}"

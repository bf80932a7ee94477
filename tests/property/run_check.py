"""The checks on one run of the sync state machine: what it did against what it had to do."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    Row,
    SourceView,
    UserDict,
    Wanted,
    conflict_cause,
    delete_guard_trips,
    expected_deletes,
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


@dataclass
class RunCheck:
    """One finished run with the states before and after it; `all()` asserts it was right."""

    report: RunReport
    before: Before
    rows: Sequence[Row]  # the export the run read
    broken: str | None
    baseline: int | None  # source records of the last real run that succeeded
    grace: int
    limits: Limits
    allow_mass_delete: bool
    users: Mapping[str, UserDict]  # after the run
    links: Mapping[str, Link]
    writes: Sequence[WriteRecord]  # the writes TimeTrack applied during the run
    journal: Sequence[OperationRecord]  # the whole journal after the run
    view: SourceView = field(init=False)

    def __post_init__(self) -> None:
        self.view = source_view(self.rows)

    # -- derived -----------------------------------------------------------------------------

    @property
    def plan(self) -> Plan:
        assert self.report.plan is not None, "the run made no plan"
        return self.report.plan

    @cached_property
    def expected_deletes(self) -> dict[str, str]:
        """Key -> TimeTrack id of the owned users this run must delete (before the guards)."""
        return expected_deletes(self.view, self.before.links, self.before.users, self.grace)

    @cached_property
    def guarded(self) -> bool:
        """Whether a delete limit stops every delete of this run."""
        trips = delete_guard_trips(
            len(self.expected_deletes),
            len(self.before.links),
            self.limits.max_deletes,
            self.limits.max_delete_percent,
        )
        return trips and not self.allow_mass_delete

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
        deletes = set() if self.guarded else set(self.expected_deletes.values())
        if self.report.dry_run or self.blocked:
            self.nothing_written()
            assert {op.tt_id for op in self.plan.of(Action.DELETE)} == deletes
            assert self.report.applied is None
            return
        applied = self.report.applied
        assert applied is not None and applied.failed == [] and applied.aborted is None
        self.deletes_are_within_limits(deletes)
        self.left_out_people_are_not_touched()
        self.owned_users_are_as_desired()
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

    def deletes_are_within_limits(self, expected: set[str]) -> None:
        deleted = {str(w.user_id) for w in self.writes if w.method == "DELETE"}
        if not self.allow_mass_delete:
            owned = len(self.before.links)
            assert len(deleted) <= self.limits.max_deletes
            assert len(deleted) * 100 <= self.limits.max_delete_percent * owned
        assert deleted == expected, f"deleted {sorted(deleted)}, expected {sorted(expected)}"

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

    def links_are_coherent(self) -> None:
        for key in self.expected_deletes:
            if not self.guarded:
                assert key not in self.links
        for key, link in self.links.items():
            if self.synced(key) is not None:
                assert link.missing_runs == 0
                continue
            old = self.before.links.get(key)
            assert old is not None and old.tt_id == link.tt_id, f"{key} relinked"
            if self.left_out(key):
                assert link.missing_runs == 0, key
                # A left-out key's link is kept as it is, even one whose user is gone.
                assert self.users.get(link.tt_id) == self.before.users.get(link.tt_id), key
                continue
            assert link.tt_id in self.users, f"link {key} points at a user that is gone"
            assert self.users[link.tt_id] == self.before.users[link.tt_id], f"{key} changed"
            # A leaver or gone: waiting out its grace, or kept by the delete guard.
            assert self.guarded or key not in self.expected_deletes
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
        """After a clean real run a new plan is empty, except for what the run made possible:
        deletes whose grace run this was, and people whose conflict a write of this run
        resolved (a deleted user freed their username, an update their personnel number).
        """
        conflicted = set(self.conflicts)
        for op in again.operations:
            if op.action is Action.DELETE and self.grace and op.key in self.plan.missing_keys:
                tally("second plan: a delete after its grace run")
                continue
            if self.writes and op.key in conflicted:
                tally(f"second plan: {op.action.value} of a person no longer in conflict")
                continue
            raise AssertionError(f"a second plan is not empty: {op.describe()}")

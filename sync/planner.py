"""The judgement: what one run must do to make TimeTrack match the source (pure, no I/O).

`plan(desired, snapshot, links, policy, match_on=..., now=...)` compares the mapped people with
the last TimeTrack listing and this job's links and returns a `Plan`. It reads no clock (`now`
is the run's time), does no I/O and logs nothing.

The rules, in the order they are applied:

1. Conflicts first. Source records sharing a match key are each a `duplicate_key` conflict;
   of the rest, records whose usernames are equal after casefolding are each a
   `duplicate_username` conflict. Leavers take part in both checks (a leaver and a new hire
   wanting the same username is a conflict too: no guessing). A conflicted key is left out
   of the run entirely: no operation, not counted missing, not reported stale.
2. A linked person whose TimeTrack user still exists is owned: protected (by either
   username) -> skipped; leaver -> offboarded (5); disabled or renamed in TimeTrack ->
   conflict, or with `on_rename: recreate` a delete + create pair; otherwise an update of
   the managed fields that differ (every mapped field except username, password, enabled
   and id, compared with `normalize_field`).
3. A link whose TimeTrack user is gone is stale (reported in `stale_keys`) and the person is
   planned as unlinked.
4. An unlinked active person: protected username -> skipped; several TimeTrack users with
   its match key -> conflict; one -> adopted (plus an update if fields differ) unless it is
   owned elsewhere, protected, linked to another key, adoption is off, disabled or named
   differently; none, but its username is taken -> conflict; else created. An unlinked
   leaver is ignored.
5. Owned links whose key is gone from the source are leavers too (or stale), all in
   `missing_keys`; `sync.offboarding.plan_leaver` decides what this run does for each:
   wait out the grace (`delete_grace_runs` and `leaver_grace`), lock, delete (when
   `policy.delete` is on and `delete_after` has passed; a delete TimeTrack refused waits
   `delete_retry_after`), or nothing (a user TimeTrack lists as disabled is deactivated).
6. An owned person who is active again after leaving is active again: a locked or retained
   user gets the normal update (its rights back), with a note that its password was reset.

Rules for the cases the steps above leave open:

- `policy.update` off: differing fields are counted unchanged and nothing is recorded.
- `on_rename: recreate` deletes a user, so it also needs `policy.create` and
  `policy.delete`; without them the rename (or disabled user) stays a conflict whose reason
  says so. It is also a `username_taken` conflict when another TimeTrack user already
  holds the wanted username (the create would fail after the delete had succeeded).
- An unlinked active person whose mapped username is protected is skipped, never created.
- A protected owned leaver is skipped and not counted missing (the protected check comes
  first); a protected owned user that vanished from the source is counted missing and
  skipped (step 5). Neither is ever deleted.
- TimeTrack users with an empty match key are not indexed by key: a user without a
  personnel number never matches a person.
- A TimeTrack user matching an unlinked person but linked to another key of this job is a
  `duplicate_key` conflict.
- Creates carry every mapped field except `password` and `id`; operations on existing users
  carry TimeTrack's username, creates the mapped one.
- Ties in the documented sort orders are broken by the remaining fields, so the plan does
  not depend on the order of its inputs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from sync.changes import create_changes, field_changes
from sync.conflicts import find_conflicts, fold
from sync.model import (
    ACTION_ORDER,
    Action,
    Conflict,
    ConflictKind,
    DesiredUser,
    Link,
    Offboarding,
    OffboardingChange,
    Operation,
    Plan,
    Policy,
    Skipped,
    TimeTrackUser,
    match_key,
)
from sync.offboarding import plan_leaver, rehire_note

PROTECTED_REASON = "protected user"
CREATE_DISABLED_REASON = "create disabled by policy"
DISABLED_REASON = "disabled in TimeTrack; re-enable it there"
LEFT_REASON = "left (inactive in source)"
GONE_REASON = "no longer in source"


def user_key(match_on: str, user: TimeTrackUser) -> str:
    """The match key of a TimeTrack user (its username when matching on username)."""
    value = user.username if match_on == "username" else user.get(match_on)
    return match_key(match_on, value)


def _ordered(index: dict[str, list[TimeTrackUser]]) -> dict[str, list[TimeTrackUser]]:
    """The index with each group of several users in id order (input order must not matter)."""
    for group in index.values():
        if len(group) > 1:
            group.sort(key=lambda u: u.id)
    return dict(index)


@dataclass
class _Planner:
    """The state of one planning pass; `plan()` is the public entry point."""

    snapshot: Mapping[str, TimeTrackUser]
    links: Mapping[str, Link]
    policy: Policy
    match_on: str
    other_owned: frozenset[str]
    now: datetime
    operations: list[Operation] = field(default_factory=list)
    offboarding: list[OffboardingChange] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    unchanged: int = 0
    missing: set[str] = field(default_factory=set)
    stale: set[str] = field(default_factory=set)

    # The indexes are built on first use: a run where everyone is already linked (the steady
    # state) never needs them.

    @cached_property
    def linked_ids(self) -> dict[str, str]:
        """TimeTrack id -> the key of this job's link to it."""
        index: dict[str, str] = {}
        for key, link in self.links.items():
            # One id linked to several keys (never written by the store): the greatest key wins.
            if link.tt_id not in index or key > index[link.tt_id]:
                index[link.tt_id] = key
        return index

    @cached_property
    def by_key(self) -> dict[str, list[TimeTrackUser]]:
        """Snapshot users by match key (users without one are not indexed)."""
        index: dict[str, list[TimeTrackUser]] = defaultdict(list)
        for user in self.snapshot.values():
            key = user_key(self.match_on, user)
            if key:
                index[key].append(user)
        return _ordered(index)

    @cached_property
    def by_username(self) -> dict[str, list[TimeTrackUser]]:
        """Snapshot users by casefolded username."""
        index: dict[str, list[TimeTrackUser]] = defaultdict(list)
        for user in self.snapshot.values():
            index[fold(user.username)].append(user)
        return _ordered(index)

    # -- recording -------------------------------------------------------------------------

    def conflict(self, kind: ConflictKind, person: DesiredUser, reason: str) -> None:
        """Record that a person is left out of the run."""
        self.conflicts.append(Conflict(kind, person.key, person.username, reason))

    def skip(self, person: DesiredUser, reason: str) -> None:
        """Record that a person is not acted on this run."""
        self.skipped.append(Skipped(person.origin, person.key, reason))

    # -- people in the source ----------------------------------------------------------------

    def person(self, person: DesiredUser) -> None:
        """Plan one source person who is not in conflict."""
        link = self.links.get(person.key)
        if link is not None:
            user = self.snapshot.get(link.tt_id)
            if user is not None:
                self.owned(person, user, link)
                return
            self.stale.add(person.key)
        self.unlinked(person)

    def owned(self, person: DesiredUser, user: TimeTrackUser, link: Link) -> None:
        """Plan a person whose TimeTrack user this job owns."""
        wanted = person.username
        if self.policy.is_protected(user.username) or self.policy.is_protected(wanted):
            self.skip(person, PROTECTED_REASON)
        elif not person.active:
            self.leaver(link, user, LEFT_REASON, person.origin)
        elif not user.enabled:
            self.mismatch(person, user, ConflictKind.DISABLED, DISABLED_REASON)
        elif fold(user.username) != fold(wanted):
            reason = f"TimeTrack has username {user.username}, source wants {wanted}"
            self.mismatch(person, user, ConflictKind.RENAME, reason)
        else:
            note = ""
            if link.offboarding is not Offboarding.ACTIVE:
                note = rehire_note(link) or ""
                back = OffboardingChange(person.key, link.username, Offboarding.ACTIVE, note)
                self.offboarding.append(back)
            changes = field_changes(person, user)
            if changes and self.policy.update:
                update = Operation(Action.UPDATE, person.key, user.username, user.id, changes, note)
                self.operations.append(update)
            else:
                self.unchanged += 1

    def mismatch(
        self, person: DesiredUser, user: TimeTrackUser, kind: ConflictKind, reason: str
    ) -> None:
        """An owned user renamed or disabled in TimeTrack: a conflict, or a recreate."""
        if self.policy.on_rename != "recreate":
            self.conflict(kind, person, reason)
        elif not (self.policy.create and self.policy.delete):
            needs = "on_rename: recreate needs policy create and delete enabled"
            self.conflict(kind, person, f"{reason} ({needs})")
        elif holder := self.username_holder(person.username, besides=user.id):
            reason = (
                f"cannot recreate: username {person.username} belongs to TimeTrack user"
                f" id {holder.id}"
            )
            self.conflict(ConflictKind.USERNAME_TAKEN, person, reason)
        else:
            why = f"recreate: {reason}"
            self.operations.append(
                Operation(
                    Action.DELETE, person.key, user.username, user.id, reason=why, recreate=True
                )
            )
            self.create(person, reason=why, recreate=True)

    def unlinked(self, person: DesiredUser) -> None:
        """Plan a person this job does not own (yet)."""
        if not person.active:
            return  # a leaver we never owned is none of our business
        if self.policy.is_protected(person.username):
            self.skip(person, PROTECTED_REASON)
            return
        matches = self.by_key.get(person.key, [])
        if len(matches) > 1:
            ids = ", ".join(u.id for u in matches)
            reason = (
                f"{len(matches)} TimeTrack users match {self.match_on} {person.key} (ids {ids})"
            )
            self.conflict(ConflictKind.DUPLICATE_KEY, person, reason)
        elif matches:
            self.found(person, matches[0])
        elif holder := self.username_holder(person.username):
            reason = (
                f"username {person.username} belongs to TimeTrack user id {holder.id}"
                f" with a different {self.match_on}"
            )
            self.conflict(ConflictKind.USERNAME_TAKEN, person, reason)
        elif not self.policy.create:
            self.skip(person, CREATE_DISABLED_REASON)
        else:
            self.create(person)

    def found(self, person: DesiredUser, user: TimeTrackUser) -> None:
        """An unlinked person whose match key fits an existing TimeTrack user."""
        owner = self.linked_ids.get(user.id)
        if user.id in self.other_owned:
            reason = f"TimeTrack user id {user.id} ({user.username}) is owned by another job"
            self.conflict(ConflictKind.OWNED_ELSEWHERE, person, reason)
        elif self.policy.is_protected(user.username):
            self.skip(person, PROTECTED_REASON)
        elif owner is not None:
            reason = (
                f"TimeTrack user id {user.id} has {self.match_on} {person.key}"
                f" but this job links it to key {owner}"
            )
            self.conflict(ConflictKind.DUPLICATE_KEY, person, reason)
        elif not self.policy.adopt_existing:
            reason = "exists in TimeTrack; set adopt_existing: true to adopt it"
            self.conflict(ConflictKind.NOT_ADOPTED, person, reason)
        elif not user.enabled:
            self.conflict(ConflictKind.DISABLED, person, DISABLED_REASON)
        elif fold(user.username) != fold(person.username):
            # Never recreate a user we do not own: that would delete someone else's history.
            reason = f"TimeTrack has username {user.username}, source wants {person.username}"
            self.conflict(ConflictKind.RENAME, person, reason)
        else:
            self.adopt(person, user)

    def adopt(self, person: DesiredUser, user: TimeTrackUser) -> None:
        """Take ownership of an existing user, and update it where fields differ."""
        reason = f"exists in TimeTrack with the same {self.match_on}"
        self.operations.append(
            Operation(Action.ADOPT, person.key, user.username, user.id, {}, reason=reason)
        )
        changes = field_changes(person, user)
        if changes and self.policy.update:
            self.operations.append(
                Operation(Action.UPDATE, person.key, user.username, user.id, changes)
            )

    def create(self, person: DesiredUser, *, reason: str = "", recreate: bool = False) -> None:
        """A new TimeTrack user for a person (the executor adds the password)."""
        self.operations.append(
            Operation(
                Action.CREATE,
                person.key,
                person.username,
                None,
                create_changes(person),
                reason=reason,
                recreate=recreate,
            )
        )

    def username_holder(self, username: str, *, besides: str | None = None) -> TimeTrackUser | None:
        """The TimeTrack user (other than `besides`) holding a username, if any."""
        holders = [u for u in self.by_username.get(fold(username), []) if u.id != besides]
        return holders[0] if holders else None

    # -- deletes ---------------------------------------------------------------------------

    def vanished(self, desired_keys: set[str]) -> None:
        """Owned links whose key is no longer in the source at all."""
        for key, link in self.links.items():  # result() orders what this records
            if key in desired_keys:
                continue
            user = self.snapshot.get(link.tt_id)
            if user is None:
                self.stale.add(key)
            else:
                self.leaver(link, user, GONE_REASON, f"TimeTrack user id {user.id}")

    def leaver(self, link: Link, user: TimeTrackUser, reason: str, origin: str) -> None:
        """An owned user whose person left or vanished: lock or delete it after the grace."""
        self.missing.add(link.key)
        if self.policy.is_protected(user.username):
            self.skipped.append(Skipped(origin, link.key, PROTECTED_REASON))
            return
        leaver = plan_leaver(link, user, self.policy, now=self.now, reason=reason)
        self.operations.extend(leaver.operations)
        if leaver.change is not None:
            self.offboarding.append(leaver.change)

    def result(self) -> Plan:
        """The plan, in its deterministic order."""
        return Plan(
            operations=tuple(
                sorted(
                    self.operations,
                    key=lambda op: (ACTION_ORDER[op.action], op.key, op.recreate, op.tt_id or ""),
                )
            ),
            conflicts=tuple(
                sorted(self.conflicts, key=lambda c: (c.key, c.kind.value, c.username, c.reason))
            ),
            skipped=tuple(sorted(self.skipped, key=lambda s: (s.origin, s.key or "", s.reason))),
            offboarding=tuple(sorted(self.offboarding, key=lambda c: (c.key, c.state.value))),
            unchanged=self.unchanged,
            missing_keys=frozenset(self.missing),
            stale_keys=frozenset(self.stale),
        )


def plan(
    desired: Sequence[DesiredUser],
    snapshot: Mapping[str, TimeTrackUser],
    links: Mapping[str, Link],
    policy: Policy,
    *,
    match_on: str,
    now: datetime,
    other_owned: frozenset[str] = frozenset(),
    held_keys: frozenset[str] = frozenset(),
) -> Plan:
    """Work out the operations that make TimeTrack match `desired` for one job.

    `held_keys` are keys of source records skipped by the mapping (bad email, empty name):
    those people are still in the source, so their owned users are neither deleted nor
    counted missing while their record is broken.
    """
    remaining, conflicts, _excluded = find_conflicts(desired, held_keys)
    planner = _Planner(snapshot, links, policy, match_on, other_owned, now, conflicts=conflicts)
    for person in remaining:
        planner.person(person)
    # Conflicted keys count as present, so their links are neither missing nor stale.
    planner.vanished({p.key for p in desired} | held_keys)
    return planner.result()

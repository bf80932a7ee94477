"""`explain WHO`: every step of the decision for one person, from what a dry run computes.

Pure: the caller reads the source, TimeTrack (or the stored snapshot), the links and the
journal, and plans as a dry run does (`engine.plan_job`, the same code as `sync`); this
module picks out what concerns the person: the source records found and their mapped values,
the TimeTrack users that match and why, the rule that decides, the guards' verdicts, and the
journal's last rows. WHO is a match key, a username or an email (case-insensitive).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sync.desired import DesiredRead
from sync.guards import held_by_delete_guards
from sync.model import (
    OFFBOARDING_ACTIONS,
    GuardVerdict,
    Link,
    Offboarding,
    Plan,
    TimeTrackUser,
    match_key,
)
from sync.scope import concerning
from sync.state.records import OperationRecord


@dataclass(frozen=True, slots=True)
class MappedField:
    """One TimeTrack field of a source record: the mapping's expression and its result."""

    name: str
    expression: str
    value: Any


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A source record of the person: where it is, and what the mapping made of it."""

    origin: str
    key: str | None
    active: bool | None  # None: the record was skipped before it was mapped whole
    fields: tuple[MappedField, ...] = ()
    skipped: str | None = None  # why the mapping left it out


@dataclass(frozen=True, slots=True)
class MatchedUser:
    """A TimeTrack user that concerns the person, and why."""

    user: TimeTrackUser
    why: tuple[str, ...]


@dataclass(slots=True)
class Explanation:
    """One person's way through a run, step by step."""

    who: str
    job: str
    match_on: str
    records: list[SourceRecord] = field(default_factory=list)
    users: list[MatchedUser] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)  # the rule that decides, one line each
    guards: tuple[GuardVerdict, ...] = ()
    keys: set[str] = field(default_factory=set)  # the match keys that concern the person
    usernames: set[str] = field(default_factory=set)  # casefolded
    journal: list[OperationRecord] = field(default_factory=list)  # newest first, for the keys

    @property
    def found(self) -> bool:
        """Whether the person is in the source, owned, or matches a TimeTrack user at all."""
        return bool(self.records or self.users)


def explain(
    who: str,
    *,
    job: str,
    match_on: str,
    mapping: Mapping[str, object],
    active: object,
    read: DesiredRead,
    snapshot: Mapping[str, TimeTrackUser],
    links: Mapping[str, Link],
    plan: Plan,
) -> Explanation:
    """What the dry run that made `plan` does about `who`, and why.

    `plan` is the plan before the delete guards, with their verdicts: what they hold back is
    shown as held back.
    """
    wanted = who.strip().casefold()
    result = Explanation(who=who, job=job, match_on=match_on, guards=plan.guards)
    people = concerning(who, match_on, read.desired, snapshot, links)
    keys, names = set(people.keys), set(people.usernames)
    result.records = _records(read, keys, {**mapping, "active": active})
    result.users = _users(snapshot, links, keys, names, wanted, match_on)
    result.decisions = _decisions(plan, keys, names, links)
    result.keys, result.usernames = keys, names
    return result


def _records(
    read: DesiredRead, keys: set[str], mapping: Mapping[str, object]
) -> list[SourceRecord]:
    """The person's records; `mapping` holds each field's expression (and `active`'s)."""
    records = []
    for d in read.desired:
        if d.key in keys:
            values = {**d.fields, "active": d.active}
            mapped = tuple(MappedField(k, str(mapping.get(k)), v) for k, v in values.items())
            records.append(SourceRecord(d.origin, d.key, d.active, mapped))
    records += [
        SourceRecord(s.origin, s.key, None, skipped=s.reason) for s in read.skipped if s.key in keys
    ]
    return records


def _users(
    snapshot: Mapping[str, TimeTrackUser],
    links: Mapping[str, Link],
    keys: set[str],
    names: set[str],
    wanted: str,
    match_on: str,
) -> list[MatchedUser]:
    linked = {link.tt_id: (key, link) for key, link in links.items() if key in keys}
    found = []
    for user in sorted(snapshot.values(), key=lambda u: u.username.casefold()):
        why = []
        if user.id in linked:
            key, link = linked[user.id]
            why.append(f"owned by this job for key {key} ({link.origin}, link)")
        if match_on != "username" and match_key(match_on, user.get(match_on)) in keys:
            why.append(f"its {match_on} {user.get(match_on)!r} is the person's match key")
        if user.username.casefold() in names:
            why.append(f"its username {user.username!r} is the one wanted")
        if wanted and str(user.get("email") or "").strip().casefold() == wanted:
            why.append("its email is the one given")
        if why:
            found.append(MatchedUser(user, tuple(why)))
    for tt_id, (key, _link) in sorted(linked.items()):
        if tt_id not in snapshot:
            gone = TimeTrackUser(tt_id, _link.username, False, {})
            found.append(
                MatchedUser(gone, (f"linked to key {key}, but TimeTrack no longer has it",))
            )
    return found


def _decisions(plan: Plan, keys: set[str], names: set[str], links: Mapping[str, Link]) -> list[str]:
    lines = []
    held = held_by_delete_guards(plan)
    for op in plan.operations:
        if op.key in keys or op.username.casefold() in names:
            line = f"{op.action.value}: {op.describe()}"
            if held and (op.action in OFFBOARDING_ACTIONS or (op.recreate and op.key in keys)):
                line = f"held back by a delete guard (see Guards): {line}"
            lines.append(line)
    for conflict in plan.conflicts:
        if conflict.key in keys or conflict.username.casefold() in names:
            lines.append(f"conflict ({conflict.kind.value}): {conflict.reason}")
    for skipped in plan.skipped:
        if skipped.key in keys:
            lines.append(f"skipped: {skipped.reason} ({skipped.origin})")
    for change in plan.offboarding:
        if change.key in keys:
            lines.append(f"offboarding: {change.state.value}: {change.note}")
    if not lines:
        lines.append(_quiet(keys, links))
    return lines


def _quiet(keys: set[str], links: Mapping[str, Link]) -> str:
    """The decision when the run does nothing about the person."""
    owned = [links[k] for k in sorted(keys) if k in links]
    if not owned:
        return "nothing to do: not in the source and not owned by this job"
    link = owned[0]
    if link.offboarding is Offboarding.ACTIVE:
        return f"unchanged: TimeTrack user {link.tt_id} matches the source"
    if link.offboarding is Offboarding.DEACTIVATED:
        return f"offboarded: TimeTrack lists {link.username} disabled; it is never written again"
    since = f" since {link.locked_at:%Y-%m-%d %H:%M} UTC" if link.locked_at else ""
    waiting = (
        f"; TimeTrack refused its delete ({link.delete_refusal}), it waits for a TimeTrack"
        " admin to deactivate it (timetrack-sync offboarding)"
        if link.offboarding is Offboarding.RETAINED
        else ""
    )
    return f"offboarding: {link.offboarding.value}{since}{waiting}"

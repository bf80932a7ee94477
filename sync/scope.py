"""Who a command is about: the match keys and usernames of named people, and plans cut to them.

`explain WHO` and `sync --only WHO,...` name people by match key, username or email
(case-insensitive). A person concerns the source records with that key, username or email,
the links of those keys (or of that username), and the TimeTrack users with those usernames,
that email or that match key. Pure functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sync.errors import UsageError
from sync.model import DesiredUser, Link, Plan, TimeTrackUser, match_key


@dataclass(frozen=True, slots=True)
class People:
    """The match keys and (casefolded) usernames that concern some named people."""

    keys: frozenset[str]
    usernames: frozenset[str]

    def concern(self, key: str | None, username: str = "") -> bool:
        """Whether something with this key or username is about these people."""
        return key in self.keys or username.casefold() in self.usernames


def _email(fields: Mapping[str, Any]) -> str:
    return str(fields.get("email") or "").strip().casefold()


def concerning(
    who: str,
    match_on: str,
    desired: Iterable[DesiredUser],
    snapshot: Mapping[str, TimeTrackUser],
    links: Mapping[str, Link],
) -> People:
    """The keys and usernames that concern `who` (a match key, a username or an email)."""
    wanted = who.strip().casefold()
    desired = list(desired)
    keys = {match_key(match_on, who)}
    keys |= {d.key for d in desired if wanted in (d.key.casefold(), d.username.casefold())}
    keys |= {d.key for d in desired if _email(d.fields) == wanted}
    names = {wanted} | {d.username.casefold() for d in desired if d.key in keys}
    for user in snapshot.values():
        if _email(user.fields) == wanted:
            names.add(user.username.casefold())
            keys.add(match_key(match_on, user.get(match_on)))
    for key, link in links.items():
        if key in keys or link.username.casefold() in names:
            keys.add(key)
            names.add(link.username.casefold())
    return People(frozenset(keys - {""}), frozenset(names))


def found(
    people: People,
    match_on: str,
    desired: Iterable[DesiredUser],
    snapshot: Mapping[str, TimeTrackUser],
    links: Mapping[str, Link],
) -> bool:
    """Whether the people are in the source, owned, or match a TimeTrack user at all."""
    return (
        any(d.key in people.keys for d in desired)
        or any(key in people.keys for key in links)
        or any(
            people.concern(match_key(match_on, u.get(match_on)), u.username)
            for u in snapshot.values()
        )
    )


def people_named(
    whos: Iterable[str],
    job: str,
    match_on: str,
    desired: Iterable[DesiredUser],
    snapshot: Mapping[str, TimeTrackUser],
    links: Mapping[str, Link],
) -> People:
    """Everything that concerns the named people; UsageError naming those nothing matches."""
    desired = list(desired)
    named = [(who, concerning(who, match_on, desired, snapshot, links)) for who in whos]
    unknown = [who for who, p in named if not found(p, match_on, desired, snapshot, links)]
    if unknown:
        raise UsageError(
            f"--only {', '.join(unknown)}: no record of job {job}'s source and no TimeTrack"
            " user matches",
            hint=f"give match keys ({match_on}), usernames or emails, separated by commas",
        )
    return People(
        frozenset().union(*(p.keys for _, p in named)),
        frozenset().union(*(p.usernames for _, p in named)),
    )


def scoped(plan: Plan, people: People, desired: Iterable[DesiredUser]) -> Plan:
    """The part of a plan that concerns `people`: everyone else is left as is."""
    operations = tuple(op for op in plan.operations if people.concern(op.key, op.username))
    conflicts = tuple(c for c in plan.conflicts if people.concern(c.key, c.username))
    busy = {op.key for op in operations} | {c.key for c in conflicts}
    return replace(
        plan,
        operations=operations,
        conflicts=conflicts,
        skipped=tuple(s for s in plan.skipped if people.concern(s.key)),
        offboarding=tuple(c for c in plan.offboarding if people.concern(c.key, c.username)),
        unchanged=len({d.key for d in desired if d.key in people.keys} - busy),
        missing_keys=plan.missing_keys & people.keys,
        stale_keys=plan.stale_keys & people.keys,
    )

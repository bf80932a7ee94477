"""Conflicts the source makes by itself: duplicate match keys and duplicate usernames (pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sync.model import Conflict, ConflictKind, DesiredUser


def fold(username: str) -> str:
    """The form in which usernames are compared (TimeTrack treats them case-insensitively)."""
    return username.casefold()


def _shared(
    people: Iterable[DesiredUser], key: Callable[[DesiredUser], str]
) -> tuple[dict[str, DesiredUser], dict[str, list[DesiredUser]]]:
    """The first person per key, and the groups of people sharing a key (in source order)."""
    # One list per repeated key only: a list per person costs more than the whole comparison
    # at 100,000 people, mostly in garbage collections of the inputs they keep alive.
    first: dict[str, DesiredUser] = {}
    shared: dict[str, list[DesiredUser]] = {}
    for person in people:
        k = key(person)
        if k not in first:
            first[k] = person
        elif k in shared:
            shared[k].append(person)
        else:
            shared[k] = [first[k], person]
    return first, shared


def _key(person: DesiredUser) -> str:
    return person.key


def _folded_username(person: DesiredUser) -> str:
    return fold(person.username)


def find_conflicts(
    desired: Sequence[DesiredUser], held_keys: frozenset[str] = frozenset()
) -> tuple[list[DesiredUser], list[Conflict], frozenset[str]]:
    """Split off duplicate keys and duplicate usernames: (remaining, conflicts, excluded keys).

    A key shared with an invalid (skipped) record in `held_keys` is a duplicate key too: which
    of the two records is the person is a guess this tool does not make. `remaining` keeps
    the source order.
    """
    by_key, shared_keys = _shared(desired, _key)
    conflicts: list[Conflict] = []
    excluded: set[str] = set()
    if shared_keys or held_keys:
        for key in [k for k in by_key if k in shared_keys or k in held_keys]:
            excluded.add(key)
            group = shared_keys.get(key) or [by_key[key]]
            origins = ", ".join(sorted(p.origin for p in group))
            reason = f"{len(group)} source records have key {key} ({origins})"
            if key in held_keys:
                reason = f"key {key} is also on an invalid source record (see skipped): {origins}"
            conflicts += [
                Conflict(ConflictKind.DUPLICATE_KEY, key, p.username, reason) for p in group
            ]
    candidates = [p for k, p in by_key.items() if k not in excluded]
    by_name, shared_names = _shared(candidates, _folded_username)
    for group in shared_names.values():
        keys = ", ".join(sorted(p.key for p in group))
        for p in group:
            excluded.add(p.key)
            reason = f"username {p.username} is wanted by {len(group)} keys ({keys})"
            conflicts.append(Conflict(ConflictKind.DUPLICATE_USERNAME, p.key, p.username, reason))
    remaining = [p for p in by_name.values() if p.key not in excluded]
    return remaining, conflicts, frozenset(excluded)

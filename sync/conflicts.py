"""Conflicts the source makes by itself: duplicate match keys and duplicate usernames (pure)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sync.model import Conflict, ConflictKind, DesiredUser


def fold(username: str) -> str:
    """The form in which usernames are compared (TimeTrack treats them case-insensitively)."""
    return username.casefold()


def find_conflicts(
    desired: Sequence[DesiredUser], held_keys: frozenset[str] = frozenset()
) -> tuple[list[DesiredUser], list[Conflict], frozenset[str]]:
    """Split off duplicate keys and duplicate usernames: (remaining, conflicts, excluded keys).

    A key shared with an invalid (skipped) record in `held_keys` is a duplicate key too: which
    of the two records is the person is a guess this tool does not make.
    """
    by_key: dict[str, list[DesiredUser]] = defaultdict(list)
    for person in desired:
        by_key[person.key].append(person)
    conflicts: list[Conflict] = []
    excluded: set[str] = set()
    for key, group in by_key.items():
        if len(group) > 1 or key in held_keys:
            excluded.add(key)
            origins = ", ".join(sorted(p.origin for p in group))
            reason = f"{len(group)} source records have key {key} ({origins})"
            if key in held_keys:
                reason = f"key {key} is also on an invalid source record (see skipped): {origins}"
            conflicts += [
                Conflict(ConflictKind.DUPLICATE_KEY, key, p.username, reason) for p in group
            ]
    by_name: dict[str, list[DesiredUser]] = defaultdict(list)
    for key, group in by_key.items():
        if key not in excluded:
            person = group[0]
            by_name[fold(person.username)].append(person)
    for group in by_name.values():
        if len(group) > 1:
            keys = ", ".join(sorted(p.key for p in group))
            for p in group:
                excluded.add(p.key)
                reason = f"username {p.username} is wanted by {len(group)} keys ({keys})"
                conflicts.append(
                    Conflict(ConflictKind.DUPLICATE_USERNAME, p.key, p.username, reason)
                )
    remaining = sorted((g[0] for k, g in by_key.items() if k not in excluded), key=lambda p: p.key)
    return remaining, conflicts, frozenset(excluded)

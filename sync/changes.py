"""What differs between a person in the source and a TimeTrack user (pure)."""

from __future__ import annotations

from typing import Any

from sync.model import DesiredUser, TimeTrackUser, normalize_field

# Fields never compared for an update: the vendor refuses them on PUT, or they are secrets.
_NOT_COMPARED = frozenset({"username", "password", "enabled", "id"})
# Fields never put into a create: the executor adds the password; TimeTrack assigns the id.
_NOT_CREATED = frozenset({"password", "id"})


def field_changes(person: DesiredUser, user: TimeTrackUser) -> dict[str, tuple[Any, Any]]:
    """The managed fields whose normalized values differ: field -> (TimeTrack's, desired)."""
    listed = user.fields
    # Every mapped value listed as it is means no change (a comparison in C; most users).
    if person.fields.items() <= listed.items():
        return {}
    changes: dict[str, tuple[Any, Any]] = {}
    for name, new in person.fields.items():
        if name in _NOT_COMPARED:
            continue
        old = listed.get(name)
        # Equal raw values are equal normalized: skip the normalizing on the common path.
        if old != new and normalize_field(name, old) != normalize_field(name, new):
            changes[name] = (old, new)
    return changes


def create_changes(person: DesiredUser) -> dict[str, tuple[Any, Any]]:
    """Every mapped field as (None, value), for a create."""
    return {name: (None, v) for name, v in person.fields.items() if name not in _NOT_CREATED}

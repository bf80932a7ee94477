"""Hypothesis properties of the planner's building blocks, against the rules they implement.

`field_changes` compares a listed user's fields in one step before it looks at each field, and
`find_conflicts` keeps groups only for repeated keys and usernames: both must still give what
the plain rules give, field by field and person by person.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync.changes import field_changes
from sync.conflicts import find_conflicts
from sync.model import ConflictKind, DesiredUser, TimeTrackUser, normalize_field

NAMES = ["username", "firstName", "lastName", "email", "personalNumber", "admin", "teamLead"]
NAMES += ["language", "enabled", "id", "password"]
# Values that are equal raw but not normalized (1 and True), normalized but not raw ("007" and
# 7, "Doe" and "doe "), and neither.
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, 1, 7, 1.0, 7.0]),
    st.sampled_from(["", " ", "7", "007", "E-7", "Doe", "doe ", "DOE", "a@X.org", "A@x.org"]),
)
NOT_COMPARED = {"username", "password", "enabled", "id"}


@st.composite
def person_and_user(draw: st.DrawFn) -> tuple[DesiredUser, TimeTrackUser]:
    """A person and a listed user whose fields are mostly, but not always, the same."""
    listed = draw(st.dictionaries(st.sampled_from(NAMES), VALUES))
    wanted: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True)):
        same = name in listed and draw(st.integers(0, 2)) > 0
        wanted[name] = listed[name] if same else draw(VALUES)
    person = DesiredUser("k", wanted, True, "people.csv:2")
    return person, TimeTrackUser("1", str(listed.get("username")), True, listed)


@given(person_and_user())
def test_field_changes_are_the_compared_fields_whose_values_differ(
    case: tuple[DesiredUser, TimeTrackUser],
) -> None:
    person, user = case
    expected = {}
    for name, new in person.fields.items():
        old = user.fields.get(name)
        # A change: raw values differ, and so do their normalized forms.
        differ = old != new and normalize_field(name, old) != normalize_field(name, new)
        if name not in NOT_COMPARED and differ:
            expected[name] = (old, new)
    assert field_changes(person, user) == expected


USERNAMES = ["anna", "Anna", "ANNA", "bob", "Bob", "carl", "dora"]
KEYS = ["1", "2", "3", "4", "5", "6"]


@st.composite
def sources(draw: st.DrawFn) -> tuple[list[DesiredUser], frozenset[str]]:
    """A source with repeated keys and usernames (in case variants), and some held keys."""
    desired: list[DesiredUser] = []
    for i in range(draw(st.integers(0, 9))):
        if desired and draw(st.integers(0, 9)) == 0:
            desired.append(draw(st.sampled_from(desired)))  # the very same record twice
            continue
        fields = {"username": draw(st.sampled_from(USERNAMES))}
        desired.append(DesiredUser(draw(st.sampled_from(KEYS)), fields, True, f"p.csv:{i}"))
    held = frozenset(draw(st.lists(st.sampled_from(KEYS), max_size=2)))
    return desired, held


@given(sources())
def test_conflicts_are_the_repeated_keys_then_the_repeated_usernames(
    source: tuple[list[DesiredUser], frozenset[str]],
) -> None:
    desired, held = source
    key_counts = Counter(p.key for p in desired)
    repeated_keys = {k for k, n in key_counts.items() if n > 1 or k in held}
    singles = [p for p in desired if p.key not in repeated_keys]
    name_counts = Counter(p.username.casefold() for p in singles)
    shared_name = [p for p in singles if name_counts[p.username.casefold()] > 1]

    remaining, conflicts, excluded = find_conflicts(desired, held)

    assert remaining == [p for p in singles if p not in shared_name]  # in source order
    assert excluded == repeated_keys | {p.key for p in shared_name}
    expected = Counter(
        [(ConflictKind.DUPLICATE_KEY, p.key, p.username) for p in desired if p not in singles]
        + [(ConflictKind.DUPLICATE_USERNAME, p.key, p.username) for p in shared_name]
    )
    assert Counter((c.kind, c.key, c.username) for c in conflicts) == expected
    for c in conflicts:
        if c.kind is ConflictKind.DUPLICATE_KEY:  # the reason names every record of the key
            assert all(p.origin in c.reason for p in desired if p.key == c.key)

"""Hypothesis properties of sync.planner: idempotence, ownership, determinism.

Populations are small and drawn from tiny pools so that keys, usernames and emails collide,
differ only in case or padding ("007" vs "7"), and so that leavers, disabled, protected and
other jobs' users turn up in most examples.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.model import (
    Action,
    DesiredUser,
    Link,
    Offboarding,
    Operation,
    Plan,
    Policy,
    TimeTrackUser,
    match_key,
)
from sync.planner import plan, user_key

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

NAMES = ["api-admin", "anna", "bob", "carl", "dora", "emil", "fay", "gus"]
PROTECTABLE = ["api-admin", "dora"]
MATCH_ONS = ["personalNumber", "username", "email"]


@dataclasses.dataclass(frozen=True)
class World:
    """One planning input: the source, TimeTrack, this job's links and the policy."""

    match_on: str
    desired: list[DesiredUser]
    snapshot: dict[str, TimeTrackUser]
    links: dict[str, Link]
    policy: Policy
    other_owned: frozenset[str]
    refusing: frozenset[str] = frozenset()  # TimeTrack ids with time entries: deletes refused

    def plan(self, desired: Sequence[DesiredUser] | None = None) -> Plan:
        """Plan this world (optionally with the source in another order)."""
        return plan(
            self.desired if desired is None else desired,
            self.snapshot,
            self.links,
            self.policy,
            match_on=self.match_on,
            now=NOW,
            other_owned=self.other_owned,
        )


def rarely(draw: st.DrawFn) -> bool:
    """True about one time in eight."""
    return draw(st.integers(0, 7)) == 0


@st.composite
def person_fields(draw: st.DrawFn, index: int) -> dict[str, Any]:
    """Fields of one identity, in case and padding variants, sometimes crossed with another."""
    name = NAMES[index]
    if rarely(draw):
        name = draw(st.sampled_from(NAMES))
    number: object = draw(st.sampled_from([str(index), f"00{index}", index, f"E-{index}"]))
    if rarely(draw):
        number = draw(st.sampled_from(["1", "2", "E-3"]))
    return {
        "username": draw(st.sampled_from([name, name.capitalize()])),
        "firstName": name.capitalize(),
        "lastName": draw(st.sampled_from(["Doe", "Roe"])),
        "email": draw(st.sampled_from([f"{name}@x.org", f"{name.upper()}@X.org"])),
        "personalNumber": number,
        "teamLead": draw(st.booleans()),
    }


@st.composite
def timetrack_user(draw: st.DrawFn, tt_id: str, like: Mapping[str, Any]) -> TimeTrackUser:
    """A TimeTrack user resembling `like`: sometimes edited, renamed or disabled."""
    fields = {**like, "id": tt_id}
    if draw(st.booleans()):
        fields["lastName"] = draw(st.sampled_from(["Doe", "Roe", None]))
    if rarely(draw):
        fields["username"] = f"{fields['username']}.old"
    elif rarely(draw):  # re-numbered: same username, another personnel number and email
        fields["personalNumber"] = f"9{fields['personalNumber']}"
        fields["email"] = f"other.{fields['email']}"
    enabled = not rarely(draw)
    return TimeTrackUser(tt_id, str(fields["username"]), enabled, fields)


def key_of(match_on: str, fields: Mapping[str, Any]) -> str:
    """The match key of a mapped record."""
    return match_key(match_on, fields.get(match_on))


@st.composite
def worlds(draw: st.DrawFn, *, consistent_links: bool) -> World:
    """A small world; with `consistent_links` every link key is its user's match key."""
    match_on = draw(st.sampled_from(MATCH_ONS))
    identities = st.integers(0, len(NAMES) - 1)
    # Mostly distinct people; a repeated identity makes a duplicate now and then.
    people = draw(st.lists(identities, unique=True, max_size=6))
    people += draw(st.lists(identities, max_size=1))
    desired = [
        DesiredUser(key_of(match_on, f), f, draw(st.integers(0, 3)) > 0, f"people.csv:{i + 2}")
        for i, f in enumerate(draw(person_fields(index)) for index in people)
    ]
    likes = [p.fields for p in desired if draw(st.integers(0, 3)) > 0]
    likes += [draw(person_fields(i)) for i in draw(st.lists(identities, max_size=3))]
    snapshot: dict[str, TimeTrackUser] = {}
    for i, like in enumerate(likes):
        snapshot[f"t{i}"] = draw(timetrack_user(f"t{i}", like))
    links: dict[str, Link] = {}
    ours = draw(st.lists(st.sampled_from(sorted(snapshot)), unique=True)) if snapshot else []
    keys = sorted(
        {key_of(match_on, f) for f in likes} | {key_of(match_on, p.fields) for p in desired}
    )
    for tt_id in ours:
        if consistent_links or not keys or not rarely(draw):
            key = user_key(match_on, snapshot[tt_id])
        else:
            key = draw(st.sampled_from(keys))
        if key and key not in links:
            runs = draw(st.integers(0, 2))
            links[key] = Link(key, tt_id, "", "created", missing_runs=runs)
    stale = draw(st.lists(st.sampled_from(keys), max_size=2)) if keys else []
    for i, key in enumerate(stale):
        links.setdefault(key, Link(key, f"gone{i}", "", "adopted"))
    owned_ids = {link.tt_id for link in links.values()}
    others = [tt_id for tt_id in sorted(snapshot) if tt_id not in owned_ids]
    other_owned = (
        frozenset(draw(st.lists(st.sampled_from(others), unique=True, max_size=2)))
        if others
        else frozenset()
    )
    policy = Policy(
        create=not rarely(draw),
        update=not rarely(draw),
        delete=draw(st.booleans()),
        delete_grace_runs=draw(st.integers(0, 2)),
        lock_leavers=not rarely(draw),
        adopt_existing=not rarely(draw),
        protected=frozenset(draw(st.lists(st.sampled_from(PROTECTABLE), unique=True))),
        on_rename=draw(st.sampled_from(["conflict", "recreate"])),
    )
    refusing = frozenset(t for t in sorted(snapshot) if draw(st.booleans()))
    return World(match_on, desired, snapshot, links, policy, other_owned, refusing)


def apply_to_snapshot(
    result: Plan, world: World, *, new_ids: Iterator[str]
) -> tuple[dict[str, TimeTrackUser], dict[str, Link]]:
    """Simulate TimeTrack and the state store applying a plan, in the executor's phases.

    TimeTrack refuses to delete the users of `world.refusing` (time entries): they are retained,
    locked by the delete's fallback when the plan did not lock them.
    """
    users = dict(world.snapshot)
    new_links = {k: v for k, v in world.links.items() if k not in result.stale_keys}
    by_key = {p.key: p for p in world.desired}
    for change in result.offboarding:
        new_links[change.key] = dataclasses.replace(new_links[change.key], offboarding=change.state)
    for op in result.of(Action.DELETE):
        if op.recreate:
            assert op.tt_id is not None
            del users[op.tt_id]
            del new_links[op.key]
    for op in result.of(Action.ADOPT):
        assert op.tt_id is not None
        new_links[op.key] = Link(op.key, op.tt_id, op.username, "adopted")
    for op in result.of(Action.CREATE):
        wanted = {k: v for k, v in by_key[op.key].fields.items() if k not in ("password", "id")}
        assert op.payload() == wanted
        # TimeTrack refuses a second user with the same username.
        taken = {u.username.casefold() for u in users.values()}
        assert op.username.casefold() not in taken, op
        tt_id = next(new_ids)
        users[tt_id] = TimeTrackUser(tt_id, op.username, True, {**op.payload(), "id": tt_id})
        new_links[op.key] = Link(op.key, tt_id, op.username, "created")
    for op in [*result.of(Action.UPDATE), *result.of(Action.LOCK)]:
        lock_or_update(users, new_links, op)
    for op in result.of(Action.DELETE):
        assert op.tt_id is not None
        if op.recreate:
            continue
        if op.tt_id not in world.refusing:
            del users[op.tt_id]
            del new_links[op.key]
            continue
        new_links[op.key] = dataclasses.replace(
            new_links[op.key], offboarding=Offboarding.RETAINED, delete_refused_at=NOW
        )
        if op.fallback is not None:
            lock_or_update(users, new_links, op.fallback)
    # The grace counter counts consecutive runs in which an owned person was missing.
    new_links = {
        key: dataclasses.replace(
            link,
            missing_runs=link.missing_runs + 1 if key in result.missing_keys else 0,
            missing_since=(link.missing_since or NOW) if key in result.missing_keys else None,
        )
        for key, link in new_links.items()
    }
    return users, new_links


def lock_or_update(users: dict[str, TimeTrackUser], links: dict[str, Link], op: Operation) -> None:
    """An update or a lock as TimeTrack and the state store take it."""
    assert op.tt_id is not None
    user = users[op.tt_id]
    users[op.tt_id] = dataclasses.replace(user, fields={**user.fields, **op.payload()})
    if op.action is Action.LOCK:
        link = links[op.key]
        state = link.offboarding
        locked = state if state is Offboarding.RETAINED else Offboarding.LOCKED
        links[op.key] = dataclasses.replace(link, offboarding=locked, locked_at=NOW)


def owned_ids(links: Mapping[str, Link]) -> set[str]:
    """TimeTrack ids this job owns."""
    return {link.tt_id for link in links.values()}


@settings(deadline=None)
@given(worlds(consistent_links=True))
def test_second_plan_after_applying_the_first_has_nothing_left_to_do(world: World) -> None:
    first = world.plan()
    users, links = apply_to_snapshot(first, world, new_ids=(f"n{i}" for i in itertools.count()))
    second = dataclasses.replace(world, snapshot=users, links=links).plan()
    deleted = {op.key for op in first.of(Action.DELETE)}
    offboarded = first.offboarded()
    for op in second.operations:
        if op.action in (Action.LOCK, Action.DELETE) and not op.recreate:
            # Only people who were still waiting out their grace in the first run: a user is
            # never locked twice, and a refused delete waits for delete_retry_after.
            assert op.key in first.missing_keys - offboarded, op
        else:
            # Only a conflict that the first run's deletes resolved (a freed username or key).
            assert deleted, op
            assert op.key in {c.key for c in first.conflicts}, op


@settings(deadline=None)
@given(worlds(consistent_links=False))
def test_repeated_runs_converge_to_an_empty_plan(world: World) -> None:
    new_ids = (f"n{i}" for i in itertools.count())
    rounds = world.policy.delete_grace_runs + 4
    locked: set[str] = set()
    for _ in range(rounds):
        result = world.plan()
        if result.is_empty:
            break
        for op in result.of(Action.LOCK):
            assert op.key not in locked, f"{op} locks a user a second time"
            locked.add(op.key)
        users, links = apply_to_snapshot(result, world, new_ids=new_ids)
        world = dataclasses.replace(world, snapshot=users, links=links)
    assert result.is_empty, result.operations


@settings(deadline=None)
@given(st.one_of(worlds(consistent_links=False), worlds(consistent_links=True)))
def test_operations_only_touch_owned_or_adopted_unprotected_users(world: World) -> None:
    result = world.plan()
    owned = owned_ids(world.links)
    adopted = {op.tt_id for op in result.of(Action.ADOPT)}
    for op in result.operations:
        assert not world.policy.is_protected(op.username), op
        if op.tt_id is None:
            assert op.action is Action.CREATE
            continue
        assert op.tt_id not in world.other_owned, op
        assert op.tt_id in world.snapshot, op
        assert not world.policy.is_protected(world.snapshot[op.tt_id].username), op
        if op.action is Action.ADOPT:
            assert op.tt_id not in owned, op
        elif op.action is Action.UPDATE:
            assert op.tt_id in owned | adopted, op
        else:
            assert op.tt_id in owned, op


@settings(deadline=None)
@given(st.one_of(worlds(consistent_links=False), worlds(consistent_links=True)))
def test_locks_and_deletes_only_target_the_user_linked_to_their_key(world: World) -> None:
    result = world.plan()
    for op in [*result.of(Action.DELETE), *result.of(Action.LOCK)]:
        assert world.links[op.key].tt_id == op.tt_id, op
        assert op.recreate or op.key in result.missing_keys, op
    assert result.missing_keys <= set(world.links)
    assert not result.missing_keys & {c.key for c in result.conflicts}


@settings(deadline=None)
@given(st.data(), worlds(consistent_links=False))
def test_plan_does_not_depend_on_input_order(data: st.DataObject, world: World) -> None:
    shuffled_desired = data.draw(st.permutations(world.desired))
    snapshot_order = data.draw(st.permutations(sorted(world.snapshot)))
    links_order = data.draw(st.permutations(sorted(world.links)))
    shuffled = dataclasses.replace(
        world,
        desired=list(shuffled_desired),
        snapshot={k: world.snapshot[k] for k in snapshot_order},
        links={k: world.links[k] for k in links_order},
    )
    assert shuffled.plan() == world.plan()

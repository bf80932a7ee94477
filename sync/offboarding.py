"""Leavers: what a run does for an owned user whose person left or vanished (pure).

TimeTrack refuses to delete a user with recorded time entries, and its API cannot deactivate
one (`PUT` refuses `enabled`). So a leaver is first *locked*: one `PUT` with a fresh random
password (added by the executor, never planned or stored) and `admin`/`teamLead` off. Where
`policy.delete` is on, the delete follows `delete_after` later; where TimeTrack refuses it, the
user is *retained* (locked, and queued for a TimeTrack admin to deactivate in the web UI) and
the delete is not tried again before `delete_retry_after`. A user TimeTrack lists as disabled
is *deactivated*: never written to again.

Nothing here reads a clock: `now` is the run's time, passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sync.model import (
    Action,
    Link,
    Offboarding,
    OffboardingChange,
    Operation,
    Policy,
    TimeTrackUser,
)

# What a lock takes away besides the password (the rights TimeTrack's API lets us change).
LOCKED_FIELDS: Mapping[str, bool] = {"admin": False, "teamLead": False}
LOCK_REASON = "new random password, admin and team lead off"
DEACTIVATED_NOTE = "TimeTrack lists the user as disabled; nothing more to do"
RETURNED_NOTE = "back in the source during the grace; nothing was done"
# States whose user is locked already: no second lock for the same offboarding.
_LOCKED_STATES = frozenset({Offboarding.LOCKED, Offboarding.RETAINED})


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def grace_end(link: Link, policy: Policy, now: datetime) -> datetime | None:
    """When the leaver grace of `link` ends (or ended); None while `delete_grace_runs` holds it.

    Both graces must be over: the runs (this run counts as one more) and the time since the
    first run that saw the person leave (this run, when none did before).
    """
    if link.missing_runs + 1 <= policy.delete_grace_runs:
        return None
    return (link.missing_since or now) + policy.leaver_grace


def lock_operation(link: Link, user: TimeTrackUser, reason: str) -> Operation:
    """The PUT that locks a leaver; its changes show the rights it removes (never a password)."""
    changes = {name: (user.get(name), value) for name, value in LOCKED_FIELDS.items()}
    return Operation(
        Action.LOCK, link.key, user.username, user.id, changes, reason=f"{reason}: {LOCK_REASON}"
    )


@dataclass(frozen=True, slots=True)
class LeaverPlan:
    """What one run does for one leaver: writes, and a state change without a write."""

    operations: tuple[Operation, ...] = ()
    change: OffboardingChange | None = None


def plan_leaver(
    link: Link, user: TimeTrackUser, policy: Policy, *, now: datetime, reason: str
) -> LeaverPlan:
    """Lock, delete, or wait, for an owned user whose person left or vanished."""
    if not user.enabled:
        if link.offboarding is Offboarding.DEACTIVATED:
            return LeaverPlan()
        return LeaverPlan(change=_change(link, Offboarding.DEACTIVATED, DEACTIVATED_NOTE))
    ends = grace_end(link, policy, now)
    waiting = ends is None or now < ends
    # A person seen leaving for the first time is `leaving` whatever else this run does, so
    # that a lock which fails still leaves the user in the offboarding queue's sight.
    change = None
    if link.offboarding is Offboarding.ACTIVE:
        until = "more runs" if ends is None else _day(ends)
        note = f"{reason}; grace until {until}" if waiting else reason
        change = _change(link, Offboarding.LEAVING, note)
    if waiting:
        return LeaverPlan(change=change)
    assert ends is not None
    operations: list[Operation] = []
    locked = link.offboarding in _LOCKED_STATES
    lock = lock_operation(link, user, reason)
    if policy.lock_leavers and not locked:
        operations.append(lock)
    delete = _delete(link, policy, now=now, grace_ended=ends, reason=reason)
    if delete is not None:
        fallback = None if locked or policy.lock_leavers else lock
        operations.append(
            Operation(
                Action.DELETE, link.key, user.username, user.id, reason=delete, fallback=fallback
            )
        )
    return LeaverPlan(tuple(operations), change)


def _delete(
    link: Link, policy: Policy, *, now: datetime, grace_ended: datetime, reason: str
) -> str | None:
    """The reason to delete in this run, or None when no delete is due."""
    if not policy.delete:
        return None
    if link.offboarding is Offboarding.RETAINED and link.delete_refused_at is not None:
        if now < link.delete_refused_at + policy.delete_retry_after:
            return None
        return f"{reason}; retrying the delete TimeTrack refused on {_day(link.delete_refused_at)}"
    # delete_after counts from the lock (this run's, when it locks now: an earlier lock of a
    # user an admin deactivated and enabled again no longer holds), or from the end of the
    # grace when leavers are not locked.
    locks_now = policy.lock_leavers and link.offboarding not in _LOCKED_STATES
    start = now if locks_now else link.locked_at or grace_ended
    return reason if now >= start + policy.delete_after else None


def rehire_note(link: Link) -> str | None:
    """What to tell about a person who is active again, or None when nothing happened to them."""
    if link.offboarding in _LOCKED_STATES:
        when = f" on {_day(link.locked_at)}" if link.locked_at else ""
        return (
            f"rehired: the password was reset when the user was locked{when}; "
            "the person needs a password reset"
        )
    if link.offboarding is Offboarding.LEAVING:
        return RETURNED_NOTE
    return None


def _change(link: Link, state: Offboarding, note: str) -> OffboardingChange:
    return OffboardingChange(link.key, link.username, state, note)


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A leaver TimeTrack still lists as enabled: for its admin to deactivate in the web UI."""

    key: str
    username: str
    name: str
    tt_id: str
    state: Offboarding
    left_since: datetime | None
    locked_at: datetime | None
    refusal: str | None


def offboarding_queue(
    links: Iterable[Link], snapshot: Mapping[str, TimeTrackUser], policy: Policy, now: datetime
) -> list[QueueEntry]:
    """Owned users whose person left, past the grace, that TimeTrack still lists as enabled."""
    entries = []
    for link in links:
        user = snapshot.get(link.tt_id)
        if user is None or not user.enabled or not _queued(link, policy, now):
            continue
        name = " ".join(str(user.get(f) or "") for f in ("firstName", "lastName")).strip()
        entries.append(
            QueueEntry(
                link.key,
                user.username,
                name,
                user.id,
                link.offboarding,
                link.missing_since,
                link.locked_at,
                link.delete_refusal,
            )
        )
    return sorted(entries, key=lambda e: (e.left_since or now, e.username.casefold()))


def _queued(link: Link, policy: Policy, now: datetime) -> bool:
    if link.offboarding in _LOCKED_STATES:
        return True
    if link.offboarding is not Offboarding.LEAVING:
        return False
    # A leaver past its grace that no lock reaches (lock_leavers off, delete not yet done).
    ends = grace_end(link, policy, now)
    return ends is not None and now >= ends

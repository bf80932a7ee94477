"""Domain objects shared by sources, mapping, planner, executor and state: plain values."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

# TimeTrack user fields this tool knows how to manage (the vendor's user object).
MANAGED_FIELDS: tuple[str, ...] = (
    "username",
    "firstName",
    "lastName",
    "email",
    "personalNumber",
    "language",
    "admin",
    "teamLead",
)
REQUIRED_FIELDS: tuple[str, ...] = ("username", "firstName", "lastName", "email")
BOOL_FIELDS: frozenset[str] = frozenset({"admin", "teamLead", "enabled"})
# PUT may not carry these (the vendor's update rule).
NOT_UPDATABLE: frozenset[str] = frozenset({"username", "enabled", "id"})
MATCH_FIELDS: tuple[str, ...] = ("username", "personalNumber", "email")
# What an owned user renamed or disabled in TimeTrack becomes: a conflict, or delete + create.
OnRename = Literal["conflict", "recreate"]
# User fields a mapping may not set, and why: the sync and TimeTrack manage them.
UNMAPPABLE_FIELDS: Mapping[str, str] = {
    "password": "passwords are generated for new users and never synced",
    "enabled": "'enabled' is managed by the sync itself (set `active` instead)",
    "id": "'id' is assigned by TimeTrack",
}


# The rules for a job's mapped fields, stated once: the config reports them at their key
# (jobs[0].mapping.password), the mapper refuses a mapping built without the config.
def mapping_key_problem(name: str) -> str | None:
    """Why `name` cannot be a mapping key, or None when it can."""
    if name in UNMAPPABLE_FIELDS:
        return f"cannot be mapped: {UNMAPPABLE_FIELDS[name]}"
    if name not in MANAGED_FIELDS:
        return f"is not a TimeTrack user field; use one of {', '.join(MANAGED_FIELDS)}"
    return None


def required_fields_problem(mapped: Collection[str]) -> str | None:
    """What is wrong when `mapped` leaves out a field every user needs, or None."""
    missing = [name for name in REQUIRED_FIELDS if name not in mapped]
    if missing:
        return f"must map {', '.join(REQUIRED_FIELDS)} (missing: {', '.join(missing)})"
    return None


def match_on_problem(match_on: str, mapped: Collection[str]) -> str | None:
    """Why users cannot be matched on `match_on` with these mapped fields, or None."""
    if match_on not in MATCH_FIELDS:
        return f"must be one of {', '.join(MATCH_FIELDS)} (got {match_on!r})"
    if match_on not in mapped:
        return f"{match_on!r} is not mapped; add mapping.{match_on} or match on a mapped field"
    return None


def normalize_personal_number(value: object) -> str:
    """Text form of a personnel number for comparison: stripped, casefolded, digits unpadded."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).casefold()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip().casefold()
    if text.isdigit():
        return str(int(text))
    return text


def normalize_field(name: str, value: object) -> object:
    """The comparable form of one TimeTrack field value (None and "" are the same)."""
    if name in BOOL_FIELDS:
        return bool(value) if value is not None else False
    if name == "personalNumber":
        return normalize_personal_number(value)
    if value is None:
        return ""
    text = str(value).strip()
    if name in ("email", "username"):
        return text.casefold()
    return text


def match_key(match_on: str, value: object) -> str:
    """The normalized match key for a value of the `match_on` field."""
    return str(normalize_field(match_on, value))


@dataclass(frozen=True, slots=True)
class Person:
    """One record read from a source: its attributes and where it came from."""

    attributes: Mapping[str, Any]
    origin: str  # "people.csv:12" or an LDAP DN, for messages


@dataclass(frozen=True, slots=True)
class DesiredUser:
    """What a person should look like in TimeTrack, after mapping."""

    key: str  # normalized match key
    fields: Mapping[str, Any]  # TimeTrack fields, coerced to their types (never a password)
    active: bool  # False: a leaver
    origin: str

    @property
    def username(self) -> str:
        """The mapped TimeTrack username."""
        return str(self.fields.get("username", ""))


@dataclass(frozen=True, slots=True)
class TimeTrackUser:
    """One user as TimeTrack lists it, normalized by the client."""

    id: str
    username: str
    enabled: bool
    fields: Mapping[str, Any]  # every field as it came (normalized), unknown ones included

    def get(self, name: str) -> Any:
        """One field's value, or None."""
        return self.fields.get(name)


class Offboarding(StrEnum):
    """Where an owned user stands in its offboarding (`links.offboarding`).

    active -> leaving (the grace) -> locked -> deactivated | retained, or the link ends with
    the user's delete (the journal's `delete` row is its record). A person who is active
    again is `active` again: a leaving one with nothing done, a locked or retained one by
    the normal update (a rehire; the password was reset at the lock).
    """

    ACTIVE = "active"
    LEAVING = "leaving"  # the person left or vanished; waiting out the grace
    LOCKED = "locked"  # password reset and rights removed; still enabled in TimeTrack
    RETAINED = "retained"  # TimeTrack refused the delete (time entries): kept, locked, queued
    DEACTIVATED = "deactivated"  # TimeTrack lists it enabled: false; never written again


@dataclass(frozen=True, slots=True)
class Link:
    """Ownership: this job created or adopted the TimeTrack user `tt_id` for match key `key`."""

    key: str
    tt_id: str
    username: str
    origin: str  # "created" | "adopted"
    desired_hash: str | None = None
    missing_runs: int = 0  # consecutive real runs in which the person was gone or a leaver
    missing_since: datetime | None = None  # the first of those runs
    offboarding: Offboarding = Offboarding.ACTIVE
    locked_at: datetime | None = None
    delete_refused_at: datetime | None = None
    delete_refusal: str | None = None  # TimeTrack's message when it refused the delete


@dataclass(frozen=True, slots=True)
class Policy:
    """A job's safety and behaviour settings, as the planner and guards need them."""

    create: bool = True
    update: bool = True
    delete: bool = False
    delete_grace_runs: int = 0
    leaver_grace: timedelta = timedelta(0)  # from the first run that saw the person leave
    lock_leavers: bool = True
    delete_after: timedelta = timedelta(0)  # after the lock
    delete_retry_after: timedelta = timedelta(days=30)  # after TimeTrack refused a delete
    max_deletes: int = 25
    max_delete_percent: float = 10.0
    min_source_records: int = 1
    max_source_shrink_percent: float = 30.0
    max_invalid_percent: float = 50.0
    adopt_existing: bool = True
    protected: frozenset[str] = frozenset()  # casefolded usernames
    on_rename: OnRename = "conflict"
    plan_max_age: timedelta = timedelta(hours=24)  # older saved plans are refused by `apply`

    def is_protected(self, username: str) -> bool:
        """Whether a username is on the protected list."""
        return username.casefold() in self.protected


class Action(StrEnum):
    """What an operation does to TimeTrack."""

    CREATE = "create"
    ADOPT = "adopt"
    UPDATE = "update"
    LOCK = "lock"  # a leaver: a fresh random password, admin and teamLead off
    DELETE = "delete"


# Order in which plans list operations (and the executor's phases follow it).
ACTION_ORDER: dict[Action, int] = {
    Action.CREATE: 1,
    Action.ADOPT: 0,
    Action.UPDATE: 2,
    Action.LOCK: 3,
    Action.DELETE: 4,
}
# Operations that end a person's access: the delete guards count them.
OFFBOARDING_ACTIONS: frozenset[Action] = frozenset({Action.LOCK, Action.DELETE})


@dataclass(frozen=True, slots=True)
class Operation:
    """One change to make in TimeTrack; it can describe itself for plans and the journal."""

    action: Action
    key: str
    username: str
    tt_id: str | None = None  # None for a create
    # field -> (old, new); a create has (None, new) for every field. Never a password.
    changes: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    reason: str = ""
    recreate: bool = False  # a delete or create that is half of an `on_rename: recreate`
    # A delete's lock, sent when TimeTrack refuses the delete and the user is not locked yet.
    fallback: Operation | None = None

    def payload(self) -> dict[str, Any]:
        """The fields to send (new values of the changes), without any password."""
        return {name: new for name, (_old, new) in self.changes.items()}

    def describe(self) -> str:
        """A human sentence: 'create user jdoe (key 1001)'."""
        text = f"{self.action.value} user {self.username} (key {self.key})"
        if self.action is Action.UPDATE and self.changes:
            parts = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in self.changes.items())
            text += f": {parts}"
        if self.reason:
            text += f" [{self.reason}]"
        return text


class ConflictKind(StrEnum):
    """Why a person is left out of a run."""

    DUPLICATE_KEY = "duplicate_key"
    DUPLICATE_USERNAME = "duplicate_username"
    RENAME = "rename"
    DISABLED = "disabled"
    USERNAME_TAKEN = "username_taken"
    NOT_ADOPTED = "not_adopted"  # exists in TimeTrack, adopt_existing is false
    OWNED_ELSEWHERE = "owned_elsewhere"  # another job owns the matching user


@dataclass(frozen=True, slots=True)
class Conflict:
    """A person left out of the run until an admin resolves the reason."""

    kind: ConflictKind
    key: str
    username: str
    reason: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A source record not used in this run (invalid mapping, protected user, policy)."""

    origin: str
    key: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class OffboardingChange:
    """An owned user's offboarding state that changes without a write of its own."""

    key: str
    username: str
    state: Offboarding  # the new state
    note: str  # why, for people: "left (inactive in source); grace until ..."


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    """The outcome of one safety guard."""

    name: str  # "max_deletes" | "max_delete_percent" | "min_source_records" | ...
    tripped: bool
    overridden: bool
    message: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything one run would do, in a deterministic order."""

    operations: tuple[Operation, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    offboarding: tuple[OffboardingChange, ...] = ()
    unchanged: int = 0
    # Owned keys whose person is gone or a leaver this run (deleted now or waiting out grace).
    missing_keys: frozenset[str] = frozenset()
    # Owned keys whose TimeTrack user no longer exists: the link is dropped.
    stale_keys: frozenset[str] = frozenset()
    guards: tuple[GuardVerdict, ...] = ()

    def of(self, action: Action) -> tuple[Operation, ...]:
        """The operations of one action."""
        return tuple(op for op in self.operations if op.action is action)

    def summary(self) -> dict[str, int]:
        """Counts per action plus conflicts, unchanged and skipped (the JSON `summary`)."""
        counts = {action.value: 0 for action in Action}
        for op in self.operations:
            counts[op.action.value] += 1
        counts["conflict"] = len(self.conflicts)
        counts["unchanged"] = self.unchanged
        counts["skipped"] = len(self.skipped)
        return counts

    @property
    def is_empty(self) -> bool:
        """True when the plan would write nothing."""
        return not self.operations

    def offboarded(self) -> frozenset[str]:
        """Keys of the distinct users this plan locks or deletes (what the delete guards count)."""
        return frozenset(op.key for op in self.operations if op.action in OFFBOARDING_ACTIONS)

"""What the sync state machine expects, worked out apart from the code under test.

The HR export is a list of rows in the `tests.syncenv` layout, mapped the way the test
config maps them (username = email's local part, lowercased; active = status "active").
From the rows and from the state before a run (TimeTrack's users, the job's links, the
run's time) these functions say which source conflicts must be reported, which owned leavers
must be locked or deleted, and whether a conflict the planner reports has a cause. They
restate the rules of the architecture's "Safety rules" and of offboarding in the simplest
code possible, so that they can disagree with the planner.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sync.model import Link, normalize_field, normalize_personal_number
from tests.syncenv import HEADER

PROTECTED = "api-admin"  # seeded in TimeTrack
# The job's protected list: the seeded admin, and a username HR people may get or want.
PROTECTED_NAMES = frozenset({PROTECTED, "user8"})
OUTSIDER = "outsider"
BAD_EMAIL = "broken-email"  # no "@": the mapping skips the row, its key is held
# How an export can break: "header_only" reads as zero records (the guard stops the run);
# the others cannot be read at all (SourceError, exit 1).
BROKEN_MODES = ("header_only", "empty", "truncated", "undecodable")
UNREADABLE = frozenset({"empty", "truncated", "undecodable"})

Row = dict[str, str]
UserDict = Mapping[str, Any]


def render_csv(rows: Sequence[Row], broken: str | None) -> bytes:
    """The bytes of the export: well formed, or broken in one of `BROKEN_MODES`."""
    if broken == "empty":
        return b""
    quoting = csv.QUOTE_ALL if broken == "truncated" else csv.QUOTE_MINIMAL
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=HEADER, quoting=quoting)
    writer.writeheader()
    if broken != "header_only":
        writer.writerows(rows)
    text = out.getvalue()
    if broken == "truncated":
        # Cut inside the last quoted field: the file ends with a quote left open.
        cut = text.rstrip("\r\n").rfind(',"') + 2
        return (text[:cut] + "Trunc").encode()
    data = text.encode()
    if broken == "undecodable":
        # A byte that is not UTF-8 at the end of the last line.
        return data[:-2] + b"\xff" + data[-2:]
    return data


def folded(name: object) -> str:
    """A username as TimeTrack compares it."""
    return str(name or "").casefold()


@dataclass(frozen=True)
class Wanted:
    """One valid HR row after mapping: match key, username, managed fields, active."""

    key: str
    username: str
    fields: Mapping[str, Any]
    active: bool


def wanted(row: Row) -> Wanted | None:
    """The mapped row, or None when the mapping must skip it (bad email, empty name)."""
    email = row["email"].strip()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or not row["first_name"] or not row["last_name"]:
        return None
    fields = {
        "firstName": row["first_name"],
        "lastName": row["last_name"],
        "email": email.lower(),
        "personalNumber": row["employee_id"],
        "language": row["language"] or "de",
        "admin": False,
        "teamLead": row["role"] == "manager",
    }
    return Wanted(
        key=normalize_personal_number(row["employee_id"]),
        username=local.lower(),
        fields=fields,
        active=row["status"] == "active",
    )


@dataclass
class SourceView:
    """The rows of one export as the planner must see them."""

    remaining: dict[str, Wanted] = field(default_factory=dict)  # key -> person, no conflict
    duplicate_keys: set[str] = field(default_factory=set)
    duplicate_usernames: set[str] = field(default_factory=set)  # keys
    held: set[str] = field(default_factory=set)  # keys of skipped rows and no valid one
    records: int = 0
    invalid: int = 0  # rows the mapping skips

    @property
    def conflicted(self) -> set[str]:
        """Keys the source itself puts in conflict."""
        return self.duplicate_keys | self.duplicate_usernames

    def present(self, key: str) -> bool:
        """Whether the key is in the source at all (a person, a conflict or a bad row)."""
        return key in self.remaining or key in self.conflicted or key in self.held


def source_view(rows: Sequence[Row]) -> SourceView:
    """Split the export into people, source conflicts and held keys."""
    view = SourceView(records=len(rows))
    by_key: dict[str, list[Wanted]] = defaultdict(list)
    for row in rows:
        person = wanted(row)
        if person is None:
            view.invalid += 1
            view.held.add(normalize_personal_number(row["employee_id"]))
        else:
            by_key[person.key].append(person)
    # A bad row next to a valid one with its key makes a duplicate key: which of the two
    # records is the person is a guess the planner does not make.
    view.duplicate_keys = {
        key for key, group in by_key.items() if len(group) > 1 or key in view.held
    }
    view.held -= set(by_key)
    singles = {key: group[0] for key, group in by_key.items() if key not in view.duplicate_keys}
    names = Counter(folded(p.username) for p in singles.values())
    view.duplicate_usernames = {k for k, p in singles.items() if names[folded(p.username)] > 1}
    view.remaining = {k: p for k, p in singles.items() if k not in view.duplicate_usernames}
    return view


def user_key(user: UserDict) -> str:
    """The match key of a TimeTrack user (its personal number)."""
    return normalize_personal_number(user.get("personalNumber"))


def matches_desired(user: UserDict, person: Wanted) -> list[str]:
    """The names of the fields in which a TimeTrack user differs from the person (empty: none)."""
    wrong = [
        name
        for name, value in person.fields.items()
        if normalize_field(name, user.get(name)) != normalize_field(name, value)
    ]
    if folded(user["username"]) != folded(person.username):
        wrong.append("username")
    if not user.get("enabled", True):
        wrong.append("enabled")
    return wrong


@dataclass(frozen=True)
class Offboard:
    """The job's offboarding settings as the machine configures them (durations in hours)."""

    grace_runs: int  # delete_grace_runs
    lock: bool  # lock_leavers
    grace_hours: int  # leaver_grace
    delete_after_hours: int
    retry_after_hours: int  # delete_retry_after

    @property
    def leaver_grace(self) -> timedelta:
        return timedelta(hours=self.grace_hours)

    @property
    def delete_after(self) -> timedelta:
        return timedelta(hours=self.delete_after_hours)

    @property
    def retry_after(self) -> timedelta:
        return timedelta(hours=self.retry_after_hours)

    def policy_lines(self) -> str:
        """The policy keys of these settings, for the job's YAML."""
        return (
            f"delete_grace_runs: {self.grace_runs}\n"
            f"lock_leavers: {str(self.lock).lower()}\n"
            f"leaver_grace: {self.grace_hours}h\n"
            f"delete_after: {self.delete_after_hours}h\n"
            f"delete_retry_after: {self.retry_after_hours}h"
        )


# Offboarding states in which the user is locked already (`links.offboarding`).
LOCKED_STATES = frozenset({"locked", "retained"})


@dataclass(frozen=True)
class Leaver:
    """What a real run owes one owned leaver, before the delete guards."""

    tt_id: str
    state: str  # the link's offboarding state before the run
    deactivated: bool  # TimeTrack lists the user disabled: never written, `deactivated`
    lock: bool  # one PUT: a new password, admin and teamLead off
    delete: bool

    @property
    def locked(self) -> bool:
        """Whether the user was locked before the run."""
        return self.state in LOCKED_STATES


def _grace_over(link: Link, rules: Offboard, now: datetime) -> datetime | None:
    """When the grace ended (both the runs and the time since the first missing run), or None."""
    if link.missing_runs + 1 <= rules.grace_runs:
        return None
    ended = (link.missing_since or now) + rules.leaver_grace
    return ended if now >= ended else None


def _delete_due(link: Link, rules: Offboard, now: datetime, grace_ended: datetime) -> bool:
    """Whether the delete of a leaver past its grace is due now (`policy.delete` is on)."""
    if link.offboarding.value == "retained" and link.delete_refused_at is not None:
        return now >= link.delete_refused_at + rules.retry_after
    if rules.lock and link.offboarding.value not in LOCKED_STATES:
        start = now  # locked in this run
    else:
        start = link.locked_at or grace_ended
    return now >= start + rules.delete_after


def expected_leavers(
    view: SourceView,
    links: Mapping[str, Link],
    users: Mapping[str, UserDict],
    rules: Offboard,
    now: datetime,
) -> dict[str, Leaver]:
    """Owned leavers (left, or gone from the source) and what a real run owes each."""
    leavers: dict[str, Leaver] = {}
    for key, link in links.items():
        user = users.get(link.tt_id)
        if user is None or key in view.conflicted or key in view.held:
            continue  # a stale link is dropped; conflicts and bad rows keep their user
        person = view.remaining.get(key)
        if person is not None and person.active:
            continue
        names = {folded(user["username"])}
        if person is not None:
            names.add(folded(person.username))  # an owned leaver: either name protects
        if names & PROTECTED_NAMES:
            continue
        state = link.offboarding.value
        if not user.get("enabled", True):
            leavers[key] = Leaver(link.tt_id, state, True, False, False)
            continue
        ended = _grace_over(link, rules, now)
        lock = ended is not None and rules.lock and state not in LOCKED_STATES
        delete = ended is not None and _delete_due(link, rules, now, ended)
        leavers[key] = Leaver(link.tt_id, state, False, lock, delete)
    return leavers


def delete_guard_trips(offboarded: int, owned: int, max_deletes: int, max_percent: float) -> bool:
    """Whether a run locking or deleting `offboarded` of `owned` users is stopped by a limit."""
    return offboarded > max_deletes or (owned > 0 and offboarded * 100 / owned > max_percent)


def conflict_cause(
    kind: str,
    key: str,
    view: SourceView,
    links: Mapping[str, Link],
    users: Mapping[str, UserDict],
) -> bool:
    """Whether the state before the run explains a conflict of `kind` for `key`."""
    if kind == "duplicate_username":
        return key in view.duplicate_usernames
    if key in view.duplicate_keys:
        return kind == "duplicate_key"
    person = view.remaining.get(key)
    if person is None:
        return False
    link = links.get(key)
    owned = users.get(link.tt_id) if link is not None else None
    # An owned user is judged alone; an unowned person by the users with its personnel number.
    matches = [owned] if owned is not None else [u for u in users.values() if user_key(u) == key]
    single = matches[0] if len(matches) == 1 else None
    name = folded(person.username)
    linked_elsewhere = {lk.tt_id for k, lk in links.items() if k != key}
    taken = any(folded(u["username"]) == name for u in users.values())
    causes = {
        "duplicate_key": owned is None
        and (len(matches) > 1 or any(str(u["id"]) in linked_elsewhere for u in matches)),
        "username_taken": not matches and taken,
        "disabled": single is not None and not single.get("enabled", True),
        "rename": single is not None and folded(single["username"]) != name,
    }
    return causes.get(kind, False)

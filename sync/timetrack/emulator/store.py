"""The emulator's users with the API's semantics: validation, uniqueness, paging, (soft) delete.

The store raises `ApiError` with the vendor's error body; the HTTP layer in `app.py` only
parses requests and renders users. Direct access (`add_user`, `update`, ...) is what happens
behind the API's back (tests, admin routes): it skips validation and the write audit.

Each user has a count of recorded time entries, held beside the user and never rendered (the
users API does not show it): a hard DELETE of a user with time entries is refused.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from sync.timetrack.emulator.audit import Audit
from sync.timetrack.emulator.errors import (
    CODE_DUPLICATE,
    CODE_NOT_UPDATABLE,
    ApiError,
    has_time_entries,
    invalid,
    not_found,
    required,
)
from sync.timetrack.emulator.fields import (
    FILTER_FIELDS,
    NOT_UPDATABLE,
    REQUIRED_ON_CREATE,
    clean_body,
    defaults,
    present,
    time_entry_count,
)
from sync.timetrack.emulator.options import EmulatorOptions


def _hash(password: str) -> str:
    # Only a digest is held, so not even a debugger shows a password.
    return hashlib.sha256(password.encode()).hexdigest()


class UserStore:
    """Thread-safe in-memory TimeTrack users; API writes are recorded in `audit`."""

    def __init__(self, lock: threading.RLock, audit: Audit) -> None:
        self._lock = lock
        self._audit = audit
        self._users: dict[int, dict[str, Any]] = {}
        # casefolded username -> id: uniqueness checks stay O(1) with 100,000 users.
        self._names: dict[str, int] = {}
        self._passwords: dict[int, str] = {}
        self._time_entries: dict[int, int] = {}
        self._next_id = 1

    def clear(self) -> None:
        """Drop every user; ids start at 1 again."""
        with self._lock:
            self._users.clear()
            self._names.clear()
            self._passwords.clear()
            self._time_entries.clear()
            self._next_id = 1

    def __len__(self) -> int:
        with self._lock:
            return len(self._users)

    # --- behind-the-API access: no validation, not recorded in the audit ---

    def add_user(self, *, time_entries: int = 0, **fields: Any) -> dict[str, Any]:
        """Insert a user directly (no API validation, no audit); returns a copy with its id."""
        time_entries = time_entry_count(time_entries)
        with self._lock:
            username = str(fields.get("username") or "").strip()
            if not username:
                raise ValueError("add_user needs a username")
            if self._find_username(username) is not None:
                raise ValueError(f"username {username!r} already exists")
            password = fields.pop("password", None)
            user_id = self._take_id(fields.pop("id", None))
            user = {"id": user_id, **defaults(), **fields, "username": username}
            self._store(user)
            if password:
                self._passwords[user_id] = _hash(str(password))
            self._time_entries[user_id] = time_entries
            return dict(user)

    def users(self) -> list[dict[str, Any]]:
        """Copies of all users (disabled ones included), ordered by id."""
        with self._lock:
            return [dict(self._users[key]) for key in sorted(self._users)]

    def get(self, user_id: int) -> dict[str, Any] | None:
        """A copy of one user, or None."""
        with self._lock:
            user = self._users.get(int(user_id))
            return dict(user) if user is not None else None

    def update(self, user_id: int, **fields: Any) -> dict[str, Any]:
        """Change any fields directly (username and enabled too); KeyError if unknown."""
        with self._lock:
            user = self._require(int(user_id))
            fields.pop("id", None)
            password = fields.pop("password", None)
            self._names.pop(str(user.get("username", "")).casefold(), None)
            user.update(fields)
            self._names[str(user.get("username", "")).casefold()] = user["id"]
            if password:
                self._passwords[user["id"]] = _hash(str(password))
            return dict(user)

    def delete(self, user_id: int) -> None:
        """Remove a user for good; KeyError if unknown."""
        with self._lock:
            self._remove(self._require(int(user_id)))

    def set_enabled(self, user_id: int, enabled: bool) -> None:
        """Enable or disable a user (what only an admin can do in TimeTrack)."""
        self.update(user_id, enabled=enabled)

    def set_time_entries(self, user_id: int, count: int) -> None:
        """Set how many time entries a user has recorded; KeyError if unknown."""
        count = time_entry_count(count)
        with self._lock:
            self._time_entries[self._require(int(user_id))["id"]] = count

    def time_entries(self, user_id: int) -> int:
        """How many time entries a user has recorded; KeyError if unknown."""
        with self._lock:
            return self._time_entries.get(self._require(int(user_id))["id"], 0)

    def check_password(self, user_id: int, password: str) -> bool:
        """Whether `password` is the user's current password."""
        with self._lock:
            return self._passwords.get(int(user_id)) == _hash(password)

    # --- the API's semantics ---

    def api_list(
        self,
        filters: Mapping[str, str],
        offset: int,
        limit: int | None,
        *,
        options: EmulatorOptions,
    ) -> list[dict[str, Any]]:
        """One page of the users matching every filter (text, case-insensitive), by id."""
        with self._lock:
            # Filter the stored dicts, copy only the page: a 100,000-user listing stays cheap.
            hits = self._matching(filters, options)
            end = None if limit is None else offset + limit
            return [dict(user) for user in itertools.islice(hits, offset, end)]

    def api_count(self, filters: Mapping[str, str], *, options: EmulatorOptions) -> int:
        """How many users match every filter: the total of a listing."""
        with self._lock:
            return sum(1 for _ in self._matching(filters, options))

    def _matching(
        self, filters: Mapping[str, str], options: EmulatorOptions
    ) -> Iterator[dict[str, Any]]:
        """The stored users matching every filter, by id (the caller holds the lock)."""
        substring = options.username_filter == "substring"
        wanted = {k: v.casefold() for k, v in filters.items() if k in FILTER_FIELDS}

        def matches(user: Mapping[str, Any]) -> bool:
            for name, value in wanted.items():
                have = str(user.get(name) if user.get(name) is not None else "").casefold()
                if name == "username" and substring:
                    if value not in have:
                        return False
                elif have != value:
                    return False
            return True

        found = (self._users[key] for key in sorted(self._users))
        return (user for user in found if matches(user))

    def api_get(self, user_id: int) -> dict[str, Any]:
        """One user; ApiError 404 if unknown."""
        user = self.get(user_id)
        if user is None:
            raise not_found(user_id)
        return user

    def api_create(self, body: Mapping[str, Any], *, options: EmulatorOptions) -> dict[str, Any]:
        """Validate and insert a user as POST users does; the password is kept as a digest only."""
        missing = [name for name in REQUIRED_ON_CREATE if not present(body.get(name))]
        if missing:
            raise required(missing)
        password = body["password"]
        if not isinstance(password, str):
            raise invalid("password", "must be a string")
        cleaned = clean_body(body)
        with self._lock:
            self._check_unique(cleaned, None, options)
            user_id = self._take_id(None)
            user = {"id": user_id, **defaults(), **cleaned}
            self._store(user)
            self._passwords[user_id] = _hash(password)
            self._audit.record_write("POST", user)
            return dict(user)

    def api_update(
        self, user_id: int, body: Mapping[str, Any], *, options: EmulatorOptions
    ) -> dict[str, Any]:
        """Partial update as PUT users/{id} does; username and enabled are refused."""
        refused = [name for name in NOT_UPDATABLE if name in body]
        if refused:
            raise ApiError(
                400,
                CODE_NOT_UPDATABLE,
                "Bad Request",
                f"Field '{refused[0]}' cannot be changed by an update",
            )
        password = body.get("password")
        if "password" in body and not (isinstance(password, str) and password):
            raise invalid("password", "must be a non-empty string")
        cleaned = clean_body(body)
        with self._lock:
            user = self._users.get(int(user_id))
            if user is None:
                raise not_found(user_id)
            self._check_unique(cleaned, user["id"], options)
            user.update(cleaned)
            if isinstance(password, str):
                self._passwords[user["id"]] = _hash(password)
            self._audit.record_write("PUT", user)
            return dict(user)

    def api_delete(self, user_id: int, *, options: EmulatorOptions) -> None:
        """Delete as DELETE users/{id} does: soft (enabled=false) per the switch, else hard.

        A hard delete of a user with recorded time entries is refused (nothing changes).
        """
        with self._lock:
            user = self._users.get(int(user_id))
            if user is None:
                raise not_found(user_id)
            if options.delete_mode == "soft":
                user["enabled"] = False
            elif self._time_entries.get(user["id"]):
                raise has_time_entries(options.delete_refused_status)
            else:
                self._remove(user)
            self._audit.record_write("DELETE", user)

    # --- internals ---

    def _take_id(self, wanted: object) -> int:
        if wanted is not None:
            user_id = int(str(wanted))
            if user_id < 1 or user_id in self._users:
                raise ValueError(f"id {user_id} is taken or invalid")
        else:
            user_id = self._next_id
        self._next_id = max(self._next_id, user_id + 1)
        return user_id

    def _require(self, user_id: int) -> dict[str, Any]:
        user = self._users.get(user_id)
        if user is None:
            raise KeyError(f"no user with id {user_id}")
        return user

    def _find_username(self, username: str, exclude_id: int | None = None) -> int | None:
        user_id = self._names.get(username.casefold())
        return None if user_id is None or user_id == exclude_id else user_id

    def _email_taken(self, email: str, exclude_id: int | None) -> bool:
        wanted = email.casefold()
        return any(
            user_id != exclude_id and str(user.get("email", "")).casefold() == wanted
            for user_id, user in self._users.items()
        )

    def _store(self, user: dict[str, Any]) -> None:
        self._users[user["id"]] = user
        self._names[str(user["username"]).casefold()] = user["id"]

    def _remove(self, user: Mapping[str, Any]) -> None:
        del self._users[user["id"]]
        self._names.pop(str(user.get("username", "")).casefold(), None)
        self._passwords.pop(user["id"], None)
        self._time_entries.pop(user["id"], None)

    def _check_unique(
        self, cleaned: Mapping[str, Any], exclude_id: int | None, options: EmulatorOptions
    ) -> None:
        username = cleaned.get("username")
        if username and self._find_username(username, exclude_id) is not None:
            raise ApiError(
                options.duplicate_status,
                CODE_DUPLICATE,
                "Conflict",
                f"User with username '{username}' already exists",
            )
        email = cleaned.get("email")
        if options.unique_emails and email and self._email_taken(email, exclude_id):
            raise ApiError(
                options.duplicate_status,
                CODE_DUPLICATE,
                "Conflict",
                f"User with email '{email}' already exists",
            )

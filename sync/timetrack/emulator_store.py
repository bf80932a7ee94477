"""In-memory state of the TimeTrack emulator: users, switches, the write audit and the fault dice.

The store implements the API's semantics (validation, uniqueness, partial update, hard or soft
delete) and raises `ApiError` with the vendor's error body; the HTTP layer in `emulator_app.py`
only parses requests, renders users and injects faults.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Any

import structlog

from sync.timetrack.emulator_options import (
    CODE_DUPLICATE,
    CODE_NOT_UPDATABLE,
    CODE_REQUIRED,
    NOT_UPDATABLE,
    REQUIRED_ON_CREATE,
    TEXT_FIELDS,
    WRITE_METHODS,
    ApiError,
    EmulatorOptions,
    FaultPlan,
    WriteRecord,
    clean_value,
    invalid,
    not_found,
)

log = structlog.get_logger(__name__)


def _hash(password: str) -> str:
    # Only a digest is held, so not even a debugger shows a password.
    return hashlib.sha256(password.encode()).hexdigest()


class EmulatorState:
    """Thread-safe in-memory store of TimeTrack users, with a write audit and request counters."""

    def __init__(
        self, options: EmulatorOptions | None = None, users: Iterable[Mapping[str, Any]] = ()
    ) -> None:
        self.options = options or EmulatorOptions()
        self.options.validate()
        self._lock = threading.RLock()
        self._users: dict[int, dict[str, Any]] = {}
        # casefolded username -> id: uniqueness checks stay O(1) with 100,000 users.
        self._names: dict[str, int] = {}
        self._passwords: dict[int, str] = {}
        self._next_id = 1
        self.writes: list[WriteRecord] = []
        self.request_count: dict[str, int] = {}
        self._rng = random.Random(self.options.seed)
        self._rng_seed = self.options.seed
        for user in users:
            self.add_user(**user)

    # --- behind-our-back access (tests, admin routes); not recorded in `writes` ---

    def add_user(self, **fields: Any) -> dict[str, Any]:
        """Insert a user directly (no API validation, no audit); returns a copy with its id."""
        with self._lock:
            username = str(fields.get("username") or "").strip()
            if not username:
                raise ValueError("add_user needs a username")
            if self._find_username(username) is not None:
                raise ValueError(f"username {username!r} already exists")
            password = fields.pop("password", None)
            user_id = self._take_id(fields.pop("id", None))
            user = {"id": user_id, **self._defaults(), **fields, "username": username}
            self._store(user)
            if password:
                self._passwords[user_id] = _hash(str(password))
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

    def check_password(self, user_id: int, password: str) -> bool:
        """Whether `password` is the user's current password."""
        with self._lock:
            return self._passwords.get(int(user_id)) == _hash(password)

    # --- options, counters, faults ---

    def set_options(self, **changes: Any) -> None:
        """Change options at once after validating them; unknown names raise ValueError."""
        known = {f.name for f in fields(EmulatorOptions)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown option(s): {', '.join(unknown)}")
        if "retry_after" in changes and changes["retry_after"] is not None:
            changes["retry_after"] = str(changes["retry_after"])
        candidate = EmulatorOptions(**{**asdict(self.options), **changes})
        candidate.validate()
        with self._lock:
            for name, value in changes.items():
                setattr(self.options, name, value)

    def reset_counters(self) -> None:
        """Forget the write audit and the request counters."""
        with self._lock:
            self.writes.clear()
            self.request_count.clear()

    def reset(self, options: EmulatorOptions | None = None) -> None:
        """Drop every user, counter and write; restart ids at 1 and the dice at the seed."""
        with self._lock:
            if options is not None:
                options.validate()
                self.options = options
            self._users.clear()
            self._names.clear()
            self._passwords.clear()
            self._next_id = 1
            self.reset_counters()
            self._rng = random.Random(self.options.seed)
            self._rng_seed = self.options.seed

    def stats(self) -> dict[str, Any]:
        """Counters for the admin route: requests by method, writes, users."""
        with self._lock:
            return {
                "requests": dict(self.request_count),
                "writes": len(self.writes),
                "write_log": [{**asdict(w), "time": w.time.isoformat()} for w in self.writes],
                "users": len(self._users),
            }

    def count_request(self, method: str) -> None:
        """Count one API request."""
        with self._lock:
            self.request_count[method] = self.request_count.get(method, 0) + 1

    def draw_faults(self, method: str) -> FaultPlan:
        """Roll the seeded dice for one request; always six draws so sequences stay repeatable."""
        with self._lock:
            opts = self.options
            if opts.seed != self._rng_seed:  # the seed was assigned directly: restart the dice
                self._rng = random.Random(opts.seed)
                self._rng_seed = opts.seed
            jitter, r_limit, r_fail, r_drop, r_half, r_after = (
                self._rng.random() for _ in range(6)
            )
        delay = (opts.latency_ms + jitter * opts.jitter_ms) / 1000.0
        if r_limit < opts.rate_limit_rate:
            return FaultPlan(delay, before="rate_limit")
        if r_fail < opts.fail_rate:
            return FaultPlan(delay, before="fail")
        if r_drop < opts.drop_rate:
            return FaultPlan(delay, **{"before" if r_half < 0.5 else "after": "drop"})
        if method in WRITE_METHODS and r_after < opts.fail_after_write_rate:
            return FaultPlan(delay, after="fail")
        return FaultPlan(delay)

    # --- the API's semantics ---

    def api_list(
        self, filters: Mapping[str, str], offset: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """One page of the users matching every filter (text, case-insensitive), by id."""
        substring = self.options.username_filter == "substring"
        wanted = {
            k: v.casefold() for k, v in filters.items() if k in (*TEXT_FIELDS, "personalNumber")
        }

        def matches(user: Mapping[str, Any]) -> bool:
            for name, value in wanted.items():
                have = str(user.get(name) if user.get(name) is not None else "").casefold()
                if name == "username" and substring:
                    if value not in have:
                        return False
                elif have != value:
                    return False
            return True

        with self._lock:
            # Filter the stored dicts, copy only the page: a 100,000-user listing stays cheap.
            found = (self._users[key] for key in sorted(self._users))
            hits = (user for user in found if matches(user))
            end = None if limit is None else offset + limit
            return [dict(user) for user in itertools.islice(hits, offset, end)]

    def api_get(self, user_id: int) -> dict[str, Any]:
        """One user; ApiError 404 if unknown."""
        user = self.get(user_id)
        if user is None:
            raise not_found(user_id)
        return user

    def api_create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and insert a user as POST users does; the password is kept as a digest only."""
        missing = [name for name in REQUIRED_ON_CREATE if not _present(body.get(name))]
        if missing:
            error = ApiError(400, CODE_REQUIRED, "Validation failed", "")
            error.errors = [
                {
                    "title": "Validation failed",
                    "status": 400,
                    "code": CODE_REQUIRED,
                    "detail": f"Field '{name}' is required",
                }
                for name in missing
            ]
            raise error
        password = body["password"]
        if not isinstance(password, str):
            raise invalid("password", "must be a string")
        cleaned = {k: clean_value(k, v) for k, v in body.items() if k not in ("id", "password")}
        with self._lock:
            self._check_unique(cleaned, exclude_id=None)
            user_id = self._take_id(None)
            user = {"id": user_id, **self._defaults(), **cleaned}
            self._store(user)
            self._passwords[user_id] = _hash(password)
            self._audit("POST", user)
            return dict(user)

    def api_update(self, user_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
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
        cleaned = {k: clean_value(k, v) for k, v in body.items() if k not in ("id", "password")}
        with self._lock:
            user = self._users.get(int(user_id))
            if user is None:
                raise not_found(user_id)
            self._check_unique(cleaned, exclude_id=user["id"])
            user.update(cleaned)
            if isinstance(password, str):
                self._passwords[user["id"]] = _hash(password)
            self._audit("PUT", user)
            return dict(user)

    def api_delete(self, user_id: int) -> None:
        """Delete as DELETE users/{id} does: hard, or soft (enabled=false) per the switch."""
        with self._lock:
            user = self._users.get(int(user_id))
            if user is None:
                raise not_found(user_id)
            if self.options.delete_mode == "soft":
                user["enabled"] = False
            else:
                self._remove(user)
            self._audit("DELETE", user)

    # --- internals ---

    @staticmethod
    def _defaults() -> dict[str, Any]:
        return {
            "personalNumber": None,
            "language": "en",
            "admin": False,
            "teamLead": False,
            "enabled": True,
        }

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

    def _store(self, user: dict[str, Any]) -> None:
        self._users[user["id"]] = user
        self._names[str(user["username"]).casefold()] = user["id"]

    def _remove(self, user: Mapping[str, Any]) -> None:
        del self._users[user["id"]]
        self._names.pop(str(user.get("username", "")).casefold(), None)
        self._passwords.pop(user["id"], None)

    def _check_unique(self, cleaned: Mapping[str, Any], exclude_id: int | None) -> None:
        status = self.options.duplicate_status
        username = cleaned.get("username")
        if username and self._find_username(username, exclude_id) is not None:
            raise ApiError(
                status,
                CODE_DUPLICATE,
                "Conflict",
                f"User with username '{username}' already exists",
            )
        email = cleaned.get("email")
        if self.options.unique_emails and email:
            for user_id, user in self._users.items():
                if (
                    user_id != exclude_id
                    and str(user.get("email", "")).casefold() == email.casefold()
                ):
                    raise ApiError(
                        status,
                        CODE_DUPLICATE,
                        "Conflict",
                        f"User with email '{email}' already exists",
                    )

    def _audit(self, method: str, user: Mapping[str, Any]) -> None:
        record = WriteRecord(method, int(user["id"]), str(user["username"]), datetime.now(UTC))
        self.writes.append(record)
        log.debug("emulator_write", method=method, user_id=record.user_id, username=record.username)


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())

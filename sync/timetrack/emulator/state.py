"""The emulator's state: its options, users, fault dice, rate limit and audit, reset together."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sync.timetrack.emulator.audit import Audit, WriteRecord
from sync.timetrack.emulator.bucket import TokenBucket
from sync.timetrack.emulator.churn import after_page
from sync.timetrack.emulator.faults import FaultDice, FaultPlan
from sync.timetrack.emulator.options import EmulatorOptions
from sync.timetrack.emulator.store import UserStore


class EmulatorState:
    """Everything one emulator holds; the app serves it and tests look behind it."""

    def __init__(
        self,
        options: EmulatorOptions | None = None,
        users: Iterable[Mapping[str, Any]] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options or EmulatorOptions()
        self.options.validate()
        # One lock for all parts: a write and its audit record appear together, and a reset
        # leaves no moment in which users are gone but their writes are still listed.
        self._lock = threading.RLock()
        self.audit = Audit(self._lock)
        self.store = UserStore(self._lock, self.audit)
        self.dice = FaultDice(self.options.seed, self._lock)
        # `clock` drives the server's rate limit only (tests step it; latency is real time).
        self.bucket = TokenBucket(clock, self._lock)
        for user in users:
            self.store.add_user(**user)

    @property
    def writes(self) -> list[WriteRecord]:
        """The writes the API applied, oldest first."""
        return self.audit.writes

    @property
    def request_count(self) -> dict[str, int]:
        """API requests answered, by method."""
        return self.audit.request_count

    def add_user(self, *, time_entries: int = 0, **fields: Any) -> dict[str, Any]:
        """Insert a user directly (no API validation, no audit); returns a copy with its id."""
        return self.store.add_user(time_entries=time_entries, **fields)

    def users(self) -> list[dict[str, Any]]:
        """Copies of all users (disabled ones included), ordered by id."""
        return self.store.users()

    def get(self, user_id: int) -> dict[str, Any] | None:
        """A copy of one user, or None."""
        return self.store.get(user_id)

    def update(self, user_id: int, **fields: Any) -> dict[str, Any]:
        """Change any fields directly (username and enabled too); KeyError if unknown."""
        return self.store.update(user_id, **fields)

    def delete(self, user_id: int) -> None:
        """Remove a user for good; KeyError if unknown."""
        self.store.delete(user_id)

    def set_enabled(self, user_id: int, enabled: bool) -> None:
        """Enable or disable a user (what only an admin can do in TimeTrack)."""
        self.store.set_enabled(user_id, enabled)

    def set_time_entries(self, user_id: int, count: int) -> None:
        """Set how many time entries a user has recorded; KeyError if unknown."""
        self.store.set_time_entries(user_id, count)

    def time_entries(self, user_id: int) -> int:
        """How many time entries a user has recorded; KeyError if unknown."""
        return self.store.time_entries(user_id)

    def check_password(self, user_id: int, password: str) -> bool:
        """Whether `password` is the user's current password."""
        return self.store.check_password(user_id, password)

    def list_page(
        self, filters: Mapping[str, str], offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """One page of GET users and (with `list_total`) the total it is a page of.

        Then an admin at work (the churn switches) acts on what was just served.
        """
        with self._lock:
            opts = self.options
            page = self.store.api_list(filters, offset, limit, options=opts)
            total = (
                None if opts.list_total == "none" else self.store.api_count(filters, options=opts)
            )
            if not filters:
                after_page(self.store, opts, page, limit)
            return page, total

    def set_options(self, **changes: Any) -> None:
        """Change options at once after validating them; unknown names raise ValueError."""
        with self._lock:
            self.options.change(**changes)

    def draw_faults(self, method: str) -> FaultPlan:
        """The faults for one API request, drawn from the seeded dice."""
        return self.dice.draw(method, self.options)

    def throttle(self) -> float | None:
        """Take a token of the server's rate limit: None, or the seconds until one is due."""
        opts = self.options
        return self.bucket.take(opts.rate_limit_per_second, opts.rate_limit_burst)

    def reset_counters(self) -> None:
        """Forget the write audit and the request counters."""
        self.audit.clear()

    def reset(self, options: EmulatorOptions | None = None) -> None:
        """Drop every user, counter and write; restart ids, the dice and the rate limit."""
        with self._lock:
            if options is not None:
                options.validate()
                self.options = options
            self.store.clear()
            self.audit.clear()
            self.dice.restart(self.options.seed)
            self.bucket.restart()

    def stats(self) -> dict[str, Any]:
        """Counters for the admin route: requests by method, writes, users."""
        with self._lock:
            return {**self.audit.stats(), "users": len(self.store)}
